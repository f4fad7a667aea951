"""Snow cover and snowpack water (Noah-MP ``SnowCoverGroundNiu07``, ``SnowWaterMain`` and the
snow part of ``WaterMain``).

Snow representation (a documented simplification of Noah-MP's 0-3 layers)
-------------------------------------------------------------------------
At most ONE snow layer. All state variables are per cell, shape (cells,):

=========  ======  ==================================================================
SNEQV      mm      snow water equivalent (layer ice + liquid when a layer exists)
SNOWH      m       snow depth (= DZSNO when a layer exists)
ISNOW      -       minus the number of snow layers, float: 0. (no layer) or -1.
SNICE      mm      ice of the snow layer (0 without a layer)
SNLIQ      mm      liquid water of the snow layer (0 without a layer)
TSNO       K       temperature of the snow layer (carried unchanged, meaningless, without a layer)
DZSNO      m       thickness of the snow layer (0 without a layer)
FICEOLD    -       SNICE/(SNICE+SNLIQ) at the *start* of the step (Noah-MP SnowIceFracPrev), 0
                   without a layer; ``snow_water`` returns the value for the next step.
=========  ======  ==================================================================

Rules follow Noah-MP: snow shallower than 0.025 m has no layer and lives thermally inside soil
layer 1 (its melt uses soil layer 1's energy excess, see ``phase_change``); a layer is created when
SNOWH >= 0.025 m; the layer is removed when its ice drops to 0.1 mm or less, or the depth below
0.025 m. What is simplified: Noah-MP would split a layer thicker than 0.05 m into 2 (then 3)
layers (``SnowLayerDivide``) and combine thin layers (``SnowLayerCombine``); here the single layer
just grows. Mass fluxes (snowfall, sublimation/frost, rain on snow, liquid retention SSI and
release SNOW_RET_FAC, compaction AR24 for one layer) are as in Noah-MP. At Bondville, 1998 the
reference has a layer in 111 of 17473 steps (maximum 3 layers, SNOWH <= 0.27 m). The glacier
SWE cap (SWEMAXGLA = 5000 mm) is not applied.

Params keys read (defaults from the Noah-MP table are used when a key is missing):
MFSNO, SCFFAC (cells,) for the cover fraction; SSI, SNOW_RET_FAC, SNLIQMAXFRAC,
C3_SNOWCOMPACT, C4_SNOWCOMPACT, C5_SNOWCOMPACT, DM_SNOWCOMPACT, ETA0_SNOWCOMPACT,
SNOWCOMPACTm_AR24, SNOWCOMPACTb_AR24, SNOWCOMPACT_P1_AR24, SNOWCOMPACT_P2_AR24,
SNOWCOMPACT_P3_AR24, SNOWCOMPACT_Up_AR24 (cells,) for ``snow_water``.
Options read: ``soil_dz``, ``dt``.
"""
from __future__ import annotations

import jax.numpy as jnp

from diffland.physics.constants import DENH2O, DENICE, TFRZ

#: Noah-MP table values used when a key is absent from ``params``.
SNOW_DEFAULTS = {
    "MFSNO": 3.0, "SCFFAC": 0.014,
    "SSI": 0.03, "SNOW_RET_FAC": 5.0e-5, "SNLIQMAXFRAC": 0.4,
    "C3_SNOWCOMPACT": 2.5e-6, "C4_SNOWCOMPACT": 0.04, "C5_SNOWCOMPACT": 2.0,
    "DM_SNOWCOMPACT": 100.0, "ETA0_SNOWCOMPACT": 1.33e6,
    "SNOWCOMPACTm_AR24": -0.000695, "SNOWCOMPACTb_AR24": 0.206067,
    "SNOWCOMPACT_P1_AR24": 0.017, "SNOWCOMPACT_P2_AR24": 0.018, "SNOWCOMPACT_P3_AR24": 0.019,
    "SNOWCOMPACT_Up_AR24": 0.0315,
}


def _p(params, key):
    return params[key] if key in params else SNOW_DEFAULTS[key]


def snow_cover_fraction(*, SNOWH, SNEQV, params):
    """Niu and Yang (2007) ground snow cover fraction FSNO [-], (cells,).

    FSNO = tanh(SNOWH / (SCFFAC * (rho_s/100)**MFSNO)), rho_s = SNEQV/SNOWH [kg m-3];
    0 where SNOWH <= 0. SNOWH [m], SNEQV [mm]. Params: MFSNO [-], SCFFAC [m].
    """
    pos = SNOWH > 0.0
    h = jnp.where(pos, SNOWH, 1.0)
    rho = jnp.where(pos, SNEQV, 100.0) / h
    rho = jnp.where(rho > 0.0, rho, 1.0)  # keep the power finite for SNEQV == 0
    mfac = (rho / 100.0) ** _p(params, "MFSNO")
    return jnp.where(pos, jnp.tanh(h / (_p(params, "SCFFAC") * mfac)), 0.0)


