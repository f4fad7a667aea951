"""Turbulent exchange for the Noah-MP surface energy balance (JAX port).

Corresponds to the Noah-MP v5 routines

* ``GroundRoughnessPropertyMod::GroundRoughnessProperty``  -> :func:`ground_roughness`
* ``ResistanceAboveCanopyMostMod::ResistanceAboveCanopyMOST`` and
  ``ResistanceBareGroundMostMod::ResistanceBareGroundMOST``  -> :func:`most_exchange`
  (both routines are the same Monin-Obukhov similarity calculation applied to different
  roughness/displacement heights, so one function serves both)
* ``ResistanceLeafToGroundMod::ResistanceLeafToGround``     -> :func:`leaf_to_ground`

Everything is element-wise over cells (shape ``(cells,)``), dtype-agnostic, jit- and
grad-friendly. Where Noah-MP evaluates a power or a log that would be invalid in the
branch it does not take, the unused branch gets a sanitised argument ("double where"),
so gradients stay finite.

The 2-m diagnostics (``MoStabParaVeg2m``, ``ExchCoeffSh2mVegMo`` ...) are not ported:
they feed only T2/Q2 diagnostics, never the prognostic state or the fluxes.

Params keys read (all shape ``(cells,)``):
    ``HVT`` (canopy top height, m), ``Z0MVT`` (vegetation momentum roughness, m),
    ``CWPVT`` (canopy wind extinction parameter, -), ``DLEAF`` (leaf dimension, m),
    ``Z0SOIL`` (bare-soil roughness, m; default 0.002), ``Z0SNO`` (snow roughness, m;
    default 0.002).
"""
from __future__ import annotations

import jax.numpy as jnp

from diffland.physics.constants import CPAIR, GRAV, VKC

MPE = 1.0e-6  # Noah-MP's guard against division by zero


def _p(params, key, ref, default=None):
    """Fetch a parameter as an array shaped/dtyped like ``ref`` (default when absent)."""
    if key in params:
        return jnp.asarray(params[key], dtype=ref.dtype) * jnp.ones_like(ref)
    if default is None:
        raise KeyError(f"params is missing required key {key!r}")
    return jnp.full_like(ref, default)


def ground_roughness(*, FSNO, SNOWH, veg_flag, params, zref):
    """Roughness lengths, displacement heights and reference height (GroundRoughnessProperty).

    Soil points only (no lake, no urban).

    Args:
        FSNO: snow cover fraction [-], (cells,).
        SNOWH: snow depth [m].
        veg_flag: bool (cells,), True where ELAI+ESAI > 0 (Noah-MP ``FlagVegSfc``).
        params: dict with HVT, Z0MVT [m] and optionally Z0SOIL, Z0SNO [m].
        zref: forcing height above the surface zero plane [m] (Options.zref).

    Returns:
        dict: Z0MG [m] (ground momentum roughness), ZPDG [m] (ground displacement = snow
        depth), Z0M [m] (surface roughness: vegetation where veg_flag else ground), ZPD [m]
        (surface displacement: max(0.65 HVT, SNOWH) where veg_flag else ZPDG), ZLVL [m]
        (reference height above the ground, ZPD + zref).
    """
    z0soil = _p(params, "Z0SOIL", FSNO, 0.002)
    z0sno = _p(params, "Z0SNO", FSNO, 0.002)
    hvt = _p(params, "HVT", FSNO)
    z0mvt = _p(params, "Z0MVT", FSNO)
    z0mg = z0soil * (1.0 - FSNO) + FSNO * z0sno
    zpdg = SNOWH
    zpd_veg = jnp.where(SNOWH > 0.65 * hvt, SNOWH, 0.65 * hvt)
    z0m = jnp.where(veg_flag, z0mvt, z0mg)
    zpd = jnp.where(veg_flag, zpd_veg, zpdg)
    zlvl = zpd + zref
    zlvl = jnp.where(zpdg >= zlvl, zpdg + zref, zlvl)
    return {"Z0MG": z0mg, "ZPDG": zpdg, "Z0M": z0m, "ZPD": zpd, "ZLVL": zlvl}


