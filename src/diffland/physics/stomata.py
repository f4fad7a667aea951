"""Leaf stomatal resistance of Noah-MP (JAX port).

* :func:`ball_berry` <- ``ResistanceCanopyStomataBallBerryMod`` (crs=1): Farquhar
  photosynthesis (C3/C4) coupled to the Ball-Berry conductance model, 3 fixed iterations
  on the internal CO2 partial pressure.
* :func:`jarvis` <- ``ResistanceCanopyStomataJarvisMod`` (crs=2): multiplicative
  Jarvis-type stress factors on a minimum resistance.
* :func:`saturation_mixing_ratio` <- ``HumiditySaturationMod`` (used by Jarvis).

Both are called by the vegetated energy balance once per time step, at the first canopy
iteration, for the sunlit and the shaded leaves. All inputs are (cells,) arrays.

Params keys read (shape (cells,)):
    Ball-Berry: ``VCMX25`` (umol CO2 m-2 s-1), ``MP`` (-), ``BP`` (umol m-2 s-1),
    ``QE25`` (umol CO2/umol photon), ``KC25``, ``KO25`` (Pa), ``AKC``, ``AKO``, ``AVCMX``
    (Q10s), ``C3PSN`` (1 = C3, 0 = C4), ``FOLNMX`` (%), ``CO2``, ``O2`` (mol/mol).
    The foliage nitrogen FOLN is fixed to 1.0 % as in the HRLDAS driver
    (``BiochemVarInTransfer``), so the nitrogen factor is min(1/FOLNMX, 1).
    Jarvis: ``RS`` (s/m), ``RSMAX`` (s/m), ``RGL`` (W/m2), ``TOPT`` (K), ``HS`` (-).
"""
from __future__ import annotations

import jax.numpy as jnp

from diffland.physics.constants import TFRZ

FOLN_DRIVER = 1.0  # foliage nitrogen [%] hard-wired by the HRLDAS driver


def _q10(base, tc):
    """Noah-MP's generic temperature response base**((Tc-25)/10)."""
    return base ** ((tc - 25.0) / 10.0)


def ball_berry(*, par, tv, estv, eah, sfcprs, sfctmp, rb, btran, igs, fveg, params):
    """Ball-Berry stomatal resistance and leaf photosynthesis for one leaf class.

    Args:
        par: absorbed PAR per unit (sunlit or shaded) leaf area [W/m2] as produced by the
            radiation (PARSUN/PARSHA); divided here by max(FVEG, 1e-6) as Noah-MP does.
        tv: leaf (canopy) temperature [K].
        estv: saturation vapour pressure at tv [Pa].
        eah: canopy-air vapour pressure [Pa].
        sfcprs: air pressure [Pa]; sfctmp: air temperature [K].
        rb: leaf boundary-layer resistance [s/m].
        btran: soil-moisture stress factor [-].
        igs: growing-season index (1 on, 0 off) [-].
        fveg: vegetation fraction [-].
        params: dict (see module docstring).

    Returns:
        (rs [s/m], psn [umol CO2 m-2 s-1]).
    """
    ref = tv
    g = lambda k: jnp.asarray(params[k], dtype=ref.dtype) * jnp.ones_like(ref)  # noqa: E731
    vcmx25, mp, bp, qe25 = g("VCMX25"), g("MP"), g("BP"), g("QE25")
    kc25, ko25, akc, ako, avcmx = g("KC25"), g("KO25"), g("AKC"), g("AKO"), g("AVCMX")
    c3 = g("C3PSN")
    folnmx = g("FOLNMX")
    co2 = g("CO2") * sfcprs  # partial pressures [Pa]
    o2 = g("O2") * sfcprs

    cf = sfcprs / (8.314 * sfctmp) * 1.0e6  # [s m2/umol] -> [s/m]
    rs_dark = 1.0 / bp * cf
    apar = par / jnp.maximum(fveg, 1.0e-6)
    lit = apar > 0.0

    fnf = jnp.minimum(FOLN_DRIVER / jnp.maximum(1.0e-6, folnmx), 1.0)
    tc = tv - TFRZ
    ppf = 4.6 * apar
    j = ppf * qe25
    kc = kc25 * _q10(akc, tc)
    ko = ko25 * _q10(ako, tc)
    awc = kc * (1.0 + o2 / ko)
    cp = 0.5 * kc / ko * o2 * 0.21
    f2 = 1.0 + jnp.exp((-2.2e05 + 710.0 * (tc + 273.16)) / (8.314 * (tc + 273.16)))
    vcmx = vcmx25 / f2 * fnf * btran * _q10(avcmx, tc)

    ci = 0.7 * co2 * c3 + 0.4 * co2 * (1.0 - c3)
    rlb = rb / cf
    cea = jnp.maximum(0.25 * estv * c3 + 0.40 * estv * (1.0 - c3), jnp.minimum(eah, estv))

    psn = jnp.zeros_like(tv)
    rs = jnp.zeros_like(tv)
    for _ in range(3):
        wj = jnp.maximum(ci - cp, 0.0) * j / (ci + 2.0 * cp) * c3 + j * (1.0 - c3)
        wc = jnp.maximum(ci - cp, 0.0) * vcmx / (ci + awc) * c3 + vcmx * (1.0 - c3)
        we = 0.5 * vcmx * c3 + 4000.0 * vcmx * ci / sfcprs * (1.0 - c3)
        psn = jnp.minimum(jnp.minimum(wj, wc), we) * igs
        cs = jnp.maximum(co2 - 1.37 * rlb * sfcprs * psn, 1.0e-6)
        a = mp * psn * sfcprs * cea / (cs * estv) + bp
        b = (mp * psn * sfcprs / cs + bp) * rlb - 1.0
        c = -rlb
        disc = jnp.sqrt(b * b - 4.0 * a * c)
        q = jnp.where(b >= 0.0, -0.5 * (b + disc), -0.5 * (b - disc))
        r1 = q / a
        r2 = c / q
        rs = jnp.maximum(r1, r2)
        ci = jnp.maximum(cs - psn * sfcprs * 1.65 * rs, 0.0)
    rs = jnp.where(lit, rs * cf, rs_dark)
    psn = jnp.where(lit, psn, 0.0)
    return rs, psn


