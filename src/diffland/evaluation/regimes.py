"""Climate regimes from the aridity index AI = P / PET.

PET method: **Priestley & Taylor (1972)** on daily means, chosen because it needs only
the forcing every diffland dataset carries (``T2D``, ``SWDOWN``, ``LWDOWN``, ``PSFC``),
no wind or humidity, and no daily Tmin/Tmax (which Hargreaves would need and which daily
means of ``T2D`` do not give)::

    PET = alpha_PT * Delta / (Delta + gamma) * Rn / lambda          [mm day-1], clipped at 0

    Rn = (1 - albedo) * SWDOWN + emissivity * (LWDOWN - sigma * T^4)   [W m-2] (daily mean)

with ``alpha_PT = 1.26``, ``albedo = 0.23`` (FAO-56 reference surface), surface
``emissivity = 0.98``, the surface temperature approximated by the daily mean air
temperature ``T = T2D``, soil heat flux G = 0 at the daily scale, ``Delta`` the slope of
the saturation vapour pressure curve (FAO-56 eq. 13, Tetens) [kPa K-1], ``gamma =
0.665e-3 * PSFC[kPa]`` the psychrometric constant (FAO-56 eq. 8) [kPa K-1] and
``lambda = 2.45 MJ kg-1``. 1 kg m-2 of water = 1 mm.

Classes (UNEP 1992 thresholds; hyper-arid AI < 0.05 is folded into arid, "sub-humid" is
UNEP's dry sub-humid band, and everything from 0.65 up is humid):

=============  ===================
class          AI
=============  ===================
``arid``       AI < 0.2
``semi-arid``  0.2 <= AI < 0.5
``sub-humid``  0.5 <= AI < 0.65
``humid``      AI >= 0.65
=============  ===================

Cells with a missing AI get the label ``"unknown"``.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import xarray as xr

__all__ = [
    "REGIMES",
    "THRESHOLDS",
    "UNKNOWN",
    "pet_priestley_taylor",
    "aridity_index",
    "aridity_from_forcing",
    "classify",
    "split_by_regime",
]

#: Regime names, driest first.
REGIMES = ("arid", "semi-arid", "sub-humid", "humid")
#: Upper AI bounds of the first three regimes (UNEP).
THRESHOLDS = (0.2, 0.5, 0.65)
#: Label for cells whose aridity index is missing.
UNKNOWN = "unknown"

SIGMA = 5.670374419e-8  # Stefan-Boltzmann [W m-2 K-4]
LAMBDA_V = 2.45e6  # latent heat of vaporisation [J kg-1] (FAO-56)
SECONDS_PER_DAY = 86400.0


def _sat_vp_slope(t_c):
    """Slope of the saturation vapour pressure curve [kPa K-1] at ``t_c`` [deg C] (FAO-56 eq. 13)."""
    es = 0.6108 * np.exp(17.27 * t_c / (t_c + 237.3))
    return 4098.0 * es / (t_c + 237.3) ** 2


def pet_priestley_taylor(T2D, SWDOWN, LWDOWN, PSFC, *, alpha: float = 1.26, albedo: float = 0.23,
                         emissivity: float = 0.98):
    """Priestley-Taylor potential evapotranspiration from daily-mean forcing.

    Args:
        T2D: air temperature [K] (daily mean).
        SWDOWN: downward shortwave radiation [W m-2] (daily mean).
        LWDOWN: downward longwave radiation [W m-2] (daily mean).
        PSFC: surface pressure [Pa].
        alpha: Priestley-Taylor coefficient [-]; albedo [-]; emissivity [-].
    Returns:
        PET [mm day-1] (>= 0), same shape/type as the broadcast inputs (NumPy or xarray).
    """
    T2D, SWDOWN, LWDOWN, PSFC = (x if isinstance(x, xr.DataArray) else np.asarray(x, dtype=float)
                                 for x in (T2D, SWDOWN, LWDOWN, PSFC))
    rn = (1.0 - albedo) * SWDOWN + emissivity * (LWDOWN - SIGMA * T2D**4)  # W m-2
    delta = _sat_vp_slope(T2D - 273.15)  # kPa K-1
    gamma = 0.665e-3 * (PSFC / 1000.0)  # kPa K-1
    pet = alpha * delta / (delta + gamma) * rn / LAMBDA_V * SECONDS_PER_DAY  # kg m-2 day-1 = mm day-1
    if isinstance(pet, xr.DataArray):
        return pet.clip(min=0.0)
    return np.maximum(pet, 0.0)


def aridity_index(P_mm_per_day, PET_mm_per_day):
    """Aridity index AI = P / PET [-] from long-term mean precipitation and PET [mm day-1].

    Both arguments are per-cell long-term means (average time series first). Where PET <= 0
    or either input is missing, AI is NaN.
    """
    P = P_mm_per_day if isinstance(P_mm_per_day, xr.DataArray) else np.asarray(P_mm_per_day, dtype=float)
    PET = PET_mm_per_day if isinstance(PET_mm_per_day, xr.DataArray) else np.asarray(PET_mm_per_day, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        ai = P / PET
    if isinstance(ai, xr.DataArray):
        return ai.where(PET > 0)
    return np.where(PET > 0, ai, np.nan)


def aridity_from_forcing(forcing: xr.Dataset | Mapping, *, dim: str = "time", daily: bool = True):
    """Aridity index per cell from a forcing Dataset (HRLDAS names and SI units).

    Uses ``RAINRATE`` [kg m-2 s-1 = mm s-1], ``T2D`` [K], ``SWDOWN``, ``LWDOWN`` [W m-2],
    ``PSFC`` [Pa]. With ``daily=True`` and a datetime ``dim``, sub-daily forcing is first
    averaged to daily means (Priestley-Taylor is meant for daily means: averaging hourly PET
    clipped at 0 would not cancel night-time negative net radiation). NumPy mappings are
    taken as already daily with time on axis 0.

    Returns:
        (ai, P_mm_per_day, PET_mm_per_day): long-term means per cell (reduced over ``dim``).
    """
    needed = ("RAINRATE", "T2D", "SWDOWN", "LWDOWN", "PSFC")
    missing = [k for k in needed if k not in forcing]
    if missing:
        raise KeyError(f"aridity_from_forcing needs forcing variables {missing} (have {list(forcing)})")
    if isinstance(forcing, xr.Dataset):
        ds = forcing[list(needed)]
        if daily and dim in ds.coords and np.issubdtype(ds[dim].dtype, np.datetime64):
            ds = ds.resample({dim: "1D"}).mean()
        pet = pet_priestley_taylor(ds["T2D"], ds["SWDOWN"], ds["LWDOWN"], ds["PSFC"])
        P = (ds["RAINRATE"] * SECONDS_PER_DAY).mean(dim)
        PET = pet.mean(dim)
    else:
        f = {k: np.asarray(forcing[k], dtype=float) for k in needed}
        pet = pet_priestley_taylor(f["T2D"], f["SWDOWN"], f["LWDOWN"], f["PSFC"])
        P = np.nanmean(f["RAINRATE"] * SECONDS_PER_DAY, axis=0)
        PET = np.nanmean(pet, axis=0)
    return aridity_index(P, PET), P, PET


def classify(ai) -> np.ndarray:
    """Regime label per cell from the aridity index [-].

    Returns a NumPy array of str: ``"arid"`` (AI < 0.2, hyper-arid included),
    ``"semi-arid"`` (0.2 <= AI < 0.5), ``"sub-humid"`` (0.5 <= AI < 0.65), ``"humid"``
    (AI >= 0.65), ``"unknown"`` where AI is NaN.
    """
    a = np.asarray(getattr(ai, "values", ai), dtype=float)
    idx = np.digitize(a, THRESHOLDS)  # 0..3
    labels = np.array(REGIMES, dtype=object)[np.clip(idx, 0, 3)]
    labels = np.where(np.isfinite(a), labels, UNKNOWN)
    return labels.astype(str)


def split_by_regime(values, classes, *, axis: int = -1, include_unknown: bool = False) -> dict:
    """Split per-cell ``values`` by regime label.

    Args:
        values: array (or DataArray) with cells along ``axis`` (for a DataArray: its last
            dimension unless ``axis`` says otherwise).
        classes: labels per cell, e.g. from :func:`classify`.
    Returns:
        dict regime -> values of the cells in that regime, in :data:`REGIMES` order; every
        regime appears (possibly with zero cells). ``"unknown"`` is added when requested.
    """
    labels = np.asarray(getattr(classes, "values", classes)).astype(str)
    names = list(REGIMES) + ([UNKNOWN] if include_unknown else [])
    out = {}
    if isinstance(values, xr.DataArray):
        d = values.dims[axis]
        if values.sizes[d] != labels.size:
            raise ValueError(f"{labels.size} labels for {values.sizes[d]} cells along {d!r}")
        for n in names:
            out[n] = values.isel({d: np.flatnonzero(labels == n)})
        return out
    v = np.asarray(values)
    if v.shape[axis] != labels.size:
        raise ValueError(f"{labels.size} labels for {v.shape[axis]} cells along axis {axis}")
    for n in names:
        out[n] = np.take(v, np.flatnonzero(labels == n), axis=axis)
    return out
