"""Static attributes -> Noah-MP class indices.

Soil: sand/silt/clay [%] -> USDA texture class (the 12 classes of the USDA texture triangle, with the
boundary rules of the NRCS texture calculator) -> STAS soil class index of Noah-MP's ``SOILPARM.TBL``:

=====  ================  =====  ================
STAS   USDA class        STAS   USDA class
=====  ================  =====  ================
1      sand              7      sandy clay loam
2      loamy sand        8      silty clay loam
3      sandy loam        9      clay loam
4      silt loam         10     sandy clay
5      silt              11     silty clay
6      loam              12     clay
=====  ================  =====  ================

Rules (percent by weight, applied in this order). The fractions are first renormalised to sum to
100: real databases often sum to less than 100 (conus_smap: 10 cells sum to 69-89 %, the rest being
gravel/organic matter or rounding), so sums in [50, 110] are renormalised and counted; a missing
value, a negative value or a sum outside [50, 110] is invalid:

- sand: ``silt + 1.5 clay < 15``; loamy sand: ``silt + 1.5 clay >= 15`` and ``silt + 2 clay < 30``;
- sandy loam: ``7 <= clay < 20, sand > 52, silt + 2 clay >= 30`` or ``clay < 7, silt < 50,
  silt + 2 clay >= 30``; loam: ``7 <= clay < 27, 28 <= silt < 50, sand <= 52``;
- silt loam: ``silt >= 50, 12 <= clay < 27`` or ``50 <= silt < 80, clay < 12``; silt:
  ``silt >= 80, clay < 12``; sandy clay loam: ``20 <= clay < 35, silt < 28, sand > 45``;
- clay loam: ``27 <= clay < 40, 20 < sand <= 45``; silty clay loam: ``27 <= clay < 40, sand <= 20``;
- sandy clay: ``clay >= 35, sand > 45``; silty clay: ``clay >= 40, silt >= 40``; clay: ``clay >= 40,
  sand <= 45, silt < 40``.

Land cover: SMAP L3 / hydroDL ``flag_landcover`` is IGBP 1-16. Noah-MP's ``MODIFIED_IGBP_MODIS_NOAH``
vegetation classes 1-16 have the same numbering and meaning (1 evergreen needleleaf forest ... 12
croplands, 13 urban, 14 cropland/natural mosaic, 15 snow and ice, 16 barren), so 1-16 map to
themselves. IGBP water (0 in SMAP's IGBP map, 17 in MCD12Q1) -> 17 (water). Classes 18-20 (tundra) of
the modified table never come from IGBP.

Missing values (NaN, -9999, fill 254/255) are never dropped silently: the soil fallback is loam
(STAS 6) and the land-cover fallback is the most common valid class among the cells (or 10,
grassland, if none is valid); which cells fell back is returned in the report.
"""
from __future__ import annotations

import numpy as np

__all__ = ["USDA_CLASSES", "STAS_NAMES", "usda_texture_class", "texture_to_stas",
           "igbp_to_modis", "soil_classes_from_texture", "veg_classes_from_landcover"]

#: STAS index -> USDA texture name.
STAS_NAMES = {1: "sand", 2: "loamy sand", 3: "sandy loam", 4: "silt loam", 5: "silt", 6: "loam",
              7: "sandy clay loam", 8: "silty clay loam", 9: "clay loam", 10: "sandy clay",
              11: "silty clay", 12: "clay"}
USDA_CLASSES = tuple(STAS_NAMES.values())
_NAME_TO_STAS = {v: k for k, v in STAS_NAMES.items()}
SOIL_FALLBACK = 6  # loam
VEG_WATER = 17
MODIS_NAMES = {1: "evergreen needleleaf forest", 2: "evergreen broadleaf forest",
               3: "deciduous needleleaf forest", 4: "deciduous broadleaf forest",
               5: "mixed forests", 6: "closed shrublands", 7: "open shrublands",
               8: "woody savannas", 9: "savannas", 10: "grasslands", 11: "permanent wetlands",
               12: "croplands", 13: "urban and built-up", 14: "cropland/natural vegetation mosaic",
               15: "snow and ice", 16: "barren or sparsely vegetated", 17: "water"}


