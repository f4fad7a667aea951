"""Shared helpers of the data layer: the error type, physical ranges, unit helpers.

Conventions used by every reader (see ``diffland.data`` module docstring):

- forcing under HRLDAS LDASIN names in SI units: ``T2D`` [K], ``Q2D`` [kg/kg], ``U2D``, ``V2D``
  [m/s], ``PSFC`` [Pa], ``SWDOWN``, ``LWDOWN`` [W/m2], ``RAINRATE`` [kg m-2 s-1 = mm/s];
- per-step arrays are ``(time, cell)``; static attributes are ``(cell,)``;
- times are UTC ``datetime64[ns]``; the ``time_convention`` attribute says whether a stamp is the
  start or the end of the averaging interval.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

__all__ = [
    "DataError", "FORCING_VARS", "FORCING_UNITS", "PHYSICAL_RANGE", "STANDARD_PRESSURE",
    "pressure_from_elevation", "qsat", "rh_to_q", "check_range", "check_monotonic",
    "require_file",
]

#: LDASIN forcing names, in the order HRLDAS lists them.
FORCING_VARS = ("T2D", "Q2D", "U2D", "V2D", "PSFC", "SWDOWN", "LWDOWN", "RAINRATE")
FORCING_UNITS = {
    "T2D": "K", "Q2D": "kg kg-1", "U2D": "m s-1", "V2D": "m s-1", "PSFC": "Pa",
    "SWDOWN": "W m-2", "LWDOWN": "W m-2", "RAINRATE": "kg m-2 s-1",
}
FORCING_LONG = {
    "T2D": "2-m air temperature", "Q2D": "2-m specific humidity", "U2D": "10-m eastward wind",
    "V2D": "10-m northward wind", "PSFC": "surface pressure",
    "SWDOWN": "downward shortwave radiation at the surface",
    "LWDOWN": "downward longwave radiation at the surface",
    "RAINRATE": "precipitation rate (liquid + solid), mm/s",
}
#: Plausible physical ranges (inclusive) used to reject corrupt input. Wide on purpose:
#: they catch unit mistakes (deg C as K, Pa as hPa, mm/h as mm/s), not weather.
PHYSICAL_RANGE = {
    "T2D": (170.0, 340.0), "Q2D": (0.0, 0.06), "U2D": (-80.0, 80.0), "V2D": (-80.0, 80.0),
    "PSFC": (30000.0, 110000.0), "SWDOWN": (-1.0, 1450.0), "LWDOWN": (20.0, 750.0),
    "RAINRATE": (0.0, 0.25),
}
#: US standard atmosphere sea-level pressure [Pa], used when no elevation is known.
STANDARD_PRESSURE = 101325.0


class DataError(ValueError):
    """An input-data problem. The message names the file, the variable, the place (cell / time)
    and says how to fix it."""

    def __init__(self, file, variable=None, problem="", where=None, fix=None):
        parts = [str(file)]
        if variable:
            parts.append(f"variable {variable!s}")
        msg = ": ".join(parts) + f": {problem}"
        if where:
            msg += f" (at {where})"
        if fix:
            msg += f". Fix: {fix}"
        super().__init__(msg)
        self.file, self.variable, self.where = str(file), variable, where


def require_file(path, what="input file", fix="check the path") -> Path:
    """Return ``Path(path)`` or raise :class:`DataError` (a ``FileNotFoundError`` is not raised
    so that callers can catch every data problem as ``ValueError``)."""
    p = Path(path)
    if not p.exists():
        raise DataError(p, None, f"{what} not found", fix=fix)
    return p


def pressure_from_elevation(elevation_m) -> np.ndarray:
    """Surface pressure [Pa] of the US standard atmosphere (1976) at ``elevation_m`` [m]:
    ``p = 101325 (1 - 2.25577e-5 z)^5.25588``. NaN elevation -> 101325 Pa."""
    z = np.asarray(elevation_m, dtype=np.float64)
    p = STANDARD_PRESSURE * (1.0 - 2.25577e-5 * np.where(np.isfinite(z), z, 0.0)) ** 5.25588
    return p


def qsat(t_k, p_pa) -> np.ndarray:
    """Saturation specific humidity [kg/kg] over water at temperature ``t_k`` [K] and pressure
    ``p_pa`` [Pa] (Bolton 1980 vapour pressure, the formula HRLDAS ``create_point_data`` uses)."""
    t = np.asarray(t_k, dtype=np.float64)
    es = 611.2 * np.exp(17.67 * (t - 273.15) / (t - 29.65))
    return 0.622 * es / (np.asarray(p_pa) - 0.378 * es)


def rh_to_q(rh_pct, t_k, p_pa) -> np.ndarray:
    """Relative humidity [%] -> specific humidity [kg/kg] (HRLDAS ``create_point_data.f90``)."""
    t = np.asarray(t_k, dtype=np.float64)
    es = 611.2 * np.exp(17.67 * (t - 273.15) / (t - 29.65))
    e = np.asarray(rh_pct) / 100.0 * es
    return 0.622 * e / (np.asarray(p_pa) - 0.378 * e)


def _where_str(idx: tuple, time=None, cell_names=None) -> str:
    parts = []
    if time is not None and len(idx) >= 1:
        parts.append(f"time {np.datetime_as_string(np.asarray(time)[idx[0]], unit='s')}")
        if len(idx) > 1:
            c = idx[1]
            parts.append(f"cell {cell_names[c] if cell_names is not None else c}")
    else:
        parts.append("index " + ",".join(str(int(i)) for i in idx))
    return ", ".join(parts)


def check_range(arr, name: str, file, *, time=None, cell_names=None, rng=None, units=None,
                allow_nan: bool = False):
    """Raise :class:`DataError` if ``arr`` (``(time, cell)`` or any shape) holds values outside the
    physical range of ``name`` (``PHYSICAL_RANGE``) or non-finite values (unless ``allow_nan``).
    The message names the first bad element, the count, and the likely unit mistake."""
    a = np.asarray(arr)
    lo, hi = rng if rng is not None else PHYSICAL_RANGE[name]
    finite = np.isfinite(a)
    if not allow_nan and not finite.all():
        bad = np.argwhere(~finite)
        raise DataError(file, name, f"{bad.shape[0]} non-finite value(s)",
                        _where_str(tuple(bad[0]), time, cell_names),
                        "fill the gap or mark it missing before building the forcing")
    with np.errstate(invalid="ignore"):
        badm = finite & ((a < lo) | (a > hi))
    if badm.any():
        bad = np.argwhere(badm)
        v = a[tuple(bad[0])]
        u = units or FORCING_UNITS.get(name, "")
        raise DataError(file, name,
                        f"{bad.shape[0]} value(s) outside the plausible range [{lo}, {hi}] {u}; "
                        f"first is {v:g}", _where_str(tuple(bad[0]), time, cell_names),
                        "check the units of the source variable (e.g. deg C vs K, hPa vs Pa, "
                        "mm/h vs mm/s) or the fill value")


def check_monotonic(times, file, variable="time") -> np.ndarray:
    """Return ``times`` as ``datetime64[ns]`` or raise if they are not strictly increasing."""
    t = np.asarray(times).astype("datetime64[ns]")
    if t.size > 1:
        d = np.diff(t.astype(np.int64))
        if (d <= 0).any():
            i = int(np.argmax(d <= 0))
            kind = "duplicated" if d[i] == 0 else "decreasing"
            raise DataError(file, variable,
                            f"times are not strictly increasing ({kind})",
                            f"positions {i} and {i + 1}: {np.datetime_as_string(t[i], unit='s')} "
                            f"then {np.datetime_as_string(t[i + 1], unit='s')}",
                            "sort the records and remove duplicates")
    return t


def as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, (str, Path)):
        return [x]
    if isinstance(x, Iterable):
        return list(x)
    return [x]
