"""Table phenology of Noah-MP v5 (``PhenologyMainMod``), in JAX.

Leaf and stem area indices from the monthly class table, interpolated linearly between
mid-month values by the fractional Julian day; burial of the canopy by snow; the vegetated
fraction for the table options. Only the table-LAI options are supported (dveg = 1, 3, 4;
the crop model is off, ``CropType = 0``); dynamic vegetation (dveg 2, 5, 6-9) raises.

Equations (notation: J = fractional 0-based day of year, N = year length):

* Southern hemisphere (lat < 0): J -> mod(J + N/2, N).
* m = 12 J / N; i1 = int(m + 0.5) (months 1..12, i1 = 0 wraps to 12); i2 = i1 + 1 (13 -> 1);
  w1 = i1 + 0.5 - m; LAI = w1 LAIM[i1] + (1 - w1) LAIM[i2], same for SAI.
* SAI < 0.05 -> 0; LAI < 0.05 or SAI = 0 -> LAI = 0; water, barren, ice, urban -> LAI = SAI = 0.
* Burial fraction f_b = min(max(SNOWH - HVB, 0), HVT - HVB) / max(1e-6, HVT - HVB); for short
  canopies (0 < HVT <= 1): h* = HVT exp(-min(SNOWH, 10)/0.2), f_b = min(SNOWH, h*)/h*.
* ELAI = LAI (1 - f_b), ESAI = SAI (1 - f_b); ESAI < 0.05 -> 0; ELAI < 0.05 or ESAI = 0 -> ELAI = 0.
* FVEG: dveg 4 -> SHDMAX (Noah-MP's GVFMAX/100); dveg 1 -> VEGFRA; dveg 3 -> 1 - exp(-0.52 (LAI + SAI)).
  Then FVEG <= 0.05 -> 0.05; urban or barren -> 0; ELAI + ESAI = 0 -> 0.

The 0.05 cut-offs are kept exactly (they zero the gradient of LAI/SAI with respect to the
monthly tables below the threshold; the table values are class constants, not calibrated here).

Params keys read (all shape ``(cells,)`` unless stated):
    LAIM: monthly leaf area index, shape (12, cells), January first [m2 m-2].
    SAIM: monthly stem area index, shape (12, cells) [m2 m-2].
    HVT: canopy top height [m].  HVB: canopy bottom height [m].
    SHDMAX: annual maximum green vegetation fraction as a FRACTION 0-1 (the HRLDAS setup
        field SHDMAX/GVFMAX is in percent and Noah-MP divides it by 100; Bondville: 0.96, as
        ``diffland.parameters.build.build_params`` stores it); needed for dveg 4.
    VEGFRA: green vegetation fraction as a FRACTION 0-1 (dveg 1 only).
    IS_WATER, IS_BARREN, IS_ICE, IS_URBAN: optional class flags, float 0/1 (default 0):
        the cell's vegetation class equals ISWATER / ISBARREN / ISICE, or the cell is urban.
"""
from __future__ import annotations

import jax.numpy as jnp

__all__ = ["phenology", "monthly_interp"]


def _flag(params, key, ref):
    v = params.get(key)
    if v is None:
        return jnp.zeros_like(ref, dtype=bool)
    return jnp.asarray(v) > 0.5


def monthly_interp(julian, yearlen, lat, table):
    """Interpolate a monthly table (12, cells) to fractional day ``julian`` as Noah-MP does.

    Args:
        julian: fractional 0-based day of year [day], scalar or (cells,).
        yearlen: days in the year (365/366), scalar or (cells,).
        lat: latitude [degrees north], (cells,) (southern hemisphere shifted half a year).
        table: monthly values, shape (12, cells), January first.

    Returns:
        (cells,) interpolated values (same units as ``table``).
    """
    table = jnp.asarray(table)
    dtype = table.dtype
    julian = jnp.asarray(julian, dtype=dtype)
    yearlen = jnp.asarray(yearlen, dtype=dtype)
    lat = jnp.asarray(lat, dtype=dtype)
    day = jnp.where(lat >= 0.0, julian, jnp.mod(julian + 0.5 * yearlen, yearlen))
    month = 12.0 * day / yearlen
    i1 = jnp.floor(month + 0.5).astype(jnp.int32)  # Fortran int() truncation; argument >= 0
    w1 = (i1.astype(dtype) + 0.5) - month
    w2 = 1.0 - w1
    i2 = i1 + 1
    i1 = jnp.where(i1 < 1, 12, i1)
    i2 = jnp.where(i2 > 12, 1, i2)
    ncell = table.shape[1]
    i1 = jnp.broadcast_to(i1, (ncell,))
    i2 = jnp.broadcast_to(i2, (ncell,))
    v1 = jnp.take_along_axis(table, (i1 - 1)[None, :], axis=0)[0]
    v2 = jnp.take_along_axis(table, (i2 - 1)[None, :], axis=0)[0]
    return w1 * v1 + w2 * v2


