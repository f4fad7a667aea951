"""SMAP L3 passive soil moisture: HDF5 granules (SPL3SMP 36 km, SPL3SMP_E 9 km) and the QA4SM
time-series NetCDF (indexed ragged arrays), following ``shared/docs/smap-l3-format.md``.

Output layout (both readers): cells = EASE-Grid 2.0 grid points (``ease_row``, ``ease_col``,
``lat``, ``lon`` from the grid definition, never from the fill-holed latitude arrays);
``obs_time`` = UTC dates (a granule covers one UTC day; the time-series reader uses the UTC date of
each overpass, which is the same rule); per pass ``P`` in ``AM``/``PM``:

- ``SMAP_P`` [m3/m3]: ``soil_moisture[_pm]``, fill -9999 and values outside ``valid_min``/``valid_max``
  (0.02-0.5) set to NaN (counted in the report);
- ``SMAP_P_flag``: ``retrieval_qual_flag[_pm]`` (uint16, 65534 = no data);
- ``SMAP_P_qc``: True where the value is present and ``(flag & 1) == 0`` (recommended quality). Bit 3
  (freeze/thaw status) is ignored, as recommended; the operator drops ``qc == False``;
- ``SMAP_P_surface_flag`` when present, ``SMAP_P_time``: overpass time, UTC (``tb_time_utc``
  when present, else ``tb_time_seconds`` from the J2000 epoch 2000-01-01 11:58:55.816 UTC minus the
  leap seconds since 2000).

Granule selection: per date the highest CRID, then the highest counter, wins; the others are listed in
the report as superseded.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import xarray as xr

from ._common import DataError, as_list, require_file

__all__ = ["EASE2", "ease2_rowcol_to_latlon", "ease2_latlon_to_rowcol", "read_smap_l3",
           "read_smap_ts", "select_granules"]

# EASE-Grid 2.0 global (EPSG:6933)
_A = 6378137.0
_E2 = 0.0066943799901413165  # WGS 84
_E = np.sqrt(_E2)
_X0, _Y0 = -17367530.4451615, 7314540.8306386
EASE2 = {"M36": {"shape": (406, 964), "cell": 36032.22084058},
         "M09": {"shape": (1624, 3856), "cell": 9008.055210146}}
_K0 = np.cos(np.deg2rad(30.0)) / np.sqrt(1 - _E2 * np.sin(np.deg2rad(30.0)) ** 2)


def _q(phi):
    s = np.sin(phi)
    return (1 - _E2) * (s / (1 - _E2 * s * s) - np.log((1 - _E * s) / (1 + _E * s)) / (2 * _E))


_QP = _q(np.pi / 2)


def ease2_rowcol_to_latlon(row, col, grid: str = "M36"):
    """EASE-Grid 2.0 global cell centre (row 0 = north) -> (lat, lon) [deg]."""
    cell = EASE2[grid]["cell"]
    x = _X0 + (np.asarray(col, dtype=np.float64) + 0.5) * cell
    y = _Y0 - (np.asarray(row, dtype=np.float64) + 0.5) * cell
    lon = np.rad2deg(x / (_A * _K0))
    beta = np.arcsin(np.clip(2 * y * _K0 / (_A * _QP), -1, 1))
    e4, e6 = _E2 ** 2, _E2 ** 3
    phi = (beta + (_E2 / 3 + 31 * e4 / 180 + 517 * e6 / 5040) * np.sin(2 * beta)
           + (23 * e4 / 360 + 251 * e6 / 3780) * np.sin(4 * beta)
           + (761 * e6 / 45360) * np.sin(6 * beta))
    return np.rad2deg(phi), lon


def ease2_latlon_to_rowcol(lat, lon, grid: str = "M36"):
    """(lat, lon) [deg] -> EASE-Grid 2.0 (row, col) of the containing cell (int arrays)."""
    cell = EASE2[grid]["cell"]
    x = _A * _K0 * np.deg2rad(np.asarray(lon, dtype=np.float64))
    y = _A * _q(np.deg2rad(np.asarray(lat, dtype=np.float64))) / (2 * _K0)
    col = np.floor((x - _X0) / cell).astype(np.int64)
    row = np.floor((_Y0 - y) / cell).astype(np.int64)
    return row, col


_LEAPS = np.array(["2005-12-31T23:59:60", "2008-12-31T23:59:60", "2012-06-30T23:59:60",
                   "2015-06-30T23:59:60", "2016-12-31T23:59:60"])
_J2000_UTC = np.datetime64("2000-01-01T11:58:55.816", "ms")


def j2000_to_utc(seconds) -> np.ndarray:
    """SMAP ``tb_time_seconds`` (J2000, SI seconds incl. leap seconds) -> UTC datetime64[ns]."""
    s = np.asarray(seconds, dtype=np.float64)
    naive = _J2000_UTC + (np.nan_to_num(s) * 1000).astype("timedelta64[ms]")
    leap_t = np.array(["2006-01-01", "2009-01-01", "2012-07-01", "2015-07-01", "2017-01-01"],
                      dtype="datetime64[ms]")
    n = np.searchsorted(leap_t, naive, side="right")
    out = (naive - n.astype("timedelta64[s]")).astype("datetime64[ns]")
    return np.where(np.isfinite(s), out, np.datetime64("NaT"))


_GRAN_RE = re.compile(r"SMAP_L3_SM_P(_E)?_(\d{8})_R(\d{5})_(\d{3})\.h5$")


def select_granules(files):
    """Pick one granule per date (highest CRID, then counter). Returns ``(chosen {date: path},
    superseded [paths])``; raises for names that do not follow the SMAP pattern."""
    chosen, sup = {}, []
    for f in files:
        f = Path(f)
        m = _GRAN_RE.search(f.name)
        if not m:
            raise DataError(f, None, "not a SMAP L3 granule name "
                            "(SMAP_L3_SM_P[_E]_YYYYMMDD_Rxxxxx_NNN.h5)",
                            fix="keep the NSIDC file names; they carry the date and CRID")
        key = (int(m.group(3)), int(m.group(4)))
        d = m.group(2)
        if d in chosen:
            old_key, old = chosen[d]
            if key > old_key:
                sup.append(str(old))
                chosen[d] = (key, f)
            else:
                sup.append(str(f))
        else:
            chosen[d] = (key, f)
    return {d: v[1] for d, v in sorted(chosen.items())}, sup


def _decode(a):
    return np.array([x.decode() if isinstance(x, bytes) else str(x) for x in np.ravel(a)]
                    ).reshape(np.shape(a))


def _pass_fields(h5, path, pas: str):
    grp = f"Soil_Moisture_Retrieval_Data_{pas}"
    if grp not in h5:
        raise DataError(path, grp, "group missing",
                        fix=f"the granule has groups {list(h5.keys())}; request only passes it has")
    g = h5[grp]
    suf = "_pm" if pas == "PM" else ""

    def get(name, required=True):
        n = name + suf
        if n not in g:
            if required:
                hint = (" (PM dataset names end in '_pm')" if pas == "PM" else "")
                raise DataError(path, f"{grp}/{n}", "dataset missing" + hint,
                                fix="check the product/version; soil_moisture and "
                                    "retrieval_qual_flag are required")
            return None
        try:
            return g[n][()]
        except (OSError, RuntimeError) as e:
            raise DataError(path, f"{grp}/{n}", f"cannot read ({e})",
                            fix="the granule is corrupt; download it again") from None

    sm = get("soil_moisture").astype(np.float64)
    ds_sm = g["soil_moisture" + suf]
    vmin = float(np.ravel(ds_sm.attrs.get("valid_min", [0.02]))[0])
    vmax = float(np.ravel(ds_sm.attrs.get("valid_max", [0.5]))[0])
    return {"sm": sm, "flag": get("retrieval_qual_flag"), "surface": get("surface_flag", False),
            "tb_utc": get("tb_time_utc", False), "tb_sec": get("tb_time_seconds", False),
            "valid": (vmin, vmax)}


def read_smap_l3(source, *, passes=("AM", "PM"), bbox=None, cells=None) -> xr.Dataset:
    """Read SMAP L3 granules (SPL3SMP / SPL3SMP_E HDF5) into ``(obs_time, cell)`` arrays.

    Args:
        source: folder of ``SMAP_L3_SM_P*.h5`` or list of granules.
        passes: any of ``"AM"``, ``"PM"``.
        bbox: ``(lat_min, lat_max, lon_min, lon_max)`` to keep (cells with at least one value);
            default all cells with at least one non-fill value in any granule/pass.
        cells: explicit ``[(row, col), ...]`` EASE-2 cells instead of ``bbox`` / data-driven cells.

    Returns:
        dataset described in the module docstring; ``attrs["report"]`` counts fill, out-of-range,
        not-recommended values per pass and lists superseded granules.
    """
    import h5py
    src = as_list(source)
    if len(src) == 1 and Path(src[0]).is_dir():
        files = sorted(Path(src[0]).glob("SMAP_L3_SM_P*.h5"))
        if not files:
            raise DataError(src[0], None, "no SMAP_L3_SM_P*.h5 granules", fix="check the folder")
    else:
        files = [require_file(p, "SMAP granule") for p in src]
    chosen, sup = select_granules(files)
    grid = None
    per = {}
    for d, f in chosen.items():
        try:
            h5 = h5py.File(f, "r")
        except OSError as e:
            raise DataError(f, None, f"not a readable HDF5 file ({e})",
                            fix="the granule is corrupt or truncated; download it again") from None
        with h5:
            per[d] = {}
            for p in passes:
                fl = _pass_fields(h5, f, p)
                shp = fl["sm"].shape
                g = next((k for k, v in EASE2.items() if v["shape"] == shp), None)
                if g is None:
                    raise DataError(f, f"soil_moisture ({p})", f"array shape {shp} is neither the "
                                    "36 km (406, 964) nor the 9 km (1624, 3856) EASE-2 grid",
                                    fix="use global SPL3SMP / SPL3SMP_E granules")
                if grid is None:
                    grid = g
                elif g != grid:
                    raise DataError(f, "soil_moisture", f"grid {g} differs from earlier granules "
                                    f"({grid})", fix="do not mix SPL3SMP and SPL3SMP_E granules")
                per[d][p] = fl
    if cells is not None:
        rc = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
    else:
        any_valid = None
        for d in per:
            for p in passes:
                v = per[d][p]["sm"] != -9999.0
                any_valid = v if any_valid is None else (any_valid | v)
        rows, cols = np.nonzero(any_valid)
        if bbox is not None:
            la, lo = ease2_rowcol_to_latlon(rows, cols, grid)
            k = (la >= bbox[0]) & (la <= bbox[1]) & (lo >= bbox[2]) & (lo <= bbox[3])
            rows, cols = rows[k], cols[k]
        rc = np.stack([rows, cols], 1)
    if rc.shape[0] == 0:
        raise DataError(files[0], "soil_moisture", "no cell with data (in the bbox)",
                        fix="widen the bbox or check the granules")
    lat, lon = ease2_rowcol_to_latlon(rc[:, 0], rc[:, 1], grid)
    days = np.array([np.datetime64(f"{d[:4]}-{d[4:6]}-{d[6:]}", "ns") for d in per])
    ds = xr.Dataset(coords={"cell": np.arange(rc.shape[0]), "obs_time": days,
                            "lat": ("cell", lat, {"units": "degrees_north"}),
                            "lon": ("cell", lon, {"units": "degrees_east"}),
                            "ease_row": ("cell", rc[:, 0]), "ease_col": ("cell", rc[:, 1])})
    report = {"grid": grid, "granules": len(chosen), "superseded": sup}
    for p in passes:
        sm = np.stack([per[d][p]["sm"][rc[:, 0], rc[:, 1]] for d in per])
        fl = np.stack([per[d][p]["flag"][rc[:, 0], rc[:, 1]] for d in per]).astype(np.uint16)
        vmin, vmax = per[next(iter(per))][p]["valid"]
        fill = sm == -9999.0
        oor = ~fill & ((sm < vmin) | (sm > vmax))
        sm = np.where(fill | oor, np.nan, sm)
        qc = np.isfinite(sm) & ((fl & 1) == 0) & (fl != 65534)
        t = np.full(sm.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
        for i, d in enumerate(per):
            fd = per[d][p]
            if fd["tb_utc"] is not None:
                s = _decode(fd["tb_utc"][rc[:, 0], rc[:, 1]])
                ok = np.char.str_len(s) >= 19
                tt = np.full(s.shape, np.datetime64("NaT"), "datetime64[ns]")
                if ok.any():
                    tt[ok] = np.array([np.datetime64(x.rstrip("Z")[:23], "ns") for x in s[ok]])
                t[i] = tt
            elif fd["tb_sec"] is not None:
                sec = fd["tb_sec"][rc[:, 0], rc[:, 1]].astype(np.float64)
                t[i] = j2000_to_utc(np.where(sec == -9999.0, np.nan, sec))
        ds[f"SMAP_{p}"] = (("obs_time", "cell"), sm.astype(np.float32),
                           {"units": "m3 m-3", "long_name": f"SMAP L3 {p} soil moisture (0-5 cm)",
                            "valid_range": [vmin, vmax]})
        ds[f"SMAP_{p}_flag"] = (("obs_time", "cell"), fl,
                                {"long_name": "retrieval_qual_flag", "flag_masks": "1, 2, 4, 8"})
        ds[f"SMAP_{p}_qc"] = (("obs_time", "cell"), qc,
                              {"long_name": "value present and (flag & 1) == 0"})
        ds[f"SMAP_{p}_time"] = (("obs_time", "cell"), t, {"long_name": "overpass time, UTC"})
        if per[next(iter(per))][p]["surface"] is not None:
            sf = np.stack([per[d][p]["surface"][rc[:, 0], rc[:, 1]] for d in per])
            ds[f"SMAP_{p}_surface_flag"] = (("obs_time", "cell"), sf.astype(np.uint16), {})
        report[p] = {"values": int(sm.size), "fill": int(fill.sum()),
                     "out_of_valid_range": int(oor.sum()),
                     "not_recommended": int((np.isfinite(sm) & ~qc).sum()), "kept": int(qc.sum())}
    ds.attrs.update({"source": f"smapl3:{Path(files[0]).parent}", "report": json.dumps(report),
                     "time_convention": "obs_time = UTC date of the granule"})
    return ds


def read_smap_ts(folder, *, grid_file=None, passes=("AM", "PM")) -> xr.Dataset:
    """Read the QA4SM SMAP L3 time-series NetCDF files (``NNNN.nc`` per 5x5 deg cell, indexed
    ragged arrays: ``locationIndex(time)`` -> ``location_id`` = EASE-2 36 km grid point index
    counted **from the south** (smap_io flips rows): ``gpi = (405 - row) * 964 + col`` with ``row`` 0
    = north (checked against ``grid.nc``);
    ``Overpass`` 1 = AM (descending), 2 = PM; ``time`` = seconds since 2000-01-01 12:00).

    The observation time is the naive J2000 value (the file's own units); it is within ~70 s of
    UTC, which is irrelevant at daily resolution. A second record of the same location, pass and UTC
    date is dropped and counted (``duplicates``).
    """
    import netCDF4
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, None, "SMAP time-series folder not found", fix="check the path")
    files = sorted(p for p in folder.glob("*.nc") if p.name != "grid.nc")
    if not files:
        raise DataError(folder, None, "no NNNN.nc time-series files", fix="check the folder")
    recs = []
    for f in files:
        try:
            nc = netCDF4.Dataset(f)
        except OSError as e:
            raise DataError(f, None, f"cannot open ({e})", fix="download the file again") from None
        with nc:
            for v in ("locationIndex", "location_id", "time", "soil_moisture",
                      "retrieval_qual_flag", "Overpass"):
                if v not in nc.variables:
                    raise DataError(f, v, "variable missing",
                                    fix="expected the QA4SM indexed-ragged SMAP layout")
            nc.set_auto_mask(False)
            li = nc["locationIndex"][:]
            gpi = nc["location_id"][:]
            if li.min() < 0 or li.max() >= gpi.size:
                raise DataError(f, "locationIndex", f"index out of range 0..{gpi.size - 1}",
                                fix="the file is corrupt")
            tv = nc["time"]
            recs.append({"gpi": gpi[li], "t": tv[:], "units": tv.units,
                         "sm": nc["soil_moisture"][:].astype(np.float64),
                         "flag": nc["retrieval_qual_flag"][:], "ov": nc["Overpass"][:],
                         "sf": nc["surface_flag"][:] if "surface_flag" in nc.variables else None,
                         "file": f})
    gpi = np.concatenate([r["gpi"] for r in recs])
    ug = np.unique(gpi)
    row, col = 405 - ug // 964, ug % 964
    lat, lon = ease2_rowcol_to_latlon(row, col, "M36")
    if grid_file is not None or (folder / "grid.nc").exists():
        gp = Path(grid_file) if grid_file is not None else folder / "grid.nc"
        with netCDF4.Dataset(gp) as g:
            g.set_auto_mask(False)
            gg, gla, glo = g["gpi"][:], g["lat"][:], g["lon"][:]
        k = np.searchsorted(gg, ug)
        if np.any(k >= gg.size) or np.any(gg[np.minimum(k, gg.size - 1)] != ug):
            raise DataError(gp, "gpi", "some location_id are not in the grid file",
                            fix="use the grid.nc of the same product")
        if np.max(np.abs(gla[k] - lat)) > 1e-3 or np.max(np.abs(glo[k] - lon)) > 1e-3:
            raise DataError(gp, "lat/lon", "grid file disagrees with the EASE-2 36 km definition",
                            fix="the grid file belongs to another grid")
    t_all, sm_all, fl_all, ov_all, sf_all = [], [], [], [], []
    for r in recs:
        base = np.datetime64(r["units"].split("since")[1].strip().replace(" ", "T"), "ns")
        t_all.append(base + (r["t"] * 1e9).astype("timedelta64[ns]"))
        sm_all.append(r["sm"]), fl_all.append(r["flag"]), ov_all.append(r["ov"])
        sf_all.append(r["sf"] if r["sf"] is not None else np.full(r["sm"].shape, 65534, np.uint16))
    t, sm, fl, ov, sf = (np.concatenate(x) for x in (t_all, sm_all, fl_all, ov_all, sf_all))
    days = t.astype("datetime64[D]")
    ud = np.unique(days)
    ci = np.searchsorted(ug, gpi)
    di = np.searchsorted(ud, days)
    ds = xr.Dataset(coords={"cell": np.arange(ug.size), "obs_time": ud.astype("datetime64[ns]"),
                            "lat": ("cell", lat, {"units": "degrees_north"}),
                            "lon": ("cell", lon, {"units": "degrees_east"}),
                            "ease_row": ("cell", row), "ease_col": ("cell", col),
                            "gpi": ("cell", ug)})
    report = {"files": [str(r["file"].name) for r in recs], "records": int(t.size)}
    for p, code in (("AM", 1), ("PM", 2)):
        if p not in passes:
            continue
        k = ov == code
        shape = (ud.size, ug.size)
        flat = di[k] * ug.size + ci[k]
        _, first = np.unique(flat, return_index=True)
        dup = int(k.sum() - first.size)
        sel = np.flatnonzero(k)[first]
        SM = np.full(shape, np.nan)
        FL = np.full(shape, 65534, np.uint16)
        TT = np.full(shape, np.datetime64("NaT"), "datetime64[ns]")
        SF = np.full(shape, 65534, np.uint16)
        SM.flat[flat[first]] = sm[sel]
        FL.flat[flat[first]] = fl[sel]
        TT.flat[flat[first]] = t[sel]
        SF.flat[flat[first]] = sf[sel]
        fill = SM == -9999.0
        oor = ~fill & np.isfinite(SM) & ((SM < 0.02) | (SM > 0.5))
        SM = np.where(fill | oor, np.nan, SM)
        qc = np.isfinite(SM) & ((FL & 1) == 0) & (FL != 65534)
        ds[f"SMAP_{p}"] = (("obs_time", "cell"), SM.astype(np.float32),
                           {"units": "m3 m-3", "long_name": f"SMAP L3 {p} soil moisture (0-5 cm)"})
        ds[f"SMAP_{p}_flag"] = (("obs_time", "cell"), FL, {"long_name": "retrieval_qual_flag"})
        ds[f"SMAP_{p}_qc"] = (("obs_time", "cell"), qc, {})
        ds[f"SMAP_{p}_time"] = (("obs_time", "cell"), TT, {"long_name": "overpass time (UTC)"})
        ds[f"SMAP_{p}_surface_flag"] = (("obs_time", "cell"), SF, {})
        report[p] = {"records": int(k.sum()), "duplicates_dropped": dup,
                     "fill": int(fill.sum()), "out_of_valid_range": int(oor.sum()),
                     "not_recommended": int((np.isfinite(SM) & ~qc).sum()), "kept": int(qc.sum()),
                     "slots_without_record": int(SM.size - first.size)}
    ds.attrs.update({"source": f"smapts:{folder}", "report": json.dumps(report),
                     "time_convention": "obs_time = UTC date of the overpass"})
    return ds
