"""Compact reader of ISMN station files (``.stm``), from a folder, a zip archive or single files.

Two ``.stm`` layouts exist and both are read:

- "header + values" (current ISMN downloads): line 1 ``CSE Network Station lat lon elevation
  depth_from depth_to sensor``; then ``YYYY/MM/DD HH:MM value ismn_flag provider_flag``;
- CEOP (older downloads): every line ``YYYY/MM/DD HH:MM YYYY/MM/DD HH:MM CSE Network Station lat lon
  elevation depth_from depth_to value ismn_flag provider_flag`` (nominal then actual UTC time; the
  nominal time is used).

Times are UTC. The variable and depths come from the file name
``CSE_Network_Station_VAR_DEPTHFROM_DEPTHTO_SENSOR_START_END.stm`` (``sm`` soil moisture [m3/m3],
``ts`` soil temperature [deg C -> K], ``p`` precipitation [mm per hour -> mm/s], ``ta`` air temperature
[deg C -> K]). ISMN quality flags: ``G`` good; ``M`` missing; ``C01-C03`` out of range; ``D01-D10``
dubious (frozen, spikes, plateaus...), possibly several joined by commas. The reader keeps every
value and returns a boolean ``ISMN_<var>_good`` (flag == ``G``) plus the counts per flag; nothing is
dropped silently. Station attributes (``*_static_variables.csv``: sand/silt/clay fraction, saturation,
organic carbon for the top layer, land cover) are attached per cell when present.
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ._common import DataError, require_file

__all__ = ["read_stm", "read_ismn", "parse_stm_name"]

_NAME_RE = re.compile(r"^(?P<cse>[^_]+)_(?P<network>[^_]+)_(?P<station>.+?)_(?P<var>[a-z_]+?)_"
                      r"(?P<dfrom>-?\d+\.\d+)_(?P<dto>-?\d+\.\d+)_(?P<sensor>.+)_(?P<start>\d{8})_"
                      r"(?P<end>\d{8})\.stm$")
_CONV = {"sm": (1.0, 0.0, "m3 m-3"), "ts": (1.0, 273.15, "K"), "ta": (1.0, 273.15, "K"),
         "p": (1.0 / 3600.0, 0.0, "kg m-2 s-1"), "su": (1000.0, 0.0, "Pa")}


def parse_stm_name(name: str) -> dict:
    """Split an ISMN ``.stm`` file name into its parts (raises ``DataError`` if it does not fit)."""
    m = _NAME_RE.match(Path(name).name)
    if not m:
        raise DataError(name, None, "not an ISMN file name "
                        "(CSE_Network_Station_VAR_FROM_TO_SENSOR_START_END.stm)",
                        fix="keep the ISMN download names; they carry the variable and depth")
    d = m.groupdict()
    d["dfrom"], d["dto"] = float(d["dfrom"]), float(d["dto"])
    return d


def read_stm(source, name: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Read one ``.stm`` file (a path, or text with ``name`` given).

    Returns:
        ``(frame, meta)``: frame indexed by UTC time with ``value`` (native units), ``flag``,
        ``provider_flag``; meta has cse, network, station, lat, lon, elevation, depth_from,
        depth_to, sensor, variable, layout.
    """
    if isinstance(source, (str, Path)) and name is None:
        p = require_file(source, "ISMN .stm file")
        text, name = p.read_text(errors="replace"), str(p)
    else:
        text = source
    info = parse_stm_name(name)
    lines = text.splitlines()
    if not lines:
        raise DataError(name, None, "empty file", fix="download the station again")
    first = lines[0].split()
    date_re = re.compile(r"^\d{4}/\d{2}/\d{2}$")
    if date_re.match(first[0]) and len(first) > 3 and date_re.match(first[2]):
        layout = "ceop"
        rows = [ln.split() for ln in lines if ln.strip()]
        try:
            meta = {"cse": rows[0][4], "network": rows[0][5], "station": rows[0][6],
                    "lat": float(rows[0][7]), "lon": float(rows[0][8]),
                    "elevation": float(rows[0][9]), "depth_from": float(rows[0][10]),
                    "depth_to": float(rows[0][11])}
            t = pd.to_datetime([r[0] + " " + r[1] for r in rows], format="%Y/%m/%d %H:%M")
            val = np.array([float(r[12]) for r in rows])
            flag = [r[13] if len(r) > 13 else "" for r in rows]
            pflag = [" ".join(r[14:]) for r in rows]
        except (IndexError, ValueError) as e:
            raise DataError(name, info["var"], f"malformed CEOP line ({e})",
                            fix="expect 15 columns: times, ids, lat, lon, elev, depths, value, flags")
        meta["sensor"] = info["sensor"]
    else:
        layout = "header"
        if len(first) < 9:
            raise DataError(name, None, f"header line has {len(first)} fields, expected 9+",
                            fix="first line: CSE Network Station lat lon elev depth_from depth_to "
                                "sensor")
        try:
            meta = {"cse": first[0], "network": first[1], "station": first[2],
                    "lat": float(first[3]), "lon": float(first[4]), "elevation": float(first[5]),
                    "depth_from": float(first[6]), "depth_to": float(first[7]),
                    "sensor": " ".join(first[8:])}
        except ValueError as e:
            raise DataError(name, None, f"bad header line ({e})", "line 1",
                            fix="lat/lon/elevation/depths must be numbers") from None
        t, val, flag, pflag = [], [], [], []
        for i, ln in enumerate(lines[1:], start=2):
            parts = ln.split()
            if not parts:
                continue
            if len(parts) < 4:
                raise DataError(name, info["var"], f"data line with {len(parts)} fields",
                                f"line {i}", fix="lines are 'YYYY/MM/DD HH:MM value flag [flag]'")
            t.append(parts[0] + " " + parts[1])
            try:
                val.append(float(parts[2]))
            except ValueError:
                raise DataError(name, info["var"], f"value {parts[2]!r} is not a number",
                                f"line {i}", fix="repair or remove the line") from None
            flag.append(parts[3])
            pflag.append(" ".join(parts[4:]))
        try:
            t = pd.to_datetime(t, format="%Y/%m/%d %H:%M")
        except ValueError as e:
            raise DataError(name, "time", f"bad date ({e})", fix="dates are YYYY/MM/DD HH:MM") \
                from None
        val = np.asarray(val, dtype=np.float64)
    meta.update({"variable": info["var"], "layout": layout, "file": Path(name).name})
    df = pd.DataFrame({"value": val, "flag": flag, "provider_flag": pflag}, index=t)
    df.index.name = "time"
    if not df.index.is_monotonic_increasing or df.index.has_duplicates:
        d = np.diff(df.index.values.astype(np.int64))
        i = int(np.argmax(d <= 0))
        raise DataError(name, "time", "times not strictly increasing",
                        f"line {i + 2}: {df.index[i]} then {df.index[i + 1]}",
                        fix="sort the file and remove duplicated records")
    return df, meta


