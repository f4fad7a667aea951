"""Canopy water: interception before the energy balance and canopy hydrology after it.

Re-implements Noah-MP v5 ``CanopyWaterInterceptMod`` (``canopy_intercept``) and
``CanopyHydrologyMod`` (``canopy_hydrology``) for arrays of cells (shape (cells,)).

Interception (rain): capacity MAXLIQ = FVEG*CH2OP*(ELAI+ESAI) [mm];
QINTR = max(0, min(FVEG*RAIN*FP, (MAXLIQ-CANLIQ)/dt * (1-exp(-RAIN*dt/MAXLIQ)))),
QDRIPR = FVEG*RAIN - QINTR, QTHROR = (1-FVEG)*RAIN.
Snow: MAXSNO = FVEG*6.6*(0.27+46/BDFALL)*(ELAI+ESAI) [mm], same loading law, unloading
CANICE*(max(0,(TV-270.15)/1.87e5) + |u|/1.56e5) limited to CANICE/dt + QINTS.
If ELAI+ESAI = 0 all precipitation falls through and stored canopy water drips off.

Canopy hydrology: evaporation/dew (or sublimation/frost when the canopy is frozen) from
the canopy latent heat FCEV, transpiration from FCTR, then melting/freezing of the
intercepted water against TV, which also relaxes TV towards TFRZ by the wetted fraction.

Gradient notes: the min/max caps of Noah-MP are kept exactly; they are active only when
the canopy store is empty or full, where zero gradients are physically right.

params keys read: CH2OP (cells,) [mm per unit (LAI+SAI)].
"""
from __future__ import annotations

import jax.numpy as jnp

from diffland.physics.constants import CICE, CWAT, DENH2O, DENICE, HFUS, HSUB, HVAP, TFRZ


def _safe(x):
    return jnp.where(x > 0.0, x, 1.0)


