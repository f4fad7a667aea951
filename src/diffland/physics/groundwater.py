"""SIMGM groundwater (Niu et al. 2007), Noah-MP ``GroundWaterTopModelMod`` (subsurface runoff option 1).

Called once per soil step after the Richards sub-steps (whose bottom flux is zero in option 1).
Let u be the lowest unsaturated layer: the layer just above the one that contains the water
table (u = nsoil when ZWT is below the soil column). With mm units:

* discharge  QDIS = (1-FCRMAX) * (1e3*WCND_u)*1e3*e^3 * exp(-TIMEAN) * exp(-(BEXP_u/3)*ZWT)  [mm s-1]
* recharge   QIN = -Ka*(h_wt - h_u)/((ZWT - zmid_u)*1e3), clipped to +-10 mm per step, with
  Ka = harmonic mean of K_u and DKSAT_u (mm s-1), h_wt = -1e3*ZWT,
  h_u = max(-1.2e5, CMIC*psi_u) - 1e3*zmid_u, psi_u = -1e3*PSISAT_u*clip(SMC_u/SMCMAX_u,0.01,1)**-BEXP_u.
* WT += (QIN-QDIS)*dt. If u = nsoil: WA += (QIN-QDIS)*dt, WT = WA, ZWT = (|z_N|+25) - WA/(1e3*ROUS),
  the bottom layer gives QIN*dt to the aquifer and receives max(0, WA-5000); WA <= 5000.
  Otherwise ZWT is diagnosed from WT and the effective porosity of the saturated layers, and QDIS
  is withdrawn from every layer in proportion to WCND_k*dz_k (WA unchanged).
* ZWT >= 1.5 m; negative layer water is refilled to 0.01 mm from the layer below, the bottom
  layer from the aquifer (WA and WT reduced).

Water budget: soil liquid + WA change by exactly -QDIS*dt (WT is a diagnostic storage).

params keys read: SMCMAX, BEXP, PSISAT, DKSAT (nsoil, cells); TIMEAN, ROUS, CMIC (cells,).
"""
from __future__ import annotations

import math

import jax.numpy as jnp


