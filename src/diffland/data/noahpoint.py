"""Reader of the Noah LSM point forcing with validation columns (``forcing98_with_validation.dat``).

The file is whitespace-separated, 33 columns, one record per 30 min, **local standard time, stamp =
end of the half hour** ("half hour ending"), ``-6999`` (and ``-6725.84``, the ctl's second UNDEF) =
missing. ``OBS_DATA.ctl`` lists 36 variables in an order that does **not** match the file (it has
Q2 before pressure and soil-temperature interpolations the file lacks). The column meanings below
were established by matching the file against ``forcing_basic98.dat`` (the Noah LSM driver's forcing:
JDAY, HHMM, wind, T, RH, P, SW, LW, precip) and the HRLDAS UTC copy of the same site
(``hrldas_single_point/single_point/bondville_1998.dat``: identical RH, pressure, LW, precipitation
after a 6 h shift, so LST = UTC - 6 h):

====  ======================================  ====  =======================================
col   meaning                                 col   meaning
====  ======================================  ====  =======================================
1     day of year (local)                     15    IR skin temperature [deg C]
2     HHMM local standard time, period end    16-21 soil T at 2, 4, 8, 16, 32, 64 cm [deg C]
3     a second wind speed (not the forcing)   22    wind speed [m/s] (= forcing wind)
4     wind direction [deg]                    23-26 u'w', u'2, v'2, w'2 [m2/s2]
5     air temperature [deg C]                 27    sensible heat flux H [W/m2]
6     relative humidity [%]                   28    latent heat flux LE [W/m2]
7     surface pressure [mb]                   29    unidentified (not read)
8     incoming shortwave [W/m2]               30    incoming longwave [W/m2]
9-10  PAR in / out [uE/m2/s] (not read)       31-33 soil moisture 5, 20, 60 cm [m3/m3]
11    net radiation [W/m2]
12    ground heat flux [W/m2]
13    precipitation [inches per 30 min]
14    wetness sensor [V] (not read)
====  ======================================  ====  =======================================

Precipitation: the ctl says "mm/s", but the column sums to 36.45 over 1998, which as mm/s would be
65.6 m/yr; it is inches per 30 min (the HRLDAS copy converts it with 0.014111 = 25.4/1800 to mm/s,
giving 926 mm/yr). Relative humidity above 100 % (sensor error, up to 109 %) is converted as it is,
like HRLDAS does, and counted in the report. Conversions: ``T2D = T + 273.15``, ``PSFC = 100 P``, ``Q2D`` from RH with the HRLDAS
formula, ``U2D = wind``, ``V2D = 0``, ``RAINRATE = 0.014111 precip``.

Forcing gaps (wind 1526, shortwave 2 records): when ``forcing_basic98.dat`` (same stem
``forcing_basic*``) lies next to the file, its gap-filled forcing is used for the forcing columns
(it is what the Noah LSM runs used; the values agree elsewhere to 0.05 K); otherwise gaps are filled
by linear interpolation in time. Either way the number of filled values per variable is reported in
``attrs["report"]``. Observation gaps stay NaN and are counted.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ._common import (FORCING_LONG, FORCING_UNITS, FORCING_VARS, DataError, check_monotonic,
                      check_range, require_file, rh_to_q)

__all__ = ["read_noah_point"]

_NCOL = 33
_MISSING = (-6999.0, -6725.84)
_OBS = {  # name: (column (1-based), offset, units, long name)
    "SM_5cm": (31, 0.0, "m3 m-3", "in-situ volumetric soil moisture at 5 cm"),
    "SM_20cm": (32, 0.0, "m3 m-3", "in-situ volumetric soil moisture at 20 cm"),
    "SM_60cm": (33, 0.0, "m3 m-3", "in-situ volumetric soil moisture at 60 cm"),
    "HFX_OBS": (27, 0.0, "W m-2", "observed sensible heat flux"),
    "LH_OBS": (28, 0.0, "W m-2", "observed latent heat flux"),
    "GRDFLX_OBS": (12, 0.0, "W m-2", "observed ground heat flux"),
    "RNET_OBS": (11, 0.0, "W m-2", "observed net radiation"),
    "TSK_OBS": (15, 273.15, "K", "IR skin temperature"),
    "TSOIL_2cm": (16, 273.15, "K", "soil temperature 2 cm"),
    "TSOIL_4cm": (17, 273.15, "K", "soil temperature 4 cm"),
    "TSOIL_8cm": (18, 273.15, "K", "soil temperature 8 cm"),
    "TSOIL_16cm": (19, 273.15, "K", "soil temperature 16 cm"),
    "TSOIL_32cm": (20, 273.15, "K", "soil temperature 32 cm"),
    "TSOIL_64cm": (21, 273.15, "K", "soil temperature 64 cm"),
}
_NOT_READ = {3: "second wind speed", 4: "wind direction", 9: "PAR in", 10: "PAR out",
             14: "wetness sensor", 23: "u'w'", 24: "u'2", 25: "v'2", 26: "w'2",
             29: "unidentified"}


def _control(path: Path):
    """lat, lon (east positive) from a Noah ``controlfile*`` next to the data, or None."""
    for c in sorted(path.parent.glob("controlfile*")):
        txt = c.read_text(errors="replace")
        mlat = re.search(r"^\s*([-\d.]+)\s+LATITUDE", txt, re.M)
        mlon = re.search(r"^\s*([-\d.]+)\s+LONGITUDE", txt, re.M)
        if mlat and mlon:
            return float(mlat.group(1)), -float(mlon.group(1)), str(c)  # file: W > 0
    return None


def _ctl_year(path: Path):
    for c in sorted(path.parent.glob("*.ctl")):
        m = re.search(r"TDEF\s+\d+\s+LINEAR\s+\S*?(\d{4})\b", c.read_text(errors="replace"), re.I)
        if m:
            return int(m.group(1)), str(c)
    return None


def _load(path: Path, ncol: int) -> np.ndarray:
    try:
        a = pd.read_csv(path, sep=r"\s+", header=None, dtype=np.float64, engine="python").values
    except (ValueError, pd.errors.ParserError) as e:
        raise DataError(path, None, f"not a whitespace-separated numeric table ({e})",
                        fix="check the file is the Noah point text format") from None
    if a.ndim != 2 or a.shape[1] != ncol:
        raise DataError(path, None, f"expected {ncol} columns, found {a.shape[1]}",
                        fix=f"use the Noah point format with {ncol} columns")
    return a


def _times(jday, hhmm, year, offset_h, path):
    jd = jday.astype(np.int64)
    hh, mm = (hhmm // 100).astype(np.int64), (hhmm % 100).astype(np.int64)
    if np.any((hh > 24) | (mm > 59) | (jd < 1) | (jd > 366)):
        i = int(np.argmax((hh > 24) | (mm > 59) | (jd < 1) | (jd > 366)))
        raise DataError(path, "JDAY/HHMM", f"invalid day/time {jd[i]} {hhmm[i]:.0f}",
                        f"line {i + 1}", fix="columns 1-2 must be day of year and HHMM")
    yr = year + np.concatenate([[0], np.cumsum(np.diff(jd) < 0)])  # wrap to the next year
    base = np.array([np.datetime64(f"{y}-01-01", "s") for y in np.unique(yr)])
    b = base[np.searchsorted(np.unique(yr), yr)]
    lst = b + ((jd - 1) * 86400 + hh * 3600 + mm * 60).astype("timedelta64[s]")
    return (lst - np.timedelta64(int(round(offset_h * 3600)), "s")).astype("datetime64[ns]")


def read_noah_point(path, *, lat=None, lon=None, year=None, utc_offset_hours=None,
                    basic="auto", check: bool = True) -> xr.Dataset:
    """Read a Noah LSM point file with validation columns into a one-cell dataset.

    Args:
        path: ``forcing98_with_validation.dat``-style file (33 columns, see module docstring).
        lat, lon: site [deg N, deg E]; default from a ``controlfile*`` in the same folder.
        year: year of the first record; default from the ``TDEF`` line of a ``*.ctl`` next to it.
        utc_offset_hours: local standard time minus UTC [h]; default ``round(lon / 15)``
            (-6 at Bondville, US Central Standard Time).
        basic: ``"auto"`` (use a ``forcing_basic*`` file in the folder for gap-free forcing),
            a path, or None (interpolate gaps).
        check: reject values outside physical ranges.

    Returns:
        Dataset with forcing ``(time, cell=1)`` in SI (``time`` = UTC end of each half hour,
        ``time_convention="interval_end"``) and in-situ observations on ``obs_time`` (the same
        instants): ``SM_5cm``, ``SM_20cm``, ``SM_60cm`` [m3/m3], ``HFX_OBS``, ``LH_OBS``,
        ``GRDFLX_OBS``, ``RNET_OBS`` [W/m2], ``TSK_OBS``, ``TSOIL_*`` [K].
    """
    path = require_file(path, "Noah point forcing file")
    a = _load(path, _NCOL)
    report = {"missing_obs": {}, "forcing_filled": {}}
    src = {}
    if lat is None or lon is None:
        c = _control(path)
        if c is None:
            raise DataError(path, "lat/lon", "no site coordinates",
                            fix="pass lat=..., lon=... or put the Noah controlfile next to the data")
        lat, lon, src["coordinates"] = c[0], c[1], c[2]
    if year is None:
        y = _ctl_year(path)
        if y is None:
            raise DataError(path, "year", "the file has day-of-year only and no *.ctl gives the year",
                            fix="pass year=YYYY")
        year, src["year"] = y
    if utc_offset_hours is None:
        utc_offset_hours = float(round(lon / 15.0))
        src["utc_offset"] = f"round(lon/15) = {utc_offset_hours:+.0f} h (standard time zone)"
    time = check_monotonic(_times(a[:, 0], a[:, 1], int(year), utc_offset_hours, path), path)
    miss = np.isin(a, _MISSING)
    a = np.where(miss, np.nan, a)

    # forcing columns (1-based): wind 22, T 5, RH 6, P 7, SW 8, LW 30, precip 13
    fcols = {"wind": 22, "T": 5, "RH": 6, "P": 7, "SW": 8, "LW": 30, "PRCP": 13}
    raw = {k: a[:, c - 1].copy() for k, c in fcols.items()}
    bpath = None
    if basic == "auto":
        cand = sorted(path.parent.glob("forcing_basic*"))
        bpath = cand[0] if cand else None
    elif basic is not None:
        bpath = require_file(basic, "basic forcing file")
    if bpath is not None:
        b = _load(Path(bpath), 9)
        if b.shape[0] != a.shape[0] or not (np.array_equal(b[:, 0], a[:, 0])
                                            and np.array_equal(b[:, 1], a[:, 1])):
            raise DataError(bpath, "JDAY/HHMM", "records do not match the validation file",
                            fix="use the basic file of the same year, or basic=None")
        bmap = {"wind": 2, "T": 3, "RH": 4, "P": 5, "SW": 6, "LW": 7, "PRCP": 8}
        for k, j in bmap.items():
            n = int(np.isnan(raw[k]).sum())
            if n:
                report["forcing_filled"][k] = f"{n} from {Path(bpath).name}"
            raw[k] = b[:, j]
        src["forcing"] = str(bpath)
    else:
        ti = time.astype(np.int64).astype(np.float64)
        for k, v in raw.items():
            m = np.isnan(v)
            if m.all():
                raise DataError(path, k, "forcing column entirely missing", fix="supply the forcing")
            if m.any():
                raw[k] = np.interp(ti, ti[~m], v[~m])
                report["forcing_filled"][k] = f"{int(m.sum())} by linear interpolation"
        src["forcing"] = "validation file (gaps interpolated)"
    t2 = raw["T"] + 273.15
    ps = raw["P"] * 100.0
    # RH > 100 % (up to 109 % at Bondville) is kept, as HRLDAS create_point_data does, and counted
    report["n_rh_above_100"] = int(np.sum(raw["RH"] > 100))
    forcing = {"T2D": t2, "Q2D": rh_to_q(raw["RH"], t2, ps),
               "U2D": raw["wind"], "V2D": np.zeros_like(t2), "PSFC": ps,
               "SWDOWN": np.maximum(raw["SW"], 0.0), "LWDOWN": raw["LW"],
               "RAINRATE": raw["PRCP"] * 0.014111}
    ds = xr.Dataset(coords={"cell": [0], "time": time, "obs_time": time,
                            "lat": ("cell", [float(lat)], {"units": "degrees_north"}),
                            "lon": ("cell", [float(lon)], {"units": "degrees_east"})})
    for k in FORCING_VARS:
        v = forcing[k][:, None]
        if check:
            check_range(v, k, path, time=time)
        ds[k] = (("time", "cell"), v.astype(np.float32),
                 {"units": FORCING_UNITS[k], "long_name": FORCING_LONG[k]})
    for name, (col, off, units, long) in _OBS.items():
        v = a[:, col - 1] + off
        report["missing_obs"][name] = int(np.isnan(v).sum())
        ds[name] = (("obs_time", "cell"), v[:, None].astype(np.float32),
                    {"units": units, "long_name": long, "source_column": col,
                     "missing": int(np.isnan(v).sum())})
    if check:
        for n in ("SM_5cm", "SM_20cm", "SM_60cm"):
            check_range(ds[n].values, n, path, time=time, rng=(0.0, 1.0), units="m3/m3",
                        allow_nan=True)
    report["columns_not_read"] = {str(k): v for k, v in _NOT_READ.items()}
    report["sources"] = src
    ds.attrs.update({"source": f"noahpoint:{path}", "time_convention": "interval_end",
                     "dt_seconds": int(np.median(np.diff(time).astype("timedelta64[s]").astype(int)))
                     if time.size > 1 else 0,
                     "utc_offset_hours": float(utc_offset_hours), "report": json.dumps(report)})
    return ds
