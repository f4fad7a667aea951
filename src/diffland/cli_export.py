"""``diffland export`` and ``diffland calibrate``: command functions (registered by ``cli.py``).

``export_cmd``: ``diffland export RUN_DIR --format netcdf|hrldas|table --out PATH``
    reads ``RUN_DIR/learned_params.nc`` (dims ``cell`` [, ``soil_layer`` | ``month``],
    one variable per learned or derived Noah-MP parameter, ``lat``/``lon`` coordinates) and writes

    * ``netcdf``: CF-1.8 parameter maps (:mod:`diffland.export.netcdf`), every parameter variable
      of the run (``learned_*`` network outputs, ``init_sm_frac`` and ``ab_*`` loss factors are not
      model parameters and are left out);
    * ``hrldas``: the soil-option-4 ``SPATIAL_FILENAME`` fields (:mod:`diffland.export.hrldas`);
      the nine soil fields the run did not learn or derive are taken from the NoahmpTable for each
      cell's soil class, as the run's model used them; the per-class 2-D fields (BVIC, ..., TD_*)
      likewise. When no soil class is known (see below) class 6 (loam) is used, with a warning;
    * ``table``: a copy of the NoahmpTable.TBL (``--table``, default the packaged v5 table) with
      per-class medians of the learned per-cell values
      (:func:`diffland.export.table.class_values_from_cells`): soil parameters
      (BEXP->BB, SMCMAX->MAXSMC, DKSAT->SATDK, PSISAT->SATPSI, DWSAT->SATDW, SMCREF->REFSMC,
      SMCWLT->WLTSMC, SMCDRY->DRYSMC, QUARTZ->QTZ; top soil layer) by soil class, vegetation
      parameters (VCMX25, MP, CWPVT, HVT, ...) by MODIS class. Parameters that are global scalars
      in the table (RSURF_EXP, REFKDT, ...) have no per-class entry and are listed as skipped.

    Per-cell classes (``soil_class`` STAS, ``veg_class`` MODIS) are taken, in this order, from
    variables of ``learned_params.nc``; from ``--classes FILE`` (NetCDF/Zarr with ``soil_class``/
    ``veg_class`` over ``cell``, matched by cell id when both have a ``cell`` coordinate); from the
    run's data set (``config.yaml`` ``data.source``). ``table`` fails with a clear message when none
    gives them.

``calibrate_cmd``: ``diffland calibrate --method dds|sceua --site bondville --budget N --out DIR``
    the single-site calibration of :mod:`diffland.calibration.pointcal` (5 cm in-situ soil moisture
    at Bondville 1998, Jan-Jun training, Jul-Dec test); writes ``DIR/calibration.json`` and
    ``DIR/summary.txt`` and the calibrated parameters as CF NetCDF ``DIR/calibrated_params.nc``.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import typer

__all__ = ["export_cmd", "calibrate_cmd", "export_run", "load_learned", "find_classes", "TABLE_NAMES",
           "DEFAULT_SOIL_CLASS"]

#: diffland name -> (NoahmpTable section, column name, class kind)
TABLE_NAMES: dict[str, tuple[str, str, str]] = {
    "BEXP": ("noahmp_soil_stas_parameters", "BB", "soil"),
    "SMCMAX": ("noahmp_soil_stas_parameters", "MAXSMC", "soil"),
    "DKSAT": ("noahmp_soil_stas_parameters", "SATDK", "soil"),
    "PSISAT": ("noahmp_soil_stas_parameters", "SATPSI", "soil"),
    "DWSAT": ("noahmp_soil_stas_parameters", "SATDW", "soil"),
    "SMCREF": ("noahmp_soil_stas_parameters", "REFSMC", "soil"),
    "SMCWLT": ("noahmp_soil_stas_parameters", "WLTSMC", "soil"),
    "SMCDRY": ("noahmp_soil_stas_parameters", "DRYSMC", "soil"),
    "QUARTZ": ("noahmp_soil_stas_parameters", "QTZ", "soil"),
    "BVIC": ("noahmp_soil_stas_parameters", "BVIC", "soil"),
}
_VEG_SECTION = "noahmp_modis_parameters"
#: soil class used for HRLDAS export when the run's classes are unknown (STAS 6 = loam, as the
#: 2-D defaults of diffland.export.hrldas)
DEFAULT_SOIL_CLASS = 6
_NOT_PARAMS_PREFIX = ("learned_", "ab_")
_NOT_PARAMS = {"init_sm_frac", "soil_class", "veg_class", "lat", "lon"}


def load_learned(run_dir: Path):
    """``(ds, params, lat, lon)`` from ``RUN_DIR/learned_params.nc``; params name -> ``(…, cells)``."""
    import xarray as xr

    path = Path(run_dir) / "learned_params.nc"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: RUN_DIR must be a finished `diffland learn` run directory "
                                "(learned_params.nc is written when training ends)")
    ds = xr.load_dataset(path)
    if "lat" not in ds or "lon" not in ds:
        raise ValueError(f"{path}: no lat/lon coordinates")
    params = {}
    for name, var in ds.data_vars.items():
        if name in _NOT_PARAMS or name.startswith(_NOT_PARAMS_PREFIX) or "cell" not in var.dims:
            continue
        if var.ndim == 2:
            other = [d for d in var.dims if d != "cell"][0]
            params[name] = np.asarray(var.transpose(other, "cell").values)
        elif var.ndim == 1:
            params[name] = np.asarray(var.values)
    return ds, params, np.asarray(ds["lat"].values, float), np.asarray(ds["lon"].values, float)


def _pick(src, ds_cells, name):
    if name not in src:
        return None
    v = src[name]
    if "cell" in v.dims and "cell" in src.coords and ds_cells is not None:
        have = np.asarray(src["cell"].values)
        if not np.isin(ds_cells, have).all():
            raise ValueError(f"{name}: the class source lacks cells {ds_cells[~np.isin(ds_cells, have)][:5]}...")
        v = v.sel(cell=ds_cells)
    return np.asarray(v.values).astype(int).ravel()


def find_classes(run_dir: Path, ds, classes: Optional[Path] = None) -> tuple[dict, str]:
    """Per-cell ``{"soil_class": (cells,), "veg_class": (cells,)}`` (those found) and where from."""
    import xarray as xr

    cells = np.asarray(ds["cell"].values) if "cell" in ds.coords else None
    out = {k: _pick(ds, cells, k) for k in ("soil_class", "veg_class")}
    out = {k: v for k, v in out.items() if v is not None}
    if len(out) == 2:
        return out, "learned_params.nc"
    if classes is not None:
        p = Path(classes)
        src = xr.open_zarr(p) if p.suffix == ".zarr" or p.is_dir() else xr.open_dataset(p)
        with src:
            got = {k: _pick(src, cells, k) for k in ("soil_class", "veg_class")}
        got = {k: v for k, v in got.items() if v is not None}
        if not got:
            raise ValueError(f"--classes {p}: no soil_class / veg_class variables")
        return {**got, **out}, str(p)
    cfg = Path(run_dir) / "config.yaml"
    if cfg.exists():
        try:
            import yaml

            source = (yaml.safe_load(cfg.read_text()).get("data") or {}).get("source")
            if source:
                from .learning.data import load_dataset

                data = load_dataset(source)
                got = {k: _pick(data, cells, k) for k in ("soil_class", "veg_class")}
                got = {k: v for k, v in got.items() if v is not None}
                if got:
                    return {**got, **out}, f"run data {source}"
        except Exception as e:  # noqa: BLE001 - the classes are optional for netcdf/hrldas
            warnings.warn(f"could not read classes from the run's data set ({e})", stacklevel=2)
    return out, "learned_params.nc" if out else "none"


def _table_path(table):
    from .parameters import default_table_path

    return Path(table) if table is not None else default_table_path()


def _table_soil_columns(table_path: Path, soil_class: np.ndarray) -> dict:
    """Table values of the nine soil-option-4 fields for each cell's soil class, (cells,)."""
    from .export.table import read_table_values

    text = table_path.read_text(encoding="latin-1")
    out = {}
    for name in ("BEXP", "SMCDRY", "SMCWLT", "SMCREF", "SMCMAX", "DKSAT", "DWSAT", "PSISAT", "QUARTZ"):
        section, col, _ = TABLE_NAMES[name]
        out[name] = np.asarray(read_table_values(text, section, col), float)[soil_class - 1]
    return out