def groundwater_simgm(*, SH2O, SICE, WCND, FCRMAX, ZWT, WA, WT, params, soil_dz, dt):
    """One SIMGM groundwater step.

    Args:
        SH2O, SICE: liquid and ice soil moisture (nsoil, cells) [m3 m-3].
        WCND: hydraulic conductivity of each layer from the last Richards sub-step [m s-1].
        FCRMAX: maximum frozen impermeable fraction over the column [-] (cells,).
        ZWT: water-table depth [m]; WA: aquifer storage [mm]; WT: aquifer + saturated soil storage [mm].
        params: dict (module docstring); soil_dz: layer thicknesses [m] (static tuple); dt: soil step [s].
    Returns:
        dict SH2O, ZWT, WA, WT, QIN (recharge, mm s-1), QDIS (discharge = RUNSUB, mm s-1).
    """
    nsoil = len(soil_dz)
    zbot = []
    z = 0.0
    for d in soil_dz:
        z += d
        zbot.append(z)  # positive depth of layer bottoms [m]
    zmid = [zbot[k] - 0.5 * soil_dz[k] for k in range(nsoil)]
    dzmm = [1.0e3 * d for d in soil_dz]

    smcmax = params["SMCMAX"]
    bexp = params["BEXP"]
    psisat = params["PSISAT"]
    dksat = params["DKSAT"]
    rous = params["ROUS"]

    liq = [SH2O[k] * dzmm[k] for k in range(nsoil)]
    smc = [SH2O[k] + SICE[k] for k in range(nsoil)]
    epore = [jnp.maximum(0.01, smcmax[k] - SICE[k]) for k in range(nsoil)]
    kmm = [1.0e3 * WCND[k] for k in range(nsoil)]

    # one-hot of the lowest unsaturated layer u
    onehot = []
    notfound = jnp.ones_like(ZWT, dtype=bool)
    for k in range(1, nsoil):
        hit = notfound & (ZWT <= zbot[k])
        onehot.append(hit)
        notfound = notfound & (~hit)
    onehot.append(notfound)

    def pick(vals):
        out = jnp.zeros_like(ZWT)
        for k in range(nsoil):
            out = out + jnp.where(onehot[k], vals[k], 0.0)
        return out

    k_u = pick(kmm)
    b_u = pick([bexp[k] for k in range(nsoil)])
    smc_u = pick(smc)
    smcmax_u = pick([smcmax[k] for k in range(nsoil)])
    psisat_u = pick([psisat[k] for k in range(nsoil)])
    ksat_u = pick([dksat[k] * 1.0e3 for k in range(nsoil)])
    zmid_u = pick([jnp.full_like(ZWT, zmid[k]) for k in range(nsoil)])

    fff = b_u / 3.0
    rsbmx = k_u * 1.0e3 * math.exp(3.0)
    qdis = (1.0 - FCRMAX) * rsbmx * jnp.exp(-params["TIMEAN"]) * jnp.exp(-fff * ZWT)

    satdeg = jnp.maximum(jnp.minimum(1.0, smc_u / smcmax_u), 0.01)
    smpfz = -psisat_u * 1000.0 * jnp.exp(-b_u * jnp.log(satdeg))
    smpfz = jnp.maximum(-120000.0, params["CMIC"] * smpfz)
    ka = 2.0 * (k_u * ksat_u) / (k_u + ksat_u)
    wh_zwt = -ZWT * 1.0e3
    wh = smpfz - zmid_u * 1.0e3
    dist = (ZWT - zmid_u) * 1.0e3
    dist = jnp.where(dist != 0.0, dist, 1.0)
    qin = -ka * (wh_zwt - wh) / dist
    qin = jnp.maximum(-10.0 / dt, jnp.minimum(10.0 / dt, qin))

    wt = WT + (qin - qdis) * dt
    deep = onehot[nsoil - 1]

    # ---- case u == nsoil (water table below the soil column)
    wa_d = WA + (qin - qdis) * dt
    wt_d = wa_d
    zwt_d = (zbot[-1] + 25.0) - wa_d / 1000.0 / rous
    liq_bot_d = liq[nsoil - 1] - qin * dt + jnp.maximum(0.0, wa_d - 5000.0)
    wa_d = jnp.minimum(wa_d, 5000.0)

    # ---- case u < nsoil (water table inside the soil column)
    zwt_s = jnp.zeros_like(ZWT)
    for u in range(nsoil - 1):
        fill = jnp.zeros_like(ZWT)
        for k in range(u + 2, nsoil):
            fill = fill + epore[k] * dzmm[k]
        zk = zbot[u + 1] - (wt - rous * 1000.0 * 25.0 - fill) / epore[u + 1] / 1000.0
        zwt_s = zwt_s + jnp.where(onehot[u], zk, 0.0)
    wcnd_acc = jnp.zeros_like(ZWT)
    for k in range(nsoil):
        wcnd_acc = wcnd_acc + kmm[k] * dzmm[k]
    wcnd_acc = jnp.where(wcnd_acc > 0.0, wcnd_acc, 1.0)
    liq_s = [liq[k] - qdis * dt * kmm[k] * dzmm[k] / wcnd_acc for k in range(nsoil)]

    liq = [jnp.where(deep, liq[k], liq_s[k]) for k in range(nsoil - 1)] + [
        jnp.where(deep, liq_bot_d, liq_s[nsoil - 1])
    ]
    wa = jnp.where(deep, wa_d, WA)
    wt = jnp.where(deep, wt_d, wt)
    zwt = jnp.where(deep, zwt_d, zwt_s)
    zwt = jnp.maximum(1.5, zwt)

    # ---- negative-water refill (0.01 mm), bottom layer from the aquifer
    for k in range(nsoil - 1):
        rem = jnp.where(liq[k] < 0.0, 0.01 - liq[k], 0.0)
        liq[k] = liq[k] + rem
        liq[k + 1] = liq[k + 1] - rem
    rem = jnp.where(liq[-1] < 0.01, 0.01 - liq[-1], 0.0)
    liq[-1] = liq[-1] + rem
    wa = wa - rem
    wt = wt - rem

    sh2o = jnp.stack([liq[k] / dzmm[k] for k in range(nsoil)])
    return {"SH2O": sh2o, "ZWT": zwt, "WA": wa, "WT": wt, "QIN": qin, "QDIS": qdis}
