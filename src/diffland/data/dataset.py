"""One dataset layout for every source, and its zarr cache.

``to_dataset("KIND:PATH")`` returns an ``xarray.Dataset`` with

- dims ``cell`` and ``time`` (forcing, ``(time, cell)``), coords ``lat``/``lon(cell)`` [deg];
- forcing under LDASIN names in SI units (``attrs["units"]``);
- observations on their own time axis ``obs_time`` (``SMAP_AM``, ``SMAP_PM``, ``ISMN_sm``,
  ``SM_5cm``...) with quality masks (``*_qc`` / ``*_good``) and overpass times (``*_time``);
- static attributes on ``cell`` (``sand``, ``silt``, ``clay`` [%], ``NDVI``, ``landcover``,
  ``ISLTYP``, ``IVGTYP``...);
- ``attrs``: ``source``, ``time_convention``, ``dt_seconds``, ``report`` (JSON: missing values,
  fallbacks, masking counts).

KIND values: ``hydrodl`` (CSV database folder), ``noahpoint`` (Noah point text with validation),
``hrldas`` (HRLDAS single-point text, via :func:`diffland.io.hrldas_point.read_hrldas_point`),
``ldasin`` (folder of LDASIN NetCDF), ``nldas2`` (folder/list of NLDAS-2 NetCDF), ``smapl3`` (folder
of SPL3SMP[_E] HDF5 granules, or the QA4SM time-series folder with ``grid.nc``), ``ismn`` (folder,
zip or ``.stm``), ``synthetic`` (``synthetic:N_CELLS,N_DAYS[,SEED]``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from ._common import FORCING_LONG, FORCING_UNITS, FORCING_VARS, DataError

__all__ = ["KINDS", "parse_source", "to_dataset", "prepare", "open_dataset", "inspect"]

KINDS = ("hydrodl", "noahpoint", "hrldas", "ldasin", "nldas2", "smapl3", "ismn", "synthetic")


def parse_source(source: str) -> tuple[str, str]:
    """Split ``"KIND:PATH"``; raise a helpful error for unknown kinds."""
    if not isinstance(source, str) or ":" not in source:
        raise DataError(source, None, "source must be 'KIND:PATH'",
                        fix=f"prefix the path with one of {', '.join(KINDS)}, e.g. hydrodl:/data/x")
    kind, path = source.split(":", 1)
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise DataError(source, None, f"unknown source kind {kind!r}",
                        fix=f"use one of {', '.join(KINDS)}")
    return kind, path


def _from_hrldas(path: str) -> xr.Dataset:
    try:
        from diffland.io.hrldas_point import read_hrldas_point
    except ImportError as e:  # pragma: no cover - depends on the io package
        raise DataError(path, None, f"the HRLDAS point reader is unavailable ({e})",
                        fix="install the full diffland package") from None
    try:
        pf = read_hrldas_point(path)
    except FileNotFoundError:
        raise DataError(path, None, "HRLDAS single-point file not found", fix="check the path") \
            from None
    t = np.asarray(pf.time).astype("datetime64[ns]")
    site = pf.site
    ds = xr.Dataset(coords={"cell": [0], "time": t,
                            "lat": ("cell", [float(site["lat"])], {"units": "degrees_north"}),
                            "lon": ("cell", [float(site["lon"])], {"units": "degrees_east"})})
    for k in FORCING_VARS:
        ds[k] = (("time", "cell"), np.asarray(pf.forcing[k], np.float32)[:, None],
                 {"units": FORCING_UNITS[k], "long_name": FORCING_LONG[k]})
    ds["ISLTYP"] = ("cell", [int(site["soil_class"])], {"long_name": "STAS soil class"})
    ds["IVGTYP"] = ("cell", [int(site["veg_class"])], {"long_name": "vegetation class"})
    ds["elevation"] = ("cell", [float(site["elevation"])], {"units": "m"})
    ds.attrs.update({"source": f"hrldas:{path}", "time_convention": "interval_end",
                     "dt_seconds": int(pf.dt), "report": json.dumps({"records": int(t.size)})})
    return ds


def _synthetic(spec: str, dt) -> xr.Dataset:
    from .synthetic import make_synthetic
    try:
        parts = [int(x) for x in spec.split(",")]
        n_cells, n_days = parts[0], parts[1]
        seed = parts[2] if len(parts) > 2 else 0
    except (ValueError, IndexError):
        raise DataError(spec, None, "synthetic spec must be N_CELLS,N_DAYS[,SEED]",
                        fix="e.g. synthetic:10,365,0") from None
    return make_synthetic(n_cells, n_days, seed, dt=dt or 1800)


def to_dataset(source: str, *, dt: int | None = None, **kwargs) -> xr.Dataset:
    """Read ``source`` (``"KIND:PATH"``) into the common layout (module docstring).

    Args:
        source: ``KIND:PATH``.
        dt: if given and the source is daily (hydroDL), disaggregate the forcing to ``dt``-second
            steps (:func:`diffland.data.disaggregate.disaggregate`); for sub-daily sources ``dt``
            must equal the native step.
        **kwargs: passed to the reader (e.g. ``elevation=`` for hydrodl, ``passes=`` for smapl3).
    """
    kind, path = parse_source(source)
    if kind == "hydrodl":
        from .hydrodl import read_hydrodl
        ds = read_hydrodl(path, **kwargs)
    elif kind == "noahpoint":
        from .noahpoint import read_noah_point
        ds = read_noah_point(path, **kwargs)
    elif kind == "hrldas":
        ds = _from_hrldas(path)
    elif kind == "ldasin":
        from .gridded import read_ldasin
        ds = read_ldasin(path, **kwargs)
    elif kind == "nldas2":
        from .gridded import read_nldas2
        ds = read_nldas2(path, **kwargs)
    elif kind == "smapl3":
        from .smap import read_smap_l3, read_smap_ts
        p = Path(path)
        if p.is_dir() and not any(p.glob("*.h5")) and any(p.glob("*.nc")):
            ds = read_smap_ts(p, **kwargs)
        else:
            ds = read_smap_l3(path, **kwargs)
    elif kind == "ismn":
        from .ismn import read_ismn
        ds = read_ismn(path, **kwargs)
    else:
        return _synthetic(path, dt)
    if dt is not None and "time" in ds.dims:
        native = int(ds.attrs.get("dt_seconds", 0))
        if native == 86400 and dt != 86400:
            from .disaggregate import disaggregate
            ds = disaggregate(ds, dt)
        elif native != dt:
            raise DataError(source, "time", f"native step {native} s != requested dt {dt} s",
                            fix="only daily data are disaggregated; omit dt or resample yourself")
    return ds


def _encode_for_zarr(ds: xr.Dataset) -> xr.Dataset:
    out = ds.copy()
    for k in list(out.variables):
        v = out[k]
        if v.dtype.kind == "U":  # fixed-width unicode -> object strings (portable zarr encoding)
            out[k] = v.astype(object)
    return out


def prepare(source: str, out, *, dt: int | None = None, cell_chunk: int = 256,
            time_chunk: int = 8760, overwrite: bool = True, **kwargs) -> Path:
    """Read ``source`` (``KIND:PATH``) and write it to a zarr store ``out``.

    Chunks are ``(time_chunk, cell_chunk)``; reopen lazily with :func:`open_dataset`.
    Returns the store path.
    """
    ds = to_dataset(source, dt=dt, **kwargs)
    out = Path(out)
    if out.exists() and not overwrite:
        raise DataError(out, None, "store exists", fix="pass overwrite=True or another path")
    enc = {}
    for k, v in ds.data_vars.items():
        ch = tuple(min(time_chunk if d in ("time", "obs_time") else cell_chunk, ds.sizes[d])
                   for d in v.dims)
        if ch:
            enc[k] = {"chunks": ch}
    _encode_for_zarr(ds).to_zarr(out, mode="w", encoding=enc, consolidated=False)
    return out


def open_dataset(path) -> xr.Dataset:
    """Open a zarr store written by :func:`prepare`, lazily (dask chunks)."""
    p = Path(path)
    if not p.exists():
        raise DataError(p, None, "zarr store not found",
                        fix="create it with `diffland data prepare --source KIND:PATH --out STORE`")
    try:
        return xr.open_zarr(p, consolidated=False, chunks={})
    except Exception as e:  # zarr raises several types for a broken store
        raise DataError(p, None, f"not a readable zarr store ({type(e).__name__}: {e})",
                        fix="re-create it with prepare()") from None


def _fmt_time(t) -> str:
    return np.datetime_as_string(np.asarray(t).astype("datetime64[s]"), unit="m")


def inspect(path_or_ds) -> str:
    """Human-readable summary: cells, period and step, variables with units and missing fractions,
    coordinate ranges and the reader's report."""
    ds = path_or_ds if isinstance(path_or_ds, xr.Dataset) else open_dataset(path_or_ds)
    lines = [f"source: {ds.attrs.get('source', '?')}",
             f"cells: {ds.sizes.get('cell', 0)}"]
    if "lat" in ds.coords:
        la, lo = ds["lat"].values, ds["lon"].values
        lines.append(f"lat: {np.nanmin(la):.3f} .. {np.nanmax(la):.3f}   "
                     f"lon: {np.nanmin(lo):.3f} .. {np.nanmax(lo):.3f}")
    for tdim in ("time", "obs_time"):
        if tdim in ds.dims and ds.sizes[tdim]:
            t = ds[tdim].values
            lines.append(f"{tdim}: {_fmt_time(t[0])} .. {_fmt_time(t[-1])} ({t.size} steps"
                         + (f", dt={ds.attrs.get('dt_seconds')} s, "
                            f"{ds.attrs.get('time_convention', '')}" if tdim == "time" else "")
                         + ")")
    lines.append("variables (dims, units, missing fraction):")
    names = [k for k in FORCING_VARS if k in ds.data_vars]
    names += sorted(k for k in ds.data_vars if k not in FORCING_VARS)
    for k in names:
        v = ds[k]
        if v.dtype.kind == "f":
            miss = float(v.isnull().mean().values) if v.size else 0.0
            ms = f"{miss:.3f}"
        elif v.dtype.kind == "b":
            ms = f"true={float(v.mean().values):.3f}"
        else:
            ms = "-"
        lines.append(f"  {k:24s} {'(' + ', '.join(v.dims) + ')':22s} "
                     f"{v.attrs.get('units', '-'):12s} {ms}")
    rep = ds.attrs.get("report")
    if rep:
        lines.append("report: " + (rep if len(rep) < 2000 else rep[:2000] + " ..."))
    for k in ("disaggregation", "synthetic"):
        if k in ds.attrs:
            lines.append(f"{k}: {ds.attrs[k]}")
    return "\n".join(lines)