def _psi_unstable(zeta_neg):
    """Paulson stability corrections (momentum, heat) for zeta < 0 (input must be <= 0)."""
    x = (1.0 - 16.0 * zeta_neg) ** 0.25
    t2 = jnp.log((1.0 + x * x) / 2.0)
    t3 = jnp.log((1.0 + x) / 2.0)
    psim = 2.0 * t3 + t2 - 2.0 * jnp.arctan(x) + 1.5707963
    psih = 2.0 * t2
    return psim, psih


def most_exchange(*, first, zlvl, zpd, z0m, z0h, ur, tair, qair, rhoair, sh_prev,
                  fv_prev, moz_prev, fm_prev, fh_prev, nsign):
    """One Monin-Obukhov iteration (ResistanceAboveCanopyMOST / ResistanceBareGroundMOST).

    Args:
        first: True at the first iteration of the energy loop (neutral start: z/L = 0, no
            averaging with the previous correction). A Python bool or a traced boolean
            array (inside ``lax.fori_loop``).
        zlvl: reference height above the ground [m]; zpd: zero-plane displacement [m];
        z0m, z0h: roughness lengths for momentum / heat [m].
        ur: wind speed at the reference height [m/s] (>= 1).
        tair [K], qair [kg/kg], rhoair [kg/m3]: reference-height air.
        sh_prev: sensible heat flux of the previous iteration [W/m2] (+ up).
        fv_prev: friction velocity of the previous iteration [m/s].
        moz_prev: z/L of the previous iteration [-].
        fm_prev, fh_prev: stability corrections psi_m, psi_h of the previous iteration.
        nsign: number of sign changes of z/L so far (float array).

    Returns:
        dict: MOZ (z/L), FM, FH (psi after averaging and caps), NSIGN, CM (momentum drag
        coefficient, dimensionless k^2/(ln-psi)^2), CH (heat exchange coefficient,
        dimensionless), FV (friction velocity, m/s), RAM, RAH, RAW (aerodynamic
        resistances for momentum, heat and vapour, s/m, each >= 1).
    """
    dz = zlvl - zpd
    tmpcm = jnp.log(dz / z0m)
    tmpch = jnp.log(dz / z0h)

    if first is True:
        moz = jnp.zeros_like(zlvl)
    else:
        tvir = (1.0 + 0.61 * qair) * tair
        tmp1 = VKC * (GRAV / tvir) * sh_prev / (rhoair * CPAIR)
        tmp1 = jnp.where(jnp.abs(tmp1) <= MPE, MPE, tmp1)
        mol = -1.0 * fv_prev ** 3 / tmp1
        mol_safe = jnp.where(mol == 0.0, -1.0e30, mol)
        moz = jnp.minimum(dz / mol_safe, 1.0)
        if first is not False:  # traced flag
            moz = jnp.where(first, 0.0, moz)

    nsign = nsign + jnp.where(moz_prev * moz < 0.0, 1.0, 0.0)
    reset = nsign >= 2.0
    moz = jnp.where(reset, 0.0, moz)
    fm_old = jnp.where(reset, 0.0, fm_prev)
    fh_old = jnp.where(reset, 0.0, fh_prev)

    unstable = moz < 0.0
    zneg = jnp.where(unstable, moz, 0.0)  # sanitised argument for the unstable branch
    psim_u, psih_u = _psi_unstable(zneg)
    fmnew = jnp.where(unstable, psim_u, -5.0 * moz)
    fhnew = jnp.where(unstable, psih_u, -5.0 * moz)

    if first is True:
        fm, fh = fmnew, fhnew
    else:
        fm = 0.5 * (fm_old + fmnew)
        fh = 0.5 * (fh_old + fhnew)
        if first is not False:
            fm = jnp.where(first, fmnew, fm)
            fh = jnp.where(first, fhnew, fh)
    fh = jnp.minimum(fh, 0.9 * tmpch)
    fm = jnp.minimum(fm, 0.9 * tmpcm)

    cmfm = tmpcm - fm
    chfh = tmpch - fh
    cmfm = jnp.where(jnp.abs(cmfm) <= MPE, MPE, cmfm)
    chfh = jnp.where(jnp.abs(chfh) <= MPE, MPE, chfh)
    cm = VKC * VKC / (cmfm * cmfm)
    ch = VKC * VKC / (cmfm * chfh)
    fv = ur * jnp.sqrt(cm)
    ram = jnp.maximum(1.0, 1.0 / (cm * ur))
    rah = jnp.maximum(1.0, 1.0 / (ch * ur))
    return {"MOZ": moz, "FM": fm, "FH": fh, "NSIGN": nsign, "CM": cm, "CH": ch, "FV": fv,
            "RAM": ram, "RAH": rah, "RAW": rah}