def canopy_intercept(*, RAIN, SNOW, UU, VV, TV, ELAI, ESAI, FVEG, CANLIQ, CANICE, BDFALL, params, dt, FP=None):
    """Interception of rain and snow by the canopy (Noah-MP ``CanopyWaterIntercept``).

    Args:
        RAIN: liquid precipitation above the canopy [mm s-1] (cells,).
        SNOW: solid precipitation above the canopy [mm s-1].
        UU, VV: wind components at the reference height [m s-1] (raw, not floored).
        TV: canopy temperature [K] (start of the step).
        ELAI, ESAI: effective (snow-buried) leaf and stem area index [m2 m-2].
        FVEG: vegetated fraction [-].
        CANLIQ, CANICE: intercepted liquid water and ice [mm].
        BDFALL: density of falling snow [kg m-3].
        params: dict with CH2OP.
        dt: main time step [s].
        FP: fraction of the cell receiving precipitation [-]; None -> 1/1.9 when RAIN+SNOW>0
            (HRLDAS: all precipitation large-scale, 10 % taken as convective), else 0.
    Returns:
        dict with CANLIQ, CANICE [mm], FWET [-], CMC [mm] (total), MAXLIQ, MAXSNO [mm],
        QINTR, QDRIPR, QTHROR, QINTS, QDRIPS, QTHROS [mm s-1],
        QRAIN, QSNOW (rain and snow reaching the ground) [mm s-1], SNOWHIN [m s-1], FP [-].
    """
    ch2op = params["CH2OP"]
    if FP is None:
        FP = jnp.where(RAIN + SNOW > 0.0, 1.0 / 1.9, 0.0)
    vai = ELAI + ESAI
    has_canopy = vai > 0.0

    # ---- rain
    maxliq = FVEG * ch2op * vai
    qintr = FVEG * RAIN * FP
    qintr = jnp.minimum(qintr, (maxliq - CANLIQ) / dt * (1.0 - jnp.exp(-RAIN * dt / _safe(maxliq))))
    qintr = jnp.maximum(qintr, 0.0)
    qdripr_c = FVEG * RAIN - qintr
    qthror_c = (1.0 - FVEG) * RAIN
    canliq_c = jnp.maximum(0.0, CANLIQ + qintr * dt)
    # no canopy: everything falls through, stored water drips off
    qdripr_n = jnp.where(CANLIQ > 0.0, CANLIQ / dt, 0.0)
    qintr = jnp.where(has_canopy, qintr, 0.0)
    qdripr = jnp.where(has_canopy, qdripr_c, qdripr_n)
    qthror = jnp.where(has_canopy, qthror_c, RAIN)
    canliq = jnp.where(has_canopy, canliq_c, jnp.where(CANLIQ > 0.0, 0.0, CANLIQ))

    # ---- snow
    maxsno = FVEG * 6.6 * (0.27 + 46.0 / BDFALL) * vai
    qints = FVEG * SNOW * FP
    qints = jnp.minimum(qints, (maxsno - CANICE) / dt * (1.0 - jnp.exp(-SNOW * dt / _safe(maxsno))))
    qints = jnp.maximum(qints, 0.0)
    ftemp = jnp.maximum(0.0, (TV - 270.15) / 1.87e5)
    fwind = jnp.sqrt(UU**2 + VV**2) / 1.56e5
    unload = jnp.maximum(0.0, CANICE) * (fwind + ftemp)
    unload = jnp.minimum(CANICE / dt + qints, unload)
    qdrips_c = (FVEG * SNOW - qints) + unload
    qthros_c = (1.0 - FVEG) * SNOW
    canice_c = jnp.maximum(0.0, CANICE + (qints - unload) * dt)
    qdrips_n = jnp.where(CANICE > 0.0, CANICE / dt, 0.0)
    qints = jnp.where(has_canopy, qints, 0.0)
    qdrips = jnp.where(has_canopy, qdrips_c, qdrips_n)
    qthros = jnp.where(has_canopy, qthros_c, SNOW)
    canice = jnp.where(has_canopy, canice_c, jnp.where(CANICE > 0.0, 0.0, CANICE))

    # ---- wetted fraction
    fwet = jnp.where(
        canice > 0.0,
        jnp.maximum(0.0, canice) / jnp.maximum(maxsno, 1.0e-6),
        jnp.maximum(0.0, canliq) / jnp.maximum(maxliq, 1.0e-6),
    )
    fwet = _pow0667(jnp.minimum(fwet, 1.0))

    qrain = qdripr + qthror
    qsnow = qdrips + qthros
    return {
        "CANLIQ": canliq, "CANICE": canice, "FWET": fwet, "CMC": canliq + canice,
        "MAXLIQ": maxliq, "MAXSNO": maxsno,
        "QINTR": qintr, "QDRIPR": qdripr, "QTHROR": qthror,
        "QINTS": qints, "QDRIPS": qdrips, "QTHROS": qthros,
        "QRAIN": qrain, "QSNOW": qsnow, "SNOWHIN": qsnow / BDFALL, "FP": FP,
    }


def _pow0667(x):
    """x**0.667 for x in [0, 1] with a finite gradient at x = 0 (forward identical)."""
    pos = x > 0.0
    xs = jnp.where(pos, x, 1.0)
    return jnp.where(pos, jnp.exp(0.667 * jnp.log(xs)), 0.0)


