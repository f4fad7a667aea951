"""Shortwave radiation of Noah-MP v5: BATS snow age and snow albedo, ground albedo,
two-stream canopy transfer with sunlit/shaded split, absorbed and reflected fluxes,
and longwave emissivities, in JAX.

Fortran counterparts (``noahmp/src``):
    ``snow_age``   -> SnowAgingBatsMod (SnowAgingBats), called every step (also at night).
    ``radiation``  -> SurfaceAlbedoMod (SurfaceAlbedo, without the snow aging call),
                      SnowAlbedoBatsMod, GroundAlbedoMod, CanopyRadiationTwoStreamMod,
                      SurfaceRadiationMod, and the forcing split of AtmosForcingMod and the
                      albedo diagnostic at the end of EnergyMainMod.
    ``emissivity`` -> SurfaceEmissivityMod.

Band convention: arrays with a leading axis of length 2 are (visible, near-infrared).

Supported options: ``alb`` = 1 (BATS snow albedo; 2 CLASS and 3 SNICAR raise),
``rad`` = 1, 2, 3 (canopy gap treatment of the two-stream scheme). Surface type soil, or
lake/wetland through the optional ``IS_LAKE`` flag. Glacier points are not covered.

Incoming shortwave is split as the HRLDAS driver does by default: 70 % direct beam,
30 % diffuse, each 50 % visible; it is set to zero where ``COSZ <= 0``.

Params keys read (all ``(cells,)`` arrays):
  Vegetation class (MODIS table):
    RHOL_VIS, RHOL_NIR  leaf reflectance [-]          RHOS_VIS, RHOS_NIR  stem reflectance [-]
    TAUL_VIS, TAUL_NIR  leaf transmittance [-]        TAUS_VIS, TAUS_NIR  stem transmittance [-]
    XL                  leaf/stem orientation index [-] (clipped to [-0.4, 0.6])
    RC                  tree crown radius [m]  (rad = 1 only)
    HVT, HVB            canopy top and bottom height [m]  (rad = 1 only)
  Radiation table (soil colour already selected per cell):
    ALBSAT_VIS, ALBSAT_NIR  saturated-soil albedo [-]
    ALBDRY_VIS, ALBDRY_NIR  dry-soil albedo [-]
    ALBLAK_VIS, ALBLAK_NIR  frozen-lake albedo [-]  (only read when IS_LAKE is given)
    OMEGAS_VIS, OMEGAS_NIR  scattering coefficient of intercepted snow [-]
    BETADS, BETAIS          upscatter parameter of canopy snow, direct / diffuse [-]
    EG_SOIL, EG_LAKE        emissivity of the soil / lake surface [-] (``emissivity``;
                            EG_LAKE only read when IS_LAKE is given)
  Global table:
    BATS_COSZ               zenith-angle adjustment of snow albedo [-]
    BATS_VIS_NEW, BATS_NIR_NEW  fresh-snow albedo [-]
    BATS_VIS_AGE, BATS_NIR_AGE  age factor of diffuse snow albedo [-]
    BATS_VIS_DIR, BATS_NIR_DIR  zenith factor of direct snow albedo [-]
    TAU0          snow aging time scale [s]             GRAIN_GROWTH  vapour grain growth [K]
    EXTRA_GROWTH  extra growth near freezing [-]        DIRT_SOOT     dirt and soot effect [-]
    SWEMX         new snow mass that fully renews the snow surface [mm]
    SNOW_EMIS     snow emissivity [-]
  Optional flag:
    IS_LAKE       float 0/1, surface type lake/wetland (default 0 = soil).

Numerical guards (forward pass identical to Noah-MP for physical inputs; they only keep
values and gradients finite in branches that Noah-MP does not evaluate):
  * where ``COSZ <= 0`` Noah-MP skips the albedo computation; here it is evaluated with a
    substitute cosine of 1 and the results are masked to Noah-MP's zeros;
  * the ground albedo in ``C/albedo`` is floored at 1e-6 (soil and snow albedos are >= 0.05);
  * the rad = 1 vegetation density uses a safe denominator where it is 0 (a branch
    Noah-MP never reaches, FVEG >= 0.05 wherever ELAI+ESAI > 0) ("double where").
  * Noah-MP's own guard |Sigma| >= 1e-6 in the two-stream solution is kept as is.
"""
from __future__ import annotations

