"""Derived soil hydraulic parameters (identities satisfied by the Noah-MP STAS soil table).

The STAS soil table (``&noahmp_soil_stas_parameters``) was built from four primary properties per
class -- the Clapp-Hornberger exponent ``BEXP`` [-], porosity ``SMCMAX`` [m3/m3], saturated
conductivity ``DKSAT`` [m/s] and saturated matric potential magnitude ``PSISAT`` [m] -- and the
remaining columns follow from them (see ``shared/docs/noahmp-physics.md`` section 7):

- saturated diffusivity      ``DWSAT = BEXP * DKSAT * PSISAT / SMCMAX``              [m2/s]
- wilting point              ``SMCWLT = 0.5 * SMCMAX * (200 / PSISAT) ** (-1/BEXP)``  [m3/m3]
  (water content at a suction of 200 m, halved); ``SMCDRY = SMCWLT``
- reference (field capacity) ``SMCREF = th + (SMCMAX - th) / 3`` with
  ``th = SMCMAX * (5.79e-9 / DKSAT) ** (1 / (2 BEXP + 3))`` (water content where the
  conductivity falls to 5.79e-9 m/s = 0.5 mm/day)                                  [m3/m3]

Noah-MP itself reads these columns from the table and never recomputes them; the identities are
used here to keep the derived columns consistent while BEXP/SMCMAX/DKSAT/PSISAT are calibrated
(``build_params(..., consistent=True)``) and inside JAX-traced parameter networks.

The functions are pure, element-wise and work on NumPy arrays, Python floats, ``jax.numpy``
arrays and JAX tracers (jit / grad / vmap), keeping the input dtype (no float64 promotion).
"""
from __future__ import annotations

import numpy as np

__all__ = ["derive_soil_params", "dwsat_from", "smcwlt_from", "smcref_from", "KREF_FIELD_CAP",
           "PSI_WILT_TABLE"]

#: conductivity defining the field capacity in the table [m/s] (0.5 mm/day)
KREF_FIELD_CAP = 5.79e-9
#: suction defining the (halved) wilting point in the table [m]
PSI_WILT_TABLE = 200.0


def _xp(*args):
    """jax.numpy if any argument is a JAX array/tracer, else numpy."""
    try:
        import jax
    except ImportError:  # pragma: no cover
        return np
    if any(isinstance(a, jax.Array) for a in args):
        import jax.numpy as jnp
        return jnp
    return np


def dwsat_from(BEXP, SMCMAX, DKSAT, PSISAT):
    """Saturated soil water diffusivity [m2/s] from BEXP [-], SMCMAX [m3/m3], DKSAT [m/s], PSISAT [m]."""
    return BEXP * DKSAT * PSISAT / SMCMAX


def smcwlt_from(BEXP, SMCMAX, PSISAT):
    """Table wilting point (= SMCDRY) [m3/m3] from BEXP [-], SMCMAX [m3/m3], PSISAT [m] (> 0)."""
    xp = _xp(BEXP, SMCMAX, PSISAT)
    return 0.5 * SMCMAX * xp.power(PSI_WILT_TABLE / PSISAT, -1.0 / BEXP)


def smcref_from(BEXP, SMCMAX, DKSAT):
    """Table reference soil moisture (field capacity) [m3/m3] from BEXP, SMCMAX, DKSAT [m/s] (> 0)."""
    xp = _xp(BEXP, SMCMAX, DKSAT)
    theta_k = SMCMAX * xp.power(KREF_FIELD_CAP / DKSAT, 1.0 / (2.0 * BEXP + 3.0))
    return theta_k + (SMCMAX - theta_k) / 3.0


def derive_soil_params(BEXP, SMCMAX, DKSAT, PSISAT) -> dict:
    """Derived STAS soil parameters consistent with the four primary ones.

    Args:
        BEXP: Clapp-Hornberger b exponent [-], any shape (e.g. (nsoil, cells)).
        SMCMAX: porosity / saturated volumetric water content [m3/m3].
        DKSAT: saturated hydraulic conductivity [m/s], > 0.
        PSISAT: saturated matric potential magnitude [m], > 0.

    Returns:
        dict with ``DWSAT`` [m2/s], ``SMCWLT`` [m3/m3], ``SMCDRY`` [m3/m3] (= SMCWLT) and
        ``SMCREF`` [m3/m3], broadcast to the common shape of the inputs.  Differentiable in JAX
        for positive DKSAT, PSISAT, BEXP.
    """
    wlt = smcwlt_from(BEXP, SMCMAX, PSISAT)
    return {
        "DWSAT": dwsat_from(BEXP, SMCMAX, DKSAT, PSISAT),
        "SMCWLT": wlt,
        "SMCDRY": wlt,
        "SMCREF": smcref_from(BEXP, SMCMAX, DKSAT),
    }
