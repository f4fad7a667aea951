"""``diffland train`` and ``diffland evaluate``: typer-compatible command functions.

Register them with ``app.command("train")(train_cmd)`` and ``app.command("evaluate")(evaluate_cmd)``; they can
also be called directly from Python with plain values (every argument given, or the typer defaults are
resolved to their plain defaults).

``diffland train --config CONFIG.yaml [--resume]``
    trains (``diffland.learning.train``) and writes the run directory ``output_dir`` of the config.
    ``data.source: hydrodl:PATH[?cells=a:b:s]`` is read with :func:`diffland.learning.conus.load_conus` at
    the config's ``data.dt`` (default 3600 s), from its NetCDF cache when present.

``diffland evaluate RUN_DIR --data KIND:PATH [--start DATE --end DATE] --out METRICS.json``
    applies the trained network to every cell of the data set (cells it never saw included), re-runs the
    physics in float64 with default and with learned parameters (no a/b), and scores the top-layer soil
    moisture against the observations on ``[start, end]`` (default: the run's test period, else its training
    period).  The model is run on ``[start - spinup_days, end]`` of the data (clipped to the data): spin-up
    over its first ``spinup_days`` (``spinup_cycles`` times, as in training), then a continuous run; only
    ``[start, end]`` is scored.  Cells are labelled ``train`` / ``val`` / ``holdout`` from the run's
    ``splits.json`` and ``unseen`` when the run never listed them.

METRICS.json::

    {"period": [start, end], "run_dir", "data", "precision": "float64",
     "summary": {"default": {"rmse_median", "ubrmse_median", "bias_median", "r_median", "n_cells"},
                 "learned": {...}},
     "by_regime": {"arid"|"semi-arid"|"sub-humid"|"humid": {"default": {"rmse_median"}, "learned": {...}}},
     "groups": {"train"|"val"|"holdout"|"unseen": {"summary": ..., "by_regime": ...}},
     "cells": [{"cell", "lat", "lon", "regime", "group", "rmse_default", "rmse_learned", "ubrmse_*",
                "bias_*", "r_*"}, ...]}

RMSE values are in m3/m3; medians are over cells with at least ``min_obs`` observations.
"""
from __future__ import annotations

import json
import math
import time as _time
from pathlib import Path
from typing import Optional

import numpy as np
import typer

__all__ = ["train_cmd", "evaluate_cmd", "load_data", "evaluate"]


def _v(x):
    """Plain value of a typer default (``OptionInfo`` / ``ArgumentInfo``) when called from Python."""
    try:
        from typer.models import ParameterInfo
    except ImportError:  # pragma: no cover
        return x
    return x.default if isinstance(x, ParameterInfo) else x


def load_data(source: str, dt: Optional[float] = None):
    """``KIND:PATH`` -> data set at the model step ``dt`` (hydrodl: :func:`load_conus`; else registered loaders)."""
    from diffland.learning.conus import load_conus
    from diffland.learning.data import load_dataset

    kind, _, path = str(source).partition(":")
    if kind == "hydrodl":
        return load_conus(path, int(dt or 3600))
    return load_dataset(source)


def train_cmd(
    config: Path = typer.Option(..., "--config", help="training configuration YAML (see diffland.config)"),
    resume: bool = typer.Option(False, "--resume", help="continue from RUN_DIR/checkpoints/latest.json"),
    nan_policy: str = typer.Option("skip", "--nan-policy",
                                   help="'skip': skip (and record) an update whose gradient alone is non-finite; "
                                        "'raise': stop with the NaN guard's error"),
    coordinator: Optional[str] = typer.Option(
        None, "--coordinator", help="HOST:PORT of process 0, to train as one of several processes "
                                    "(jax.distributed; on SLURM / Open MPI clusters use --distributed instead)"),
    num_processes: Optional[int] = typer.Option(None, "--num-processes", help="number of processes (with --coordinator)"),
    process_id: Optional[int] = typer.Option(None, "--process-id", help="this process, 0 .. N-1 (with --coordinator)"),
    distributed: bool = typer.Option(False, "--distributed",
                                     help="join a multi-process run whose layout JAX detects (SLURM, Open MPI, ...)"),
):
    """Train a parameter network through the differentiable Noah-MP; writes the run directory."""
    from diffland.config import load_config
    from diffland.learning import train

    from diffland.config import ConfigError

    config, resume, nan_policy = Path(_v(config)), bool(_v(resume)), str(_v(nan_policy))
    coordinator, num_processes, process_id = _v(coordinator), _v(num_processes), _v(process_id)
    if coordinator is not None or bool(_v(distributed)):
        if coordinator is not None and (num_processes is None or process_id is None):
            raise typer.BadParameter("--coordinator needs --num-processes and --process-id", param_hint="--coordinator")
        from diffland.parallel import init_distributed

        init_distributed(coordinator, num_processes, process_id)
    if not config.exists():
        raise typer.BadParameter(f"configuration file {config} not found", param_hint="--config")
    try:
        cfg = load_config(config)
    except ConfigError as err:
        raise typer.BadParameter(str(err), param_hint="--config") from None
    if not cfg.data.source:
        raise typer.BadParameter("the configuration has no data.source (KIND:PATH)")
    t0 = _time.time()
    ds = load_data(cfg.data.source, cfg.data.dt)
    typer.echo(f"data: {cfg.data.source}: {ds.sizes['cell']} cells, {ds.sizes['time']} steps "
               f"({_time.time() - t0:.1f} s)")
    from diffland.compile_cache import persistent_compile_cache
    from diffland.parallel import is_main_process

    # a repeated or resumed run (or one sharing programs with an earlier run) loads its compiled programs
    with persistent_compile_cache() as use:
        run_dir = train(cfg, dataset=ds, resume=resume, nan_policy=nan_policy)
    if use.hits and is_main_process():
        typer.echo(f"{use.hits} compiled program(s) loaded from {use.path} ({use.saved_s:.0f} s of compiling saved)")

    if not is_main_process():
        return run_dir
    summ = json.loads((Path(run_dir) / "summary.json").read_text())
    if summ.get("nan_skips"):
        typer.echo(f"note: {len(summ['nan_skips'])} update(s) skipped for a non-finite gradient "
                   f"(see summary.json nan_skips)")
    typer.echo(f"wrote {run_dir} (epochs {summ.get('epochs_run')}, best epoch {summ.get('best_epoch')}, "
               f"{summ.get('wall_seconds')} s)")
    return run_dir