def saturation_mixing_ratio(t, p):
    """Saturation mixing ratio [kg/kg] and its T-derivative (HumiditySaturation).

    Args:
        t: temperature [K]; p: pressure [Pa].
    Returns:
        (qsat [kg/kg], dqsat/dT [1/K] as Noah-MP computes it, in g/g per K from g/kg).
    """
    esat = 0.611 * jnp.exp(2.501e6 / 461.0 * (1.0 / 273.15 - 1.0 / t))  # kPa
    pk = p * 1.0e-3
    w = 0.622 * esat / (pk - esat) * 1.0e3  # g/kg
    dw = (w / (1.0 + w)) * (17.67 * (273.15 - 29.65)) / (t - 29.65) ** 2
    return w / 1.0e3, dw


def jarvis(*, par, tv, eah, sfcprs, btran, fveg, params):
    """Jarvis stomatal resistance for one leaf class.

    Args:
        par: absorbed PAR per unit leaf area [W/m2] (divided by max(FVEG,1e-6) here).
        tv: canopy temperature [K]; eah: canopy-air vapour pressure [Pa];
        sfcprs: air pressure [Pa]; btran: soil-moisture stress factor [-];
        fveg: vegetation fraction [-]; params: dict with RS, RSMAX, RGL, TOPT, HS.
    Returns:
        (rs [s/m], psn) with psn = -999.99 as Noah-MP (no photosynthesis with Jarvis).
    """
    ref = tv
    g = lambda k: jnp.asarray(params[k], dtype=ref.dtype) * jnp.ones_like(ref)  # noqa: E731
    rsmin, rsmax, rgl, topt, hs = g("RS"), g("RSMAX"), g("RGL"), g("TOPT"), g("HS")
    apar = par / jnp.maximum(fveg, 1.0e-6)
    q = 0.622 * eah / (sfcprs - 0.378 * eah)
    w = q / (1.0 - q)
    wsat, _ = saturation_mixing_ratio(tv, sfcprs)
    ff = 2.0 * apar / rgl
    rcs = jnp.maximum((ff + rsmin / rsmax) / (1.0 + ff), 0.0001)
    rct = jnp.maximum(1.0 - 0.0016 * (topt - tv) ** 2.0, 0.0001)
    rcq = jnp.maximum(1.0 / (1.0 + hs * jnp.maximum(0.0, wsat - w)), 0.01)
    rs = rsmin / (rcs * rct * rcq * btran)
    return rs, jnp.full_like(tv, -999.99)