import jax.numpy as jnp

from diffland.physics.constants import PI, TFRZ

__all__ = ["snow_age", "radiation", "emissivity", "DIRECT_FRACTION", "VISIBLE_FRACTION"]

DIRECT_FRACTION = 0.7  # HRLDAS default RadSwDirFrac
VISIBLE_FRACTION = 0.5  # HRLDAS default RadSwVisFrac
_MIN = 1.0e-6  # Noah-MP MinThr


def _p(params, key, dtype):
    return jnp.asarray(params[key], dtype=dtype)


def _bands(params, stem, dtype):
    """Stack ``STEM_VIS`` and ``STEM_NIR`` into a (2, cells) array."""
    return jnp.stack([_p(params, stem + "_VIS", dtype), _p(params, stem + "_NIR", dtype)])


# ---------------------------------------------------------------------------------------
# snow age (BATS)
# ---------------------------------------------------------------------------------------

def snow_age(*, TAUSS, SNEQV, SNEQVO, TG, dt, params):
    """Non-dimensional BATS snow age (Noah-MP ``SnowAgingBats``).

    Args:
        TAUSS: snow age at the start of the step [-], (cells,).
        SNEQV: snow water equivalent now (start of the step) [mm], (cells,).
        SNEQVO: snow water equivalent saved at the start of the previous step's water
            module [mm] (Noah-MP ``SnowWaterEquivPrev``), (cells,).
        TG: ground temperature [K], (cells,).
        dt: time step [s] (float).
        params: TAU0 [s], GRAIN_GROWTH [K], EXTRA_GROWTH [-], DIRT_SOOT [-], SWEMX [mm].

    Returns:
        dict: TAUSS (updated snow age) [-], FAGE = TAUSS/(TAUSS+1) [-], both (cells,).

    Equations: with r = GRAIN_GROWTH (1/TFRZ - 1/TG), the age grows by
    dt/TAU0 (e^r + e^{min(0, EXTRA_GROWTH r)} + DIRT_SOOT), and is reset in proportion to
    new snow: TAUSS <- max(0, (TAUSS + growth)(1 - max(0, SNEQV - SNEQVO)/SWEMX)); 0 without snow.
    """
    tauss = jnp.asarray(TAUSS)
    dtype = tauss.dtype
    sneqv = jnp.asarray(SNEQV, dtype=dtype)
    sneqvo = jnp.asarray(SNEQVO, dtype=dtype)
    tg = jnp.asarray(TG, dtype=dtype)
    tau0 = _p(params, "TAU0", dtype)
    grow = _p(params, "GRAIN_GROWTH", dtype)
    extra = _p(params, "EXTRA_GROWTH", dtype)
    soot = _p(params, "DIRT_SOOT", dtype)
    swemx = _p(params, "SWEMX", dtype)

    r = grow * (1.0 / TFRZ - 1.0 / tg)
    growth = (dt / tau0) * (jnp.exp(r) + jnp.exp(jnp.minimum(0.0, extra * r)) + soot)
    fresh = jnp.maximum(0.0, sneqv - sneqvo) / swemx
    aged = jnp.maximum(0.0, (tauss + growth) * (1.0 - fresh))
    tauss_new = jnp.where(sneqv <= 0.0, 0.0, aged)
    fage = tauss_new / (tauss_new + 1.0)
    return {"TAUSS": tauss_new, "FAGE": fage}


# ---------------------------------------------------------------------------------------
# albedo pieces
# ---------------------------------------------------------------------------------------

