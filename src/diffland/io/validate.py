"""Sanity checks for forcing, class numbers and initial states, with messages that say how to fix.

Forcing convention (HRLDAS LDASIN names, SI units):

========= ================ =====================================
T2D       K                air temperature at ZLVL
Q2D       kg/kg            specific humidity at ZLVL
U2D, V2D  m/s              wind components at ZLVL
PSFC      Pa               surface pressure
SWDOWN    W/m2             downward shortwave at the surface
LWDOWN    W/m2             downward longwave at the surface
RAINRATE  mm/s (kg m-2 s-1) total precipitation rate (rain + snow)
========= ================ =====================================

Arrays have shape (time,) or (time, cells).  Every error is a ``ValueError`` whose message names
the source, the variable, the first offending time stamp (UTC) and cell, and the likely fix.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

__all__ = ["FORCING_VARS", "FORCING_UNITS", "ForcingError", "validate_forcing", "validate_time",
           "validate_classes", "validate_initial"]

FORCING_VARS = ("T2D", "Q2D", "U2D", "V2D", "PSFC", "SWDOWN", "LWDOWN", "RAINRATE")
FORCING_UNITS = {"T2D": "K", "Q2D": "kg/kg", "U2D": "m/s", "V2D": "m/s", "PSFC": "Pa",
                 "SWDOWN": "W/m2", "LWDOWN": "W/m2", "RAINRATE": "mm/s"}


class ForcingError(ValueError):
    """Invalid forcing (message names the variable, time stamp, cell and the fix)."""


def _stamp(time, i: int) -> str:
    try:
        return f"{np.datetime_as_string(np.asarray(time)[i], unit='s')} UTC"
    except Exception:  # pragma: no cover - non-datetime time axis
        return f"time index {i}"


def _loc(time, arr: np.ndarray, flat_bad: np.ndarray) -> str:
    """Describe the first bad element of a (time,) or (time, cells) array."""
    idx = np.argwhere(flat_bad)[0]
    s = _stamp(time, int(idx[0])) + f" (index {int(idx[0])})"
    if arr.ndim == 2:
        s += f", cell {int(idx[1])}"
    return s


def validate_time(time, source: str = "forcing") -> np.ndarray:
    """Check a time axis: datetime64, strictly increasing, no duplicates.  Returns datetime64[s]."""
    t = np.asarray(time)
    if t.ndim != 1:
        raise ForcingError(f"{source}: time must be 1-D, got shape {t.shape}")
    if not np.issubdtype(t.dtype, np.datetime64):
        raise ForcingError(f"{source}: time must be datetime64 (UTC), got dtype {t.dtype}; "
                           f"parse it with numpy/pandas first")
    if np.any(np.isnat(t)):
        i = int(np.flatnonzero(np.isnat(t))[0])
        raise ForcingError(f"{source}: time has a missing value (NaT) at index {i}")
    if t.size > 1:
        d = np.diff(t.astype("datetime64[s]").astype(np.int64))
        if np.any(d == 0):
            i = int(np.flatnonzero(d == 0)[0])
            raise ForcingError(f"{source}: duplicated time stamp {_stamp(t, i + 1)} at indices {i} "
                               f"and {i + 1}; remove the duplicate record")
        if np.any(d < 0):
            i = int(np.flatnonzero(d < 0)[0])
            raise ForcingError(f"{source}: time is not increasing: {_stamp(t, i)} (index {i}) is "
                               f"followed by {_stamp(t, i + 1)} (index {i + 1}); sort the records "
                               f"by time")
    return t.astype("datetime64[s]")


def validate_forcing(time, forcing: Mapping[str, Any], source: str = "forcing", *,
                     required: tuple[str, ...] = FORCING_VARS) -> None:
    """Check forcing arrays for presence, shape, finiteness and plausible SI units.

    Args:
        time: datetime64 array (time,), UTC.
        forcing: ``{name: array (time,) or (time, cells)}`` with LDASIN names (see module doc).
        source: file or dataset name for messages.
        required: variables that must be present.

    Raises:
        ForcingError (ValueError): the first problem found, naming variable, time stamp and cell.
    """
    t = validate_time(time, source)
    nt = t.size
    missing = [v for v in required if v not in forcing]
    if missing:
        raise ForcingError(
            f"{source}: missing forcing variable(s) {', '.join(missing)}; expected "
            f"{', '.join(f'{v} [{FORCING_UNITS[v]}]' for v in FORCING_VARS)}"
            + ("; if only wind speed is available put it in U2D and set V2D = 0"
               if "V2D" in missing or "U2D" in missing else ""))
    arrays: dict[str, np.ndarray] = {}
    ncells = None
    for name in required:
        arr = np.asarray(forcing[name], dtype=np.float64)
        if arr.ndim not in (1, 2):
            raise ForcingError(f"{source}: {name} must have shape (time,) or (time, cells), got "
                               f"{arr.shape}")
        if arr.shape[0] != nt:
            raise ForcingError(f"{source}: {name} has {arr.shape[0]} time steps but the time axis "
                               f"has {nt}; all variables must cover the same time stamps")
        if arr.ndim == 2:
            if ncells is not None and arr.shape[1] != ncells:
                raise ForcingError(f"{source}: {name} has {arr.shape[1]} cells but other variables "
                                   f"have {ncells}")
            ncells = arr.shape[1]
        bad = ~np.isfinite(arr)
        if np.any(bad):
            raise ForcingError(f"{source}: {name} is NaN or infinite at {_loc(t, arr, bad)}; fill "
                               f"gaps (e.g. interpolate) before running")
        arrays[name] = arr

    def fail(name, mask, msg):
        raise ForcingError(f"{source}: {name} {msg} at {_loc(t, arrays[name], mask)}")

    if "T2D" in arrays:
        a = arrays["T2D"]
        if a.size and a.max() < 100.0:
            fail("T2D", a == a.max(), f"has maximum {a.max():.4g}, which looks like degrees "
                 f"Celsius; T2D must be in kelvin (add 273.15)")
        bad = (a < 150.0) | (a > 350.0)
        if np.any(bad):
            fail("T2D", bad, f"= {a[bad][0]:.6g} K is outside the plausible range 150..350 K")
    if "Q2D" in arrays:
        a = arrays["Q2D"]
        if np.any(a < 0):
            fail("Q2D", a < 0, f"= {a[a < 0][0]:.6g} is negative; specific humidity must be >= 0 kg/kg")
        if a.size and a.max() > 0.05:
            hint = ("looks like relative humidity in percent or g/kg; convert to specific humidity "
                    "in kg/kg (q = 0.622 e / (p - 0.378 e))" if a.max() > 1.0 else
                    "looks like relative humidity as a fraction or a mixing ratio error; Q2D must "
                    "be specific humidity in kg/kg (<= 0.05)")
            fail("Q2D", a > 0.05, f"= {a[a > 0.05][0]:.6g} {hint}")
    if "PSFC" in arrays:
        a = arrays["PSFC"]
        if a.size and a.max() < 2000.0:
            unit = "kPa (multiply by 1000)" if a.max() < 200.0 else "hPa/mb (multiply by 100)"
            fail("PSFC", a == a.max(), f"has maximum {a.max():.6g}, which looks like {unit}; PSFC "
                 f"must be in Pa")
        bad = (a < 30000.0) | (a > 115000.0)
        if np.any(bad):
            fail("PSFC", bad, f"= {a[bad][0]:.6g} Pa is outside the plausible range 30000..115000 Pa")
    if "RAINRATE" in arrays:
        a = arrays["RAINRATE"]
        if np.any(a < 0):
            fail("RAINRATE", a < 0, f"= {a[a < 0][0]:.6g} is negative; precipitation must be >= 0 "
                 f"mm/s")
        if nt > 1:
            dt_s = float(np.median(np.diff(t.astype(np.int64))))
            # 'sustained': mean over >= 1 hour above 0.2 mm/s (720 mm/h) is not precipitation
            # in mm/s -- it is mm per step, mm/h, or inches
            n = max(1, int(round(3600.0 / dt_s))) if dt_s > 0 else 1
            if a.shape[0] >= n:
                c = np.cumsum(np.concatenate([np.zeros((1,) + a.shape[1:]), a]), axis=0)
                run = (c[n:] - c[:-n]) / n
                if np.any(run > 0.2):
                    bad = np.zeros_like(a, dtype=bool)
                    bad[:run.shape[0]] = run > 0.2
                    fail("RAINRATE", bad, f"averages {run.max():.4g} mm/s over {n} step(s) (>= 1 h), "
                         f"far above any real rain rate; RAINRATE must be in mm/s -- divide mm per "
                         f"step by the step length ({dt_s:g} s), mm/h by 3600, inches per step by "
                         f"step/25.4")
            years = nt * dt_s / (365.25 * 86400.0)
            if years >= 0.25:
                total = a.mean(axis=0) * 365.25 * 86400.0
                if np.any(total > 15000.0):
                    bad = np.zeros_like(a, dtype=bool)
                    bad[0] = np.broadcast_to(total > 15000.0, a.shape[1:]) if a.ndim == 2 else True
                    fail("RAINRATE", bad, f"implies {np.max(total):.0f} mm/year, more than any place "
                         f"on Earth; RAINRATE must be in mm/s (mm per step divided by {dt_s:g} s)")
        elif np.any(a > 0.2):
            fail("RAINRATE", a > 0.2, f"= {a.max():.4g} mm/s is implausibly high; RAINRATE must be in "
                 f"mm/s")
    if "SWDOWN" in arrays:
        a = arrays["SWDOWN"]
        if np.any(a < 0):
            fail("SWDOWN", a < 0, f"= {a[a < 0][0]:.6g} W/m2 is negative; set negative values to 0")
        if np.any(a > 1500.0):
            fail("SWDOWN", a > 1500.0, f"= {a[a > 1500][0]:.6g} W/m2 exceeds 1500 W/m2 (solar "
                 f"constant ~1361); check units (W/m2, not J/m2 per step or kJ)")
    if "LWDOWN" in arrays:
        a = arrays["LWDOWN"]
        bad = (a < 30.0) | (a > 700.0)
        if np.any(bad):
            fail("LWDOWN", bad, f"= {a[bad][0]:.6g} W/m2 is outside the plausible range 30..700 W/m2; "
                 f"check units (W/m2)")
    for name in ("U2D", "V2D"):
        if name in arrays:
            a = arrays[name]
            bad = np.abs(a) > 100.0
            if np.any(bad):
                fail(name, bad, f"= {a[bad][0]:.6g} m/s exceeds 100 m/s; wind must be in m/s (not "
                     f"km/h or knots)")


def validate_classes(soil_class, veg_class, table=None, *, nveg: int = 20, nsoil_classes: int = 19,
                     source: str = "site") -> None:
    """Check soil/vegetation class numbers (integers inside the table's class ranges).

    With a :class:`~diffland.parameters.table.NoahmpTable` the exact rules of
    :func:`diffland.parameters.build.build_params` are applied (MODIS 1..NVEG plus urban LCZ
    51..61, STAS 1..SLCATS).  Without it, ``nveg`` and ``nsoil_classes`` give the ranges.

    Raises:
        ValueError naming the cell, the bad class and the valid range.
    """
    if table is not None:
        from diffland.parameters.build import resolve_classes
        try:
            resolve_classes(table, soil_class, veg_class, warn=False,
                            nsoil=np.asarray(soil_class).shape[0] if np.ndim(soil_class) == 2 else 4)
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None
        return
    for name, x, hi in (("soil_class", soil_class, nsoil_classes), ("veg_class", veg_class, nveg)):
        arr = np.atleast_1d(np.asarray(x))
        if arr.dtype.kind == "f" and np.any(arr != np.round(arr)):
            i = int(np.flatnonzero(arr.ravel() != np.round(arr.ravel()))[0])
            raise ValueError(f"{source}: {name} must be integer class numbers; got {arr.ravel()[i]} "
                             f"at cell {i}")
        bad = (arr < 1) | (arr > hi)
        if np.any(bad):
            i = int(np.flatnonzero(bad.ravel())[0])
            raise ValueError(f"{source}: {name} = {arr.ravel()[i]} at cell {i} is outside the valid "
                             f"range 1..{hi}")


def validate_initial(initial: Mapping[str, Any], *, smcmax=None, source: str = "initial state") -> None:
    """Check an initial state for plausible ranges and units.

    Args:
        initial: dict with any of ``SMC`` (total soil moisture [m3/m3], (nsoil,) or (nsoil, cells)),
            ``STC`` (soil temperature [K], same shape), ``TSK`` (skin temperature [K]),
            ``SNEQV`` (snow water equivalent [mm]), ``SNOWH`` (snow depth [m]), ``CANWAT`` [mm],
            ``soil_dz`` [m].
        smcmax: optional porosity (same shape as SMC or broadcastable) -- SMC must not exceed it.

    Raises:
        ValueError naming the variable, the layer/cell, the value and the fix.
    """
    def arr(name):
        return np.atleast_1d(np.asarray(initial[name], dtype=np.float64))

    def where(a, mask):
        idx = tuple(int(i) for i in np.argwhere(mask)[0])
        return f"layer {idx[0] + 1}" + (f", cell {idx[1]}" if a.ndim == 2 else "")

    for name in ("SMC", "STC", "TSK", "SNEQV", "SNOWH", "CANWAT", "soil_dz"):
        if name in initial:
            a = arr(name)
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{source}: {name} contains NaN/inf at {where(a, ~np.isfinite(a))}")
    if "SMC" in initial:
        a = arr("SMC")
        if a.max() > 1.0:
            raise ValueError(f"{source}: SMC = {a.max():.4g} at {where(a, a == a.max())} exceeds 1; "
                             f"soil moisture must be volumetric (m3/m3), not percent")
        if np.any(a <= 0.0):
            raise ValueError(f"{source}: SMC must be > 0 m3/m3, got {a.min():.4g} at "
                             f"{where(a, a <= 0)}")
        if smcmax is not None:
            s = np.broadcast_to(np.asarray(smcmax, dtype=np.float64), a.shape)
            bad = a > s + 1e-6
            if np.any(bad):
                raise ValueError(f"{source}: SMC = {a[bad][0]:.4g} exceeds the porosity SMCMAX = "
                                 f"{s[bad][0]:.4g} at {where(a, bad)}; lower SMC or check the soil class")
    for name in ("STC", "TSK"):
        if name in initial:
            a = arr(name)
            bad = (a < 180.0) | (a > 340.0)
            if np.any(bad):
                hint = " (looks like Celsius: add 273.15)" if np.all(a < 100.0) else ""
                raise ValueError(f"{source}: {name} = {a[bad][0]:.5g} K at {where(a, bad)} is outside "
                                 f"180..340 K{hint}")
    if "SNEQV" in initial:
        a = arr("SNEQV")
        if np.any(a < 0):
            raise ValueError(f"{source}: SNEQV = {a.min():.4g} mm is negative")
    if "SNOWH" in initial:
        a = arr("SNOWH")
        if np.any(a < 0):
            raise ValueError(f"{source}: SNOWH = {a.min():.4g} m is negative")
        if np.any(a > 20.0):
            raise ValueError(f"{source}: SNOWH = {a.max():.4g} m is implausible; snow depth must be in m")
    if "SNEQV" in initial and "SNOWH" in initial:
        w, h = np.broadcast_arrays(arr("SNEQV"), arr("SNOWH"))
        both = (w > 0) & (h > 0)
        if np.any(both):
            rho = w[both] / h[both]  # kg/m3 since SNEQV mm = kg/m2
            if np.any((rho < 10.0) | (rho > 1000.0)):
                r = rho[(rho < 10.0) | (rho > 1000.0)][0]
                raise ValueError(f"{source}: snow density SNEQV/SNOWH = {r:.4g} kg/m3 is outside "
                                 f"10..1000 kg/m3; SNEQV must be in mm and SNOWH in m")
        if np.any((w > 0) != (h > 0)):
            raise ValueError(f"{source}: SNEQV and SNOWH must both be zero or both positive")
    if "CANWAT" in initial and np.any(arr("CANWAT") < 0):
        raise ValueError(f"{source}: CANWAT must be >= 0 mm")
    if "soil_dz" in initial:
        a = arr("soil_dz")
        if np.any(a <= 0):
            raise ValueError(f"{source}: soil layer thicknesses must be positive (m), got {a.tolist()}")
        if "SMC" in initial and arr("SMC").shape[0] != a.size:
            raise ValueError(f"{source}: SMC has {arr('SMC').shape[0]} layers but soil_dz has {a.size}")
        if "STC" in initial and arr("STC").shape[0] != a.size:
            raise ValueError(f"{source}: STC has {arr('STC').shape[0]} layers but soil_dz has {a.size}")