def ice_fraction(SNICE, SNLIQ, ISNOW):
    """SNICE/(SNICE+SNLIQ) of the snow layer, 0 without a layer (Noah-MP SnowIceFracPrev)."""
    tot = SNICE + SNLIQ
    ok = (ISNOW < 0) & (tot > 0.0)
    return jnp.where(ok, SNICE / jnp.where(ok, tot, 1.0), 0.0)


def _compaction_ar24(*, SNICE, SNLIQ, DZSNO, TSNO, FICEOLD, IMELT_SNOW, SFCTMP, SFCPRS, params, dt):
    """Abolafia-Rosenzweig et al. (2024) compaction of a single (top = bottom) layer."""
    c2 = _p(params, "SNOWCOMPACTm_AR24") * SFCTMP + _p(params, "SNOWCOMPACTb_AR24")
    lo = jnp.where(SFCPRS >= 85000.0, _p(params, "SNOWCOMPACT_P1_AR24"),
                   jnp.where(SFCPRS >= 80000.0, _p(params, "SNOWCOMPACT_P2_AR24"),
                             _p(params, "SNOWCOMPACT_P3_AR24")))
    c2 = jnp.minimum(jnp.maximum(c2, lo), _p(params, "SNOWCOMPACT_Up_AR24"))
    tot = SNICE + SNLIQ
    tot_s = jnp.where(tot > 0.0, tot, 1.0)
    dz_s = jnp.where(DZSNO > 0.0, DZSNO, 1.0)
    fice = SNICE / tot_s
    void = 1.0 - (SNICE / DENICE + SNLIQ / DENH2O) / dz_s
    ok = (void > 0.001) & (SNICE > 0.1) & (DZSNO > 0.0)
    bi = SNICE / dz_s
    td = jnp.maximum(0.0, TFRZ - TSNO)
    dm = _p(params, "DM_SNOWCOMPACT")
    ddz1 = -_p(params, "C3_SNOWCOMPACT") * jnp.exp(-_p(params, "C4_SNOWCOMPACT") * td)
    ddz1 = jnp.where(bi > dm, ddz1 * jnp.exp(-46.0e-3 * jnp.where(bi > dm, bi - dm, 0.0)), ddz1)
    ddz1 = jnp.where(SNLIQ > 0.01 * dz_s, ddz1 * _p(params, "C5_SNOWCOMPACT"), ddz1)
    ddz2 = -(0.5 * tot) * jnp.exp(-0.08 * td - c2 * bi) / _p(params, "ETA0_SNOWCOMPACT")
    ddz3 = jnp.where(IMELT_SNOW == 1.0,
                     -jnp.maximum(0.0, (FICEOLD - fice) / jnp.maximum(1.0e-6, FICEOLD)) / dt, 0.0)
    pdzdtc = jnp.maximum(-0.5, (ddz1 + ddz2 + ddz3) * dt)
    dz = DZSNO * (1.0 + pdzdtc)
    dz = jnp.maximum(dz, SNICE / DENICE + SNLIQ / DENH2O)
    dz = jnp.minimum(jnp.maximum(dz, tot / 500.0), tot / 50.0)
    return jnp.where(ok, dz, DZSNO)