def _static(text: str) -> dict:
    out = {}
    df = pd.read_csv(io.StringIO(text), sep=";", dtype=str)
    for _, r in df.iterrows():
        q = str(r.get("quantity_name", "")).strip()
        try:
            dfrom = float(r.get("depth_from[m]", "nan"))
        except (TypeError, ValueError):
            dfrom = np.nan
        val = r.get("value")
        key = {"clay fraction": "clay", "sand fraction": "sand", "silt fraction": "silt",
               "saturation": "saturation", "organic carbon": "organic_carbon"}.get(q)
        if key and dfrom == 0.0 and key not in out:
            try:
                out[key] = float(val)
            except (TypeError, ValueError):
                pass
        elif q == "land cover classification":
            out["landcover_cci"] = float(val) if str(val).replace(".", "").isdigit() else np.nan
    return out


def _iter_sources(source):
    p = Path(source)
    if p.is_file() and p.suffix == ".zip":
        try:
            z = zipfile.ZipFile(p)
        except zipfile.BadZipFile as e:
            raise DataError(p, None, f"not a zip archive ({e})", fix="download it again") from None
        with z:
            for n in sorted(z.namelist()):
                if n.endswith(".stm") or n.endswith("_static_variables.csv"):
                    yield n, z.read(n).decode("latin-1")
    elif p.is_dir():
        for f in sorted(p.rglob("*")):
            if f.name.endswith(".stm") or f.name.endswith("_static_variables.csv"):
                yield str(f), f.read_text(errors="replace")
    elif p.is_file() and p.suffix == ".stm":
        yield str(p), p.read_text(errors="replace")
        for f in sorted(p.parent.glob("*_static_variables.csv")):
            yield str(f), f.read_text(errors="replace")
    else:
        raise DataError(p, None, "ISMN source not found (folder, .zip or .stm expected)",
                        fix="check the path")


