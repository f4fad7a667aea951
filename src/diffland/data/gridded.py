"""Readers of gridded forcing files: HRLDAS LDASIN NetCDF and NLDAS-2 hourly NetCDF.

HRLDAS LDASIN (one file per step, ``YYYYMMDDHH.LDASIN_DOMAIN<n>`` or ``YYYYMMDDHHMM.LDASIN_DOMAIN<n>``):
variables ``T2D Q2D U2D V2D PSFC SWDOWN LWDOWN RAINRATE`` on ``(Time, south_north, west_east)``
(``Time`` of length 1, or no ``Time``), already SI (RAINRATE mm/s). The stamp is the **end** of the
interval the step uses (HRLDAS with FORCING_TIMESTEP = NOAH_TIMESTEP reads the file stamped ``t_k``
for the step ending at ``t_k``). Coordinates from ``XLAT``/``XLONG`` in the files, else from the
HRLDAS setup file (``wrfinput`` / ``HRLDAS_setup*``, same names) given as ``setup`` or found in the
folder.

NLDAS-2 hourly primary forcing ("File A", 0.125 deg, ``NLDAS_FORA0125_H.AYYYYMMDD.HH00.*.nc``):
two naming conventions are accepted, on ``(time, lat, lon)``:

==========  ===============  ================  ===========================================
LDASIN      GRIB-style name  NetCDF v2.0 name  NLDAS units -> SI
==========  ===============  ================  ===========================================
T2D         TMP              Tair              K
Q2D         SPFH             Qair              kg/kg
PSFC        PRES             PSurf             Pa
U2D, V2D    UGRD, VGRD       Wind_E, Wind_N    m/s (10 m)
LWDOWN      DLWRF            LWdown            W/m2
SWDOWN      DSWRF            SWdown            W/m2
RAINRATE    APCP             Rainf             kg m-2 per hour (hourly total) -> / 3600
==========  ===============  ================  ===========================================

The hourly total is converted with 1/3600 unless the variable's ``units`` already say per second.
NLDAS stamps a record with the GRIB reference time, the **start** of the hour its accumulations
cover ("0-1 hr acc"); the reader stamps each record at the end of that hour (``stamp="end"``,
HRLDAS convention, the default) or keeps the file stamp (``stamp="start"``).

Cells are the grid points in C order (``south_north`` / ``lat`` outer); ``grid_y`` / ``grid_x`` give
their indices. Points outside the land mask (all-fill in the first record) are dropped and counted.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import xarray as xr

from ._common import (FORCING_LONG, FORCING_UNITS, FORCING_VARS, DataError, as_list,
                      check_monotonic, check_range, require_file)

__all__ = ["read_ldasin", "read_nldas2", "NLDAS2_NAMES"]

NLDAS2_NAMES = {
    "T2D": ("TMP", "Tair"), "Q2D": ("SPFH", "Qair"), "PSFC": ("PRES", "PSurf"),
    "U2D": ("UGRD", "Wind_E"), "V2D": ("VGRD", "Wind_N"), "LWDOWN": ("DLWRF", "LWdown"),
    "SWDOWN": ("DSWRF", "SWdown"), "RAINRATE": ("APCP", "Rainf"),
}
_BAD_UNITS = {  # units that betray a wrong quantity for the LDASIN name
    "T2D": ("c", "degc", "deg c", "celsius", "f"), "PSFC": ("hpa", "mb", "mbar", "kpa"),
    "RAINRATE": ("mm/h", "mm h-1", "mm/hr", "mm/day", "mm d-1", "kg m-2", "kg/m2", "kg/m^2", "m"),
    "Q2D": ("g/kg", "g kg-1", "%"),
}
_LDASIN_RE = re.compile(r"^(\d{10}|\d{12})\.LDASIN_DOMAIN\d+$")


def _open_nc(path: Path):
    import netCDF4
    try:
        return netCDF4.Dataset(path)
    except (OSError, RuntimeError) as e:
        raise DataError(path, None, f"cannot open as NetCDF/HDF5 ({e})",
                        fix="the file is corrupt or not NetCDF; download it again") from None


def _getvar(nc, path, name, alt=()):
    for n in (name, *alt):
        if n in nc.variables:
            return n, nc.variables[n]
    raise DataError(path, name, "variable missing" + (f" (also tried {', '.join(alt)})" if alt else ""),
                    fix=f"the file must contain {name}; available: {', '.join(list(nc.variables)[:20])}")


def _read2d(var, path, name) -> np.ndarray:
    var.set_auto_mask(True)
    a = var[:]
    a = np.ma.filled(np.ma.asarray(a).astype(np.float64), np.nan)
    if a.ndim == 3:
        if a.shape[0] != 1:
            raise DataError(path, name, f"expected one time record per file, found {a.shape[0]}",
                            fix="split the file by time or use read_nldas2 for multi-record files")
        a = a[0]
    if a.ndim != 2:
        raise DataError(path, name, f"expected a 2-D field (y, x), got shape {a.shape}",
                        fix="use (Time, south_north, west_east) or (south_north, west_east)")
    return a


def _units_ok(var, name, path):
    u = str(getattr(var, "units", "")).strip().lower()
    if u and u in _BAD_UNITS.get(name, ()):
        raise DataError(path, name, f"units {u!r} are not the LDASIN SI units {FORCING_UNITS[name]}",
                        fix="convert the variable to SI before writing the LDASIN file")


def _ldasin_time(path: Path):
    m = _LDASIN_RE.match(path.name)
    if not m:
        raise DataError(path, "time", "file name is not YYYYMMDDHH[MM].LDASIN_DOMAINn",
                        fix="rename the file after its time stamp (UTC, end of interval)")
    s = m.group(1)
    iso = f"{s[:4]}-{s[4:6]}-{s[6:8]}T{s[8:10]}:{s[10:12] if len(s) == 12 else '00'}"
    try:
        return np.datetime64(iso, "ns")
    except ValueError:
        raise DataError(path, "time", f"invalid time stamp {s}", fix="use a valid date") from None


def _find_setup(folder: Path):
    for pat in ("wrfinput*", "HRLDAS_setup*", "*setup*.nc"):
        c = sorted(folder.glob(pat))
        if c:
            return c[0]
    return None


def _latlon_from(nc, path):
    for la, lo in (("XLAT", "XLONG"), ("XLAT_M", "XLONG_M"), ("LAT", "LON"), ("lat", "lon")):
        if la in nc.variables and lo in nc.variables:
            return _read2d(nc.variables[la], path, la), _read2d(nc.variables[lo], path, lo)
    return None


def read_ldasin(source, *, setup=None, check: bool = True) -> xr.Dataset:
    """Read HRLDAS LDASIN files (a folder, a glob-able list, or one file).

    Args:
        source: folder holding ``*.LDASIN_DOMAIN*`` files (sorted by their stamp), or a list of
            files (kept in the given order; times must increase).
        setup: HRLDAS setup / wrfinput file with ``XLAT``/``XLONG`` when the LDASIN files lack them.
        check: reject values outside physical ranges or non-finite values (file, variable, cell).

    Returns:
        ``(time, cell)`` dataset, ``time`` = stamps (UTC, interval end), ``lat``/``lon``,
        ``grid_y``/``grid_x`` per cell.
    """
    src = as_list(source)
    if len(src) == 1 and Path(src[0]).is_dir():
        folder = Path(src[0])
        files = sorted(p for p in folder.iterdir() if _LDASIN_RE.match(p.name))
        if not files:
            raise DataError(folder, None, "no YYYYMMDDHH[MM].LDASIN_DOMAINn files",
                            fix="point to the HRLDAS forcing folder (INDIR)")
        files.sort(key=_ldasin_time)
    else:
        files = [require_file(p, "LDASIN file") for p in src]
        folder = files[0].parent
    times = np.array([_ldasin_time(f) for f in files])
    check_monotonic(times, files[0].parent, "time (file stamps)")
    data = {k: [] for k in FORCING_VARS}
    shape = None
    latlon = None
    for f in files:
        nc = _open_nc(f)
        try:
            for k in FORCING_VARS:
                _, var = _getvar(nc, f, k)
                _units_ok(var, k, f)
                a = _read2d(var, f, k)
                if shape is None:
                    shape = a.shape
                elif a.shape != shape:
                    raise DataError(f, k, f"grid {a.shape} differs from the first file's {shape}",
                                    fix="all LDASIN files must be on the same grid")
                if check:
                    check_range(a.ravel(), k, f, allow_nan=False)
                data[k].append(a.ravel())
            if latlon is None:
                latlon = _latlon_from(nc, f)
        finally:
            nc.close()
    if latlon is None:
        sp = Path(setup) if setup is not None else _find_setup(folder)
        if sp is None:
            raise DataError(files[0], "XLAT/XLONG", "no coordinates in the LDASIN files and no "
                            "setup file", fix="pass setup='wrfinput_d01.nc' (HRLDAS setup file)")
        nc = _open_nc(require_file(sp, "HRLDAS setup file"))
        try:
            latlon = _latlon_from(nc, sp)
        finally:
            nc.close()
        if latlon is None:
            raise DataError(sp, "XLAT/XLONG", "setup file has no XLAT/XLONG",
                            fix="use the wrfinput/HRLDAS setup file of this domain")
    lat, lon = latlon
    if lat.shape != shape:
        raise DataError(setup or files[0], "XLAT", f"coordinate grid {lat.shape} != forcing {shape}",
                        fix="the setup file belongs to another domain")
    ny, nx = shape
    yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    ds = xr.Dataset(coords={
        "cell": np.arange(ny * nx), "time": times,
        "lat": ("cell", lat.ravel(), {"units": "degrees_north"}),
        "lon": ("cell", lon.ravel(), {"units": "degrees_east"}),
        "grid_y": ("cell", yy.ravel()), "grid_x": ("cell", xx.ravel())})
    for k in FORCING_VARS:
        ds[k] = (("time", "cell"), np.stack(data[k]).astype(np.float32),
                 {"units": FORCING_UNITS[k], "long_name": FORCING_LONG[k]})
    ds.attrs.update({"source": f"ldasin:{folder}", "time_convention": "interval_end",
                     "dt_seconds": int(np.median(np.diff(times).astype("timedelta64[s]").astype(int)))
                     if times.size > 1 else 0, "grid_shape": list(shape),
                     "report": json.dumps({"files": len(files)})})
    return ds


def _nc_times(nc, path):
    import netCDF4
    if "time" not in nc.variables:
        m = re.search(r"A(\d{8})\.(\d{2})(\d{2})", path.name)
        if not m:
            raise DataError(path, "time", "no time variable and no AYYYYMMDD.HHMM in the name",
                            fix="keep the NLDAS file names or add a time variable")
        d = m.group(1)
        return np.array([np.datetime64(f"{d[:4]}-{d[4:6]}-{d[6:]}T{m.group(2)}:{m.group(3)}", "ns")])
    tv = nc.variables["time"]
    try:
        dt = netCDF4.num2date(tv[:], tv.units, getattr(tv, "calendar", "standard"),
                              only_use_cftime_datetimes=False, only_use_python_datetimes=True)
    except (AttributeError, ValueError) as e:
        raise DataError(path, "time", f"cannot decode times ({e})",
                        fix="time needs CF units such as 'hours since 2015-04-01 00:00'") from None
    return np.array([np.datetime64(x.isoformat(), "ns") for x in np.atleast_1d(dt)])


def read_nldas2(source, *, stamp: str = "end", check: bool = True, land_only: bool = True
                ) -> xr.Dataset:
    """Read NLDAS-2 hourly forcing NetCDF files (a folder or a list) into LDASIN names / SI.

    Args:
        source: folder (``*.nc``, ``*.nc4``) or list of files; records are sorted by time and must
            not repeat.
        stamp: ``"end"`` (default, stamp = end of the hour, HRLDAS convention) or ``"start"``.
        check: reject values outside physical ranges.
        land_only: drop grid points whose forcing is all fill in the first record (counted).

    Returns:
        ``(time, cell)`` dataset with ``grid_y``/``grid_x`` (lat/lon indices) per cell.
    """
    src = as_list(source)
    if len(src) == 1 and Path(src[0]).is_dir():
        files = sorted([*Path(src[0]).glob("*.nc"), *Path(src[0]).glob("*.nc4")])
        if not files:
            raise DataError(src[0], None, "no NLDAS-2 .nc/.nc4 files",
                            fix="point to the folder holding NLDAS_FORA0125_H.*.nc files")
    else:
        files = [require_file(p, "NLDAS-2 file") for p in src]
    recs, lat0, lon0 = [], None, None
    for f in files:
        nc = _open_nc(f)
        try:
            t = _nc_times(nc, f)
            la = np.asarray(_getvar(nc, f, "lat", ("latitude",))[1][:], dtype=np.float64)
            lo = np.asarray(_getvar(nc, f, "lon", ("longitude",))[1][:], dtype=np.float64)
            if lat0 is None:
                lat0, lon0 = la, lo
            elif la.shape != lat0.shape or lo.shape != lon0.shape or not (
                    np.allclose(la, lat0) and np.allclose(lo, lon0)):
                raise DataError(f, "lat/lon", "grid differs from the first file's",
                                fix="use files of the same NLDAS subset")
            fields = {}
            for k, (g, n) in NLDAS2_NAMES.items():
                name, var = _getvar(nc, f, g, (n,))
                var.set_auto_mask(True)
                a = np.ma.filled(np.ma.asarray(var[:]).astype(np.float64), np.nan)
                if a.ndim == 2:
                    a = a[None]
                if a.shape != (t.size, la.size, lo.size):
                    raise DataError(f, name, f"shape {a.shape} != (time, lat, lon) = "
                                    f"{(t.size, la.size, lo.size)}", fix="use (time, lat, lon)")
                u = str(getattr(var, "units", "")).lower().replace(" ", "")
                if k == "RAINRATE":
                    if "s-1" in u or "/s" in u:
                        fac = 1.0
                    elif u in ("", "kgm-2", "kg/m2", "kg/m^2", "kgm**-2", "mm"):
                        fac = 1.0 / 3600.0
                    else:
                        raise DataError(f, name, f"unexpected precipitation units {u!r}",
                                        fix="NLDAS-2 APCP/Rainf is kg m-2 per hour")
                    a = a * fac
                elif k == "T2D" and u in ("c", "degc", "celsius"):
                    raise DataError(f, name, "temperature in deg C", fix="NLDAS TMP is in K")
                elif k == "PSFC" and u in ("hpa", "mb", "kpa"):
                    raise DataError(f, name, f"pressure in {u}", fix="NLDAS PRES is in Pa")
                fields[k] = a
        finally:
            nc.close()
        for i in range(t.size):
            recs.append((t[i], f, {k: v[i] for k, v in fields.items()}))
    recs.sort(key=lambda r: r[0])
    times = np.array([r[0] for r in recs])
    d = np.diff(times.astype(np.int64))
    if np.any(d == 0):
        i = int(np.argmax(d == 0))
        raise DataError(recs[i + 1][1], "time", f"duplicated record {times[i]}",
                        f"also in {recs[i][1]}", "remove the duplicate file")
    ny, nx = lat0.size, lon0.size
    yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    first = np.stack([recs[0][2][k].ravel() for k in FORCING_VARS])
    land = np.all(np.isfinite(first), axis=0) if land_only else np.ones(ny * nx, bool)
    if not land.any():
        raise DataError(recs[0][1], "all", "every grid point is fill", fix="check the subset")
    out = {}
    for k in FORCING_VARS:
        a = np.stack([r[2][k].ravel()[land] for r in recs])
        if check:
            for i in range(a.shape[0]):
                check_range(a[i], k, recs[i][1])
        out[k] = a
    shift = np.timedelta64(1, "h") if stamp == "end" else np.timedelta64(0, "h")
    ds = xr.Dataset(coords={
        "cell": np.arange(int(land.sum())), "time": times + shift,
        "lat": ("cell", np.broadcast_to(lat0[:, None], (ny, nx)).ravel()[land],
                {"units": "degrees_north"}),
        "lon": ("cell", np.broadcast_to(lon0[None, :], (ny, nx)).ravel()[land],
                {"units": "degrees_east"}),
        "grid_y": ("cell", yy.ravel()[land]), "grid_x": ("cell", xx.ravel()[land])})
    for k in FORCING_VARS:
        ds[k] = (("time", "cell"), out[k].astype(np.float32),
                 {"units": FORCING_UNITS[k], "long_name": FORCING_LONG[k]})
    ds.attrs.update({"source": f"nldas2:{files[0].parent}",
                     "time_convention": "interval_end" if stamp == "end" else "interval_start",
                     "dt_seconds": 3600, "grid_shape": [ny, nx],
                     "report": json.dumps({"files": len(files), "records": len(recs),
                                           "grid_points": ny * nx,
                                           "dropped_fill_points": int((~land).sum())})})
    return ds
