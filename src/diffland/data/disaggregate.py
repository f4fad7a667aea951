"""Temporal disaggregation of daily-mean forcing to the model step.

Input: daily means over **UTC days** (``[D 00:00, D+1 00:00)``), as in the hydroDL / NLDAS-2 daily
database. Output: ``86400 / dt`` steps per day, each stamped at the **end** of its interval
(HRLDAS LDASIN convention: the value stamped ``t`` applies to ``(t - dt, t]``).

Local solar time is mean solar time from longitude, ``LST = UTC + lon / 15 h`` (no equation of time);
the observation operator uses the same definition. Every rule preserves the daily mean **exactly**
(to round-off) for every cell and day:

- ``SWDOWN``: shape = interval mean of ``max(cos Z, 0)`` (``substeps`` sub-samples per step; solar
  declination of Spencer 1971), scaled so the day's mean equals the daily value. A day whose
  daily value is > 0 but whose sun never rises (polar night; not in CONUS) is spread evenly and counted.
- ``T2D``: ``T = Tday + DTR/2 (f - mean_day f)`` with ``f`` a two-piece cosine in local solar time:
  minimum (-1) at sunrise (from latitude and declination, clipped to 4-8 h LST), maximum (+1) at 15 h
  LST, rising on ``[sunrise, 15]`` and falling on ``[15, sunrise + 24]``. The diurnal range is
  ``DTR = clip(0.04 K/(W m-2) * SWDOWN_day, 2, 16)`` K by default (clear, sunny days have larger
  ranges: 300 W/m2 -> 12 K, 100 W/m2 -> 4 K), or a given number / per-cell array.
- ``LWDOWN``: ``LW = LWday * T^4 / mean_day(T^4)`` (emission follows the temperature cycle).
- ``Q2D``: ``"constant"`` (default): specific humidity constant over the day; the steps where it
  exceeds saturation at the disaggregated temperature are counted (``report["n_supersaturated"]``)
  and left as they are. ``"cap"``: capped at saturation, the removed vapour redistributed over the
  day's other steps in proportion to their headroom so the mean stays exact (days where that is
  impossible are counted in ``n_cap_not_preserved``).
- ``PSFC``: the daily value if the input has one, else from ``elevation`` (US standard atmosphere),
  else 101325 Pa; constant over the day.
- ``U2D``, ``V2D``: constant over the day.
- ``RAINRATE``: ``"uniform"`` (default): the daily mean rate at every step. ``"window"``: the whole
  daily total falls in the steps whose mid-point lies in ``[start, start + length)`` h LST
  (``rain_window=(start, length)``, default ``(14, 6)``: afternoon convection), rate scaled so the
  daily total is exact.
"""
from __future__ import annotations

import json

import numpy as np
import xarray as xr

from ._common import (FORCING_LONG, FORCING_UNITS, FORCING_VARS, STANDARD_PRESSURE, DataError,
                      pressure_from_elevation, qsat)

__all__ = ["solar_declination", "cos_zenith", "local_solar_hour", "disaggregate_arrays",
           "disaggregate", "daily_means"]


def solar_declination(doy) -> np.ndarray:
    """Solar declination [rad] for fractional day of year ``doy`` (1 = 1 Jan 00:00), Spencer (1971)."""
    g = 2.0 * np.pi * (np.asarray(doy, dtype=np.float64) - 1.0) / 365.0
    return (0.006918 - 0.399912 * np.cos(g) + 0.070257 * np.sin(g) - 0.006758 * np.cos(2 * g)
            + 0.000907 * np.sin(2 * g) - 0.002697 * np.cos(3 * g) + 0.00148 * np.sin(3 * g))


def _doy(t: np.ndarray) -> np.ndarray:
    t = np.asarray(t).astype("datetime64[s]")
    y0 = t.astype("datetime64[Y]").astype("datetime64[s]")
    return (t - y0).astype(np.float64) / 86400.0 + 1.0


def local_solar_hour(time_utc, lon_deg) -> np.ndarray:
    """Mean local solar time [h, 0-24) = UTC hour + lon/15, broadcast ``(time[:, None], lon)``."""
    t = np.asarray(time_utc).astype("datetime64[s]")
    sod = (t - t.astype("datetime64[D]")).astype(np.float64) / 3600.0
    return np.mod(sod[..., None] + np.asarray(lon_deg, dtype=np.float64) / 15.0, 24.0)