def export_run(run_dir: Path, fmt: str, out: Path, *, classes: Optional[Path] = None, table: Optional[Path] = None,
               stat: str = "median") -> dict:
    """Implementation of ``diffland export``; returns a small report dict."""
    from .export.hrldas import SOIL_3D_FIELDS, write_hrldas_soil_properties
    from .export.netcdf import PARAMETER_METADATA, write_parameters_netcdf

    run_dir, out = Path(run_dir), Path(out)
    fmt = fmt.lower()
    if fmt not in ("netcdf", "hrldas", "table"):
        raise ValueError(f"--format {fmt!r}: use netcdf, hrldas or table")
    ds, params, lat, lon = load_learned(run_dir)
    if not params:
        raise ValueError(f"{run_dir}/learned_params.nc holds no parameter variables")
    report = {"format": fmt, "out": str(out), "cells": int(lat.size), "parameters": sorted(params)}
    if fmt == "netcdf":
        meta = {k: {"units": str(ds[k].attrs.get("units", "1")), "long_name": str(ds[k].attrs.get("long_name", k))}
                for k in params if k.upper() not in PARAMETER_METADATA}
        laid = {}
        for k, v in params.items():
            if v.ndim == 2 and "soil_layer" not in ds[k].dims:
                report.setdefault("skipped", {})[k] = f"dims {ds[k].dims} (only cell and soil_layer are written)"
                continue
            laid[k] = v
        write_parameters_netcdf(out, laid, lat, lon, metadata=meta, source=f"diffland export of {run_dir}",
                                extra_attrs={k: v for k, v in ds.attrs.items() if k in ("network", "loss")})
        report["parameters"] = sorted(laid)
        return report
    cls, where = find_classes(run_dir, ds, classes)
    report["classes_from"] = where
    tpath = _table_path(table)
    if fmt == "hrldas":
        soil = cls.get("soil_class")
        if soil is None:
            warnings.warn(f"no per-cell soil class found (learned_params.nc, --classes, run data); the soil fields "
                          f"the run did not learn and the 2-D fields use soil class {DEFAULT_SOIL_CLASS} (loam)",
                          stacklevel=2)
            soil = np.full(lat.size, DEFAULT_SOIL_CLASS)
            report["classes_from"] = f"default soil class {DEFAULT_SOIL_CLASS}"
        fields = _table_soil_columns(tpath, soil)
        filled = []
        for k in SOIL_3D_FIELDS:
            if k in params:
                fields[k] = params[k]
            else:
                filled.append(k)
        two_d = {k: params[k] for k in ("REFDK", "REFKDT", "BVIC") if k in params and params[k].ndim == 1}
        write_hrldas_soil_properties(out, fields, soil_class=soil, table_path=tpath, lat=lat, lon=lon,
                                     fields_2d=two_d or None, history=f"diffland export of {run_dir}")
        report["from_table"] = filled
        report["fields_2d_learned"] = sorted(two_d)
        return report
    # table
    from .export.table import class_values_from_cells, read_table_values, write_noahmp_table

    if "soil_class" not in cls and "veg_class" not in cls:
        raise ValueError(f"--format table needs each cell's soil class (STAS) and vegetation class (MODIS): "
                         f"{run_dir}/learned_params.nc has no soil_class/veg_class variables and none were found in "
                         f"the run's data set; pass --classes FILE.nc with soil_class(cell) and veg_class(cell)")
    text = tpath.read_text(encoding="latin-1")
    updates: dict = {}
    skipped = {}
    for k, v in params.items():
        if k in TABLE_NAMES:
            section, col, kind = TABLE_NAMES[k]
        else:
            section, col, kind = _VEG_SECTION, k, "veg"
            try:
                read_table_values(text, section, col)
            except (KeyError, ValueError):
                skipped[k] = "no per-class entry in the table (global scalar or not a table parameter)"
                continue
        key = "soil_class" if kind == "soil" else "veg_class"
        if key not in cls:
            skipped[k] = f"no {key} per cell"
            continue
        if v.ndim == 2:
            if not np.allclose(v, v[:1]):
                warnings.warn(f"{k} differs between soil layers; the table gets the top-layer value", stacklevel=2)
            v = v[0]
        updates.setdefault(section, {})[col] = class_values_from_cells(v, cls[key], stat=stat)
    if not updates:
        raise ValueError(f"none of the run's parameters {sorted(params)} has a per-class table entry")
    write_noahmp_table(tpath, out, updates)
    report["table_source"] = str(tpath)
    report["written"] = {f"{s}:{c}": {str(k): v for k, v in vals.items()} for s, d in updates.items()
                         for c, vals in d.items()}
    report["skipped"] = skipped
    return report


