"""Reader of the hydroDL CSV database (``shared/data/conus_smap``, layout in its ``FORMAT.md``).

Layout actually found (differs from FORMAT.md in two points, both handled):

- ``YEAR/VAR.csv``: one row per cell, one column per day, ``-9999`` = missing. The folders of the
  shipped copy hold **calendar years** (2015: 275 days = 1 Apr - 31 Dec, 2016: 366, 2017: 90 =
  1 Jan - 31 Mar), not the April-to-March years FORMAT.md describes, and have no ``time.csv`` /
  ``timeStr.csv``. ``time_layout="auto"`` uses ``timeStr.csv`` when present, otherwise tries both
  layouts against the column counts and refuses to guess when both fit.
- coordinates in ``crd/crd.csv`` (or ``crd.csv``): latitude, longitude per row; constants in
  ``const/NAME.csv``, one value per line.

Units (checked against the data): NLDAS-2 FORA daily means of the hourly fields. ``APCP_FORA`` is
the daily mean of the hourly accumulation, kg m-2 per hour: the 2-year, 312-cell mean is 0.0861,
i.e. 2.07 mm/day = 755 mm/yr, the CONUS climatological mean (read as mm/day it would be 31 mm/yr);
so ``RAINRATE = APCP / 3600`` [mm/s]. ``TMP_2`` K -> ``T2D``, ``SPFH_2`` kg/kg -> ``Q2D``,
``UGRD_10``/``VGRD_10`` m/s -> ``U2D``/``V2D``, ``DSWRF``/``DLWRF`` W/m2 -> ``SWDOWN``/``LWDOWN``.
The database has no pressure and no elevation: ``PSFC`` comes from ``elevation`` when given, else is
the standard sea-level 101325 Pa (``PSFC.attrs["derived_from"]`` says which).

Days are UTC days (NLDAS hours 00-23 UTC), labelled by their start (``time_convention =
"interval_start"``). ``SMAP_AM`` lives on ``obs_time`` (the same days); ``SMAP_AM_time`` is the nominal
overpass time, 06:00 local solar time = ``day + 6 h - lon/15 h`` UTC.
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ._common import (FORCING_LONG, FORCING_UNITS, STANDARD_PRESSURE, DataError, check_range,
                      pressure_from_elevation)
from .classes import soil_classes_from_texture, veg_classes_from_landcover

__all__ = ["read_hydrodl", "HYDRODL_FORCING"]

#: hydroDL name stem -> (LDASIN name, factor to SI)
HYDRODL_FORCING = {
    "TMP_2": ("T2D", 1.0), "SPFH_2": ("Q2D", 1.0), "UGRD_10": ("U2D", 1.0),
    "VGRD_10": ("V2D", 1.0), "DSWRF": ("SWDOWN", 1.0), "DLWRF": ("LWDOWN", 1.0),
    "APCP": ("RAINRATE", 1.0 / 3600.0),
}
#: hydroDL constant -> (dataset name, factor, units, long name)
HYDRODL_CONST = {
    "Sand": ("sand", 1.0, "%", "sand fraction by weight"),
    "Silt": ("silt", 1.0, "%", "silt fraction by weight"),
    "Clay": ("clay", 1.0, "%", "clay fraction by weight"),
    "Bulk": ("bulk_density", 1000.0, "kg m-3", "soil bulk density (hydroDL Bulk, g/cm3 x 1000)"),
    "Capa": ("water_capacity", 1.0, "as in hydroDL (undocumented, likely % volume)",
             "soil available water capacity (hydroDL Capa)"),
    "NDVI": ("NDVI", 1.0, "1", "normalised difference vegetation index"),
    "flag_landcover": ("landcover", 1.0, "1", "SMAP land cover class, IGBP 1-16"),
    "flag_albedo": ("flag_albedo", 1.0, "1", "SMAP ancillary albedo"),
    "flag_roughness": ("flag_roughness", 1.0, "1", "SMAP ancillary roughness coefficient"),
    "flag_vegDense": ("flag_vegDense", 1.0, "1", "SMAP dense-vegetation flag"),
    "flag_waterbody": ("flag_waterbody", 1.0, "1", "SMAP static water-body fraction"),
    "flag_extraOrd": ("flag_extraOrd", 1.0, "1", "hydroDL extraordinary-condition flag"),
}


def _read_csv(path: Path, variable: str) -> np.ndarray:
    try:
        a = pd.read_csv(path, header=None, dtype=np.float64).values
    except FileNotFoundError:
        raise DataError(path, variable, "file not found",
                        fix="check the database root and the variable/product name") from None
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataError(path, variable, f"not a numeric CSV table ({e})",
                        fix="re-export the file; every value must be a number, -9999 = missing") \
            from None
    return a


def _year_dirs(root: Path):
    ys = sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit())
    if not ys:
        raise DataError(root, None, "no year folders (e.g. 2015/) found",
                        fix="point to the dataset folder that contains YEAR/VAR.csv")
    return ys


def _days_between(a: _dt.date, b: _dt.date) -> int:
    return (b - a).days + 1


def _infer_days(root: Path, years, ncols, layout: str, start):
    """Return a list of day arrays (datetime64[D]) per year folder."""
    out = []
    if start is not None:
        d0 = np.datetime64(start, "D")
        for n in ncols:
            out.append(d0 + np.arange(n))
            d0 = d0 + n
        return out, "given start"
    ts = [root / str(y) / "timeStr.csv" for y in years]
    if layout == "auto" and all(p.exists() for p in ts):
        for p, n, y in zip(ts, ncols, years):
            d = pd.read_csv(p, header=None)[0].values.astype("datetime64[D]")
            if d.size != n:
                raise DataError(p, "time", f"{d.size} dates but the data have {n} columns",
                                fix="regenerate timeStr.csv for this year")
            out.append(d)
        return out, "timeStr.csv"

    def calendar():
        days = []
        for i, (y, n) in enumerate(zip(years, ncols)):
            full = _days_between(_dt.date(y, 1, 1), _dt.date(y, 12, 31))
            if i == 0 and len(years) > 1:
                if n > full:
                    return None
                first = np.datetime64(f"{y}-12-31") - (n - 1)
            elif i == len(years) - 1:
                if n > full:
                    return None
                first = np.datetime64(f"{y}-01-01")
            else:
                if n != full:
                    return None
                first = np.datetime64(f"{y}-01-01")
            days.append(first + np.arange(n))
        return days

    def hydrodl():
        days = []
        for i, (y, n) in enumerate(zip(years, ncols)):
            full = _days_between(_dt.date(y, 4, 1), _dt.date(y + 1, 3, 31))
            if (i < len(years) - 1 and n != full) or n > full:
                return None
            days.append(np.datetime64(f"{y}-04-01") + np.arange(n))
        return days

    cal, hyd = calendar(), hydrodl()
    if layout == "calendar":
        cand = {"calendar": cal}
    elif layout == "hydrodl":
        cand = {"hydrodl": hyd}
    else:
        cand = {"calendar": cal, "hydrodl": hyd}
    ok = {k: v for k, v in cand.items() if v is not None}
    if len(ok) != 1:
        raise DataError(root, "time",
                        f"cannot infer the dates from the column counts {dict(zip(years, ncols))} "
                        f"({'both layouts fit' if len(ok) > 1 else 'no layout fits'})",
                        fix="add YEAR/timeStr.csv, or pass time_layout='calendar'|'hydrodl' or "
                            "start='YYYY-MM-DD'")
    k, v = next(iter(ok.items()))
    return v, f"inferred: {k}-year folders"


def read_hydrodl(root, *, product: str = "FORA", years=None, time_layout: str = "auto",
                 start=None, elevation=None, check: bool = True) -> xr.Dataset:
    """Read the hydroDL CSV database into a daily ``(time, cell)`` dataset.

    Args:
        root: dataset folder holding ``YEAR/``, ``const/`` and ``crd/crd.csv``.
        product: NLDAS forcing product suffix (``FORA``).
        years: subset of year folders (default all).
        time_layout: ``"auto"``, ``"calendar"`` or ``"hydrodl"`` (see module docstring).
        start: first day (overrides the layout inference).
        elevation: ``(cell,)`` [m] to derive PSFC; None -> 101325 Pa.
        check: reject values outside physical ranges (with file, variable, cell, day).

    Returns:
        Daily dataset: forcing (``T2D``... daily means, SI), ``SMAP_AM(obs_time, cell)`` [m3/m3],
        ``SMAP_AM_time``, static attributes, ``ISLTYP`` / ``IVGTYP`` (see :mod:`.classes`), coordinates
        ``lat``/``lon(cell)``; ``attrs`` hold the missing-value and fallback report.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, None, "hydroDL database folder not found",
                        fix="pass the folder that contains YEAR/, const/ and crd/")
    crd_p = root / "crd" / "crd.csv"
    if not crd_p.exists():
        crd_p = root / "crd.csv"
    crd = _read_csv(crd_p, "crd")
    if crd.ndim != 2 or crd.shape[1] < 2:
        raise DataError(crd_p, "crd", f"expected 2 columns (lat, lon), got shape {crd.shape}",
                        fix="write latitude,longitude per line")
    lat, lon = crd[:, 0], crd[:, 1]
    nc = lat.size
    if np.any(np.abs(lat) > 90) or np.any(np.abs(lon) > 360):
        i = int(np.argmax((np.abs(lat) > 90) | (np.abs(lon) > 360)))
        raise DataError(crd_p, "crd", f"coordinate out of range: {lat[i]}, {lon[i]}", f"row {i + 1}",
                        fix="first column latitude, second longitude, degrees")
    ys = _year_dirs(root) if years is None else [int(y) for y in years]

    # forcing + SMAP per year
    names = [f"{k}_{product}" for k in HYDRODL_FORCING] + ["SMAP_AM"]
    blocks = {n: [] for n in names}
    for y in ys:
        for n in names:
            p = root / str(y) / f"{n}.csv"
            a = _read_csv(p, n)
            if a.shape[0] != nc:
                raise DataError(p, n, f"{a.shape[0]} rows (cells) but crd has {nc}",
                                fix="the grids do not match: use files of the same cell subset")
            blocks[n].append(a)
        ncol = {n: blocks[n][-1].shape[1] for n in names}
        if len(set(ncol.values())) != 1:
            raise DataError(root / str(y), ",".join(names), f"different day counts {ncol}",
                            fix="all variables of a year must have the same number of columns")
    ncols = [b.shape[1] for b in blocks[names[0]]]
    days_l, how = _infer_days(root, ys, ncols, time_layout, start)
    days = np.concatenate(days_l)
    if np.any(np.diff(days.astype(np.int64)) != 1):
        i = int(np.argmax(np.diff(days.astype(np.int64)) != 1))
        raise DataError(root, "time", "year folders are not consecutive days",
                        f"{days[i]} then {days[i + 1]}", fix="check the year folders / timeStr.csv")
    time = days.astype("datetime64[ns]")
    report = {"time_axis": how, "missing": {}}

    ds = xr.Dataset(coords={"cell": np.arange(nc), "time": time,
                            "lat": ("cell", lat, {"units": "degrees_north"}),
                            "lon": ("cell", lon, {"units": "degrees_east"})})
    for stem, (name, fac) in HYDRODL_FORCING.items():
        n = f"{stem}_{product}"
        a = np.concatenate(blocks[n], axis=1).T  # (time, cell)
        miss = a == -9999
        report["missing"][name] = int(miss.sum())
        a = np.where(miss, np.nan, a) * fac
        if check:
            check_range(a, name, root / f"YEAR/{n}.csv", time=time)
        ds[name] = (("time", "cell"), a.astype(np.float32),
                    {"units": FORCING_UNITS[name], "long_name": FORCING_LONG[name] + " (daily mean)",
                     "source_variable": n})
    if elevation is not None:
        elev = np.broadcast_to(np.asarray(elevation, dtype=np.float64), (nc,))
        ds["elevation"] = ("cell", elev, {"units": "m"})
        p = pressure_from_elevation(elev)
        src = "elevation"
    else:
        p = np.full(nc, STANDARD_PRESSURE)
        src = "standard sea-level atmosphere (no elevation in the database)"
    ds["PSFC"] = (("time", "cell"), np.broadcast_to(p, (time.size, nc)).astype(np.float32),
                  {"units": "Pa", "long_name": FORCING_LONG["PSFC"], "derived_from": src})

    sm = np.concatenate(blocks["SMAP_AM"], axis=1).T
    miss = (sm == -9999) | ~np.isfinite(sm)
    sm = np.where(miss, np.nan, sm)
    if check:
        check_range(sm, "SMAP_AM", root / "YEAR/SMAP_AM.csv", time=time, rng=(0.0, 1.0),
                    units="m3/m3", allow_nan=True)
    report["missing"]["SMAP_AM"] = int(miss.sum())
    ds = ds.assign_coords(obs_time=("obs_time", time))
    ds["SMAP_AM"] = (("obs_time", "cell"), sm.astype(np.float32),
                     {"units": "m3 m-3", "long_name": "SMAP L3 AM surface soil moisture (0-5 cm)",
                      "pass": "AM (descending, 06:00 LST)", "missing": int(miss.sum())})
    ot = (time[:, None] + np.timedelta64(6, "h")
          - (lon[None, :] / 15.0 * 3600e9).astype("timedelta64[ns]"))
    ds["SMAP_AM_time"] = (("obs_time", "cell"), ot,
                          {"long_name": "nominal overpass time (06:00 local solar time), UTC"})

    cst = root / "const"
    for k, (name, fac, units, long) in HYDRODL_CONST.items():
        p = cst / f"{k}.csv"
        if not p.exists():
            report.setdefault("absent_constants", []).append(k)
            continue
        a = _read_csv(p, k).ravel()
        if a.size != nc:
            raise DataError(p, k, f"{a.size} values but crd has {nc} cells",
                            fix="the grids do not match: use the same cell subset")
        miss = (a == -9999) | ~np.isfinite(a)
        if miss.any():
            report["missing"][name] = {"count": int(miss.sum()),
                                       "cells": [int(i) for i in np.flatnonzero(miss)]}
        ds[name] = ("cell", np.where(miss, np.nan, a * fac), {"units": units, "long_name": long})
    if all(v in ds for v in ("sand", "silt", "clay")):
        soil, srep = soil_classes_from_texture(ds.sand.values, ds.silt.values, ds.clay.values)
        ds["ISLTYP"] = ("cell", soil, {"long_name": "STAS soil class (1-12 from USDA texture)",
                                       "fallback": srep["fallback_rule"],
                                       "n_fallback": srep["n_fallback"]})
        report["soil_class"] = srep
    if "landcover" in ds:
        veg, vrep = veg_classes_from_landcover(ds.landcover.values)
        ds["IVGTYP"] = ("cell", veg, {"long_name": "Noah-MP MODIFIED_IGBP_MODIS_NOAH class",
                                      "fallback": vrep["fallback_rule"],
                                      "n_fallback": vrep["n_fallback"]})
        report["veg_class"] = vrep
    ds.attrs.update({"source": f"hydrodl:{root}", "time_convention": "interval_start",
                     "dt_seconds": 86400, "report": json.dumps(report),
                     "units_note": "APCP_FORA read as kg m-2 per hour (daily mean of hourly "
                                   "accumulations); RAINRATE = APCP/3600"})
    return ds