def read_ismn(source, *, variable: str = "sm") -> xr.Dataset:
    """Read every ``.stm`` of ``variable`` (default ``sm``) in a folder, zip or single file.

    Returns:
        Dataset with ``cell`` = one sensor (station, depth, sensor) and ``obs_time`` = union of the
        UTC time stamps; ``ISMN_<var>`` (SI units: m3/m3, K or mm/s), ``ISMN_<var>_good`` (ISMN flag
        ``G``), per-cell ``station``, ``network``, ``depth_from``, ``depth_to`` [m], ``sensor``,
        ``lat``, ``lon``, ``elevation`` and the station's static soil attributes. ``attrs["report"]``
        counts values per flag and per station.
    """
    series, metas, statics = [], [], {}
    for name, text in _iter_sources(source):
        if name.endswith("_static_variables.csv"):
            st = Path(name).name.replace("_static_variables.csv", "")
            statics[st] = _static(text)
            continue
        info = parse_stm_name(name)
        if info["var"] != variable:
            continue
        df, meta = read_stm(text, name)
        series.append(df)
        metas.append(meta)
    if not series:
        raise DataError(source, variable, "no .stm file of this variable",
                        fix="check the variable code (sm, ts, p, ta) and the archive contents")
    times = np.unique(np.concatenate([s.index.values for s in series])).astype("datetime64[ns]")
    fac, off, units = _CONV.get(variable, (1.0, 0.0, "native"))
    V = np.full((times.size, len(series)), np.nan)
    G = np.zeros((times.size, len(series)), bool)
    report = {"stations": {}, "flags": {}}
    allflags = Counter()
    for j, (s, m) in enumerate(zip(series, metas)):
        idx = np.searchsorted(times, s.index.values.astype("datetime64[ns]"))
        v = s["value"].values.astype(np.float64)
        fl = s["flag"].astype(str).values
        miss = (fl == "M") | ~np.isfinite(v)
        V[idx, j] = np.where(miss, np.nan, v * fac + off)
        G[idx, j] = (fl == "G") & ~miss
        c = Counter(fl)
        allflags.update(c)
        report["stations"][f"{m['network']}/{m['station']}/{m['depth_from']}-{m['depth_to']}"
                           f"/{m['sensor']}"] = {"records": int(v.size), "good": int(G[:, j].sum()),
                                                 "missing": int(miss.sum()), "flags": dict(c)}
    report["flags"] = dict(allflags)
    cse_net_st = [f"{m['cse']}_{m['network']}_{Path(m['file']).name.split('_')[2]}" for m in metas]
    ds = xr.Dataset(coords={
        "cell": np.arange(len(series)), "obs_time": times,
        "lat": ("cell", [m["lat"] for m in metas], {"units": "degrees_north"}),
        "lon": ("cell", [m["lon"] for m in metas], {"units": "degrees_east"}),
        "station": ("cell", [m["station"] for m in metas]),
        "network": ("cell", [m["network"] for m in metas]),
        "sensor": ("cell", [m["sensor"] for m in metas]),
        "depth_from": ("cell", [m["depth_from"] for m in metas], {"units": "m"}),
        "depth_to": ("cell", [m["depth_to"] for m in metas], {"units": "m"}),
        "elevation": ("cell", [m["elevation"] for m in metas], {"units": "m"})})
    ds[f"ISMN_{variable}"] = (("obs_time", "cell"), V.astype(np.float32),
                              {"units": units, "long_name": f"ISMN in-situ {variable}"})
    ds[f"ISMN_{variable}_good"] = (("obs_time", "cell"), G,
                                   {"long_name": "ISMN quality flag == 'G' and value present"})
    for key, units_ in (("sand", "%"), ("silt", "%"), ("clay", "%"), ("saturation", "m3 m-3"),
                        ("organic_carbon", "%")):
        vals = [statics.get(k, {}).get(key, np.nan) for k in cse_net_st]
        if np.isfinite(vals).any():
            ds[key] = ("cell", np.asarray(vals, dtype=np.float64),
                       {"units": units_, "source": "ISMN static variables (HWSD, 0-0.3 m)"})
    ds.attrs.update({"source": f"ismn:{source}", "report": json.dumps(report),
                     "time_convention": "instantaneous, UTC"})
    return ds