def export_cmd(
    run_dir: Path = typer.Argument(..., help="a `diffland learn` run directory (holds learned_params.nc)"),
    format: str = typer.Option(..., "--format", help="netcdf | hrldas | table"),
    out: Path = typer.Option(..., "--out", help="output file (.nc, or NoahmpTable.TBL for --format table)"),
    classes: Optional[Path] = typer.Option(None, "--classes", help="NetCDF/Zarr with soil_class(cell), "
                                                                    "veg_class(cell) when the run lacks them"),
    table: Optional[Path] = typer.Option(None, "--table", help="NoahmpTable.TBL to start from (default: packaged v5)"),
):
    """Export learned parameters: CF NetCDF maps, HRLDAS soil-option-4 fields, or a NoahmpTable.TBL."""
    try:
        rep = export_run(run_dir, format, out, classes=classes, table=table)
    except (FileNotFoundError, ValueError, KeyError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2)
    typer.echo(f"wrote {out} ({rep['format']}, {rep['cells']} cells: {', '.join(rep['parameters'])})")
    if rep.get("skipped"):
        typer.echo("not written: " + "; ".join(f"{k} ({v})" for k, v in rep["skipped"].items()))


def calibrate_cmd(
    method: str = typer.Option("dds", "--method", help="dds | sceua"),
    site: str = typer.Option("bondville", "--site", help="single-site case (bondville)"),
    budget: int = typer.Option(144, "--budget", help="number of parameter sets evaluated (model runs)"),
    out: Path = typer.Option(..., "--out", help="output directory"),
    batch: int = typer.Option(16, "--batch", help="DDS candidates per batched model run (cells of one run)"),
    seed: int = typer.Option(0, "--seed"),
    data: Optional[str] = typer.Option(None, "--data", help="KIND:PATH data set for per-cell calibration "
                                                           "(e.g. hydrodl:/path/conus_smap?cells=0:312:6)"),
    cells: Optional[str] = typer.Option(None, "--cells", help="comma-separated cell ids of --data (default all)"),
    train: str = typer.Option("2015-04-01,2016-03-31", "--train", help="START,END training period (--data)"),
    test: str = typer.Option("2016-04-01,2017-03-31", "--test", help="START,END test period (--data)"),
    learned: Optional[Path] = typer.Option(None, "--learned", help="learning RUN_DIR to compare with (--data)"),
):
    """Classic calibration baseline (DDS / SCE-UA) of BEXP, SMCMAX, DKSAT, PSISAT, RSURF_EXP.

    Without --data: the Bondville 1998 single-site case (``--site bondville``). With --data: per-cell
    DDS (``dds_cells``, every model run evaluates one candidate per cell; --budget = model runs)
    against the data set's SMAP_AM, compared with the default and, with --learned, the learned
    parameters (held-out cells of the run keep the defaults).
    """
    from .calibration.pointcal import PARAMS, BondvilleProblem, calibrate_bondville
    from .export.netcdf import write_parameters_netcdf

    if data is not None:
        import xarray as xr

        from .calibration.cells import calibrate_cells
        from .learning.data import load_dataset

        if method != "dds":
            typer.echo("error: per-cell calibration (--data) uses --method dds", err=True)
            raise typer.Exit(2)
        ds = load_dataset(data)
        if cells:
            ds = ds.sel(cell=[int(c) for c in cells.split(",")])
        lds, hold = None, None
        if learned is not None:
            lds = xr.load_dataset(Path(learned) / "learned_params.nc")
            sp = Path(learned) / "splits.json"
            hold = json.loads(sp.read_text()).get("holdout") if sp.exists() else None
        res = calibrate_cells(ds, train_period=tuple(train.split(",")), test_period=tuple(test.split(",")),
                              budget=budget, seed=seed, learned=lds, holdout=hold)
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "cells_calibration.json").write_text(json.dumps(res, indent=1))
        for k, v in res["rmse"].items():
            typer.echo(f"{k:8s} median RMSE train {np.nanmedian(v['train']):.4f}  test {np.nanmedian(v['test']):.4f}")
        typer.echo(f"{len(res['cells'])} cells, {budget} model runs, {res['wall_s']:.0f} s; "
                   f"wrote {out}/cells_calibration.json")
        return
    if site.lower() != "bondville":
        typer.echo(f"error: --site {site!r}: only 'bondville' is available", err=True)
        raise typer.Exit(2)
    if method not in ("dds", "sceua"):
        typer.echo(f"error: --method {method!r}: use dds or sceua", err=True)
        raise typer.Exit(2)
    res = calibrate_bondville(budget, batch=batch, seed=seed, method=method)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "calibration.json").write_text(json.dumps(res.to_dict(), indent=1))
    (out / "summary.txt").write_text(res.summary() + "\n")
    prob = BondvilleProblem()
    p = prob.params(np.array([[res.params[k] for k in PARAMS]]), np.float32)
    keep = {k: p[k] for k in (*PARAMS, "DWSAT", "SMCWLT", "SMCDRY", "SMCREF")}
    write_parameters_netcdf(out / "calibrated_params.nc", keep, [prob.site["lat"]], [prob.site["lon"]],
                            title="diffland classic calibration at Bondville 1998",
                            history=f"diffland calibrate --method {method} --budget {budget}")
    typer.echo(res.summary())
    typer.echo(f"wrote {out}/calibration.json, summary.txt, calibrated_params.nc")