def leaf_to_ground(*, first, vai, hcan, zpd, z0mg, z0hg, z0h, fv, uc, tah, rhoair,
                   shg_prev, fhg_prev, cwpvt, dleaf):
    """Under-canopy resistance and leaf boundary-layer resistance (ResistanceLeafToGround).

    Args:
        first: True at the first canopy iteration (Python bool or traced boolean).
        vai: effective leaf+stem area index capped at 6 [m2/m2] (must be > 0).
        hcan: canopy top height HVT [m]; zpd: displacement height [m];
        z0mg: ground momentum roughness [m]; z0hg: ground heat roughness [m];
        z0h: canopy heat roughness [m].
        fv: friction velocity above the canopy of the current iteration [m/s].
        uc: wind speed at the canopy top [m/s].
        tah: canopy air temperature of the previous iteration [K].
        rhoair: air density [kg/m3].
        shg_prev: under-canopy ground sensible heat of the previous iteration [W/m2].
        fhg_prev: under-canopy stability factor of the previous iteration [-].
        cwpvt: canopy wind extinction parameter CWPVT [-]; dleaf: leaf dimension [m].

    Returns:
        dict: FHG (stability factor, -), RAHG, RAWG (ground aerodynamic resistance for
        heat/vapour, s/m), RB (leaf boundary-layer resistance, s/m, in [5, 50]),
        KC (canopy wind extinction coefficient, -).
    """
    if first is True:
        mozg = jnp.zeros_like(vai)
    else:
        tmp1 = VKC * (GRAV / tah) * shg_prev / (rhoair * CPAIR)
        tmp1 = jnp.where(jnp.abs(tmp1) <= MPE, MPE, tmp1)
        mol = -1.0 * fv ** 3 / tmp1
        mol_safe = jnp.where(mol == 0.0, -1.0e30, mol)
        mozg = jnp.minimum((zpd - z0mg) / mol_safe, 1.0)
        if first is not False:
            mozg = jnp.where(first, 0.0, mozg)
    unstable = mozg < 0.0
    zneg = jnp.where(unstable, mozg, 0.0)
    fhgnew = jnp.where(unstable, (1.0 - 15.0 * zneg) ** (-0.25), 1.0 + 4.7 * mozg)
    if first is True:
        fhg = fhgnew
    else:
        fhg = 0.5 * (fhg_prev + fhgnew)
        if first is not False:
            fhg = jnp.where(first, fhgnew, fhg)

    kc = jnp.sqrt(cwpvt * vai * hcan * fhg)
    t1 = jnp.exp(-kc * z0hg / hcan)
    t2 = jnp.exp(-kc * (z0h + zpd) / hcan)
    tmprah2 = hcan * jnp.exp(kc) / kc * (t1 - t2)
    kh = jnp.maximum(VKC * fv * (hcan - zpd), MPE)
    rahg = tmprah2 / kh
    tmprb = kc * 50.0 / (1.0 - jnp.exp(-kc / 2.0))
    rb = tmprb * jnp.sqrt(dleaf / uc)
    rb = jnp.minimum(jnp.maximum(rb, 5.0), 50.0)
    return {"FHG": fhg, "RAHG": rahg, "RAWG": rahg, "RB": rb, "KC": kc}


# Noah-MP-style aliases (the two MOST routines are the same calculation)
GroundRoughnessProperty = ground_roughness
ResistanceAboveCanopyMost = most_exchange
ResistanceBareGroundMost = most_exchange
ResistanceLeafToGround = leaf_to_ground
