"""Surface energy balance of Noah-MP v5 (vegetated + bare-ground tiles), in JAX.

Port of the flux part of Noah-MP's ``EnergyMain`` for soil points (no lake, glacier,
urban, irrigation or crop model):

==========================================  ===========================================
Noah-MP v5 routine                          here
==========================================  ===========================================
AtmosForcingMod (air density, vapour        :func:`derived_forcing`
pressure, wind floor)
VaporPressureSaturationMod                  :func:`esat_noahmp`, :func:`esat_select`
PsychrometricVariableMod                    :func:`psychrometric`
ResistanceGroundEvaporationMod (rsf 1, 4)   :func:`ground_evap_resistance`
HumiditySaturationMod                       ``stomata.saturation_mixing_ratio``
SurfaceEmissivityMod                        :func:`emissivity`
PrecipitationHeatAdvectMod                  :func:`precipitation_heat_advect`
SurfaceEnergyFluxVegetatedMod               :func:`surface_energy_vegetated`
SurfaceEnergyFluxBareGroundMod              :func:`surface_energy_bare`
EnergyMainMod (tile aggregation, TRAD)      :func:`surface_energy` (main entry point)
CanopyHydrologyMod / WaterMainMod (only     :func:`surface_energy` (water-flux outputs)
the conversion of latent heat to water)
==========================================  ===========================================

Iterations are those of Noah-MP: the canopy loop runs up to 20 iterations and stops one
iteration after |dTV| <= 0.01 K at iteration >= 5 (frozen with masks inside a
``lax.fori_loop``, so it is jit- and grad-friendly); the under-canopy ground and the bare
ground run 5 Newton iterations each. Stomatal resistance is evaluated once, at the first
canopy iteration, with the start-of-step TV and EAH. Monin-Obukhov corrections are averaged
with the previous iteration, capped at 0.9 ln(z/z0), and reset to neutral after two sign
changes of z/L.

With ``stc=3`` (and 1), when SNOWH > 0.05 m and a tile's ground temperature ends above
TFRZ, the tile temperature is relaxed to (1-FSNO) Tg + FSNO TFRZ and the ground heat flux
closes the tile energy balance (done in each tile routine, as in Noah-MP).

Not ported (diagnostics only, or handled elsewhere): 2-m temperature/humidity, wind
stress, Chen97 drag (sfc=2), lake/urban/glacier branches, sprinkler irrigation. The
returned TV is the canopy temperature of the energy solve; Noah-MP's CanopyHydrology
afterwards resets TV to TFRZ when intercepted water melts or freezes (water helper's job).

Params keys read (shape (cells,) unless noted):
    vegetation: HVT, Z0MVT, CWPVT, DLEAF, CBIOM, TMIN (only if pheno has no IGS),
    stomata (crs=1) VCMX25, MP, BP, QE25, KC25, KO25, AKC, AKO, AVCMX, C3PSN, FOLNMX,
    CO2, O2; (crs=2) RS, RSMAX, RGL, TOPT, HS;
    soil (shape (nsoil, cells), only layer 1 used): SMCMAX, SMCWLT, BEXP, PSISAT;
    globals: RSURF_EXP, RSURF_SNOW (rsf=4), Z0SOIL (default 0.002), Z0SNO (default
    0.002), EG_SOIL (or EG; soil emissivity, default 0.97), SNOW_EMIS (default 0.95).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from diffland.physics import aerodynamics as aero
from diffland.physics import stomata
from diffland.physics.compaction import compacted_fori_loop, compaction_widths
from diffland.physics.constants import (CICE, CPAIR, CWAT, DENH2O, DENICE, HSUB, HVAP, RAIR,
                                        RW, SB, TFRZ, GRAV)

# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------

_A = (6.107799961, 4.436518521e-01, 1.428945805e-02, 2.650648471e-04, 3.031240396e-06,
      2.034080948e-08, 6.136820929e-11)
_B = (6.109177956, 5.034698970e-01, 1.886013408e-02, 4.176223716e-04, 5.824720280e-06,
      4.838803174e-08, 1.838826904e-10)
_C = (4.438099984e-01, 2.857002636e-02, 7.938054040e-04, 1.215215065e-05, 1.036561403e-07,
      3.532421810e-10, -7.090244804e-13)
_D = (5.030305237e-01, 3.773255020e-02, 1.267995369e-03, 2.477563108e-05, 3.005693132e-07,
      2.158542548e-09, 7.131097725e-12)


def _poly(coef, t):
    out = coef[-1]
    for c in coef[-2::-1]:
        out = c + t * out
    return 100.0 * out


def esat_noahmp(tc):
    """Saturation vapour pressure polynomials of Noah-MP (VaporPressureSaturation).

    Args:
        tc: temperature [degC] (callers clip it to [-50, 50]).
    Returns:
        (esat over water [Pa], esat over ice [Pa], d/dT water [Pa/K], d/dT ice [Pa/K]).
    """
    return _poly(_A, tc), _poly(_B, tc), _poly(_C, tc), _poly(_D, tc)


def esat_select(t):
    """Saturation vapour pressure [Pa] and slope [Pa/K] at ``t`` [K], Noah-MP style:
    T-TFRZ clipped to [-50, 50] degC, water above 0 degC, ice otherwise."""
    tc = jnp.clip(t - TFRZ, -50.0, 50.0)
    ew, ei, dew, dei = esat_noahmp(tc)
    warm = tc > 0.0
    return jnp.where(warm, ew, ei), jnp.where(warm, dew, dei)


_p = aero._p  # one parameter getter for the energy-balance modules


def _top(params, key, ref):
    """Layer-1 value of a soil parameter given as (nsoil, cells) or (cells,)."""
    v = jnp.asarray(params[key], dtype=ref.dtype)
    if v.ndim >= 2:
        v = v[0]
    return v * jnp.ones_like(ref)


# --------------------------------------------------------------------------------------
# forcing-derived quantities, psychrometrics, surface resistance, emissivity, advection
# --------------------------------------------------------------------------------------

def derived_forcing(*, SFCTMP, Q2, SFCPRS, UU, VV):
    """Reference-height derived forcing (part of AtmosForcingMod::ProcessAtmosForcing).

    Args:
        SFCTMP: air temperature [K]; Q2: specific humidity [kg/kg]; SFCPRS: pressure [Pa];
        UU, VV: eastward / northward wind [m/s].
    Returns:
        dict: EAIR [Pa] vapour pressure, RHOAIR [kg/m3] moist-air density, UR [m/s] wind
        speed floored at 1 m/s.
    """
    eair = Q2 * SFCPRS / (0.622 + 0.378 * Q2)
    rho = (SFCPRS - 0.378 * eair) / (RAIR * SFCTMP)
    w2 = UU * UU + VV * VV
    ws = jnp.sqrt(jnp.where(w2 > 0.0, w2, 1.0))
    ur = jnp.maximum(jnp.where(w2 > 0.0, ws, 0.0), 1.0)
    return {"EAIR": eair, "RHOAIR": rho, "UR": ur}


def psychrometric(*, TV, TG, SFCPRS):
    """Latent heats and psychrometric constants (PsychrometricVariable).

    Returns dict: LATHEAV, LATHEAG [J/kg] (vaporisation above TFRZ, sublimation at or
    below), GAMMAV, GAMMAG [Pa/K], FROZEN_CANOPY, FROZEN_GROUND (bool).
    """
    frzc = ~(TV > TFRZ)
    frzg = ~(TG > TFRZ)
    hs, hv = jnp.asarray(HSUB, TV.dtype), jnp.asarray(HVAP, TV.dtype)
    lv = jnp.where(frzc, hs, hv)
    lg = jnp.where(frzg, hs, hv)
    return {"LATHEAV": lv, "LATHEAG": lg,
            "GAMMAV": CPAIR * SFCPRS / (0.622 * lv), "GAMMAG": CPAIR * SFCPRS / (0.622 * lg),
            "FROZEN_CANOPY": frzc, "FROZEN_GROUND": frzg}


def ground_evap_resistance(*, SH2O1, FSNO, SNOWH, TG, params, rsf=4, dz1=0.1):
    """Soil surface resistance to evaporation and surface relative humidity
    (ResistanceGroundEvaporation, soil points, rsf = 1 or 4).

    Args:
        SH2O1: liquid water content of soil layer 1 [m3/m3].
        FSNO: snow cover fraction [-]; SNOWH: snow depth [m]; TG: ground temperature [K].
        params: SMCMAX, SMCWLT, BEXP, PSISAT (layer 1 used), RSURF_EXP, RSURF_SNOW (rsf=4).
        rsf: 1 (Sakaguchi-Zeng 2009) or 4 (SZ09 on the snow-free part, RSURF_SNOW on snow).
        dz1: thickness of soil layer 1 [m] (-DepthSoilLayer(1)).
    Returns:
        (RSURF [s/m], RHSUR [-]).
    """
    if rsf not in (1, 4):
        raise NotImplementedError(f"rsf={rsf} not supported (use 1 or 4)")
    smcmax = _top(params, "SMCMAX", SH2O1)
    smcwlt = _top(params, "SMCWLT", SH2O1)
    bexp = _top(params, "BEXP", SH2O1)
    psisat = _top(params, "PSISAT", SH2O1)
    rexp = _p(params, "RSURF_EXP", SH2O1)

    base = 1.0 - jnp.minimum(1.0, SH2O1 / smcmax)
    pos = base > 0.0
    powv = jnp.where(pos, jnp.where(pos, base, 1.0) ** rexp, 0.0)  # double where: d/dexp at 0
    dry = dz1 * (jnp.exp(powv) - 1.0) / (2.71828 - 1.0)
    dvap = 2.2e-5 * smcmax * smcmax * (1.0 - smcwlt / smcmax) ** (2.0 + 3.0 / bexp)
    rsurf = dry / dvap
    if rsf == 4:
        rsnow = _p(params, "RSURF_SNOW", SH2O1)
        rsurf = 1.0 / (FSNO * (1.0 / rsnow) + (1.0 - FSNO) * (1.0 / jnp.maximum(rsurf, 0.001)))
    rsurf = jnp.where((SH2O1 < 0.01) & (SNOWH == 0.0), 1.0e6, rsurf)
    psi = -psisat * (jnp.maximum(0.01, SH2O1) / smcmax) ** (-bexp)
    rhsur = FSNO + (1.0 - FSNO) * jnp.exp(psi * GRAV / (RW * TG))
    return rsurf, rhsur


def emissivity(*, ELAI, ESAI, FSNO, FVEG, params):
    """Vegetation, ground and surface emissivities (SurfaceEmissivity, soil points).

    Returns (EMV, EMG, EMISSI) [-]; EG_SOIL (or EG) and SNOW_EMIS read from params.
    """
    eg_soil = _p(params, "EG_SOIL" if "EG_SOIL" in params else "EG", FSNO, 0.97)
    eg_snow = _p(params, "SNOW_EMIS", FSNO, 0.95)
    emv = 1.0 - jnp.exp(-(ELAI + ESAI) / 1.0)
    emg = eg_soil * (1.0 - FSNO) + eg_snow * FSNO
    emissi = FVEG * (emg * (1.0 - emv) + emv + emv * (1.0 - emv) * (1.0 - emg)) + (1.0 - FVEG) * emg
    return emv, emg, emissi


def precipitation_heat_advect(*, SFCTMP, TV, TG, FVEG, RAIN, SNOW, QDRIPR, QTHROR, QDRIPS,
                              QTHROS):
    """Heat advected by precipitation (PrecipitationHeatAdvect).

    Args:
        SFCTMP, TV, TG: air, canopy, ground temperature [K] (start of step).
        FVEG: vegetation fraction [-].
        RAIN, SNOW: rain / snowfall rate above the canopy [mm/s].
        QDRIPR, QTHROR: canopy drip / throughfall of rain [mm/s].
        QDRIPS, QTHROS: canopy unloading / throughfall of snow [mm/s].
    Returns:
        (PAHV, PAHG, PAHB) [W/m2]: net to canopy (grid), to the under-canopy ground (per
        vegetated area), to the bare ground (per bare area); each clipped to +-20.
    """
    cw, ci = CWAT / 1000.0, CICE / 1000.0
    air2can = FVEG * RAIN * cw * (SFCTMP - TV) + FVEG * SNOW * ci * (SFCTMP - TV)
    can2grd = QDRIPR * cw * (TV - TG) + QDRIPS * ci * (TV - TG)
    air2grd = QTHROR * cw * (SFCTMP - TG) + QTHROS * ci * (SFCTMP - TG)
    pahv = air2can - can2grd
    pahg = can2grd
    pahb = air2grd
    mid = (FVEG > 0.0) & (FVEG < 1.0)
    fv_s = jnp.where(mid, FVEG, 0.5)
    pahg_o = jnp.where(mid, pahg / fv_s, pahg)
    pahb_o = jnp.where(mid, pahb / (1.0 - fv_s), pahb)
    none = FVEG <= 0.0
    pahb_o = jnp.where(none, pahg + pahb, pahb_o)
    pahg_o = jnp.where(none, 0.0, pahg_o)
    pahv = jnp.where(none, 0.0, pahv)
    pahb_o = jnp.where(FVEG >= 1.0, 0.0, pahb_o)
    clip = lambda x: jnp.minimum(jnp.maximum(x, -20.0), 20.0)  # noqa: E731
    return clip(pahv), clip(pahg_o), clip(pahb_o)


# --------------------------------------------------------------------------------------
# tiles
# --------------------------------------------------------------------------------------

def _tile_snow_adjust(tg, snowh, fsno, stc):
    """stc=1: clamp to TFRZ; stc=3: relax towards TFRZ by FSNO; when SNOWH>0.05 and tg>TFRZ."""
    cond = (snowh > 0.05) & (tg > TFRZ)
    if stc == 1:
        new = jnp.full_like(tg, TFRZ)
    elif stc == 3:
        new = (1.0 - fsno) * tg + fsno * TFRZ
    else:
        return tg, jnp.zeros_like(tg, dtype=bool)
    return jnp.where(cond, new, tg), cond


def surface_energy_bare(*, sfctmp, q2, eair, rhoair, ur, lwdn, tg, snowh, fsno, sag, pahb,
                        emg, gammag, rsurf, rhsur, df1, dz1, stc1, zlvl, zpdg, z0mg, stc,
                        sfcprs):
    """Bare-ground tile (SurfaceEnergyFluxBareGround with MOST, 5 Newton iterations).

    All fluxes positive upward (into the atmosphere) except GHB (positive into the
    ground). Units W/m2, temperatures K.

    Returns dict: TGB, IRB, SHB, EVB, GHB, CMB (dimensionless drag), CHB (= 1/RAHB, m/s),
    RAHB [s/m], QSFCB [kg/kg], FVB [m/s].
    """
    cir = emg * SB
    cgh = 2.0 * df1 / dz1
    z = jnp.zeros_like(tg)

    def body(i, c):
        m = aero.most_exchange(first=(i == 0), zlvl=zlvl, zpd=zpdg, z0m=z0mg, z0h=z0mg, ur=ur,
                               tair=sfctmp, qair=q2, rhoair=rhoair, sh_prev=c["sh"],
                               fv_prev=c["fv"], moz_prev=c["moz"], fm_prev=c["fm"],
                               fh_prev=c["fh"], nsign=c["nsign"])
        t = c["TG"]
        estg, destg = esat_select(t)
        csh = rhoair * CPAIR / m["RAH"]
        cev = rhoair * CPAIR / gammag / (rsurf + m["RAW"])
        irb = cir * t ** 4 - emg * lwdn
        shb = csh * (t - sfctmp)
        evb = cev * (estg * rhsur - eair)
        ghb = cgh * (t - stc1)
        b = sag - irb - shb - evb - ghb + pahb
        a = 4.0 * cir * t ** 3 + csh + cev * destg + cgh
        dtg = b / a
        tn = t + dtg
        estn, _ = esat_select(tn)
        return {"TG": tn, "moz": m["MOZ"], "fm": m["FM"], "fh": m["FH"], "nsign": m["NSIGN"],
                "fv": m["FV"], "sh": csh * (tn - sfctmp),
                "IRB": irb + 4.0 * cir * t ** 3 * dtg, "SHB": shb + csh * dtg,
                "EVB": evb + cev * destg * dtg, "GHB": ghb + cgh * dtg, "csh": csh, "cev": cev,
                "estg": estn, "CM": m["CM"], "RAH": m["RAH"]}

    c0 = {"TG": tg, "moz": z, "fm": z, "fh": z, "nsign": z, "fv": jnp.full_like(tg, 0.1),
          "sh": z, "IRB": z, "SHB": z, "EVB": z, "GHB": z, "csh": z, "cev": z, "estg": z,
          "CM": z, "RAH": z}
    c = jax.lax.fori_loop(0, 5, body, c0)
    tgb, estg, csh, cev = c["TG"], c["estg"], c["csh"], c["cev"]
    qsfc = 0.622 * (estg * rhsur) / (sfcprs - 0.378 * (estg * rhsur))

    tg_adj, cond = _tile_snow_adjust(tgb, snowh, fsno, stc)
    irb_a = cir * tg_adj ** 4 - emg * lwdn
    shb_a = csh * (tg_adj - sfctmp)
    evb_a = cev * (estg * rhsur - eair)
    ghb_a = sag + pahb - (irb_a + shb_a + evb_a)
    return {"TGB": tg_adj, "IRB": jnp.where(cond, irb_a, c["IRB"]),
            "SHB": jnp.where(cond, shb_a, c["SHB"]), "EVB": jnp.where(cond, evb_a, c["EVB"]),
            "GHB": jnp.where(cond, ghb_a, c["GHB"]), "CMB": c["CM"], "CHB": 1.0 / c["RAH"],
            "RAHB": c["RAH"], "QSFCB": qsfc, "FVB": c["fv"]}


def surface_energy_vegetated(*, sfctmp, q2, eair, rhoair, ur, lwdn, sfcprs, tv, tg, eah, tah,
                             canliq, canice, fwet, snowh, fsno, sav, sag, parsun, parsha,
                             laisun, laisha, vai, fveg, emv, emg, gammav, latheav, gammag,
                             rsurf, rhsur, df1, dz1, stc1, pahv, pahg, btran, igs, zlvl, zpd,
                             z0m, z0mg, params, options):
    """Vegetated tile: canopy + under-canopy ground (SurfaceEnergyFluxVegetated, MOST).

    ``vai`` must already be capped at 6 and > 0, and ``fveg`` > 0 (the caller sanitises
    non-vegetated cells). Canopy fluxes (IRC, SHC, EVC, TR, CANHS) are per grid area
    (include FVEG); ground fluxes (IRG, SHG, EVG, GHV) are per vegetated area.

    Returns dict: TV, TAH, EAH, TGV [K/Pa], IRC, SHC, EVC, TR, CANHS, IRG, SHG, EVG, GHV
    [W/m2], CMV (dimensionless drag), CHV (= 1/RAH, m/s), RSSUN, RSSHA [s/m], PSNSUN,
    PSNSHA [umol CO2/m2/s], RB, RAH, RAHG [s/m], QSFCV [kg/kg], NITER (canopy iterations
    done).
    """
    dt = options.dt
    hcan = _p(params, "HVT", tv)
    cwpvt = _p(params, "CWPVT", tv)
    dleaf = _p(params, "DLEAF", tv)
    cbiom = _p(params, "CBIOM", tv)
    laisun = jnp.minimum(6.0, laisun)
    laisha = jnp.minimum(6.0, laisha)
    ncell = tv.shape[-1] if tv.ndim else None

    estg0, _ = esat_select(tg)  # VapPresSatGrdVeg at the start (no RHSUR: Noah-MP quirk)
    uc = ur * jnp.log((hcan - zpd + z0m) / z0m) / jnp.log(zlvl / z0m)
    air = -emv * (1.0 + (1.0 - emv) * (1.0 - emg)) * lwdn - emv * emg * SB * tg ** 4
    cir = (2.0 - emv * (1.0 - emg)) * emv * SB
    hcv = cbiom * vai * CWAT + canliq * CWAT / DENH2O + canice * CICE / DENICE
    z = jnp.zeros_like(tv)

    def most(first, c, e):
        return aero.most_exchange(first=first, zlvl=e["zlvl"], zpd=e["zpd"], z0m=e["z0m"],
                                  z0h=e["z0m"], ur=e["ur"], tair=e["sfctmp"], qair=e["q2"],
                                  rhoair=e["rhoair"], sh_prev=c["shc"], fv_prev=c["fv"],
                                  moz_prev=c["moz"], fm_prev=c["fm"], fh_prev=c["fh"],
                                  nsign=c["nsign"])

    def ltg(first, c, fv, e):
        return aero.leaf_to_ground(first=first, vai=e["vai"], hcan=e["hcan"], zpd=e["zpd"],
                                   z0mg=e["z0mg"], z0hg=e["z0mg"], z0h=e["z0m"], fv=fv, uc=e["uc"],
                                   tah=c["TAH"], rhoair=e["rhoair"], shg_prev=c["shg"],
                                   fhg_prev=c["fhg"], cwpvt=e["cwpvt"], dleaf=e["dleaf"])

    c0 = {"TV": tv, "TAH": tah, "EAH": eah, "fv": jnp.full_like(tv, 0.1), "moz": z, "fm": z,
          "fh": z, "nsign": z, "fhg": z, "shc": z, "shg": z, "IRC": z, "SHC": z, "EVC": z,
          "TR": z, "CANHS": z, "CM": z, "RAH": z, "RAW": z, "RAHG": z, "RAWG": z, "RB": z,
          "last": jnp.zeros_like(tv, dtype=bool), "done": jnp.zeros_like(tv, dtype=bool),
          "niter": z}

    # Stomata are evaluated once, at iteration 1, with the start-of-step TV and EAH and the
    # leaf boundary resistance of iteration 1 (neutral MOST); sunlit and shaded leaves are
    # stacked along the cell axis to trace the stomata code once.
    # inputs of the canopy loop (per cell or scalar); the compacted loop gathers the per-cell ones
    env0 = {"zlvl": zlvl, "zpd": zpd, "z0m": z0m, "ur": ur, "sfctmp": sfctmp, "q2": q2,
            "rhoair": rhoair, "vai": vai, "hcan": hcan, "z0mg": z0mg, "uc": uc, "cwpvt": cwpvt,
            "dleaf": dleaf}
    m1 = most(True, c0, env0)
    rb1 = ltg(True, c0, m1["FV"], env0)["RB"]
    estv0, _ = esat_select(tv)
    cat = lambda x: jnp.concatenate([x, x], axis=-1)  # noqa: E731
    par2 = jnp.concatenate([parsun, parsha], axis=-1)
    p2 = {k: cat(jnp.asarray(v, dtype=tv.dtype) * jnp.ones_like(tv)) for k, v in params.items()
          if jnp.ndim(v) <= 1}
    if options.crs == 1:
        rs2, psn2 = stomata.ball_berry(par=par2, tv=cat(tv), estv=cat(estv0), eah=cat(eah),
                                       sfcprs=cat(sfcprs), sfctmp=cat(sfctmp), rb=cat(rb1),
                                       btran=cat(btran), igs=cat(igs), fveg=cat(fveg),
                                       params=p2)
    elif options.crs == 2:
        rs2, psn2 = stomata.jarvis(par=par2, tv=cat(tv), eah=cat(eah), sfcprs=cat(sfcprs),
                                   btran=cat(btran), fveg=cat(fveg), params=p2)
    else:
        raise NotImplementedError(f"crs={options.crs} not supported (use 1 or 2)")
    rssun, rssha = rs2[..., :ncell], rs2[..., ncell:]
    psnsun, psnsha = psn2[..., :ncell], psn2[..., ncell:]

    env = dict(env0, tg=tg, fwet=fwet, laisun=laisun, laisha=laisha, rssun=rssun, rssha=rssha,
               rsurf=rsurf, eair=eair, estg0=estg0, gammav=gammav, fveg=fveg, air=air, cir=cir,
               canliq=canliq, canice=canice, latheav=latheav, sav=sav, pahv=pahv, hcv=hcv)

    def iterate(i, c, e):
        first = i == 0
        m = most(first, c, e)
        g = ltg(first, c, m["FV"], e)
        (sfctmp, rhoair, vai, tg, fwet, laisun, laisha, rssun, rssha, rsurf, eair, estg0, gammav,
         fveg, air, cir, canliq, canice, latheav, sav, pahv, hcv) = (
            e[k] for k in ("sfctmp", "rhoair", "vai", "tg", "fwet", "laisun", "laisha", "rssun",
                           "rssha", "rsurf", "eair", "estg0", "gammav", "fveg", "air", "cir",
                           "canliq", "canice", "latheav", "sav", "pahv", "hcv"))
        tvc = c["TV"]
        estv, destv = esat_select(tvc)
        rah, raw, rb = m["RAH"], m["RAW"], g["RB"]
        rahg, rawg = g["RAHG"], g["RAWG"]

        cah = 1.0 / rah
        cvh = 2.0 * vai / rb
        cgh = 1.0 / rahg
        ctot = cah + cvh + cgh
        tmp_t = (sfctmp * cah + tg * cgh) / ctot
        fsh = cvh / ctot
        csh = (1.0 - fsh) * rhoair * CPAIR * cvh

        caw = 1.0 / raw
        cew = fwet * vai / rb
        ctw = (1.0 - fwet) * (laisun / (rb + rssun) + laisha / (rb + rssha))
        cgw = 1.0 / (rawg + rsurf)
        cq = caw + cew + ctw + cgw
        tmp_e = (eair * caw + estg0 * cgw) / cq
        fet = (cew + ctw) / cq
        cev = (1.0 - fet) * cew * rhoair * CPAIR / gammav
        ctr = (1.0 - fet) * ctw * rhoair * CPAIR / gammav

        tah_n = tmp_t + fsh * tvc
        eah_n = tmp_e + fet * estv
        irc = fveg * (air + cir * tvc ** 4)
        shc = fveg * rhoair * CPAIR * cvh * (tvc - tah_n)
        evc = fveg * rhoair * CPAIR * cew * (estv - eah_n) / gammav
        tr = fveg * rhoair * CPAIR * ctw * (estv - eah_n) / gammav
        wat = jnp.where(tvc > TFRZ, canliq, canice)
        evc = jnp.minimum(wat * latheav / dt, evc)
        b = sav - irc - shc - evc - tr + pahv
        a = fveg * (4.0 * cir * tvc ** 3 + csh + (cev + ctr) * destv + hcv / dt)
        dtv = b / a
        new = {"TV": tvc + dtv, "TAH": tah_n, "EAH": eah_n, "fv": m["FV"], "moz": m["MOZ"],
               "fm": m["FM"], "fh": m["FH"], "nsign": m["NSIGN"], "fhg": g["FHG"],
               "shc": rhoair * CPAIR * (tah_n - sfctmp) / rah,
               "shg": rhoair * CPAIR * (tg - tah_n) / rahg,
               "IRC": irc + fveg * 4.0 * cir * tvc ** 3 * dtv, "SHC": shc + fveg * csh * dtv,
               "EVC": evc + fveg * cev * destv * dtv, "TR": tr + fveg * ctr * destv * dtv,
               "CANHS": fveg * hcv / dt * dtv, "CM": m["CM"], "RAH": rah, "RAW": raw,
               "RAHG": rahg, "RAWG": rawg, "RB": rb}
        done = c["done"]
        out = {k: jnp.where(done, c[k], v) for k, v in new.items()}
        n = i + 1  # 1-based iteration number, as in Noah-MP
        # Noah-MP: exit if the flag was raised at the previous iteration; otherwise raise
        # it when iteration >= 5 and |dTV| <= 0.01 K.
        out["niter"] = jnp.where(done, c["niter"], c["niter"] + 1.0)
        out["done"] = done | c["last"]
        out["last"] = c["last"] | ((n >= 5) & (jnp.abs(dtv) <= 0.01))
        return out

    if options.skip_idle:
        # Skip the iterations once every cell has met Noah-MP's exit rule, and run the last
        # iterations only on the cells still active (gathered into smaller buffers). Same values
        # per cell, less masked work.
        widths = compaction_widths(ncell) if (options.compact_loops and ncell) else ()
        cN = compacted_fori_loop(iterate, 20, c0, env, widths, min_iter=6)
    else:
        cN = jax.lax.fori_loop(0, 20, lambda i, c: iterate(i, c, env), c0)
    tvf, tahf, eahf = cN["TV"], cN["TAH"], cN["EAH"]
    rahg, rawg = cN["RAHG"], cN["RAWG"]

    # ground under the canopy: 5 Newton iterations
    air_g = -emg * (1.0 - emv) * lwdn - emg * emv * SB * tvf ** 4
    cir_g = emg * SB
    csh_g = rhoair * CPAIR / rahg
    cev_g = rhoair * CPAIR / (gammag * (rawg + rsurf))
    cgh = 2.0 * df1 / dz1

    def gbody(_, c):
        t = c["TG"]
        estg, destg = esat_select(t)
        irg = cir_g * t ** 4 + air_g
        shg = csh_g * (t - tahf)
        evg = cev_g * (estg * rhsur - eahf)
        ghv = cgh * (t - stc1)
        b = sag - irg - shg - evg - ghv + pahg
        a = 4.0 * cir_g * t ** 3 + csh_g + cev_g * destg + cgh
        dtg = b / a
        return {"TG": t + dtg, "IRG": irg + 4.0 * cir_g * t ** 3 * dtg,
                "SHG": shg + csh_g * dtg, "EVG": evg + cev_g * destg * dtg,
                "GHV": ghv + cgh * dtg, "estg": estg}

    cg = jax.lax.fori_loop(0, 5, gbody, {"TG": tg, "IRG": z, "SHG": z, "EVG": z, "GHV": z,
                                         "estg": z})
    estg = cg["estg"]  # saturation pressure at the start of the last iteration (as Noah-MP)
    tgv_adj, cond = _tile_snow_adjust(cg["TG"], snowh, fsno, options.stc)
    irg_a = cir_g * tgv_adj ** 4 + air_g
    shg_a = csh_g * (tgv_adj - tahf)
    evg_a = cev_g * (estg * rhsur - eahf)
    ghv_a = sag + pahg - (irg_a + shg_a + evg_a)
    qsfc = 0.622 * eahf / (sfcprs - 0.378 * eahf)
    return {"TV": tvf, "TAH": tahf, "EAH": eahf, "TGV": tgv_adj, "IRC": cN["IRC"],
            "SHC": cN["SHC"], "EVC": cN["EVC"], "TR": cN["TR"], "CANHS": cN["CANHS"],
            "IRG": jnp.where(cond, irg_a, cg["IRG"]), "SHG": jnp.where(cond, shg_a, cg["SHG"]),
            "EVG": jnp.where(cond, evg_a, cg["EVG"]), "GHV": jnp.where(cond, ghv_a, cg["GHV"]),
            "CMV": cN["CM"], "CHV": 1.0 / cN["RAH"], "RSSUN": rssun, "RSSHA": rssha,
            "PSNSUN": psnsun, "PSNSHA": psnsha, "RB": cN["RB"], "RAH": cN["RAH"],
            "RAHG": rahg, "QSFCV": qsfc, "NITER": cN["niter"]}


# --------------------------------------------------------------------------------------
# main entry point
# --------------------------------------------------------------------------------------

def surface_energy(*, forcing: dict, state: dict, rad: dict, pheno: dict, thermal: dict,
                   BTRAN, params, options, first_step=False) -> dict:
    """Noah-MP surface energy balance for one time step (both tiles + aggregation).

    Covers, for soil points, what ``EnergyMain`` does between the radiation and the
    soil-temperature solver: emissivities, surface resistance (rsf 1/4), psychrometrics,
    the vegetated and bare-ground tiles, the tile aggregation, TRAD; plus the latent-heat
    to water conversions of ``CanopyHydrology`` and ``WaterMain``.

    Args:
        forcing: per-cell (cells,) arrays
            SFCTMP [K] air temperature, Q2 [kg/kg] specific humidity, UU, VV [m/s] wind,
            SFCPRS [Pa] air pressure, LWDN [W/m2] downward long-wave;
            optional EAIR [Pa], RHOAIR [kg/m3], UR [m/s] (computed by
            :func:`derived_forcing` when absent);
            optional precipitation terms for the advected heat [mm/s], default 0:
            RAIN, SNOW (rain / snowfall above the canopy), QDRIPR, QTHROR (rain drip and
            throughfall reaching the ground), QDRIPS, QTHROS (snow unloading and
            throughfall), as produced by the interception step.
        state: start-of-step states (cells,): TV, TG [K], EAH [Pa], TAH [K], CANLIQ,
            CANICE [mm] (after interception), FWET [-], SNOWH [m], FSNO [-], SH2O
            (nsoil, cells) [m3/m3] (layer 1 used); optional SNEQV [mm] (to split ground
            evaporation between snow and soil as WaterMain does), CM, CH (pass-through;
            Noah-MP recomputes them from neutral at the first iteration).
        rad: SAV, SAG [W/m2] short-wave absorbed by vegetation / ground (grid means, as
            SurfaceRadiation); PARSUN, PARSHA [W/m2 per unit sunlit/shaded leaf area];
            LAISUN, LAISHA [m2/m2]. Emissivities are computed here (EMV, EMG in the
            output), any EMV/EMG in ``rad`` are ignored.
        pheno: ELAI, ESAI [m2/m2] (after snow burial), FVEG [-]; optional IGS [-]
            (growing-season index; default TV > TMIN with the start-of-step TV).
        thermal: DF1 [W/m/K] thermal conductivity of the top snow/soil layer as Noah-MP
            uses it for the ground heat flux (i.e. after GroundThermalProperty's blending
            of soil layer 1 with the snow cover), DZ1 [m] its thickness, STC1 [K] its
            temperature. Ground heat flux G = 2 DF1 (Tg - STC1) / DZ1.
        BTRAN: soil-moisture stress factor [-] (cells,).
        params: dict of parameters (see module docstring).
        options: ``Options`` (static): crs, rsf, stc, dt, zref, soil_dz.
        first_step: bool scalar; at the first model step the HRLDAS driver re-guesses
            EAH = e_air (from the forcing), TAH = SFCTMP and sets CM = CH = 0.1.

    Returns:
        dict of (cells,) arrays (Noah-MP / HRLDAS names; fluxes + upward unless noted):
        TV, TG, TAH [K], EAH [Pa], TGV, TGB [K], TS [K] (surface temp FVEG*TV+(1-FVEG)*TGB),
        CM [-] and CH [m/s] (grid means, carried to the next step as Noah-MP does),
        CHV, CHB [m/s];
        HFX (= FSH, total sensible heat), LH (total latent heat, as HRLDAS LH),
        FIRA (net long-wave, + up), SSOIL (ground heat flux, + into the ground, =GRDFLX),
        FCEV (canopy evaporation heat), FCTR (transpiration heat), FGEV (ground latent
        heat, grid mean), IRC, SHC, IRG, SHG, EVG, GHV, IRB, SHB, EVB, GHB, CANHS,
        PAH, PAHV, PAHG, PAHB [W/m2];
        TRAD [K], EMISSI, EMV, EMG [-];
        RSSUN, RSSHA [s/m], PSNSUN, PSNSHA, PSN [umol CO2 m-2 s-1] (PSN = grid canopy
        photosynthesis per ground area = PSNSUN*LAISUN+PSNSHA*LAISHA), APAR [W/m2];
        RSURF [s/m], RHSUR [-], LATHEAV, LATHEAG [J/kg], FROZEN_CANOPY, FROZEN_GROUND
        (bool), QSFC [kg/kg];
        water fluxes [mm/s]: ETRAN (transpiration), QEVAC, QDEWC (canopy liquid
        evaporation / dew), QSUBC, QFROC (canopy ice sublimation / frost) -- the raw
        CanopyHydrology rates before the cap by the available canopy water --, EDIR_NET
        (= FGEV/LATHEAG, + evaporation), QVAP, QDEW (positive / negative parts), and if
        state has SNEQV: QSNSUB, QSNFRO (snow sublimation / frost), QSEVA, QSDEW (soil
        evaporation / dew) as WaterMain splits them; NITER (canopy iterations done).
    """
    sfctmp = forcing["SFCTMP"]
    ref = sfctmp
    dtype = ref.dtype
    q2 = forcing["Q2"]
    sfcprs = forcing["SFCPRS"]
    lwdn = forcing["LWDN"]
    uu = forcing.get("UU", jnp.zeros_like(ref))
    vv = forcing.get("VV", jnp.zeros_like(ref))
    dfo = derived_forcing(SFCTMP=sfctmp, Q2=q2, SFCPRS=sfcprs, UU=uu, VV=vv)
    eair = forcing.get("EAIR", dfo["EAIR"])
    rhoair = forcing.get("RHOAIR", dfo["RHOAIR"])
    ur = forcing.get("UR", dfo["UR"])
    zero = jnp.zeros_like(ref)
    fz = lambda k: jnp.asarray(forcing.get(k, zero), dtype=dtype)  # noqa: E731

    tv0, tg0 = state["TV"], state["TG"]
    first = jnp.asarray(first_step)
    eah0 = jnp.where(first, eair, state.get("EAH", eair))
    tah0 = jnp.where(first, sfctmp, state.get("TAH", sfctmp))
    cm_in = jnp.where(first, 0.1, state.get("CM", jnp.full_like(ref, 0.1)))
    ch_in = jnp.where(first, 0.1, state.get("CH", jnp.full_like(ref, 0.1)))
    canliq, canice, fwet = state["CANLIQ"], state["CANICE"], state["FWET"]
    snowh, fsno = state["SNOWH"], state["FSNO"]
    sh2o1 = state["SH2O"][0]

    elai, esai, fveg = pheno["ELAI"], pheno["ESAI"], pheno["FVEG"]
    vai_raw = elai + esai
    veg_rough = vai_raw > 0.0
    veg = veg_rough & (fveg > 0.0)
    if "IGS" in pheno:
        igs = pheno["IGS"]
    else:
        igs = (tv0 > _p(params, "TMIN", ref)).astype(dtype)

    # --- properties shared by both tiles ---
    rough = aero.ground_roughness(FSNO=fsno, SNOWH=snowh, veg_flag=veg_rough, params=params,
                                  zref=options.zref)
    emv, emg, emissi = emissivity(ELAI=elai, ESAI=esai, FSNO=fsno, FVEG=fveg, params=params)
    rsurf, rhsur = ground_evap_resistance(SH2O1=sh2o1, FSNO=fsno, SNOWH=snowh, TG=tg0,
                                          params=params, rsf=options.rsf,
                                          dz1=options.soil_dz[0])
    psy = psychrometric(TV=tv0, TG=tg0, SFCPRS=sfcprs)
    pahv, pahg, pahb = precipitation_heat_advect(
        SFCTMP=sfctmp, TV=tv0, TG=tg0, FVEG=fveg, RAIN=fz("RAIN"), SNOW=fz("SNOW"),
        QDRIPR=fz("QDRIPR"), QTHROR=fz("QTHROR"), QDRIPS=fz("QDRIPS"), QTHROS=fz("QTHROS"))
    df1, dz1, stc1 = thermal["DF1"], thermal["DZ1"], thermal["STC1"]

    # --- vegetated tile (evaluated everywhere with sanitised inputs, selected by `veg`) ---
    hvt = _p(params, "HVT", ref)
    vai_s = jnp.where(veg, jnp.minimum(6.0, vai_raw), 1.0)
    zpd_s = jnp.where(veg, rough["ZPD"], 0.65 * jnp.where(veg, hvt, 1.0))
    z0m_s = jnp.where(veg, rough["Z0M"], 0.1)
    zlvl_s = jnp.where(veg, rough["ZLVL"], zpd_s + options.zref)
    fveg_s = jnp.where(veg, fveg, 1.0)  # avoid 0/0 in the unused vegetated branch
    p_v = dict(params)
    p_v["HVT"] = jnp.where(veg, hvt, 1.0)
    vg = surface_energy_vegetated(
        sfctmp=sfctmp, q2=q2, eair=eair, rhoair=rhoair, ur=ur, lwdn=lwdn, sfcprs=sfcprs,
        tv=tv0, tg=tg0, eah=eah0, tah=tah0, canliq=canliq, canice=canice, fwet=fwet,
        snowh=snowh, fsno=fsno, sav=rad["SAV"], sag=rad["SAG"], parsun=rad["PARSUN"],
        parsha=rad["PARSHA"], laisun=rad["LAISUN"], laisha=rad["LAISHA"], vai=vai_s,
        fveg=fveg_s, emv=emv, emg=emg, gammav=psy["GAMMAV"], latheav=psy["LATHEAV"],
        gammag=psy["GAMMAG"], rsurf=rsurf, rhsur=rhsur, df1=df1, dz1=dz1, stc1=stc1,
        pahv=pahv, pahg=pahg, btran=BTRAN, igs=igs, zlvl=zlvl_s, zpd=zpd_s, z0m=z0m_s,
        z0mg=rough["Z0MG"], params=p_v, options=options)

    # --- bare tile ---
    bg = surface_energy_bare(sfctmp=sfctmp, q2=q2, eair=eair, rhoair=rhoair, ur=ur,
                             lwdn=lwdn, tg=tg0, snowh=snowh, fsno=fsno, sag=rad["SAG"],
                             pahb=pahb, emg=emg, gammag=psy["GAMMAG"], rsurf=rsurf,
                             rhsur=rhsur, df1=df1, dz1=dz1, stc1=stc1, zlvl=rough["ZLVL"],
                             zpdg=rough["ZPDG"], z0mg=rough["Z0MG"], stc=options.stc,
                             sfcprs=sfcprs)

    # --- aggregation (EnergyMain) ---
    w = lambda a, b: jnp.where(veg, a, b)  # noqa: E731
    fb = 1.0 - fveg
    fira = w(fveg * vg["IRG"] + fb * bg["IRB"] + vg["IRC"], bg["IRB"])
    fsh = w(fveg * vg["SHG"] + fb * bg["SHB"] + vg["SHC"], bg["SHB"])
    fgev = w(fveg * vg["EVG"] + fb * bg["EVB"], bg["EVB"])
    ssoil = w(fveg * vg["GHV"] + fb * bg["GHB"], bg["GHB"])
    fcev = w(vg["EVC"], 0.0)
    fctr = w(vg["TR"], 0.0)
    pah = w(fveg * pahg + fb * pahb + pahv, pahb)
    tgv = w(vg["TGV"], bg["TGB"])
    tg = w(fveg * vg["TGV"] + fb * bg["TGB"], bg["TGB"])
    ts = w(fveg * vg["TV"] + fb * bg["TGB"], tg)
    cm = w(fveg * vg["CMV"] + fb * bg["CMB"], bg["CMB"])
    ch = w(fveg * vg["CHV"] + fb * bg["CHB"], bg["CHB"])
    chv = w(vg["CHV"], bg["CHB"])
    qsfc = w(fveg * vg["QSFCV"] + fb * bg["QSFCB"], bg["QSFCB"])
    tv = w(vg["TV"], tv0)
    tah = w(vg["TAH"], tah0)
    eah = w(vg["EAH"], eah0)
    rssun = w(vg["RSSUN"], 0.0)
    rssha = w(vg["RSSHA"], 0.0)
    psnsun = w(vg["PSNSUN"], 0.0)
    psnsha = w(vg["PSNSHA"], 0.0)
    canhs = w(vg["CANHS"], 0.0)
    lh = fgev + fcev + fctr

    lwup = lwdn + fira
    trad_arg = (lwup - (1.0 - emissi) * lwdn) / (emissi * SB)
    trad = jnp.where(trad_arg > 0.0, trad_arg, 1.0) ** 0.25

    laisun, laisha = rad["LAISUN"], rad["LAISHA"]
    apar = rad["PARSUN"] * laisun + rad["PARSHA"] * laisha
    psn = psnsun * laisun + psnsha * laisha

    # --- latent heat -> water (CanopyHydrology, WaterMain) ---
    frzc, frzg = psy["FROZEN_CANOPY"], psy["FROZEN_GROUND"]
    lat_c = psy["LATHEAV"]
    etran = jnp.maximum(fctr / lat_c, 0.0)
    qevac = jnp.where(frzc, 0.0, jnp.maximum(fcev / HVAP, 0.0))
    qdewc = jnp.where(frzc, 0.0, jnp.abs(jnp.minimum(fcev / HVAP, 0.0)))
    qsubc = jnp.where(frzc, jnp.maximum(fcev / HSUB, 0.0), 0.0)
    qfroc = jnp.where(frzc, jnp.abs(jnp.minimum(fcev / HSUB, 0.0)), 0.0)
    qvap = jnp.maximum(fgev / psy["LATHEAG"], 0.0)
    qdew = jnp.abs(jnp.minimum(fgev / psy["LATHEAG"], 0.0))

    out = {
        "TV": tv, "TG": tg, "TAH": tah, "EAH": eah, "TGV": tgv, "TGB": bg["TGB"], "TS": ts,
        "CM": cm, "CH": ch, "CHV": chv, "CHB": bg["CHB"], "CM_IN": cm_in, "CH_IN": ch_in,
        "HFX": fsh, "FSH": fsh, "LH": lh, "FIRA": fira, "SSOIL": ssoil, "GRDFLX": ssoil,
        "FCEV": fcev, "FCTR": fctr, "FGEV": fgev,
        "IRC": w(vg["IRC"], 0.0), "SHC": w(vg["SHC"], 0.0), "IRG": w(vg["IRG"], 0.0),
        "SHG": w(vg["SHG"], 0.0), "EVG": w(vg["EVG"], 0.0), "GHV": w(vg["GHV"], 0.0),
        "IRB": bg["IRB"], "SHB": bg["SHB"], "EVB": bg["EVB"], "GHB": bg["GHB"],
        "CANHS": canhs, "PAH": pah, "PAHV": w(pahv, 0.0), "PAHG": w(pahg, 0.0), "PAHB": pahb,
        "TRAD": trad, "EMISSI": emissi, "EMV": emv, "EMG": emg,
        "RSSUN": rssun, "RSSHA": rssha, "PSNSUN": psnsun, "PSNSHA": psnsha, "PSN": psn,
        "APAR": apar, "RSURF": rsurf, "RHSUR": rhsur, "LATHEAV": psy["LATHEAV"],
        "LATHEAG": psy["LATHEAG"], "FROZEN_CANOPY": frzc, "FROZEN_GROUND": frzg,
        "QSFC": qsfc, "ETRAN": etran, "QEVAC": qevac, "QDEWC": qdewc, "QSUBC": qsubc,
        "QFROC": qfroc, "EDIR_NET": qvap - qdew, "QVAP": qvap, "QDEW": qdew,
        "NITER": w(vg["NITER"], 0.0),
    }
    if "SNEQV" in state:
        sneqv = state["SNEQV"]
        has = sneqv > 0.0
        qsnsub = jnp.where(has, jnp.minimum(qvap, sneqv / options.dt), 0.0)
        qsnfro = jnp.where(has, qdew, 0.0)
        out.update(QSNSUB=qsnsub, QSNFRO=qsnfro, QSEVA=qvap - qsnsub, QSDEW=qdew - qsnfro)
    return out


# Noah-MP-style aliases
PsychrometricVariable = psychrometric
ResistanceGroundEvaporation = ground_evap_resistance
PrecipitationHeatAdvect = precipitation_heat_advect
SurfaceEnergyFluxVegetated = surface_energy_vegetated
SurfaceEnergyFluxBareGround = surface_energy_bare
