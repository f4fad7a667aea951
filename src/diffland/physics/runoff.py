"""Infiltration / surface runoff schemes of Noah-MP used by ``soil_water``.

* ``infiltration_schaake``: runoff option 3 (``RunoffSurfaceFreeDrainMod``), Schaake et al. (1996)
  infiltration capacity with the frozen-soil reduction.
* ``surface_runoff_topmodel``: runoff option 1 (``RunoffSurfaceTopModelGrdMod``), TOPMODEL saturated
  fraction from the water-table depth (Niu 2022 update: decay factor BEXP_1/3).

All rates in m s-1 (Noah-MP's soil solver units). Per-layer arrays are (nsoil, cells).

Schaake (for a step dtx, q = QINSUR > 0):
  Dmax_k = dz_k*(SMCMAX_1-SMCWLT_1)*(1-(SH2O_k+SICE_k-SMCWLT_k)/(SMCMAX_1-SMCWLT_1))
  (Noah-MP quirk kept: layer 1's holding capacity is used for every layer)
  D = sum_k Dmax_k * (1-exp(-KDT*dtx/86400)), KDT = REFKDT*DKSAT_1/REFDK
  Imax = P*D/(P+D)/dtx with P = q*dtx; if the column ice depth sum(dz*SICE) > 0.01 m,
  Imax *= 1-exp(-a)(1+a+a^2/2), a = 3*FRZX/icedepth, FRZX = FRZK*(SMCMAX_1/SMCREF_1)*(0.412/0.468);
  Imax = min(max(Imax, K(SH2O_1)), q); RUNSRF = max(0, q-Imax); PDDUM = q-RUNSRF.

Gradient notes: the ``max(Imax, K)`` floor and ``min(Imax, q)`` cap make the runoff independent
of REFKDT when they are active (light rain); the forward is exact, no surrogate.

params keys read: SMCMAX, SMCWLT, SMCREF, DKSAT, BEXP (nsoil, cells); REFKDT, REFDK, FRZK,
FSATMX (cells,).
"""
from __future__ import annotations

import jax.numpy as jnp

_FRZ_FAC = 3.0  # FrzSoilFac


def infiltration_schaake(*, QINSUR, SH2O, SICE, params, soil_dz, dtx):
    """Schaake infiltration capacity and infiltration-excess runoff (runoff option 3).

    Args:
        QINSUR: water input at the soil surface [m s-1] (cells,).
        SH2O, SICE: liquid and ice soil moisture (nsoil, cells) [m3 m-3].
        params: dict (see module docstring).
        soil_dz: tuple of layer thicknesses [m] (static).
        dtx: the time step the capacity is computed for [s] (the soil step, then the sub-step).
    Returns:
        dict RUNSRF [m s-1] (infiltration excess), PDDUM [m s-1] (infiltration). Both 0 when QINSUR <= 0.
    """
    smcmax = params["SMCMAX"]
    wlt = params["SMCWLT"]
    cap = smcmax[0] - wlt[0]
    nsoil = len(soil_dz)
    dmax = jnp.zeros_like(QINSUR)
    icewat = jnp.zeros_like(QINSUR)
    for k in range(nsoil):
        dmax = dmax + soil_dz[k] * cap * (1.0 - (SH2O[k] + SICE[k] - wlt[k]) / cap)
        icewat = icewat + soil_dz[k] * SICE[k]
    kdt = params["REFKDT"] * params["DKSAT"][0] / params["REFDK"]
    fvr = 1.0 - jnp.exp(-kdt * (dtx / 86400.0))
    dd = dmax * fvr
    pos = QINSUR > 0.0
    px = jnp.maximum(0.0, QINSUR * dtx)
    px_s = jnp.where(pos, px, 1.0)  # sanitise the unused branch (0/0)
    imax = px_s * (dd / (px_s + dd)) / dtx
    # frozen-soil reduction
    frzx = params["FRZK"] * ((smcmax[0] / params["SMCREF"][0]) * (0.412 / 0.468))
    frozen = icewat > 1.0e-2
    icew_s = jnp.where(frozen, icewat, 1.0)
    a = _FRZ_FAC * frzx / icew_s
    fcr = 1.0 - jnp.exp(-a) * (1.0 + a + 0.5 * a * a)
    imax = imax * jnp.where(frozen, fcr, 1.0)
    # floor by the conductivity of layer 1 (liquid water, WDFCND2 form), cap by the input
    s1 = jnp.maximum(0.01, SH2O[0] / smcmax[0])
    k1 = params["DKSAT"][0] * jnp.exp((2.0 * params["BEXP"][0] + 3.0) * jnp.log(s1))
    imax = jnp.maximum(imax, k1)
    imax = jnp.minimum(imax, px_s / dtx)
    runsrf = jnp.maximum(0.0, QINSUR - imax)
    runsrf = jnp.where(pos, runsrf, 0.0)
    pddum = jnp.where(pos, QINSUR - runsrf, 0.0)
    return {"RUNSRF": runsrf, "PDDUM": pddum}


def surface_runoff_topmodel(*, QINSUR, ZWT, FCR1, params):
    """TOPMODEL saturation-excess surface runoff (runoff option 1).

    Args:
        QINSUR: water input at the soil surface [m s-1] (cells,).
        ZWT: water-table depth [m] (positive down), start of the step.
        FCR1: frozen-soil impermeable fraction of layer 1 [-].
        params: FSATMX (cells,), BEXP (nsoil, cells).
    Returns:
        dict FSAT [-] = FSATMX*exp(-0.5*(BEXP_1/3)*ZWT), RUNSRF [m s-1] = q*((1-FCR1)*FSAT+FCR1),
        PDDUM [m s-1] = q - RUNSRF (both 0 when q <= 0).
    """
    fff = params["BEXP"][0] / 3.0
    fsat = params["FSATMX"] * jnp.exp(-0.5 * fff * ZWT)
    pos = QINSUR > 0.0
    runsrf = jnp.where(pos, QINSUR * ((1.0 - FCR1) * fsat + FCR1), 0.0)
    pddum = jnp.where(pos, QINSUR - runsrf, 0.0)
    return {"FSAT": fsat, "RUNSRF": runsrf, "PDDUM": pddum}