def canopy_hydrology(*, FCEV, FCTR, FROZEN_CANOPY, TV, ELAI, ESAI, FVEG, CANLIQ, CANICE, BDFALL, params, dt):
    """Canopy water balance after the energy solve (Noah-MP ``CanopyHydrology``).

    Args:
        FCEV: canopy evaporation latent heat [W m-2] (+ upward; negative = dew/frost).
        FCTR: transpiration latent heat [W m-2].
        FROZEN_CANOPY: bool (cells,), TV <= TFRZ at the start of the step (Noah-MP's
            FlagFrozenCanopy is set before the energy solve, from the old TV); selects HSUB
            instead of HVAP and ice instead of liquid.
        TV: canopy temperature after the energy solve [K].
        ELAI, ESAI: [m2 m-2]; FVEG [-]; CANLIQ, CANICE: after interception [mm];
        BDFALL: falling-snow density [kg m-3]; params: CH2OP; dt: [s].
    Returns:
        dict CANLIQ, CANICE, CMC [mm], FWET [-], TV [K] (relaxed towards TFRZ on melt/freeze),
        ETRAN (transpiration), ECAN (= QEVAC + QSUBC - QDEWC - QFROC, net canopy evaporation,
        HRLDAS ECAN), QEVAC, QDEWC, QSUBC, QFROC, QMELTC, QFRZC [mm s-1], MAXLIQ, MAXSNO [mm].
    """
    ch2op = params["CH2OP"]
    vai = ELAI + ESAI
    maxliq = FVEG * ch2op * vai
    lat = jnp.where(FROZEN_CANOPY, HSUB, HVAP)
    etran = jnp.maximum(FCTR / lat, 0.0)
    e_pos = jnp.maximum(FCEV / lat, 0.0)
    e_neg = jnp.abs(jnp.minimum(FCEV / lat, 0.0))
    qevac = jnp.where(FROZEN_CANOPY, 0.0, e_pos)
    qdewc = jnp.where(FROZEN_CANOPY, 0.0, e_neg)
    qsubc = jnp.where(FROZEN_CANOPY, e_pos, 0.0)
    qfroc = jnp.where(FROZEN_CANOPY, e_neg, 0.0)

    qevac = jnp.minimum(CANLIQ / dt, qevac)
    canliq = jnp.maximum(0.0, CANLIQ + (qdewc - qevac) * dt)
    canliq = jnp.where(canliq <= 1.0e-6, 0.0, canliq)

    maxsno = FVEG * 6.6 * (0.27 + 46.0 / BDFALL) * vai
    qsubc = jnp.minimum(CANICE / dt, qsubc)
    canice = jnp.maximum(0.0, CANICE + (qfroc - qsubc) * dt)
    canice = jnp.where(canice <= 1.0e-6, 0.0, canice)

    fwet = jnp.where(
        (canice > 0.0) & (canice >= canliq),
        jnp.maximum(0.0, canice) / jnp.maximum(maxsno, 1.0e-6),
        jnp.maximum(0.0, canliq) / jnp.maximum(maxliq, 1.0e-6),
    )
    fwet = _pow0667(jnp.minimum(fwet, 1.0))
    cmc = canliq + canice

    # melting of canopy ice
    melt_on = (canice > 1.0e-6) & (TV > TFRZ)
    qmeltc = jnp.minimum(canice / dt, (TV - TFRZ) * CICE * canice / DENICE / (dt * HFUS))
    qmeltc = jnp.where(melt_on, qmeltc, 0.0)
    canice_m = jnp.maximum(0.0, canice - qmeltc * dt)
    canliq = jnp.where(melt_on, jnp.maximum(0.0, cmc - canice_m), canliq)
    canice = jnp.where(melt_on, canice_m, canice)
    tv = jnp.where(melt_on, fwet * TFRZ + (1.0 - fwet) * TV, TV)

    # freezing of canopy liquid
    frz_on = (canliq > 1.0e-6) & (tv < TFRZ)
    qfrzc = jnp.minimum(canliq / dt, (TFRZ - tv) * CWAT * canliq / DENH2O / (dt * HFUS))
    qfrzc = jnp.where(frz_on, qfrzc, 0.0)
    canliq_f = jnp.maximum(0.0, canliq - qfrzc * dt)
    canice = jnp.where(frz_on, jnp.maximum(0.0, cmc - canliq_f), canice)
    canliq = jnp.where(frz_on, canliq_f, canliq)
    tv = jnp.where(frz_on, fwet * TFRZ + (1.0 - fwet) * tv, tv)

    ecan = qevac + qsubc - qdewc - qfroc
    return {
        "CANLIQ": canliq, "CANICE": canice, "CMC": canliq + canice, "FWET": fwet, "TV": tv,
        "ETRAN": etran, "ECAN": ecan, "QEVAC": qevac, "QDEWC": qdewc, "QSUBC": qsubc,
        "QFROC": qfroc, "QMELTC": qmeltc, "QFRZC": qfrzc, "MAXLIQ": maxliq, "MAXSNO": maxsno,
    }