def _snow_albedo_bats(cosz, fage, params, dtype):
    """BATS snow albedo (SnowAlbedoBats) -> (direct, diffuse), each (2, cells)."""
    s = _p(params, "BATS_COSZ", dtype)
    zen = jnp.maximum((1.0 + 1.0 / s) / (1.0 + 2.0 * s * cosz) - 1.0 / s, 0.0)
    new = jnp.stack([_p(params, "BATS_VIS_NEW", dtype), _p(params, "BATS_NIR_NEW", dtype)])
    age = jnp.stack([_p(params, "BATS_VIS_AGE", dtype), _p(params, "BATS_NIR_AGE", dtype)])
    dirf = jnp.stack([_p(params, "BATS_VIS_DIR", dtype), _p(params, "BATS_NIR_DIR", dtype)])
    alb_dif = new * (1.0 - age * fage)
    alb_dir = alb_dif + dirf * zen * (1.0 - alb_dif)
    return alb_dir, alb_dif


def _ground_albedo(cosz, smc1, tg, fsno, snow_dir, snow_dif, params, dtype):
    """Soil/lake albedo blended with snow by FSNO (GroundAlbedo) -> dict of (2, cells)."""
    wet = jnp.maximum(0.11 - 0.40 * smc1, 0.0)
    soil = jnp.minimum(_bands(params, "ALBSAT", dtype) + wet, _bands(params, "ALBDRY", dtype))
    soil_dir = soil
    soil_dif = soil
    if "IS_LAKE" in params:
        lake = jnp.asarray(params["IS_LAKE"]) > 0.5
        warm = tg > TFRZ
        open_dir = 0.06 / (jnp.maximum(0.01, cosz) ** 1.7 + 0.15)
        frz = _bands(params, "ALBLAK", dtype)
        lake_dir = jnp.where(warm, open_dir, frz)
        lake_dif = jnp.where(warm, 0.06, frz)
        soil_dir = jnp.where(lake, lake_dir, soil_dir)
        soil_dif = jnp.where(lake, lake_dif, soil_dif)
    grd_dir = soil_dir * (1.0 - fsno) + snow_dir * fsno
    grd_dif = soil_dif * (1.0 - fsno) + snow_dif * fsno
    return {"ALBSOD": soil_dir, "ALBSOI": soil_dif, "ALBGRD": grd_dir, "ALBGRI": grd_dif}


def _canopy_gaps(cosz, vai, fveg, params, options, dtype):
    """Gap fractions for the direct beam and diffuse light (two-stream preamble)."""
    one = jnp.ones_like(vai)
    rad = options.rad
    if rad == 3:
        gdir = 1.0 - fveg
        gdif = 1.0 - fveg
    elif rad == 2:
        gdir = 0.0 * one
        gdif = 0.0 * one
    elif rad == 1:
        rc = _p(params, "RC", dtype)
        hvt = _p(params, "HVT", dtype)
        hvb = _p(params, "HVB", dtype)
        dens = -jnp.log(jnp.maximum(1.0 - fveg, 0.01)) / (PI * rc ** 2)
        dens_safe = jnp.where(dens > 0.0, dens, 1.0)
        crown = hvt - hvb
        rv = 0.5 * crown
        ang = jnp.arctan(rv / rc * jnp.tan(jnp.arccos(jnp.maximum(0.01, cosz))))
        bgap = jnp.exp(-dens * PI * rc ** 2 / jnp.cos(ang))
        fol = vai / (1.33 * PI * rc ** 3 * (rv / rc) * dens_safe)
        wgap = (1.0 - bgap) * jnp.exp(-0.5 * crown * fol / cosz)
        gdir = jnp.minimum(1.0 - fveg, bgap + wgap)
        gdif = 0.05 * one
    else:
        raise NotImplementedError(f"radiation: rad={rad} is not a Noah-MP option (1, 2, 3)")
    bare = vai == 0.0
    return jnp.where(bare, 1.0, gdir), jnp.where(bare, 1.0, gdif)


