"""Soil hydraulic properties (Noah-MP ``SoilHydraulicPropertyMod``), Campbell/Clapp-Hornberger form.

Relations (s = max(0.01, theta/SMCMAX)):

* hydraulic conductivity  K = DKSAT * s**(2*BEXP + 3)      [m s-1]
* hydraulic diffusivity   D = DWSAT * s**(BEXP + 2)        [m2 s-1]
* matric potential        PSI = -PSISAT * s**(-BEXP)       [m]

The powers are evaluated in log space, ``exp(n*log(s))``, which is the same value as
``s**n`` (to rounding) but never forms an intermediate that overflows/underflows in
float32 and has a well-behaved derivative in BEXP (d/dB = 2*log(s)*K).

Gradient notes: the ``s >= 0.01`` floor is a plain ``max`` (gradient zero in theta below
theta = 0.01*SMCMAX ~ 0.005, a state Noah-MP practically never reaches because the solver
refills layers to 0.01 mm). It is kept exact on purpose.

Inputs are arrays that broadcast together, typically (nsoil, cells). No ``params`` dict is
read here: callers pass the parameter arrays explicitly (BEXP, SMCMAX, DKSAT, DWSAT, PSISAT).
"""
from __future__ import annotations

import jax.numpy as jnp

_SMIN = 0.01  # lower bound of the relative saturation used by Noah-MP
_IMP_PARA = 4.0  # exponent of the frozen-soil impermeable fraction (SoilImpPara)


def _rel_sat(theta, smcmax):
    return jnp.maximum(_SMIN, theta / smcmax)


def frozen_impermeable_fraction(*, SICE, SMCMAX):
    """Impermeable fraction of frozen soil, FCR (Niu & Yang 2006), as in ``SoilWaterMain``.

    Args:
        SICE: soil ice content [m3 m-3].
        SMCMAX: porosity [m3 m-3].
    Returns:
        FCR [-], same shape: max(0, exp(-4(1-FICE)) - exp(-4)) / (1 - exp(-4)),
        FICE = min(1, SICE/SMCMAX).
    """
    fice = jnp.minimum(1.0, SICE / SMCMAX)
    e4 = jnp.exp(-_IMP_PARA)
    return jnp.maximum(0.0, jnp.exp(-_IMP_PARA * (1.0 - fice)) - e4) / (1.0 - e4)


def soil_diffusivity_conductivity(*, SMC, BEXP, SMCMAX, DKSAT, DWSAT, opt_inf=1, FCR=None, SICEMAX=None):
    """Soil water diffusivity WDF and conductivity WCND (Noah-MP WDFCND1 / WDFCND2).

    Args:
        SMC: soil moisture used for the relation [m3 m-3]: total water for opt_inf=1,
            liquid water for opt_inf=2 (as Noah-MP calls them).
        BEXP: Clapp-Hornberger b [-].
        SMCMAX: porosity [m3 m-3].
        DKSAT: saturated hydraulic conductivity [m s-1].
        DWSAT: saturated hydraulic diffusivity [m2 s-1].
        opt_inf: 1 (total water, scaled by 1-FCR) or 2 (liquid water, D blended by ice). Static.
        FCR: impermeable fraction (opt_inf=1); None means 0.
        SICEMAX: maximum ice content over the column [m3 m-3] (opt_inf=2); None means 0.
    Returns:
        dict WDF [m2 s-1], WCND [m s-1].
    """
    s = _rel_sat(SMC, SMCMAX)
    logs = jnp.log(s)
    wdf = DWSAT * jnp.exp((BEXP + 2.0) * logs)
    wcnd = DKSAT * jnp.exp((2.0 * BEXP + 3.0) * logs)
    if opt_inf == 1:
        if FCR is not None:
            wdf = wdf * (1.0 - FCR)
            wcnd = wcnd * (1.0 - FCR)
    elif opt_inf == 2:
        if SICEMAX is not None:
            s1 = jnp.minimum(0.05 / SMCMAX, s)
            wdf_dry = DWSAT * jnp.exp((BEXP + 2.0) * jnp.log(s1))
            w = 1.0 / (1.0 + (500.0 * SICEMAX) ** 3)
            wdf = jnp.where(SICEMAX > 0.0, w * wdf + (1.0 - w) * wdf_dry, wdf)
    else:
        raise ValueError(f"opt_inf={opt_inf} not supported")
    return {"WDF": wdf, "WCND": wcnd}


def matric_potential(*, SMC, BEXP, SMCMAX, PSISAT):
    """Soil matric potential PSI = -PSISAT * max(0.01, SMC/SMCMAX)**(-BEXP) [m] (negative).

    Args:
        SMC: soil moisture [m3 m-3] (Noah-MP passes liquid water for the stress factor).
        BEXP: [-]; SMCMAX: [m3 m-3]; PSISAT: saturated matric potential magnitude [m] (positive).
    """
    s = _rel_sat(SMC, SMCMAX)
    return -PSISAT * jnp.exp(-BEXP * jnp.log(s))
