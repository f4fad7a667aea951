"""Melting / freezing of snow and soil water (Noah-MP ``SoilSnowWaterPhaseChange``).

Noah-MP routines: ``SoilSnowWaterPhaseChangeMod`` and ``SoilWaterSupercoolNiu06Mod``
(frz=1: supercooled liquid limit of Niu and Yang 2006). Also the initial liquid water of
frozen layers set by the HRLDAS ``NoahmpInitMain`` (``initial_liquid``).

Layout: row 0 = optional snow layer (``ISNOW < 0``), rows 1..nsoil = soil (see
``diffland.physics.snow``). Snow thinner than a layer (``ISNOW == 0`` and ``SNEQV > 0``) melts
with the energy excess of soil layer 1 first ("thin-snow" melt); the melt water is returned
as ``PONDING`` [mm] and goes to the soil surface through ``snow.snow_water``.

Conservation: total water per layer is unchanged (except the thin-snow melt, which leaves as
PONDING), and sum(HCPCT*DZ*dT) + HFUS*(d liquid) = 0 per layer. The one Noah-MP leak kept on
purpose: when a snow layer melts completely, the left-over energy is handed to soil layer 1
only if that layer is itself melting/freezing, otherwise it is dropped (as in the Fortran).

Params keys read: ``BEXP``, ``SMCMAX``, ``PSISAT`` (nsoil, cells) (PSISAT: positive magnitude,
m). Options read: ``frz`` (1 only), ``soil_dz``, ``dt``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from diffland.physics.constants import GRAV, HFUS, TFRZ


def supercooled_liquid(STC, params):
    """Niu-Yang (2006) maximum liquid water below freezing [m3/m3], (nsoil, cells).

    SMCMAX*(HFUS*(TFRZ-T)/(GRAV*T*PSISAT))**(-1/BEXP) where T < TFRZ, 0 elsewhere.
    """
    frozen = STC < TFRZ
    t = jnp.where(frozen, STC, TFRZ - 1.0)  # sanitise the unused branch
    pot = HFUS * (TFRZ - t) / (GRAV * t)  # frozen water potential [m], > 0
    sc = params["SMCMAX"] * (pot / params["PSISAT"]) ** (-1.0 / params["BEXP"])
    return jnp.where(frozen, sc, 0.0)


def initial_liquid(SMC, STC, params):
    """Initial liquid water of the HRLDAS ``NoahmpInitMain`` [m3/m3], (nsoil, cells).

    For layers colder than 273.149 K: min(SMC, max(0.02, SMCMAX*(x)**(-1/BEXP))) with
    x = 3.335e5/(9.81*(-PSISAT)) * (T-273.15)/T (both factors negative, x > 0); otherwise SMC.
    ``SMC`` is assumed already capped at SMCMAX. Note the init uses 273.15 and 9.81, not TFRZ/GRAV.
    """
    frozen = STC < 273.149
    t = jnp.where(frozen, STC, 272.0)
    x = (3.335e5 / (9.81 * (-params["PSISAT"]))) * ((t - 273.15) / t)
    fk = jnp.maximum(params["SMCMAX"] * x ** (-1.0 / params["BEXP"]), 0.02)
    return jnp.where(frozen, jnp.minimum(fk, SMC), SMC)


def phase_change(*, STC, SMC, SH2O, TSNO, SNICE, SNLIQ, SNEQV, SNOWH, ISNOW, FACT, params, options,
                 dt=None):
    """Phase change in the snow layer and the soil layers, after the temperature solve.

    Args:
        STC: soil temperature [K] (nsoil, cells); SMC, SH2O: total / liquid soil water [m3/m3].
        TSNO: snow layer temperature [K] (cells,); SNICE, SNLIQ: snow layer ice / liquid [mm].
        SNEQV: snow water equivalent [mm]; SNOWH: snow depth [m]; ISNOW: 0. or -1. (cells,).
        FACT: dt/(HCPCT*DZ) [K per W m-2], (1+nsoil, cells), from ``thermal_properties``
            (heat capacities *before* the phase change, as in Noah-MP).
        params: ``BEXP``, ``SMCMAX``, ``PSISAT``.
        options: ``Options`` (frz must be 1).
        dt: time step [s]; default ``options.dt``.

    Returns dict: STC, TSNO [K]; SMC, SH2O, SICE [m3/m3]; SNICE, SNLIQ [mm]; SNEQV [mm]; SNOWH [m];
        QMELT [mm/s] (snow melt rate, layer + thin snow); PONDING [mm] (thin-snow melt water);
        IMELT (1+nsoil, cells) float phase-change flag (0 none, 1 melt, 2 freeze);
        SUPERCOOL [mm] (nsoil, cells) (liquid limit per layer); LATHEA [W/m2] (latent heat of the
        melt, Noah-MP HeatLhTotPhsChg); XMF (1+nsoil, cells) melted ice [mm] (negative = frozen).
    """
    if options.frz != 1:
        raise NotImplementedError(f"frz={options.frz}: only 1 (Niu-Yang 2006) is implemented")
    dt = options.dt if dt is None else dt
    dtype = STC.dtype
    nsoil = STC.shape[0]
    has = ISNOW < 0
    dzs = jnp.asarray(options.soil_dz, dtype=dtype)[:, None]

    # masses [mm]
    sliq = SH2O * dzs * 1000.0
    sice = (SMC - SH2O) * dzs * 1000.0
    mice0 = jnp.concatenate([jnp.where(has, SNICE, 0.0)[None], sice], axis=0)
    mliq0 = jnp.concatenate([jnp.where(has, SNLIQ, 0.0)[None], sliq], axis=0)
    mtot = mice0 + mliq0
    # Custom backward rule (forward exact): the supercooled-liquid limit has an unbounded slope
    # in temperature just below freezing ((TFRZ - T)^(-1/BEXP)); through latent heat it feeds back
    # on the temperature of the next step, and back-propagated over days this loop grows the
    # gradient without bound (1e38 after 10 days in a freezing-thawing deep layer, NaN in float32).
    # The temperature path into the limit is therefore cut in the backward pass; its dependence
    # on BEXP, SMCMAX and PSISAT keeps its exact gradient.
    sc = supercooled_liquid(jax.lax.stop_gradient(STC), params) * dzs * 1000.0
    supc = jnp.concatenate([jnp.zeros_like(SNEQV)[None], sc], axis=0)
    T0 = jnp.concatenate([TSNO[None], STC], axis=0)
    active = jnp.concatenate([has[None], jnp.ones((nsoil,) + has.shape, dtype=bool)], axis=0)

    # melting / freezing flags
    melt = (mice0 > 0.0) & (T0 >= TFRZ)
    frz = (mliq0 > supc) & (T0 < TFRZ)
    thin = (~has) & (SNEQV > 0.0)
    melt = melt.at[1].set(melt[1] | (thin & (T0[1] >= TFRZ)))
    imelt = jnp.where(frz, 2.0, jnp.where(melt, 1.0, 0.0))
    imelt = jnp.where(active, imelt, 0.0).astype(dtype)

    on = imelt > 0.0
    fsafe = jnp.where(FACT > 0.0, FACT, 1.0)
    hm = jnp.where(on, (T0 - TFRZ) / fsafe, 0.0)  # energy excess [W m-2]
    T = jnp.where(on, TFRZ, T0)
    bad = ((imelt == 1.0) & (hm < 0.0)) | ((imelt == 2.0) & (hm > 0.0))
    hm = jnp.where(bad, 0.0, hm)
    imelt = jnp.where(bad, 0.0, imelt)
    xm = hm * dt / HFUS  # water to melt (+) / freeze (-) [mm]

    # --- thin snow without a layer, melted by the energy excess of soil layer 1
    do_thin = thin & (xm[1] > 0.0)
    sneqv_prev = SNEQV
    sneqv_new = jnp.maximum(0.0, sneqv_prev - xm[1])
    ratio = sneqv_new / jnp.where(do_thin, sneqv_prev, 1.0)
    snowh_new = jnp.maximum(0.0, ratio * SNOWH)
    snowh_new = jnp.minimum(jnp.maximum(snowh_new, sneqv_new / 500.0), sneqv_new / 50.0)
    heatr = hm[1] - HFUS * (sneqv_prev - sneqv_new) / dt
    xm1 = jnp.where(heatr > 0.0, heatr * dt / HFUS, 0.0)
    hm1 = jnp.where(heatr > 0.0, heatr, 0.0)
    xm = xm.at[1].set(jnp.where(do_thin, xm1, xm[1]))
    hm = hm.at[1].set(jnp.where(do_thin, hm1, hm[1]))
    SNEQV_out = jnp.where(do_thin, sneqv_new, SNEQV)
    SNOWH_out = jnp.where(do_thin, snowh_new, SNOWH)
    qmelt_thin = jnp.where(do_thin, jnp.maximum(0.0, sneqv_prev - sneqv_new) / dt, 0.0)
    ponding = jnp.where(do_thin, sneqv_prev - sneqv_new, 0.0)

    def layer_update(k, hm_k, xm_k, is_snow):
        """Melt/freeze one row; returns (mice, mliq, T, heatr_left, did)."""
        did = (imelt[k] > 0.0) & (jnp.abs(hm_k) > 0.0)
        mice_melt = jnp.maximum(0.0, mice0[k] - xm_k)
        if is_snow:
            mice_frz = jnp.minimum(mtot[k], mice0[k] - xm_k)
        else:
            mice_frz = jnp.where(mtot[k] < supc[k], 0.0,
                                 jnp.maximum(jnp.minimum(mtot[k] - supc[k], mice0[k] - xm_k), 0.0))
        mice_k = jnp.where(xm_k > 0.0, mice_melt, jnp.where(xm_k < 0.0, mice_frz, mice0[k]))
        left = jnp.where(xm_k != 0.0, hm_k - HFUS * (mice0[k] - mice_k) / dt, 0.0)
        mice_k = jnp.where(did, mice_k, mice0[k])
        left = jnp.where(did, left, 0.0)
        mliq_k = jnp.where(did, jnp.maximum(0.0, mtot[k] - mice_k), mliq0[k])
        Tk = jnp.where(did & (jnp.abs(left) > 0.0), T[k] + FACT[k] * left, T[k])
        return mice_k, mliq_k, Tk, left, did

    # snow row first: a fully melted snow layer hands its energy to soil layer 1
    mice_s, mliq_s, T_s, left_s, did_s = layer_update(0, hm[0], xm[0], True)
    nz = did_s & (jnp.abs(left_s) > 0.0)
    T_s = jnp.where(nz & (mliq_s * mice_s > 0.0), TFRZ, T_s)
    gone = nz & (mice_s == 0.0)
    T_s = jnp.where(gone, TFRZ, T_s)
    hm = hm.at[1].set(jnp.where(gone, hm[1] + left_s, hm[1]))
    xm = xm.at[1].set(jnp.where(gone, hm[1] * dt / HFUS, xm[1]))
    qmelt_layer = jnp.where(did_s, jnp.maximum(0.0, mice0[0] - mice_s) / dt, 0.0)

    mice_l, mliq_l, T_l = [mice_s], [mliq_s], [T_s]
    lat = HFUS * jnp.where(did_s, mice0[0] - mice_s, 0.0) / dt + HFUS * qmelt_thin
    for k in range(1, nsoil + 1):
        mi, ml, tk, _, did = layer_update(k, hm[k], xm[k], False)
        mice_l.append(mi)
        mliq_l.append(ml)
        T_l.append(tk)
        lat = lat + HFUS * jnp.where(did, mice0[k] - mi, 0.0) / dt
    mice = jnp.stack(mice_l)
    mliq = jnp.stack(mliq_l)
    Tn = jnp.stack(T_l)

    sh2o = mliq[1:] / (1000.0 * dzs)
    smc = (mliq[1:] + mice[1:]) / (1000.0 * dzs)
    return {
        "STC": Tn[1:], "TSNO": jnp.where(has, Tn[0], TSNO),
        "SH2O": sh2o, "SMC": smc, "SICE": smc - sh2o,
        "SNICE": jnp.where(has, mice[0], SNICE), "SNLIQ": jnp.where(has, mliq[0], SNLIQ),
        "SNEQV": SNEQV_out, "SNOWH": SNOWH_out,
        "QMELT": qmelt_thin + qmelt_layer, "PONDING": ponding,
        "IMELT": imelt, "SUPERCOOL": sc, "LATHEA": lat, "XMF": mice0 - mice,
    }