def _two_stream(*, cosz, vai, rho, tau, xl, tv, fwet, alb_dir, alb_dif, gap_dir, gap_dif, params, dtype):
    """Two-stream canopy transfer (Dickinson 1983; Niu & Yang 2004) for unit incoming flux.

    All band arrays are (2, cells). Returns per-unit-flux quantities for direct (``*_D``) and
    diffuse (``*_I``) incoming light, and the projected area G and diffuse optical depth.
    """
    cz = jnp.maximum(0.001, cosz)
    xl = jnp.clip(xl, -0.4, 0.6)
    xl = jnp.where(jnp.abs(xl) <= 0.01, 0.01, xl)
    phi1 = 0.5 - 0.633 * xl - 0.330 * xl * xl
    phi2 = 0.877 * (1.0 - 2.0 * phi1)
    proj = phi1 + phi2 * cz                       # G(mu): projected area in the sun direction
    kdir = proj / cz                              # direct optical depth per unit area
    mubar = (1.0 - phi1 / phi2 * jnp.log((phi1 + phi2) / phi1)) / phi2  # diffuse optical depth

    om_leaf = rho + tau
    a0 = proj + phi2 * cz
    a1 = phi1 * cz
    ssa = 0.5 * om_leaf * proj / a0 * (1.0 - a1 / a0 * jnp.log((a1 + a0) / a1))
    bd_leaf = (1.0 + mubar * kdir) / (om_leaf * mubar * kdir) * ssa
    bi_leaf = 0.5 * (rho + tau + (rho - tau) * ((1.0 + xl) / 2.0) ** 2) / om_leaf

    # intercepted snow changes scattering when the canopy is at or below freezing
    om_snow = jnp.stack([_p(params, "OMEGAS_VIS", dtype), _p(params, "OMEGAS_NIR", dtype)])
    bds = _p(params, "BETADS", dtype)
    bis = _p(params, "BETAIS", dtype)
    om_mix = (1.0 - fwet) * om_leaf + fwet * om_snow
    bd_mix = ((1.0 - fwet) * om_leaf * bd_leaf + fwet * om_snow * bds) / om_mix
    bi_mix = ((1.0 - fwet) * om_leaf * bi_leaf + fwet * om_snow * bis) / om_mix
    warm = tv > TFRZ
    om = jnp.where(warm, om_leaf, om_mix)
    bd = jnp.where(warm, bd_leaf, bd_mix)
    bi = jnp.where(warm, bi_leaf, bi_mix)

    b = 1.0 - om + om * bi
    c = om * bi
    mk = mubar * kdir
    d = mk * om * bd
    f = mk * om * (1.0 - bd)
    disc = b * b - c * c
    h = jnp.sqrt(disc) / mubar
    sigma = mk * mk - disc
    sigma = jnp.where(jnp.abs(sigma) < 1.0e-6, jnp.where(sigma >= 0.0, 1.0e-6, -1.0e-6), sigma)
    mh = mubar * h
    p1 = b + mh
    p2 = b - mh
    p3 = b + mk
    p4 = b - mk
    s1 = jnp.exp(-h * vai)
    s2 = jnp.exp(-kdir * vai)

    def solve(ag):
        ag_safe = jnp.maximum(ag, 1.0e-6)
        u1 = b - c / ag_safe
        u2 = b - c * ag
        u3 = f + c * ag
        t2 = u1 - mh
        t3 = u1 + mh
        d1 = p1 * t2 / s1 - p2 * t3 * s1
        t4 = u2 + mh
        t5 = u2 - mh
        d2 = t4 / s1 - t5 * s1
        h1 = -d * p4 - c * f
        t6 = d - h1 * p3 / sigma
        t7 = (d - c - h1 / sigma * (u1 + mk)) * s2
        h2 = (t6 * t2 / s1 - p2 * t7) / d1
        h3 = -(t6 * t3 * s1 - p1 * t7) / d1
        h4 = -f * p3 - c * d
        t8 = h4 / sigma
        t9 = (u3 - t8 * (u2 - mk)) * s2
        h5 = -(t8 * t4 / s1 + t9) / d2
        h6 = (t8 * t5 * s1 + t9) / d2
        h7 = (c * t2) / (d1 * s1)
        h8 = (-c * t3 * s1) / d1
        h9 = t4 / (d2 * s1)
        h10 = (-t5 * s1) / d2
        return h1, h2, h3, h4, h5, h6, h7, h8, h9, h10

    # unit direct beam (solution with the direct-beam ground albedo)
    h1, h2, h3, h4, h5, h6, _, _, _, _ = solve(alb_dir)
    ftdd = s2 * (1.0 - gap_dir) + gap_dir                       # direct below canopy
    ftid = (h4 * s2 / sigma + h5 * s1 + h6 / s1) * (1.0 - gap_dir)  # diffuse below canopy
    refl_can_d = (h1 / sigma + h2 + h3) * (1.0 - gap_dir)
    refl_grd_d = alb_dir * gap_dir
    albd = refl_can_d + refl_grd_d
    fabd = 1.0 - albd - (1.0 - alb_dir) * ftdd - (1.0 - alb_dif) * ftid

    # unit diffuse flux (solution with the diffuse ground albedo)
    _, _, _, _, _, _, h7, h8, h9, h10 = solve(alb_dif)
    ftii = (h9 * s1 + h10 / s1) * (1.0 - gap_dif) + gap_dif
    albi = (h7 + h8) * (1.0 - gap_dif) + alb_dif * gap_dif
    refl_can_i = albi           # Noah-MP books the gap reflection as vegetation here
    refl_grd_i = jnp.zeros_like(albi)
    fabi = 1.0 - albi - (1.0 - alb_dif) * ftii

    return {
        "ALBD": albd, "ALBI": albi, "FABD": fabd, "FABI": fabi,
        "FTDD": ftdd, "FTID": ftid, "FTII": ftii,
        "FREVD": refl_can_d, "FREVI": refl_can_i, "FREGD": refl_grd_d, "FREGI": refl_grd_i,
        "PROJ": proj,
    }


