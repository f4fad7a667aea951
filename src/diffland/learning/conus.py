"""Loader of the CONUS SMAP hydroDL database for parameter learning (``data.source: hydrodl:PATH``).

``load_conus(path, dt=3600)`` turns the daily CSV database (``diffland.data.read_hydrodl``) into the training
layout of :mod:`diffland.learning.data`, and caches the result as NetCDF so that later runs only read it.
It is registered as the ``hydrodl`` loader of :func:`diffland.learning.data.load_dataset` when
``diffland.learning`` is imported.

Source string: ``hydrodl:/path/to/conus_smap`` with an optional query ``?cells=START:STOP[:STEP]`` (a slice
of the database's cell rows, e.g. ``?cells=0:312:3``; cell ids stay the database row numbers, so splits of
a subset match those of the full set) and ``&dt=SECONDS`` (default: the ``dt`` argument, 3600 s).

What the data set holds (dims ``cell``, ``time`` at the model step, ``obs_time`` daily):

- forcing ``T2D``, ``Q2D``, ``U2D``, ``V2D``, ``PSFC``, ``SWDOWN``, ``LWDOWN``, ``RAINRATE`` (time, cell): the
  NLDAS-2 daily means disaggregated to ``dt`` with :func:`diffland.data.disaggregate` (its default rules:
  SW by the cosine of the zenith angle, a diurnal T cycle, LW following T^4, Q/U/V/P constant, rain uniform
  over the day; daily means preserved exactly); time stamps are step ends (UTC);
- ``SMAP_AM`` (obs_time, cell) [m3/m3], NaN = missing, one value per UTC day (06:00 local overpass);
- ``lat``, ``lon`` (cell,) coordinates;
- static attributes (cell,) for the network: ``sand``, ``silt``, ``clay`` [%], ``bulk_density`` [kg/m3],
  ``water_capacity``, ``NDVI``, ``flag_albedo``, ``flag_roughness``, ``flag_vegDense``, ``flag_waterbody``,
  ``flag_extraOrd``, ``landcover`` (IGBP) and the climate descriptors ``clim_P`` (mean precipitation,
  mm/day), ``clim_PET`` (mean Priestley-Taylor PET, mm/day), ``clim_T`` (mean T2D, K) and ``clim_AI``
  (= P/PET) over the whole record;
- default-parameter inputs: ``soil_class`` (STAS 1-12 from sand/silt/clay, :func:`soil_classes_from_texture`,
  loam fallback), ``veg_class`` (Noah-MP MODIFIED_IGBP_MODIS_NOAH from the IGBP land cover,
  :func:`veg_classes_from_landcover`), ``shdmax`` [%] and ``tbot`` [K] (rules below);
- ``aridity_index`` (P/PET) and ``aridity_class`` (0 arid, 1 semi-arid, 2 sub-humid, 3 humid) from
  :mod:`diffland.evaluation.regimes` (Priestley-Taylor PET on the daily forcing, UNEP thresholds).

Documented rules:

- ``shdmax`` (maximum green vegetation fraction, percent, as HRLDAS GVFMAX) =
  ``clip((NDVI - 0.05) / (0.86 - 0.05), 0.05, 0.95) * 100`` (the linear NDVI scaling of Gutman & Ignatov
  1998 with bare-soil NDVI 0.05 and full-cover NDVI 0.86); cells without NDVI get the median of the others.
  hydroDL's NDVI is a long-term mean, so this under-estimates the seasonal maximum somewhat.
- ``tbot`` (deep soil temperature at ZBOT = -8 m) = the cell's mean T2D over the whole record, the usual
  approximation of the annual-mean surface temperature.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import xarray as xr

__all__ = ["load_conus", "parse_hydrodl_path", "cache_dir", "CACHE_VERSION"]

CACHE_VERSION = "conus-v1"
NDVI_SOIL, NDVI_VEG = 0.05, 0.86
STATIC_ATTRIBUTES = ("sand", "silt", "clay", "bulk_density", "water_capacity", "NDVI", "flag_albedo",
                     "flag_roughness", "flag_vegDense", "flag_waterbody", "flag_extraOrd")
CLIMATE_ATTRIBUTES = ("clim_P", "clim_PET", "clim_T", "clim_AI")


def cache_dir() -> Path:
    """``$DIFFLAND_CACHE`` or ``~/.cache/diffland``."""
    return Path(os.environ.get("DIFFLAND_CACHE", Path.home() / ".cache" / "diffland"))


def parse_hydrodl_path(path: str) -> Tuple[Path, Optional[slice], Optional[int]]:
    """``/root[?cells=a:b[:s]][&dt=N]`` -> (root, cell slice or None, dt or None)."""
    root, _, query = str(path).partition("?")
    sel, dt = None, None
    for item in filter(None, query.split("&")):
        k, _, v = item.partition("=")
        k = k.strip()
        if k == "cells":
            parts = [int(x) if x.strip() else None for x in v.split(":")]
            if not 1 <= len(parts) <= 3:
                raise ValueError(f"hydrodl source: cells={v!r} must be START:STOP[:STEP]")
            sel = slice(*parts) if len(parts) > 1 else slice(parts[0], parts[0] + 1)
        elif k == "dt":
            dt = int(float(v))
        else:
            raise ValueError(f"hydrodl source: unknown option {k!r} (known: cells, dt)")
    return Path(root), sel, dt


def _fingerprint(root: Path) -> str:
    h = hashlib.sha1()
    for p in sorted(root.rglob("*.csv")):
        st = p.stat()
        h.update(f"{p.relative_to(root)}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:12]


def _build(root: Path, sel: Optional[slice], dt: int) -> xr.Dataset:
    from diffland.data import disaggregate, read_hydrodl
    from diffland.evaluation import regimes

    daily = read_hydrodl(root)
    if sel is not None:
        idx = np.arange(daily.sizes["cell"])[sel]
        if idx.size == 0:
            raise ValueError(f"hydrodl source: the cell selection {sel} is empty")
        daily = daily.isel(cell=idx)
    nc = daily.sizes["cell"]
    f = {k: np.asarray(daily[k].transpose("time", "cell").values, np.float64)
         for k in ("RAINRATE", "T2D", "SWDOWN", "LWDOWN", "PSFC")}
    ai, P, PET = regimes.aridity_from_forcing(f)  # numpy mapping: daily, time on axis 0
    ai, P, PET = (np.asarray(x, np.float64) for x in (ai, P, PET))
    tmean = np.nanmean(f["T2D"], axis=0)

    ds = disaggregate(daily, dt)
    out = xr.Dataset(coords={"cell": ds["cell"].values, "time": ds["time"].values,
                             "obs_time": ds["obs_time"].values,
                             "lat": ("cell", ds["lat"].values, {"units": "degrees_north"}),
                             "lon": ("cell", ds["lon"].values, {"units": "degrees_east"})})
    for k in ("T2D", "Q2D", "U2D", "V2D", "PSFC", "SWDOWN", "LWDOWN", "RAINRATE"):
        out[k] = ds[k].astype(np.float32)
    out["SMAP_AM"] = ds["SMAP_AM"].astype(np.float32)
    for k in STATIC_ATTRIBUTES + ("landcover",):
        if k in ds:
            out[k] = ("cell", np.asarray(ds[k].values, np.float64), dict(ds[k].attrs))
    out["soil_class"] = ("cell", np.asarray(ds["ISLTYP"].values, np.int32),
                         {"long_name": "STAS soil class from sand/silt/clay (diffland.data.classes)"})
    out["veg_class"] = ("cell", np.asarray(ds["IVGTYP"].values, np.int32),
                        {"long_name": "Noah-MP MODIFIED_IGBP_MODIS_NOAH class from IGBP land cover"})
    ndvi = np.asarray(ds["NDVI"].values, np.float64) if "NDVI" in ds else np.full(nc, np.nan)
    ndvi = np.where(np.isfinite(ndvi), ndvi, np.nanmedian(ndvi) if np.isfinite(ndvi).any() else 0.4)
    fveg = np.clip((ndvi - NDVI_SOIL) / (NDVI_VEG - NDVI_SOIL), 0.05, 0.95)
    out["shdmax"] = ("cell", fveg * 100.0, {"units": "%", "long_name": "maximum green vegetation fraction",
                                            "rule": "clip((NDVI-0.05)/(0.86-0.05), 0.05, 0.95)*100"})
    out["tbot"] = ("cell", tmean, {"units": "K", "long_name": "deep soil temperature",
                                   "rule": "mean T2D of the cell over the whole record"})
    out["clim_P"] = ("cell", P, {"units": "mm day-1", "long_name": "mean precipitation over the record"})
    out["clim_PET"] = ("cell", PET, {"units": "mm day-1", "long_name": "mean Priestley-Taylor PET"})
    out["clim_T"] = ("cell", tmean, {"units": "K", "long_name": "mean air temperature"})
    out["clim_AI"] = ("cell", ai, {"units": "1", "long_name": "aridity index P/PET (network input copy)"})
    out["aridity_index"] = ("cell", ai, {"units": "1", "long_name": "aridity index P/PET (Priestley-Taylor)"})
    lab = regimes.classify(ai)
    cls = np.array([regimes.REGIMES.index(x) if x in regimes.REGIMES else -1 for x in lab], np.int32)
    out["aridity_class"] = ("cell", cls, {"long_name": "0 arid, 1 semi-arid, 2 sub-humid, 3 humid, -1 unknown",
                                          "thresholds": "AI < 0.2, < 0.5, < 0.65 (UNEP)"})
    out.attrs.update({"source": f"hydrodl:{root}", "dt_seconds": int(dt), "time_convention": "interval_end",
                      "cache_version": CACHE_VERSION,
                      "report": ds.attrs.get("report", ""), "disaggregation": ds.attrs.get("disaggregation", ""),
                      "rules": "shdmax = clip((NDVI-0.05)/0.81, 0.05, 0.95)*100; tbot = mean T2D; "
                               "aridity: P/PET with Priestley-Taylor PET (diffland.evaluation.regimes)"})
    return out


def load_conus(path, dt: int = 3600, *, cache: Optional[Path] = None, refresh: bool = False) -> xr.Dataset:
    """The CONUS SMAP database as a training data set (module docstring), from the cache when present.

    Args:
        path: ``/root[?cells=a:b[:s]][&dt=N]`` (``hydrodl:`` prefix allowed).
        dt: model step [s] (a ``dt=`` in the path wins).
        cache: cache folder (default :func:`cache_dir`); the file name encodes the source, cells, step and
            a fingerprint of the CSV files (size, mtime), so a changed database is re-read.
        refresh: rebuild even when a cached file exists.
    Returns:
        the data set, loaded into memory.
    """
    path = str(path)
    if path.startswith("hydrodl:"):
        path = path[len("hydrodl:"):]
    root, sel, dt_q = parse_hydrodl_path(path)
    dt = int(dt_q or dt)
    if 86400 % dt:
        raise ValueError(f"dt={dt} s does not divide a day")
    root = root.resolve()
    key = json.dumps([CACHE_VERSION, str(root), None if sel is None else [sel.start, sel.stop, sel.step], dt,
                      _fingerprint(root)])
    name = f"conus_smap_dt{dt}_{hashlib.sha1(key.encode()).hexdigest()[:16]}.nc"
    cdir = Path(cache) if cache is not None else cache_dir()
    fn = cdir / name
    if fn.exists() and not refresh:
        try:
            return xr.load_dataset(fn)
        except Exception:  # a broken cache file: rebuild
            pass
    ds = _build(root, sel, dt)
    try:
        cdir.mkdir(parents=True, exist_ok=True)
        tmp = fn.with_name(f".{fn.name}.tmp{os.getpid()}")
        enc = {k: {"zlib": True, "complevel": 1} for k in ds.data_vars if ds[k].dtype.kind == "f"}
        ds.to_netcdf(tmp, encoding=enc)
        os.replace(tmp, fn)
    except OSError:  # a read-only cache is not fatal
        pass
    return ds


def _register():
    from .data import register_loader

    register_loader("hydrodl", lambda p: load_conus(p, int(os.environ.get("DIFFLAND_DT", "3600"))))


_register()