def _texture_stas(sand, silt, clay) -> np.ndarray:
    """Vectorised USDA rules -> STAS index (0 where no rule applies)."""
    out = np.zeros(np.shape(sand), dtype=np.int32)

    def put(cond, k):
        np.copyto(out, k, where=(out == 0) & cond)

    put(silt + 1.5 * clay < 15, 1)
    put((silt + 1.5 * clay >= 15) & (silt + 2 * clay < 30), 2)
    put(((clay >= 7) & (clay < 20) & (sand > 52) & (silt + 2 * clay >= 30))
        | ((clay < 7) & (silt < 50) & (silt + 2 * clay >= 30)), 3)
    put((clay >= 7) & (clay < 27) & (silt >= 28) & (silt < 50) & (sand <= 52), 6)
    put(((silt >= 50) & (clay >= 12) & (clay < 27)) | ((silt >= 50) & (silt < 80) & (clay < 12)), 4)
    put((silt >= 80) & (clay < 12), 5)
    put((clay >= 20) & (clay < 35) & (silt < 28) & (sand > 45), 7)
    put((clay >= 27) & (clay < 40) & (sand > 20) & (sand <= 45), 9)
    put((clay >= 27) & (clay < 40) & (sand <= 20), 8)
    put((clay >= 35) & (sand > 45), 10)
    put((clay >= 40) & (silt >= 40), 11)
    put((clay >= 40) & (sand <= 45) & (silt < 40), 12)
    return out


def usda_texture_class(sand, silt, clay) -> str:
    """USDA texture class name of one soil (percent sand/silt/clay)."""
    k = texture_to_stas(sand, silt, clay)
    return STAS_NAMES[int(k)]


def texture_to_stas(sand, silt, clay):
    """STAS soil class (1-12) of sand/silt/clay [%]; arrays broadcast. Raises ``ValueError`` for
    missing values or fractions that do not sum to about 100 (use
    :func:`soil_classes_from_texture` for the fallback-with-report behaviour)."""
    s, si, c = (np.asarray(v, dtype=np.float64) for v in (sand, silt, clay))
    bad = ~(np.isfinite(s) & np.isfinite(si) & np.isfinite(c)) | (s < 0) | (si < 0) | (c < 0)
    tot = s + si + c
    bad |= (tot < 50) | (tot > 110)
    if np.any(bad):
        i = np.argwhere(np.atleast_1d(bad))[0]
        raise ValueError(f"texture_to_stas: invalid sand/silt/clay at index {tuple(i)}: "
                         f"{np.atleast_1d(s)[tuple(i)]}, {np.atleast_1d(si)[tuple(i)]}, "
                         f"{np.atleast_1d(c)[tuple(i)]} % (missing, negative, or sum not 50-110). "
                         "Fix: use soil_classes_from_texture(), which applies a reported fallback")
    f = 100.0 / tot
    out = _texture_stas(s * f, si * f, c * f)
    out = np.where(out == 0, SOIL_FALLBACK, out)  # cannot happen with the complete rule set
    return out if out.ndim else int(out)


