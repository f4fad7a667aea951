"""Reader for the HRLDAS single-point text forcing (``bondville.dat`` format).

File layout (``HRLDAS_forcing/run/examples/single_point``):

1. four Fortran namelist groups: ``&location`` (site), ``&initial`` (initial state),
   ``&metadata`` (land-cover dataset, class indices), ``&conversion`` (unit conversions);
2. a few header lines (dashes and column titles);
3. one record per line: ``yyyy mm dd hh mi  wind  temperature  humidity  pressure  shortwave
   longwave  precipitation`` (12 whitespace-separated columns), times in UTC.

Unit conversions are those of HRLDAS ``create_point_data.f90``, with the factors of
``&conversion``:

- ``T2D = temperature_scale * temperature + temperature_offset``            [K]
- ``PSFC = pressure_scale * pressure``                                       [Pa]
- ``RAINRATE = precipitation_scale * precipitation``                         [mm/s]
  (0.014111 converts inches per 30 min to mm/s)
- if ``have_relative_humidity``: RH [%] -> specific humidity [kg/kg] with
  ``svp = 611.2 exp(17.67 (T - 273.15) / (T - 29.65))``, ``e = RH/100 svp``,
  ``q = 0.622 e / (P - 0.378 e)``; otherwise the column is already kg/kg
- ``U2D`` = wind speed, ``V2D = 0``; SWDOWN, LWDOWN unchanged [W/m2].

HRLDAS writes one LDASIN file per record, named by the record's time stamp; with
FORCING_TIMESTEP = NOAH_TIMESTEP the model step ending at ``t_k`` uses the record stamped ``t_k``
(no interpolation).  So ``forcing[...][k]`` is the forcing of step ``k`` when ``time[0]`` is the
start (initial state) time: the record at index 0 is not used by any step.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from diffland.parameters.table import NamelistError, parse_namelist_text

from .validate import validate_forcing, validate_initial

__all__ = ["PointForcing", "read_hrldas_point", "rh_to_specific_humidity"]

_REQUIRED = {
    "location": ("latitude", "longitude", "vegetation_category", "soil_category",
                 "deep_soil_temperature", "elevation", "maximum_vegetation_pct",
                 "minimum_vegetation_pct", "nsoil"),
    "initial": ("snow_depth", "snow_water_equivalent", "canopy_water", "skin_temperature",
                "soil_layer_thickness", "soil_temperature", "soil_moisture"),
    "conversion": ("have_relative_humidity", "temperature_offset", "temperature_scale",
                   "pressure_scale", "precipitation_scale"),
}
_NCOL = 12


@dataclasses.dataclass
class PointForcing:
    """Contents of an HRLDAS single-point text file, in SI units.

    Attributes:
        site: ``lat`` [deg N], ``lon`` [deg E], ``veg_class`` (int), ``soil_class`` (int),
            ``TBOT`` [K] (deep soil temperature), ``elevation`` [m], ``SHDMAX`` and ``SHDMIN``
            [PERCENT 0-100, as in the file; ``build_params(shdmax=...)`` takes percent],
            ``sea_ice`` [-], ``land_mask`` (int), ``nsoil`` (int), ``land_cover_source`` (str),
            ``ISWATER``, ``ISURBAN``, ``ISICE`` (class numbers of the land-cover dataset),
            ``grid_id``.
        initial: ``SMC`` (nsoil,) [m3/m3 total], ``STC`` (nsoil,) [K], ``TSK`` [K], ``SNEQV`` [mm],
            ``SNOWH`` [m], ``CANWAT`` [mm], ``soil_dz`` (nsoil,) [m], ``soil_nodes`` (nsoil,) [m]
            (or None), ``LAI`` [m2/m2] (or None), ``SH2O`` (nsoil,) (only if the file gives
            ``soil_liquid``).
        time: (time,) numpy datetime64[s], UTC.
        forcing: ``{T2D [K], Q2D [kg/kg], U2D [m/s], V2D [m/s], PSFC [Pa], SWDOWN [W/m2],
            LWDOWN [W/m2], RAINRATE [mm/s]}``, each float64 (time,).
        conversion: the ``&conversion`` factors used.
        path: source file.
    """

    site: dict[str, Any]
    initial: dict[str, Any]
    time: np.ndarray
    forcing: dict[str, np.ndarray]
    conversion: dict[str, Any]
    path: str

    @property
    def dt(self) -> float:
        """Median record spacing [s]."""
        if self.time.size < 2:
            raise ValueError(f"{self.path}: need at least two records to know the time step")
        return float(np.median(np.diff(self.time.astype("datetime64[s]").astype(np.int64))))


def rh_to_specific_humidity(rh_pct, t_k, p_pa):
    """Relative humidity [%] -> specific humidity [kg/kg] as HRLDAS create_point_data does.

    ``svp = 611.2 exp(17.67 (T-273.15)/(T-29.65))`` [Pa], ``e = RH/100 svp``,
    ``q = 0.622 e / (P - 0.378 e)``; T in K, P in Pa.
    """
    svp = 611.2 * np.exp(17.67 * (t_k - 273.15) / (t_k - 29.65))
    e = rh_pct / 100.0 * svp
    return 0.622 * e / (p_pa - (1.0 - 0.622) * e)


def _vec(value, n, name, path):
    vals = value if isinstance(value, list) else [value]
    if len(vals) < n or any(v is None for v in vals[:n]):
        raise NamelistError(f"{path}: &initial {name} needs nsoil = {n} values, got {vals}")
    if len(vals) > n:
        raise NamelistError(f"{path}: &initial {name} has {len(vals)} values but nsoil = {n}")
    try:
        return np.array([float(v) for v in vals], dtype=np.float64)
    except (TypeError, ValueError):
        raise NamelistError(f"{path}: &initial {name} must be numbers, got {vals}") from None


def _num(grp, key, group, path, kind=float):
    v = grp[key]
    if isinstance(v, (list, str)) or (kind is not bool and isinstance(v, bool)):
        raise NamelistError(f"{path}: &{group} {key} must be a single {kind.__name__}, got {v!r}")
    if kind is int and float(v) != int(v):
        raise NamelistError(f"{path}: &{group} {key} must be an integer, got {v!r}")
    return kind(v)


def read_hrldas_point(path: str | Path, *, validate: bool = True) -> PointForcing:
    """Read an HRLDAS single-point text forcing file (header namelists + table).

    Args:
        path: text file in the ``bondville.dat`` format (see module docstring).
        validate: run :func:`~diffland.io.validate.validate_forcing` and
            :func:`~diffland.io.validate.validate_initial` on the result.

    Returns:
        :class:`PointForcing` (site, initial state, UTC times, forcing in SI units).

    Raises:
        FileNotFoundError: no such file.
        NamelistError (ValueError): malformed header or missing key (the message names it).
        ValueError: a data line with the wrong number of columns or a non-number (line number),
            an invalid date, non-monotonic or duplicated times, implausible forcing values.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(f"HRLDAS point forcing file not found: {path}") from None
    lines = text.splitlines()

    # header: the namelist groups; the table starts at the first line after the last group that
    # begins with a 4-digit year (the lines between are column titles)
    groups = parse_namelist_text(text, str(path))
    header_end = max((g["__end__"] for g in groups.values()), default=0)
    first_data = None
    for i in range(header_end, len(lines)):
        tok = lines[i].split()
        if tok and tok[0].isdigit() and len(tok[0]) == 4:
            first_data = i
            break
    if first_data is None:
        raise ValueError(f"{path}: no data records found after the header namelists (expected "
                         f"lines starting with 'yyyy mm dd hh mi')")
    for gname, keys in _REQUIRED.items():
        if gname not in groups:
            raise NamelistError(f"{path}: header namelist group &{gname} is missing "
                                f"(groups found: {', '.join('&' + g for g in groups) or 'none'})")
        have = {k.lower() for k in groups[gname] if not k.startswith("__")}
        missing = [k for k in keys if k not in have]
        if missing:
            raise NamelistError(f"{path}: &{gname} (line {groups[gname]['__line__']}) is missing "
                                f"key(s): {', '.join(missing)}")
        groups[gname] = {k.lower(): v for k, v in groups[gname].items() if not k.startswith("__")}
    loc, ini, conv = groups["location"], groups["initial"], groups["conversion"]
    meta = {k.lower(): v for k, v in groups.get("metadata", {}).items() if not k.startswith("__")}

    nsoil = _num(loc, "nsoil", "location", path, int)
    site = {
        "lat": _num(loc, "latitude", "location", path),
        "lon": _num(loc, "longitude", "location", path),
        "veg_class": _num(loc, "vegetation_category", "location", path, int),
        "soil_class": _num(loc, "soil_category", "location", path, int),
        "TBOT": _num(loc, "deep_soil_temperature", "location", path),
        "elevation": _num(loc, "elevation", "location", path),
        "SHDMAX": _num(loc, "maximum_vegetation_pct", "location", path),
        "SHDMIN": _num(loc, "minimum_vegetation_pct", "location", path),
        "sea_ice": float(loc.get("sea_ice", 0.0)),
        "land_mask": int(loc.get("land_mask", 1)),
        "nsoil": nsoil,
        "land_cover_source": str(meta.get("land_cover_source", "MODIFIED_IGBP_MODIS_NOAH")).strip(),
        "ISWATER": int(meta.get("water_classification", 17)),
        "ISURBAN": int(meta.get("urban_classification", 13)),
        "ISICE": int(meta.get("ice_classification", 15)),
        "grid_id": int(meta.get("grid_id", 1)),
    }
    initial = {
        "SMC": _vec(ini["soil_moisture"], nsoil, "soil_moisture", path),
        "STC": _vec(ini["soil_temperature"], nsoil, "soil_temperature", path),
        "TSK": _num(ini, "skin_temperature", "initial", path),
        "SNEQV": _num(ini, "snow_water_equivalent", "initial", path),
        "SNOWH": _num(ini, "snow_depth", "initial", path),
        "CANWAT": _num(ini, "canopy_water", "initial", path),
        "soil_dz": _vec(ini["soil_layer_thickness"], nsoil, "soil_layer_thickness", path),
        "soil_nodes": (_vec(ini["soil_layer_nodes"], nsoil, "soil_layer_nodes", path)
                       if "soil_layer_nodes" in ini else None),
        "LAI": float(ini["leaf_area_index"]) if "leaf_area_index" in ini else None,
    }
    if "soil_liquid" in ini:
        initial["SH2O"] = _vec(ini["soil_liquid"], nsoil, "soil_liquid", path)
    conversion = {
        "have_relative_humidity": bool(conv["have_relative_humidity"]),
        "temperature_offset": _num(conv, "temperature_offset", "conversion", path),
        "temperature_scale": _num(conv, "temperature_scale", "conversion", path),
        "pressure_scale": _num(conv, "pressure_scale", "conversion", path),
        "precipitation_scale": _num(conv, "precipitation_scale", "conversion", path),
    }

    # data table
    rows = []
    lineno = []
    for i in range(first_data, len(lines)):
        s = lines[i].split("!")[0].strip()
        if not s:
            continue
        tok = s.split()
        if len(tok) != _NCOL:
            raise ValueError(f"{path}, line {i + 1}: expected {_NCOL} columns (yyyy mm dd hh mi wind "
                             f"temperature humidity pressure shortwave longwave precipitation), "
                             f"got {len(tok)}: {lines[i].strip()!r}")
        try:
            rows.append([float(x) for x in tok])
        except ValueError:
            raise ValueError(f"{path}, line {i + 1}: non-numeric value in record "
                             f"{lines[i].strip()!r}") from None
        lineno.append(i + 1)
    data = np.array(rows, dtype=np.float64)
    lineno_arr = np.array(lineno)
    ymdhm = data[:, :5]
    if np.any(ymdhm != np.round(ymdhm)):
        i = int(np.flatnonzero(np.any(ymdhm != np.round(ymdhm), axis=1))[0])
        raise ValueError(f"{path}, line {lineno_arr[i]}: date/time fields must be integers")
    ymdhm = ymdhm.astype(np.int64)
    try:
        time = np.array([np.datetime64(f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:00", "s")
                         for y, mo, d, h, mi in ymdhm])
    except ValueError:
        bad = next(k for k, r in enumerate(ymdhm) if not _valid_date(*r))
        raise ValueError(f"{path}, line {lineno_arr[bad]}: invalid date/time "
                         f"{' '.join(map(str, ymdhm[bad]))}") from None
    d = np.diff(time.astype(np.int64))
    if np.any(d <= 0):
        i = int(np.flatnonzero(d <= 0)[0])
        what = "duplicated" if d[i] == 0 else "not increasing"
        raise ValueError(f"{path}, line {lineno_arr[i + 1]}: time {time[i + 1]} UTC is {what} "
                         f"(previous record, line {lineno_arr[i]}, is {time[i]} UTC); records "
                         f"must be in strictly increasing time order")

    wind, temp, hum, pres, sw, lw, prcp = (data[:, 5 + k] for k in range(7))
    t2d = conversion["temperature_scale"] * temp + conversion["temperature_offset"]
    psfc = conversion["pressure_scale"] * pres
    rain = conversion["precipitation_scale"] * prcp
    q2d = rh_to_specific_humidity(hum, t2d, psfc) if conversion["have_relative_humidity"] else hum
    forcing = {
        "T2D": t2d, "Q2D": q2d, "U2D": wind.copy(), "V2D": np.zeros_like(wind), "PSFC": psfc,
        "SWDOWN": sw.copy(), "LWDOWN": lw.copy(), "RAINRATE": rain,
    }
    if validate:
        validate_forcing(time, forcing, source=str(path))
        validate_initial(initial, source=f"{path} &initial")
    return PointForcing(site=site, initial=initial, time=time, forcing=forcing,
                        conversion=conversion, path=str(path))


def _valid_date(y, mo, d, h, mi) -> bool:
    try:
        np.datetime64(f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:00", "s")
        return True
    except ValueError:
        return False