def snow_water(*, SNEQV, SNOWH, ISNOW, SNICE, SNLIQ, TSNO, DZSNO, FICEOLD, SH2O, SMC, QSNOW, QRAIN,
               BDFALL, QVAP, QDEW, TG, SFCTMP, SFCPRS, params, options, IMELT_SNOW=None,
               PONDING=None, dt=None):
    """Snowpack water for one step (WaterMain's snow glue + SnowWaterMain), single-layer pack.

    Call after ``phase_change`` (pass its snow/soil state and PONDING) and the canopy water
    routine (QSNOW/QRAIN at the ground).

    Args:
        SNEQV [mm], SNOWH [m], ISNOW (0./-1.), SNICE [mm], SNLIQ [mm], TSNO [K], DZSNO [m]:
            snow state after the phase change, (cells,).
        FICEOLD: snow layer ice fraction at the start of the step [-] (cells,).
        SH2O, SMC: soil liquid / total water [m3/m3], (nsoil, cells) (layer 1 may change).
        QSNOW: snowfall reaching the ground [mm/s]; QRAIN: rain reaching the ground [mm/s].
        BDFALL: fresh snow density [kg/m3] (depth increase = QSNOW/BDFALL).
        QVAP: ground evaporation+sublimation [mm/s], >= 0 (Noah-MP max(LHG/LATHEAG, 0));
        QDEW: ground dew+frost [mm/s], >= 0 (Noah-MP |min(LHG/LATHEAG, 0)|).
        TG: ground temperature [K] (frozen ground where TG <= TFRZ: soil dew/evaporation act
            on soil ice of layer 1, as Noah-MP WaterMain does).
        SFCTMP [K], SFCPRS [Pa]: air temperature and pressure (new-layer temperature, AR24).
        params: see module docstring. options: ``Options``.
        IMELT_SNOW: phase-change flag of the snow layer this step (1 = melting), (cells,),
            i.e. ``phase_change(...)["IMELT"][0]``; default 0.
        PONDING: thin-snow melt from ``phase_change`` [mm]; default 0.
        dt: step [s]; default ``options.dt``.

    Returns dict: SNEQV, SNOWH, ISNOW, SNICE, SNLIQ, TSNO, DZSNO, FICEOLD (next step),
        SH2O, SMC, SICE (nsoil, cells);
        QSNBOT [mm/s] outflow from the bottom of the snow layer; PONDING1, PONDING2 [mm]
        (liquid released when the layer is removed: ice < 0.1 mm / depth < 0.025 m);
        QINSUR [mm/s] water reaching the soil surface = (PONDING+PONDING1+PONDING2)/dt + QSNBOT
        + QSDEW (+ QRAIN when no layer remains); QSEVA [mm/s] soil evaporation still to be taken
        by the soil water solver (0 on frozen ground); QSDEW [mm/s] soil dew (included in QINSUR);
        QSNSUB, QSNFRO [mm/s] snow sublimation / frost; QRAIN_SNOW [mm/s] rain added to the layer;
        SNDISCARD [mm] tiny SWE (<= 1e-6 mm) that Noah-MP zeroes without a destination.
    """
    dt = options.dt if dt is None else dt
    dz1 = float(options.soil_dz[0])
    zero = jnp.zeros_like(SNEQV)
    IMELT_SNOW = zero if IMELT_SNOW is None else IMELT_SNOW
    PONDING = zero if PONDING is None else PONDING

    sh2o1 = SH2O[0]
    sice1 = jnp.maximum(0.0, SMC[0] - SH2O[0])
    sice_rest = jnp.maximum(0.0, SMC[1:] - SH2O[1:])

    # --- ground vapour flux split between snow and soil (WaterMain)
    snow_on = SNEQV > 0.0
    qsnsub = jnp.where(snow_on, jnp.minimum(QVAP, SNEQV / dt), 0.0)
    qseva = QVAP - qsnsub
    qsnfro = jnp.where(snow_on, QDEW, 0.0)
    qsdew = QDEW - qsnfro

    has = ISNOW < 0
    sneqv, snowh, snice, snliq, tsno, dzsno = SNEQV, SNOWH, SNICE, SNLIQ, TSNO, DZSNO
    ficeold = jnp.where(has, FICEOLD, 0.0)
    imelt = jnp.where(has, IMELT_SNOW, 0.0)

    # --- snowfall (SnowfallAfterCanopyIntercept)
    dh = QSNOW / BDFALL * dt
    fall = QSNOW > 0.0
    add_thin = (~has) & fall
    snowh = jnp.where(add_thin, snowh + dh, snowh)
    sneqv = jnp.where(add_thin, sneqv + QSNOW * dt, sneqv)
    new = (~has) & (snowh >= 0.025)
    dzsno = jnp.where(new, snowh, dzsno)
    snowh = jnp.where(new, 0.0, snowh)
    tsno = jnp.where(new, jnp.minimum(TFRZ, SFCTMP), tsno)
    snice = jnp.where(new, sneqv, snice)
    snliq = jnp.where(new, 0.0, snliq)
    add_layer = has & fall
    snice = jnp.where(add_layer, snice + QSNOW * dt, snice)
    dzsno = jnp.where(add_layer, dzsno + dh, dzsno)
    has = has | new

    # --- compaction (AR24), one layer
    dzsno = jnp.where(has, _compaction_ar24(SNICE=snice, SNLIQ=snliq, DZSNO=dzsno, TSNO=tsno,
                                            FICEOLD=ficeold, IMELT_SNOW=imelt, SFCTMP=SFCTMP,
                                            SFCPRS=SFCPRS, params=params, dt=dt), dzsno)

    def remove_small_ice(has, snice, snliq, dzsno, sneqv, snowh, sice1, pond1):
        """SnowLayerCombine for a single layer with ice <= 0.1 mm: the layer goes away.

        ``has`` must already be restricted to the cells where Noah-MP calls the combination."""
        rm = has & (snice <= 0.1)
        pos = snice >= 0.0
        p_neg = snliq + snice
        take = rm & (~pos) & (p_neg < 0.0)
        sice1 = jnp.where(take, sice1 + p_neg / (dz1 * 1000.0), sice1)
        pond1 = jnp.where(rm, jnp.where(pos, snliq, jnp.maximum(p_neg, 0.0)), pond1)
        sneqv = jnp.where(rm, jnp.where(pos, snice, 0.0), sneqv)
        snowh = jnp.where(rm, jnp.where(pos, dzsno, 0.0), snowh)
        snice = jnp.where(rm, 0.0, snice)
        snliq = jnp.where(rm, 0.0, snliq)
        dzsno = jnp.where(rm, 0.0, dzsno)
        return has & ~rm, snice, snliq, dzsno, sneqv, snowh, sice1, pond1

    def fix_neg_ice(sh2o1, sice1):
        neg = sice1 < 0.0
        return jnp.where(neg, sh2o1 + sice1, sh2o1), jnp.where(neg, 0.0, sice1)

    # --- combination (SnowLayerCombine, single layer)
    pond1 = zero
    pond2 = zero
    was = has
    has, snice, snliq, dzsno, sneqv, snowh, sice1, pond1 = remove_small_ice(
        has, snice, snliq, dzsno, sneqv, snowh, sice1, pond1)
    sh2o1, sice1 = fix_neg_ice(sh2o1, sice1)
    sneqv = jnp.where(has, snice + snliq, sneqv)
    snowh = jnp.where(has, dzsno, snowh)
    shallow = has & (snowh < 0.025)
    pond2 = jnp.where(shallow, snliq, pond2)
    sneqv = jnp.where(shallow, snice, sneqv)
    snowh = jnp.where(shallow & (sneqv <= 0.0), 0.0, snowh)
    has = has & ~shallow
    removed = was & ~has  # layer arrays are zeroed at the end

    # --- SnowpackHydrology
    # snow that vanished in the combination: its sublimation/frost acts on soil ice
    gone = sneqv == 0.0
    sice1 = jnp.where(gone, sice1 + (qsnfro - qsnsub) * dt / (dz1 * 1000.0), sice1)
    sh2o1, sice1 = fix_neg_ice(sh2o1, sice1)
    # thin snow without a layer
    thin = (~has) & (sneqv > 0.0)
    s_old = jnp.where(thin, sneqv, 1.0)
    s_new = sneqv - qsnsub * dt + qsnfro * dt
    h_new = jnp.maximum(0.0, (s_new / s_old) * snowh)
    h_new = jnp.minimum(jnp.maximum(h_new, s_new / 500.0), s_new / 50.0)
    over = thin & (s_new < 0.0)
    sice1 = jnp.where(over, sice1 + s_new / (dz1 * 1000.0), sice1)
    sneqv = jnp.where(thin, jnp.where(over, 0.0, s_new), sneqv)
    snowh = jnp.where(thin, jnp.where(over, 0.0, h_new), snowh)
    sh2o1, sice1 = jnp.where(thin, fix_neg_ice(sh2o1, sice1)[0], sh2o1), \
        jnp.where(thin, fix_neg_ice(sh2o1, sice1)[1], sice1)
    tiny = (snowh <= 1.0e-8) | (sneqv <= 1.0e-6)
    discard = jnp.where(tiny & ~has, sneqv, 0.0)
    snowh = jnp.where(tiny, 0.0, snowh)
    sneqv = jnp.where(tiny, 0.0, sneqv)

    # layered snow: sublimation/frost on the top layer, then rain
    wtmp = snice + snliq
    snice = jnp.where(has, snice - qsnsub * dt + qsnfro * dt, snice)
    low = has & (snice < 1.0e-6)
    _, snice, snliq, dzsno, sneqv, snowh, sice1, pond1 = remove_small_ice(
        low, snice, snliq, dzsno, sneqv, snowh, sice1, pond1)
    has2 = has & ~low  # ice < 1e-6 <= 0.1: the combination always removes the layer
    sh2o1, sice1 = jnp.where(low, fix_neg_ice(sh2o1, sice1)[0], sh2o1), \
        jnp.where(low, fix_neg_ice(sh2o1, sice1)[1], sice1)
    removed = removed | (has & ~has2)
    has = has2
    keep = has & ~low
    dzsno = jnp.where(keep, dzsno * (snice + snliq) / jnp.where(keep, wtmp, 1.0), dzsno)
    qrain_snow = jnp.where(has, QRAIN, 0.0)
    snliq = jnp.where(has, jnp.maximum(0.0, snliq + QRAIN * dt), snliq)

    # liquid water flow out of the (bottom) layer
    dz_s = jnp.where(has, dzsno, 1.0)
    snicev = jnp.minimum(1.0, snice / (dz_s * DENICE))
    epore = 1.0 - snicev
    snliqv = snliq / (dz_s * DENH2O)
    out = jnp.maximum(0.0, (snliqv - _p(params, "SSI") * epore) * dz_s)
    out = jnp.maximum((snliqv - epore) * dz_s, _p(params, "SNOW_RET_FAC") * dt * out)
    out = out * DENH2O
    snliq_n = snliq - out
    fmax = _p(params, "SNLIQMAXFRAC")
    tot = snice + snliq_n
    too_wet = (snliq_n / jnp.where(tot > 0.0, tot, 1.0)) > fmax
    cap = fmax / (1.0 - fmax) * snice
    out = jnp.where(too_wet, out + (snliq_n - cap), out)
    snliq_n = jnp.where(too_wet, cap, snliq_n)
    out = jnp.where(has, out, 0.0)
    snliq = jnp.where(has, snliq_n, snliq)
    dzsno = jnp.where(has, jnp.maximum(dzsno, snliq / DENH2O + snice / DENICE), dzsno)
    qsnbot = out / dt

    # --- SnowWaterMain tail: empty layer zeroed, totals from the layer, tiny snow removed
    snice = jnp.where(has, snice, 0.0)
    snliq = jnp.where(has, snliq, 0.0)
    dzsno = jnp.where(has, dzsno, 0.0)
    sneqv = jnp.where(has, snice + snliq, sneqv)
    snowh = jnp.where(has, dzsno, snowh)
    tiny = (snowh <= 1.0e-6) | (sneqv <= 1.0e-6)
    discard = discard + jnp.where(tiny, sneqv, 0.0)
    snowh = jnp.where(tiny, 0.0, snowh)
    sneqv = jnp.where(tiny, 0.0, sneqv)
    isnow = jnp.where(has, -1.0, 0.0).astype(SNEQV.dtype)

    # --- WaterMain after SnowWaterMain: frozen ground, soil surface input
    frozen = TG <= TFRZ
    sice1 = jnp.where(frozen, sice1 + (qsdew - qseva) * dt / (dz1 * 1000.0), sice1)
    qsdew_o = jnp.where(frozen, 0.0, qsdew)
    qseva_o = jnp.where(frozen, 0.0, qseva)
    sh2o1, sice1 = jnp.where(frozen, fix_neg_ice(sh2o1, sice1)[0], sh2o1), \
        jnp.where(frozen, fix_neg_ice(sh2o1, sice1)[1], sice1)
    qinsur = (PONDING + pond1 + pond2) / dt + qsnbot + qsdew_o + jnp.where(has, 0.0, QRAIN)

    sh2o = jnp.concatenate([sh2o1[None], SH2O[1:]], axis=0)
    sice = jnp.concatenate([sice1[None], sice_rest], axis=0)
    return {
        "SNEQV": sneqv, "SNOWH": snowh, "ISNOW": isnow, "SNICE": snice, "SNLIQ": snliq,
        "TSNO": tsno, "DZSNO": dzsno, "FICEOLD": ice_fraction(snice, snliq, isnow),
        "SH2O": sh2o, "SMC": sh2o + sice, "SICE": sice,
        "QSNBOT": qsnbot, "PONDING1": pond1, "PONDING2": pond2, "QINSUR": qinsur,
        "QSEVA": qseva_o, "QSDEW": qsdew_o, "QSNSUB": qsnsub, "QSNFRO": qsnfro,
        "QRAIN_SNOW": qrain_snow, "SNDISCARD": discard, "LAYER_REMOVED": removed,
    }