# ---------------------------------------------------------------------------------------
# public: radiation
# ---------------------------------------------------------------------------------------

def radiation(*, COSZ, SWDOWN, ELAI, ESAI, FVEG, FSNO, SMC1, TG, TV, FAGE, FWET, params, options):
    """Surface albedo and absorbed/reflected shortwave (Noah-MP SurfaceAlbedo + SurfaceRadiation).

    Args (all (cells,)):
        COSZ: cosine of the solar zenith angle [-] (may be <= 0 at night).
        SWDOWN: incoming shortwave at the surface [W m-2] (set to 0 here where COSZ <= 0).
        ELAI, ESAI: leaf and stem area index after snow burial [m2 m-2].
        FVEG: vegetated fraction [-].
        FSNO: ground snow cover fraction [-].
        SMC1: total (liquid + ice) water of soil layer 1 [m3 m-3].
        TG: ground temperature [K] (lake albedo only).
        TV: canopy temperature [K] (canopy snow when TV <= TFRZ).
        FAGE: BATS snow age factor TAUSS/(TAUSS+1) [-] (from ``snow_age`` of this step).
        FWET: wetted/snowed fraction of the canopy [-] (after this step's interception).
        params: dict, keys in the module docstring.
        options: ``Options`` (reads ``alb``, ``rad``).

    Returns dict; (cells,) arrays unless marked (2, cells) = (vis, nir):
        SWDOWN  incoming shortwave used (0 where COSZ <= 0) [W m-2]
        FSA     total absorbed shortwave (SAV + SAG) [W m-2]
        SAV     absorbed by vegetation [W m-2];   SAG  absorbed by the ground [W m-2]
        FSR     total reflected [W m-2];  FSRV, FSRG  reflected by vegetation / ground [W m-2]
        ALBEDO  FSR / SWDOWN [-]; 0 where SWDOWN = 0 (Noah-MP writes undefined there)
        PARSUN, PARSHA  absorbed PAR per unit sunlit / shaded leaf area [W m-2]
                (not yet divided by FVEG; the stomata code does that)
        FSUN    sunlit fraction of the canopy [-]; FSHA = 1 - FSUN
        LAISUN, LAISHA  sunlit / shaded leaf area index [m2 m-2]
        VAI     ELAI + ESAI [m2 m-2]
        ALBD, ALBI (2, cells)    surface albedo for direct / diffuse light [-]
        ALBGRD, ALBGRI (2, cells) ground albedo (soil + snow) [-]
        ALBSND, ALBSNI (2, cells) snow albedo [-];  ALBSOD, ALBSOI (2, cells) soil albedo [-]
        FABD, FABI (2, cells)  canopy absorption per unit direct / diffuse flux [-]
        FTDD, FTID, FTII (2, cells)  transmitted fractions (direct->direct, direct->diffuse,
                diffuse->diffuse) [-]
        All albedo and per-unit arrays are 0 where COSZ <= 0, as in Noah-MP.
    """
    if options.alb != 1:
        raise NotImplementedError(f"radiation: alb={options.alb} not supported (only 1, BATS)")
    sw = jnp.asarray(SWDOWN)
    dtype = sw.dtype if jnp.issubdtype(sw.dtype, jnp.floating) else jnp.result_type(float)
    sw = sw.astype(dtype)
    cosz = jnp.asarray(COSZ, dtype=dtype)
    elai = jnp.asarray(ELAI, dtype=dtype)
    esai = jnp.asarray(ESAI, dtype=dtype)
    fveg = jnp.asarray(FVEG, dtype=dtype)
    fsno = jnp.asarray(FSNO, dtype=dtype)
    smc1 = jnp.asarray(SMC1, dtype=dtype)
    tg = jnp.asarray(TG, dtype=dtype)
    tv = jnp.asarray(TV, dtype=dtype)
    fage = jnp.asarray(FAGE, dtype=dtype)
    fwet = jnp.asarray(FWET, dtype=dtype)

    day = cosz > 0.0
    cz = jnp.where(day, cosz, 1.0)  # substitute at night (results masked below)
    sw = jnp.where(day, sw, 0.0)
    vai = elai + esai

    # leaf/stem weighted optical properties (2, cells)
    wl = elai / jnp.maximum(vai, _MIN)
    ws = esai / jnp.maximum(vai, _MIN)
    rho = jnp.maximum(_bands(params, "RHOL", dtype) * wl + _bands(params, "RHOS", dtype) * ws, _MIN)
    tau = jnp.maximum(_bands(params, "TAUL", dtype) * wl + _bands(params, "TAUS", dtype) * ws, _MIN)

    snow_dir, snow_dif = _snow_albedo_bats(cz, fage, params, dtype)
    grd = _ground_albedo(cz, smc1, tg, fsno, snow_dir, snow_dif, params, dtype)
    gap_dir, gap_dif = _canopy_gaps(cz, vai, fveg, params, options, dtype)
    ts = _two_stream(cosz=cz, vai=vai, rho=rho, tau=tau, xl=_p(params, "XL", dtype), tv=tv,
                     fwet=fwet, alb_dir=grd["ALBGRD"], alb_dif=grd["ALBGRI"],
                     gap_dir=gap_dir, gap_dif=gap_dif, params=params, dtype=dtype)

    # sunlit fraction of the canopy (visible-band extinction)
    kext = ts["PROJ"] / cz * jnp.sqrt(1.0 - rho[0] - tau[0])
    kv = kext * vai
    fsun = (1.0 - jnp.exp(-kv)) / jnp.maximum(kv, _MIN)
    fsun = jnp.where(fsun < 0.01, 0.0, fsun)
    fsun = jnp.where(day, fsun, 0.0)
    fsha = 1.0 - fsun
    laisun = elai * fsun
    laisha = elai * fsha

    zero2 = jnp.zeros_like(ts["ALBD"])
    out = {}
    for key in ("ALBD", "ALBI", "FABD", "FABI", "FTDD", "FTID", "FTII", "FREVD", "FREVI", "FREGD", "FREGI"):
        out[key] = jnp.where(day, ts[key], zero2)
    for key in ("ALBGRD", "ALBGRI", "ALBSOD", "ALBSOI"):
        out[key] = jnp.where(day, grd[key], zero2)
    out["ALBSND"] = jnp.where(day, snow_dir, zero2)
    out["ALBSNI"] = jnp.where(day, snow_dif, zero2)

    # forcing split (2, cells)
    vis = jnp.asarray([VISIBLE_FRACTION, 1.0 - VISIBLE_FRACTION], dtype=dtype)[:, None]
    solad = sw * DIRECT_FRACTION * vis
    solai = sw * (1.0 - DIRECT_FRACTION) * vis

    # absorbed fluxes
    cad = solad * out["FABD"]
    cai = solai * out["FABI"]
    sav = jnp.sum(cad + cai, axis=0)
    trd = solad * out["FTDD"]
    tri = solad * out["FTID"] + solai * out["FTII"]
    sag = jnp.sum(trd * (1.0 - out["ALBGRD"]) + tri * (1.0 - out["ALBGRI"]), axis=0)
    fsa = sav + sag

    # absorbed PAR per unit sunlit / shaded leaf area
    laifra = elai / jnp.maximum(vai, _MIN)
    lit = fsun > 0.0
    parsun = jnp.where(lit, (cad[0] + fsun * cai[0]) * laifra / jnp.maximum(laisun, _MIN), 0.0)
    parsha = jnp.where(lit, (fsha * cai[0]) * laifra / jnp.maximum(laisha, _MIN),
                       (cad[0] + cai[0]) * laifra / jnp.maximum(laisha, _MIN))

    # reflected fluxes
    fsr = jnp.sum(out["ALBD"] * solad + out["ALBI"] * solai, axis=0)
    fsrv = jnp.sum(out["FREVD"] * solad + out["FREVI"] * solai, axis=0)
    fsrg = jnp.sum(out["FREGD"] * solad + out["FREGI"] * solai, axis=0)
    sw_pos = sw > 0.0
    albedo = jnp.where(sw_pos, fsr / jnp.where(sw_pos, sw, 1.0), 0.0)

    out.update({
        "SWDOWN": sw, "FSA": fsa, "SAV": sav, "SAG": sag, "FSR": fsr, "FSRV": fsrv, "FSRG": fsrg,
        "ALBEDO": albedo, "PARSUN": parsun, "PARSHA": parsha, "FSUN": fsun, "FSHA": fsha,
        "LAISUN": laisun, "LAISHA": laisha, "VAI": vai,
    })
    return out


