"""Solar geometry and calendar inputs of Noah-MP, as the HRLDAS driver computes them.

This module runs outside ``jit``, in NumPy, to precompute per-step arrays before a
simulation. It follows the HRLDAS driver (``module_NoahMP_hrldas_driver.F``,
``CALC_DECLIN`` and the ``YEARLEN`` block before the spatial loop):

* Julian day: ``JULIAN = IDAY + GMT/24`` where ``IDAY`` is the number of whole days since
  1 January 00 UTC of the same year (so 1 January is day 0) and ``GMT`` the UTC hour of the
  stamp with minutes and seconds as fractions. This fractional, 0-based day is what
  Noah-MP's phenology receives as ``DayJulianInYear``.
* Year length: 366 in Gregorian leap years, else 365 (``NumDayInYear``).
* Solar declination: a circular orbit with obliquity 23.5 degrees and a 365-day year
  (``360/365`` degrees per day), solar longitude counted from day 80 (vernal equinox);
  ``sin(declination) = sin(23.5 deg) * sin(longitude)``.
* Hour angle from the local solar time ``UTC hour + lon/15`` (no equation of time),
  ``cos Z = sin(lat) sin(decl) + cos(lat) cos(decl) cos(hour angle)``.
* pi is Noah-MP's ``3.14159265``.

Time convention of the reference run: a step stamped ``t_k`` (end of the interval) uses
``COSZ`` and ``JULIAN`` computed at ``t_k`` (UTC). Pass the step stamps here.

The driver computes these in single precision; here they are computed in float64 (the
difference is at the 1e-6 level, the rounding of the single-precision reference).
"""
from __future__ import annotations

import numpy as np

__all__ = ["julian_day", "cos_zenith", "solar_inputs"]

_PI = 3.14159265  # Noah-MP / HRLDAS value of pi
_DEGRAD = _PI / 180.0
_DPD = 360.0 / 365.0  # degrees of solar longitude per day
_OBLIQUITY = 23.5  # degrees


def _as_datetime64(time_utc) -> np.ndarray:
    """Convert stamps (datetime64, strings, pandas) to datetime64[s] (UTC, naive)."""
    t = np.asarray(time_utc)
    if t.dtype.kind != "M":
        t = np.asarray(t, dtype="datetime64[s]")
    return t.astype("datetime64[s]")


def julian_day(time_utc) -> dict:
    """Fractional 0-based Julian day and year length, as HRLDAS passes them to Noah-MP.

    Args:
        time_utc: step stamps (UTC), any shape; numpy ``datetime64`` (any unit), ISO strings
            or anything ``np.asarray(..., dtype="datetime64[s]")`` accepts.

    Returns:
        dict of numpy arrays with the shape of ``time_utc``:
          ``JULIAN`` [day, float64]: days since 1 January 00:00 UTC of the stamp's year
          (1 January 12:00 -> 0.5); Noah-MP ``DayJulianInYear``.
          ``YEARLEN`` [day, int64]: 365 or 366 (Gregorian leap rule); ``NumDayInYear``.
          ``GMT`` [hour, float64]: UTC hour of day with fraction.
          ``YEAR`` [int64]: calendar year.
    """
    t = _as_datetime64(time_utc)
    year = t.astype("datetime64[Y]")
    year_start = year.astype("datetime64[s]")
    day_start = t.astype("datetime64[D]").astype("datetime64[s]")
    iday = (day_start - year_start).astype("timedelta64[D]").astype(np.int64)
    seconds_of_day = (t - day_start).astype("timedelta64[s]").astype(np.int64)
    gmt = seconds_of_day / 3600.0
    julian = iday.astype(np.float64) + gmt / 24.0
    yr = year.astype(np.int64) + 1970
    leap = ((yr % 4 == 0) & (yr % 100 != 0)) | (yr % 400 == 0)
    yearlen = np.where(leap, 366, 365).astype(np.int64)
    return {"JULIAN": julian, "YEARLEN": yearlen, "GMT": gmt, "YEAR": yr}


def cos_zenith(time_utc, lat_deg, lon_deg) -> np.ndarray:
    """Cosine of the solar zenith angle at the stamps, as HRLDAS ``CALC_DECLIN``.

    Args:
        time_utc: step stamps (UTC), shape ``(time,)`` (or any shape broadcastable against
            ``lat_deg``/``lon_deg`` after the trailing-axis expansion below).
        lat_deg: latitude [degrees north], scalar or shape ``(cells,)``.
        lon_deg: longitude [degrees east, negative west], scalar or shape ``(cells,)``.

    Returns:
        ``COSZ`` [-], float64 numpy array: shape ``(time,)`` for scalar lat/lon, or
        ``(time, cells)`` when lat/lon are 1-D arrays (time leading). Negative at night,
        as in Noah-MP (the model zeroes the shortwave forcing where ``COSZ <= 0``).
    """
    jd = julian_day(time_utc)
    lat = np.asarray(lat_deg, dtype=np.float64)
    lon = np.asarray(lon_deg, dtype=np.float64)
    julian, gmt = jd["JULIAN"], jd["GMT"]
    if lat.ndim > 0 or lon.ndim > 0:
        julian = julian[..., None]
        gmt = gmt[..., None]
    # longitude of the sun from the vernal equinox (day 80)
    sxlong = np.where(julian >= 80.0, _DPD * (julian - 80.0), _DPD * (julian + 285.0)) * _DEGRAD
    declin = np.arcsin(np.sin(_OBLIQUITY * _DEGRAD) * np.sin(sxlong))
    tloc = np.mod(gmt + lon / 15.0 + 24.0, 24.0)  # local solar time [h]
    hrang = 15.0 * (tloc - 12.0) * _DEGRAD
    latr = lat * _DEGRAD
    return np.sin(latr) * np.sin(declin) + np.cos(latr) * np.cos(declin) * np.cos(hrang)


def solar_inputs(time_utc, lat_deg, lon_deg) -> dict:
    """Per-step arrays the physics needs: ``COSZ``, ``JULIAN``, ``YEARLEN``, shape ``(time, cells)``.

    Args:
        time_utc: step stamps (UTC, end of each step), shape ``(time,)``.
        lat_deg, lon_deg: [degrees], shape ``(cells,)`` (scalars are treated as one cell).

    Returns:
        dict of float64 numpy arrays of shape ``(time, cells)``: ``COSZ`` [-], ``JULIAN`` [day],
        ``YEARLEN`` [day] (float, for use as a JAX input).
    """
    lat = np.atleast_1d(np.asarray(lat_deg, dtype=np.float64))
    lon = np.atleast_1d(np.asarray(lon_deg, dtype=np.float64))
    lat, lon = np.broadcast_arrays(lat, lon)
    jd = julian_day(time_utc)
    cosz = cos_zenith(time_utc, lat, lon)
    shape = cosz.shape
    return {
        "COSZ": cosz,
        "JULIAN": np.broadcast_to(jd["JULIAN"][..., None], shape).astype(np.float64),
        "YEARLEN": np.broadcast_to(jd["YEARLEN"][..., None], shape).astype(np.float64),
    }