def cos_zenith(time_utc, lat_deg, lon_deg) -> np.ndarray:
    """cos(solar zenith angle) at UTC times ``(time,)`` for cells ``(cell,)`` -> ``(time, cell)``,
    with mean local solar time (see module docstring)."""
    t = np.asarray(time_utc).astype("datetime64[s]")
    dec = solar_declination(_doy(t))[:, None]
    h = local_solar_hour(t, lon_deg)
    ha = (h - 12.0) * (np.pi / 12.0)
    lat = np.deg2rad(np.asarray(lat_deg, dtype=np.float64))[None, :]
    return np.sin(lat) * np.sin(dec) + np.cos(lat) * np.cos(dec) * np.cos(ha)


def _shape_T(h, h_sr, h_max=15.0):
    """Two-piece cosine: -1 at sunrise ``h_sr``, +1 at ``h_max`` (local solar hours)."""
    rising = (h >= h_sr) & (h < h_max)
    f_r = -np.cos(np.pi * (h - h_sr) / (h_max - h_sr))
    hh = np.mod(h - h_max, 24.0)
    f_f = np.cos(np.pi * hh / (24.0 - (h_max - h_sr)))
    return np.where(rising, f_r, f_f)


def disaggregate_arrays(day, lat, lon, daily: dict, dt: int = 1800, *, temperature_range=None,
                        humidity: str = "constant", precipitation: str = "uniform",
                        rain_window=(14.0, 6.0), elevation=None, substeps: int = 6):
    """Disaggregate daily means to ``dt``-second steps (numpy core of :func:`disaggregate`).

    Args:
        day: ``(n_days,)`` datetime64 UTC day starts (consecutive days).
        lat, lon: ``(cell,)`` degrees.
        daily: ``{name: (n_days, cell)}`` daily means under LDASIN names and SI units; needs T2D,
            Q2D, U2D, V2D, SWDOWN, LWDOWN, RAINRATE; PSFC optional.
        dt: model step [s], a divisor of 86400.
        temperature_range: diurnal temperature range [K] (scalar or ``(cell,)``); None = SW rule.
        humidity: ``"constant"`` or ``"cap"``; precipitation: ``"uniform"`` or ``"window"``.
        rain_window: ``(start LST hour, length h)`` for ``precipitation="window"``.
        elevation: ``(cell,)`` [m] for PSFC when ``daily`` has none.
        substeps: samples per step for the interval-mean cos Z.

    Returns:
        ``(time (n_days*n,) datetime64[ns] interval ends, {name: (n_days*n, cell) float64}, report)``.
    """
    dt = int(dt)
    if dt <= 0 or 86400 % dt:
        raise DataError("disaggregate", "dt", f"model step {dt} s does not divide a day (86400 s)",
                        fix="use a divisor of 86400, e.g. 900, 1800, 3600, 10800")
    missing = [v for v in ("T2D", "Q2D", "U2D", "V2D", "SWDOWN", "LWDOWN", "RAINRATE")
               if v not in daily]
    if missing:
        raise DataError("disaggregate", ",".join(missing), "daily forcing variable(s) missing",
                        fix="provide all LDASIN variables (PSFC is optional)")
    day = np.asarray(day).astype("datetime64[D]")
    nd, n = day.size, 86400 // dt
    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    nc = lat.size
    for k, v in daily.items():
        if np.shape(v) != (nd, nc):
            raise DataError("disaggregate", k, f"shape {np.shape(v)} != (days, cells) = {(nd, nc)}",
                            fix="pass (n_days, n_cells) arrays")
        if not np.all(np.isfinite(v)):
            i = np.argwhere(~np.isfinite(np.asarray(v)))[0]
            raise DataError("disaggregate", k, "non-finite daily value",
                            f"day {day[i[0]]}, cell {i[1]}",
                            fix="fill or drop missing days before disaggregating")
    report = {"dt_seconds": dt, "steps_per_day": n}

    start = day.astype("datetime64[s]")
    off = (np.arange(n) * dt).astype("timedelta64[s]")
    t_start = (start[:, None] + off[None, :])                           # (nd, n)
    t_end = (t_start + np.timedelta64(dt, "s")).ravel().astype("datetime64[ns]")

    # --- shortwave: interval-mean cos Z
    w = np.zeros((nd, n, nc))
    for s in range(substeps):
        ts = (t_start + np.timedelta64(int((s + 0.5) * dt / substeps), "s")).ravel()
        w += np.maximum(cos_zenith(ts, lat, lon), 0.0).reshape(nd, n, nc)
    w /= substeps
    wm = w.mean(axis=1, keepdims=True)
    sw_d = np.asarray(daily["SWDOWN"], dtype=np.float64)[:, None, :]
    dark = (wm[:, 0, :] <= 0) & (sw_d[:, 0, :] > 0)
    report["n_sw_spread_evenly_polar_night"] = int(dark.sum())
    sw = np.where(wm > 0, sw_d * w / np.where(wm > 0, wm, 1.0), sw_d)

    # --- temperature
    mid = (t_start + np.timedelta64(dt // 2, "s"))
    h = local_solar_hour(mid[0], lon)                                  # (n, nc), same every day
    dec = solar_declination(_doy(start) + 0.5)[:, None]                # (nd, 1)
    cosw0 = np.clip(-np.tan(np.deg2rad(lat))[None, :] * np.tan(dec), -1.0, 1.0)
    h_sr = np.clip(12.0 - np.arccos(cosw0) * 12.0 / np.pi, 4.0, 8.0)    # (nd, nc)
    f = _shape_T(h[None, :, :], h_sr[:, None, :])                       # (nd, n, nc)
    f = f - f.mean(axis=1, keepdims=True)
    t_d = np.asarray(daily["T2D"], dtype=np.float64)
    if temperature_range is None:
        dtr = np.clip(0.04 * np.asarray(daily["SWDOWN"], dtype=np.float64), 2.0, 16.0)
        report["temperature_range"] = "clip(0.04 * SWDOWN_day, 2, 16) K"
    else:
        dtr = np.broadcast_to(np.asarray(temperature_range, dtype=np.float64), (nd, nc))
        report["temperature_range"] = f"given: mean {float(np.mean(dtr)):.3g} K"
    tk = t_d[:, None, :] + 0.5 * dtr[:, None, :] * f

    # --- longwave
    t4 = tk ** 4
    lw = np.asarray(daily["LWDOWN"], dtype=np.float64)[:, None, :] * t4 / t4.mean(axis=1,
                                                                                   keepdims=True)
    # --- pressure
    if "PSFC" in daily:
        p = np.repeat(np.asarray(daily["PSFC"], dtype=np.float64)[:, None, :], n, axis=1)
        report["PSFC"] = "daily value, constant over the day"
    elif elevation is not None:
        p = np.broadcast_to(pressure_from_elevation(elevation)[None, None, :], (nd, n, nc)).copy()
        report["PSFC"] = "US standard atmosphere at the cell elevation"
    else:
        p = np.full((nd, n, nc), STANDARD_PRESSURE)
        report["PSFC"] = "101325 Pa (standard sea-level atmosphere; no elevation known)"

    # --- humidity
    q_d = np.asarray(daily["Q2D"], dtype=np.float64)
    q = np.repeat(q_d[:, None, :], n, axis=1)
    qs = qsat(tk, p)
    report["n_supersaturated"] = int((q > qs).sum())
    report["humidity"] = humidity
    if humidity == "cap":
        over = q > qs
        excess = np.where(over, q - qs, 0.0).sum(axis=1, keepdims=True)
        q = np.minimum(q, qs)
        room = np.where(~over, qs - q, 0.0)
        rsum = room.sum(axis=1, keepdims=True)
        frac = np.where(rsum > 0, np.minimum(excess / np.where(rsum > 0, rsum, 1.0), 1.0), 0.0)
        q = q + room * frac
        report["n_cap_not_preserved"] = int(((excess[:, 0, :] > rsum[:, 0, :])).sum())
        # exact mean (round-off) rescale of the uncapped part where preservable
        ok = excess[:, 0, :] <= rsum[:, 0, :]
        corr = q_d - q.mean(axis=1)
        q = q + np.where(ok, corr, 0.0)[:, None, :]
    elif humidity != "constant":
        raise DataError("disaggregate", "humidity", f"unknown rule {humidity!r}",
                        fix="use 'constant' or 'cap'")

    # --- precipitation
    r_d = np.asarray(daily["RAINRATE"], dtype=np.float64)
    if precipitation == "uniform":
        rain = np.repeat(r_d[:, None, :], n, axis=1)
        report["precipitation"] = "uniform over the UTC day"
    elif precipitation == "window":
        s0, ln = float(rain_window[0]), float(rain_window[1])
        sel = np.mod(h - s0, 24.0) < ln                                 # (n, nc)
        nsel = sel.sum(axis=0)
        if np.any(nsel == 0):
            raise DataError("disaggregate", "rain_window", f"window {rain_window} h selects no "
                            f"step at dt={dt} s", fix="use a longer window or a shorter step")
        rain = r_d[:, None, :] * np.where(sel, n / nsel, 0.0)[None, :, :]
        report["precipitation"] = f"all in [{s0}, {s0 + ln}) h LST"
    else:
        raise DataError("disaggregate", "precipitation", f"unknown rule {precipitation!r}",
                        fix="use 'uniform' or 'window'")

    out = {
        "T2D": tk, "Q2D": q, "PSFC": p, "SWDOWN": sw, "LWDOWN": lw, "RAINRATE": rain,
        "U2D": np.repeat(np.asarray(daily["U2D"], dtype=np.float64)[:, None, :], n, axis=1),
        "V2D": np.repeat(np.asarray(daily["V2D"], dtype=np.float64)[:, None, :], n, axis=1),
    }
    out = {k: v.reshape(nd * n, nc) for k, v in out.items()}
    return t_end, out, report


def disaggregate(ds: xr.Dataset, dt: int = 1800, *, dtype="float32", **kw) -> xr.Dataset:
    """Disaggregate a daily :func:`~diffland.data.to_dataset` result (``time_convention =
    "interval_start"``, ``dt_seconds = 86400``) to ``dt``-second steps.

    Non-forcing variables on ``time`` are dropped with a note in ``attrs["disaggregation"]``;
    observations (on ``obs_time``) and static attributes are kept unchanged. Keyword arguments go
    to :func:`disaggregate_arrays` (rules in the module docstring). Forcing is cast to ``dtype``.
    """
    if int(ds.attrs.get("dt_seconds", 86400)) != 86400:
        raise DataError(ds.attrs.get("source", "dataset"), "time",
                        f"dt_seconds is {ds.attrs.get('dt_seconds')}, not daily",
                        fix="only daily data can be disaggregated")
    day = ds["time"].values.astype("datetime64[D]")
    if day.size > 1 and np.any(np.diff(day.astype(np.int64)) != 1):
        raise DataError(ds.attrs.get("source", "dataset"), "time", "days are not consecutive",
                        fix="re-index to a complete daily axis")
    daily = {v: ds[v].transpose("time", "cell").values for v in FORCING_VARS if v in ds}
    elev = ds["elevation"].values if "elevation" in ds else None
    t, out, rep = disaggregate_arrays(day, ds["lat"].values, ds["lon"].values, daily, dt,
                                      elevation=elev, **kw)
    dropped = [v for v in ds.data_vars if "time" in ds[v].dims and v not in FORCING_VARS]
    new = ds.drop_vars([v for v in ds.data_vars if "time" in ds[v].dims]).drop_vars("time")
    new = new.assign_coords(time=("time", t))
    for k in FORCING_VARS:
        new[k] = (("time", "cell"), out[k].astype(dtype),
                  {"units": FORCING_UNITS[k], "long_name": FORCING_LONG[k]})
    rep["dropped_daily_variables"] = dropped
    new.attrs.update(ds.attrs)
    new.attrs.update({"time_convention": "interval_end", "dt_seconds": int(dt),
                      "disaggregation": json.dumps(rep)})
    return new


def daily_means(values: np.ndarray, dt: int) -> np.ndarray:
    """Mean over each day of ``(n_days * 86400/dt, cell)`` step values -> ``(n_days, cell)``."""
    n = 86400 // int(dt)
    v = np.asarray(values, dtype=np.float64)
    return v.reshape(v.shape[0] // n, n, *v.shape[1:]).mean(axis=1)