def _clean(o):
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        return float(o) if math.isfinite(float(o)) else None
    if isinstance(o, np.ndarray):
        return _clean(o.tolist())
    return o


def evaluate(run_dir, ds, start=None, end=None, *, precision: str = "float64", min_obs: int = 2,
             data_label: str = "") -> dict:
    """METRICS dict (module docstring) of a run on a data set already in memory."""
    from diffland.config import load_config
    from diffland.learning import transfer_check
    from diffland.learning.data import select_period

    run_dir = Path(run_dir)
    cfg = load_config(run_dir / "config.yaml")
    if start is None and end is None:
        per = cfg.data.test_period or cfg.data.train_period
        start, end = str(per[0]), str(per[1])
    t = ds["time"].values.astype("datetime64[D]")
    start = str(start) if start is not None else str(t[0])
    end = str(end) if end is not None else str(t[-1] - 1)
    spin = int(cfg.optim.spinup_days)
    first = max(np.datetime64(start, "D") - spin, t[0])
    data = select_period(ds, str(first), end)
    splits = json.loads((run_dir / "splits.json").read_text()) if (run_dir / "splits.json").exists() else {}
    known = {int(c) if isinstance(c, (int, np.integer)) else c: g
             for g in ("train", "val", "holdout") for c in splits.get(g, [])}
    ids = data["cell"].values
    groups = {(c.item() if hasattr(c, "item") else c): known.get(c.item() if hasattr(c, "item") else c, "unseen")
              for c in ids}
    res = transfer_check(run_dir, data, periods={"eval": (start, end)}, groups=groups, precision=precision,
                         min_obs=min_obs)
    out = res.metrics_json("eval")
    out["period"] = [start, end]
    out["run_dir"] = str(run_dir)
    out["data"] = data_label
    out["simulated_from"] = str(first)
    out["groups"] = {}
    for g in sorted(res.per_cell["group"].unique()):
        m = res.metrics_json("eval", g)
        m.pop("cells", None)
        m.pop("period", None)
        m.pop("precision", None)
        out["groups"][g] = m
    return _clean(out)


def evaluate_cmd(
    run_dir: Path = typer.Argument(..., help="run directory written by `diffland train`"),
    data: str = typer.Option(..., "--data", help="KIND:PATH of the data set (any cells, same kind)"),
    start: Optional[str] = typer.Option(None, "--start", help="first day scored (default: the run's test period)"),
    end: Optional[str] = typer.Option(None, "--end", help="last day scored"),
    out: Path = typer.Option(..., "--out", help="METRICS.json to write"),
):
    """Transfer check of a trained run on any data set: default vs learned parameters, float64, no a/b."""
    from diffland.config import load_config

    run_dir, data, start, end, out = Path(_v(run_dir)), _v(data), _v(start), _v(end), Path(_v(out))
    cfg = load_config(run_dir / "config.yaml")
    t0 = _time.time()
    ds = load_data(data, cfg.data.dt)
    m = evaluate(run_dir, ds, start, end, data_label=str(data))
    m["wall_seconds"] = round(_time.time() - t0, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(m, indent=1))
    tmp.replace(out)
    s = m["summary"]
    typer.echo(f"wrote {out}: median RMSE default {s.get('default', {}).get('rmse_median')} -> learned "
               f"{s.get('learned', {}).get('rmse_median')} m3/m3 over {len(m['cells'])} cells")
    return m