# ---------------------------------------------------------------------------------------
# public: emissivity
# ---------------------------------------------------------------------------------------

def emissivity(*, ELAI, ESAI, FSNO, FVEG, params):
    """Longwave emissivities (Noah-MP ``SurfaceEmissivity``, land points, no sea ice).

    Args (all (cells,)):
        ELAI, ESAI: effective leaf/stem area index [m2 m-2]; FSNO: snow cover fraction [-];
        FVEG: vegetated fraction [-].
        params: EG_SOIL [-] (EG_LAKE [-] and IS_LAKE if lake cells exist), SNOW_EMIS [-].

    Returns:
        dict: EMV = 1 - exp(-(ELAI+ESAI)) (canopy) [-]; EMG = EG (1-FSNO) + SNOW_EMIS FSNO
        (ground) [-]; EMISS (grid surface emissivity, the HRLDAS ``EMISS`` output) [-].
    """
    elai = jnp.asarray(ELAI)
    dtype = elai.dtype
    esai = jnp.asarray(ESAI, dtype=dtype)
    fsno = jnp.asarray(FSNO, dtype=dtype)
    fveg = jnp.asarray(FVEG, dtype=dtype)
    eg = _p(params, "EG_SOIL", dtype)
    if "IS_LAKE" in params:
        eg = jnp.where(jnp.asarray(params["IS_LAKE"]) > 0.5, _p(params, "EG_LAKE", dtype), eg)
    esn = _p(params, "SNOW_EMIS", dtype)
    emv = 1.0 - jnp.exp(-(elai + esai) / 1.0)
    emg = eg * (1.0 - fsno) + esn * fsno
    emiss = fveg * (emg * (1.0 - emv) + emv + emv * (1.0 - emv) * (1.0 - emg)) + (1.0 - fveg) * emg
    return {"EMV": emv, "EMG": emg, "EMISS": emiss}
