"""Reader for forcing tables already in HRLDAS LDASIN names and SI units (CSV or NetCDF).

CSV: one row per time step, a ``time`` column (ISO 8601; naive stamps are taken as UTC, stamps
with an offset are converted to UTC; ``time_utc`` is accepted as an alias) and the columns
T2D [K], Q2D [kg/kg], U2D [m/s], V2D [m/s], PSFC [Pa], SWDOWN [W/m2], LWDOWN [W/m2],
RAINRATE [mm/s].  Other columns are ignored.  A single cell.

NetCDF: a ``time`` coordinate (CF-decoded to datetime; UTC), the same variables with dimensions
``(time,)`` or ``(time, cell)`` (any order; other dimensions of size 1, e.g. ``south_north`` /
``west_east`` of a one-point LDASIN file, are squeezed).  If a variable has a ``units``
attribute it must be one of the SI spellings accepted below, otherwise the file is rejected (a
``degC`` temperature or ``hPa`` pressure is a unit error, not something to guess).

A missing V2D is filled with zeros (wind speed given as U2D only, as HRLDAS point data); any
other missing variable is an error.  The result is checked with
:func:`diffland.io.validate.validate_forcing`.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .validate import FORCING_UNITS, FORCING_VARS, ForcingError, validate_forcing

__all__ = ["read_forcing_table", "ACCEPTED_UNITS"]

ACCEPTED_UNITS = {
    "T2D": {"k", "kelvin", "degk", "deg_k"},
    "Q2D": {"kg/kg", "kgkg-1", "kgkg**-1", "kg.kg-1", "1", "-", "", "kg kg-1"},
    "U2D": {"m/s", "ms-1", "ms**-1", "m.s-1"},
    "V2D": {"m/s", "ms-1", "ms**-1", "m.s-1"},
    "PSFC": {"pa", "pascal", "pascals"},
    "SWDOWN": {"w/m2", "wm-2", "w/m^2", "wm**-2", "w.m-2", "w/m**2"},
    "LWDOWN": {"w/m2", "wm-2", "w/m^2", "wm**-2", "w.m-2", "w/m**2"},
    "RAINRATE": {"mm/s", "mms-1", "kgm-2s-1", "kg/m2/s", "kgm**-2s**-1", "kg/m^2/s", "mm.s-1",
                 "kg.m-2.s-1", "mms**-1"},
}
_TIME_NAMES = ("time", "time_utc", "Time", "TIME", "datetime", "date")


def _norm_unit(u: str) -> str:
    return "".join(str(u).lower().split())


def _fill_v2d(forcing: dict, source: str) -> None:
    if "V2D" not in forcing and "U2D" in forcing:
        warnings.warn(f"{source}: V2D missing, set to 0 (U2D taken as the wind speed)", stacklevel=3)
        forcing["V2D"] = np.zeros_like(forcing["U2D"])


def read_forcing_table(path: str | Path, *, validate: bool = True) -> tuple[np.ndarray, dict]:
    """Read forcing from a CSV or NetCDF file with LDASIN names and SI units.

    Args:
        path: ``.csv`` / ``.csv.gz`` / ``.txt`` (CSV) or ``.nc`` / ``.nc4`` / ``.netcdf`` file.
        validate: run :func:`~diffland.io.validate.validate_forcing` on the result.

    Returns:
        ``(time, forcing)``: time is numpy datetime64[s] (UTC), shape (time,); forcing is
        ``{T2D, Q2D, U2D, V2D, PSFC, SWDOWN, LWDOWN, RAINRATE}`` float64 arrays of shape (time,)
        -- or (time, cells) for a NetCDF file with a ``cell`` dimension.

    Raises:
        FileNotFoundError, ValueError (ForcingError) naming the variable / column and the fix.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"forcing file not found: {path}")
    name = path.name.lower()
    if name.endswith((".nc", ".nc4", ".netcdf", ".cdf")):
        time, forcing = _read_netcdf(path)
    else:
        time, forcing = _read_csv(path)
    _fill_v2d(forcing, str(path))
    if validate:
        validate_forcing(time, forcing, source=str(path))
    return time, forcing


def _to_utc_seconds(values, source: str, column: str) -> np.ndarray:
    import pandas as pd
    try:
        ts = pd.to_datetime(pd.Series(values), utc=True)
    except (ValueError, TypeError) as exc:
        raise ForcingError(f"{source}: cannot parse the {column!r} column as dates/times: {exc}") from None
    if ts.isna().any():
        i = int(np.flatnonzero(ts.isna().to_numpy())[0])
        raise ForcingError(f"{source}: time value {values[i]!r} in row {i} could not be parsed")
    return ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[s]")


def _read_csv(path: Path):
    import pandas as pd
    try:
        df = pd.read_csv(path, comment="#")
    except Exception as exc:  # pandas raises many types for malformed text
        raise ForcingError(f"{path}: cannot read as CSV: {exc}") from None
    tcol = next((c for c in _TIME_NAMES if c in df.columns), None)
    if tcol is None:
        raise ForcingError(f"{path}: no 'time' column (UTC ISO 8601 time stamps); columns found: "
                           f"{', '.join(map(str, df.columns))}")
    time = _to_utc_seconds(df[tcol].to_numpy(), str(path), tcol)
    forcing = {}
    for v in FORCING_VARS:
        if v in df.columns:
            col = pd.to_numeric(df[v], errors="coerce")
            bad = col.isna() & df[v].notna()
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise ForcingError(f"{path}: column {v} has a non-numeric value {df[v].iloc[i]!r} "
                                   f"in data row {i + 1} (time {time[i]} UTC)")
            forcing[v] = col.to_numpy(dtype=np.float64)
    return time, forcing


def _read_netcdf(path: Path):
    import xarray as xr
    try:
        ds = xr.open_dataset(path)
    except Exception as exc:
        raise ForcingError(f"{path}: cannot open as NetCDF: {exc}") from None
    with ds:
        tname = next((c for c in _TIME_NAMES if c in ds.variables), None)
        if tname is None:
            raise ForcingError(f"{path}: no 'time' coordinate; variables: {', '.join(map(str, ds.variables))}")
        tvals = np.asarray(ds[tname].values)
        if not np.issubdtype(tvals.dtype, np.datetime64):
            raise ForcingError(f"{path}: '{tname}' is not a CF time coordinate (needs a units "
                               f"attribute like 'seconds since 1970-01-01 00:00:00')")
        time = tvals.astype("datetime64[s]")
        tdim = ds[tname].dims[0]
        forcing = {}
        for v in FORCING_VARS:
            if v not in ds.variables:
                continue
            da = ds[v]
            units = da.attrs.get("units")
            if units is not None and _norm_unit(units) not in ACCEPTED_UNITS[v]:
                raise ForcingError(f"{path}: {v} has units {units!r}; expected "
                                   f"{FORCING_UNITS[v]}; convert the data and fix the attribute")
            extra = [d for d in da.dims if d not in (tdim, "cell") and da.sizes[d] == 1]
            if extra:
                da = da.squeeze(extra, drop=True)
            bad_dims = [d for d in da.dims if d not in (tdim, "cell")]
            if bad_dims:
                raise ForcingError(f"{path}: {v} has dimension(s) {bad_dims} besides time and cell; "
                                   f"flatten the space dimensions into a 'cell' dimension")
            if tdim not in da.dims:
                raise ForcingError(f"{path}: {v} has no time dimension {tdim!r}")
            order = [tdim] + (["cell"] if "cell" in da.dims else [])
            forcing[v] = np.asarray(da.transpose(*order).values, dtype=np.float64)
    return time, forcing