def soil_classes_from_texture(sand, silt, clay, *, fallback: int = SOIL_FALLBACK,
                              cell_names=None):
    """Per-cell STAS class with a reported fallback.

    Args:
        sand, silt, clay: ``(cell,)`` percent by weight; NaN or negative (e.g. -9999) = missing.
        fallback: STAS class for cells without a valid texture (default 6, loam).
        cell_names: optional labels used in the report.

    Returns:
        ``(stas (cell,) int32, report dict)``; the report has ``n_fallback``, ``fallback_cells``
        (labels), ``fallback_class``, ``n_renormalised`` and ``renormalised_cells`` (sum off 100 by
        more than 0.5 %).
    """
    s, si, c = (np.asarray(v, dtype=np.float64).ravel() for v in (sand, silt, clay))
    tot = s + si + c
    valid = (np.isfinite(tot) & (s >= 0) & (si >= 0) & (c >= 0) & (tot >= 50) & (tot <= 110))
    f = np.where(valid, 100.0 / np.where(valid, tot, 1.0), 1.0)
    cls = _texture_stas(np.where(valid, s * f, 0), np.where(valid, si * f, 0),
                        np.where(valid, c * f, 0))
    cls = np.where(valid & (cls > 0), cls, fallback).astype(np.int32)
    idx = np.flatnonzero(~valid)
    names = [str(cell_names[i]) if cell_names is not None else int(i) for i in idx]
    report = {"n_cells": int(s.size), "n_fallback": int(idx.size), "fallback_cells": names,
              "fallback_class": int(fallback),
              "fallback_rule": f"missing/invalid sand-silt-clay -> STAS {fallback} "
                               f"({STAS_NAMES[fallback]})",
              "n_renormalised": int(np.sum(valid & (np.abs(tot - 100) > 0.5))),
              "renormalised_cells": [str(cell_names[i]) if cell_names is not None else int(i)
                                     for i in np.flatnonzero(valid & (np.abs(tot - 100) > 0.5))]}
    return cls, report


def igbp_to_modis(igbp):
    """IGBP class (SMAP / MCD12Q1 numbering) -> Noah-MP MODIFIED_IGBP_MODIS_NOAH class.
    1-16 are identical, 0 and 17 (water) -> 17. Anything else raises ``ValueError``."""
    a = np.asarray(igbp)
    ok = np.isin(a, np.arange(0, 18))
    if not np.all(ok):
        raise ValueError(f"igbp_to_modis: class {np.atleast_1d(a)[~np.atleast_1d(ok)][0]} is not an "
                         "IGBP class (0-17). Fix: mask fill values first or use "
                         "veg_classes_from_landcover()")
    out = np.where((a == 0) | (a == 17), VEG_WATER, a).astype(np.int32)
    return out if out.ndim else int(out)


def veg_classes_from_landcover(landcover, *, fallback=None, cell_names=None):
    """Per-cell Noah-MP vegetation class from IGBP land cover with a reported fallback.

    Missing values (NaN, negative, > 17, fill 254/255) -> ``fallback`` (default: the most common
    valid class among the cells, or 10 grassland when no cell is valid). Returns
    ``(veg (cell,) int32, report dict)`` with ``n_fallback``, ``fallback_cells``, ``fallback_class``,
    ``n_water`` (cells mapped to water, 17).
    """
    a = np.asarray(landcover, dtype=np.float64).ravel()
    valid = np.isfinite(a) & (a >= 0) & (a <= 17) & (np.round(a) == a)
    ai = np.where(valid, a, 0).astype(np.int64)
    mod = np.where((ai == 0) | (ai == 17), VEG_WATER, ai)
    if fallback is None:
        cand = mod[valid & (mod != VEG_WATER)]
        fallback = int(np.bincount(cand).argmax()) if cand.size else 10
    out = np.where(valid, mod, fallback).astype(np.int32)
    idx = np.flatnonzero(~valid)
    names = [str(cell_names[i]) if cell_names is not None else int(i) for i in idx]
    report = {"n_cells": int(a.size), "n_fallback": int(idx.size), "fallback_cells": names,
              "fallback_class": int(fallback),
              "fallback_rule": f"missing land cover -> MODIS class {fallback} "
                               f"({MODIS_NAMES.get(int(fallback), '?')}), the most common valid class",
              "n_water": int(np.sum(valid & (mod == VEG_WATER)))}
    return out, report