def phenology(*, julian, yearlen, lat, SNOWH, params, options):
    """Table LAI/SAI, snow burial and vegetated fraction (Noah-MP ``PhenologyMain``).

    Args:
        julian: fractional 0-based Julian day [day] (``solar.julian_day``), scalar or (cells,).
        yearlen: year length [day] (365 or 366), scalar or (cells,).
        lat: latitude [degrees north], (cells,).
        SNOWH: snow depth at the start of the step [m], (cells,).
        params: dict, keys listed in the module docstring.
        options: ``Options`` (reads ``dveg``).

    Returns:
        dict of (cells,) arrays: LAI, SAI (unburied) [m2 m-2], ELAI, ESAI (after burial)
        [m2 m-2], FVEG [-], FB (fraction of canopy buried by snow) [-].
    """
    dveg = options.dveg
    if dveg not in (1, 3, 4):
        raise NotImplementedError(
            f"phenology: dveg={dveg} is not supported (only the table-LAI options 1, 3, 4)")
    snowh = jnp.asarray(SNOWH)
    dtype = snowh.dtype
    laim = jnp.asarray(params["LAIM"], dtype=dtype)
    saim = jnp.asarray(params["SAIM"], dtype=dtype)
    hvt = jnp.asarray(params["HVT"], dtype=dtype)
    hvb = jnp.asarray(params["HVB"], dtype=dtype)
    zero = jnp.zeros_like(snowh)

    lai = monthly_interp(julian, yearlen, lat, laim)
    sai = monthly_interp(julian, yearlen, lat, saim)
    sai = jnp.where(sai < 0.05, 0.0, sai)
    lai = jnp.where((lai < 0.05) | (sai == 0.0), 0.0, lai)

    is_water = _flag(params, "IS_WATER", snowh)
    is_barren = _flag(params, "IS_BARREN", snowh)
    is_ice = _flag(params, "IS_ICE", snowh)
    is_urban = _flag(params, "IS_URBAN", snowh)
    nonveg = is_water | is_barren | is_ice | is_urban
    lai = jnp.where(nonveg, zero, lai)
    sai = jnp.where(nonveg, zero, sai)

    # canopy burial by snow
    depth = hvt - hvb
    buried = jnp.minimum(jnp.maximum(snowh - hvb, 0.0), depth)
    fb_tall = buried / jnp.maximum(1.0e-6, depth)
    short = (hvt > 0.0) & (hvt <= 1.0)
    hvt_safe = jnp.where(short, hvt, 1.0)
    hstar = hvt_safe * jnp.exp(-jnp.minimum(snowh, 10.0) / 0.2)
    fb_short = jnp.minimum(snowh, hstar) / hstar
    fb = jnp.where(short, fb_short, fb_tall)

    elai = lai * (1.0 - fb)
    esai = sai * (1.0 - fb)
    esai = jnp.where(esai < 0.05, 0.0, esai)
    elai = jnp.where((elai < 0.05) | (esai == 0.0), 0.0, elai)

    if dveg == 4:
        fveg = jnp.asarray(params["SHDMAX"], dtype=dtype)
    elif dveg == 1:
        fveg = jnp.asarray(params["VEGFRA"], dtype=dtype)
    else:  # dveg == 3
        fveg = 1.0 - jnp.exp(-0.52 * (lai + sai))
    fveg = jnp.broadcast_to(fveg, snowh.shape)
    fveg = jnp.where(fveg <= 0.05, 0.05, fveg)
    fveg = jnp.where(is_urban | is_barren, 0.0, fveg)
    fveg = jnp.where((elai + esai) == 0.0, 0.0, fveg)

    return {"LAI": lai, "SAI": sai, "ELAI": elai, "ESAI": esai, "FVEG": fveg, "FB": fb}
