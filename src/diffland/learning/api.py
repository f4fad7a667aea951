"""High-level parameter-learning API: :func:`train`, :func:`apply`, :func:`transfer_check`.

Run-directory layout written by :func:`train`::

    RUN_DIR/
      config.yaml           the resolved configuration (every default filled in)
      normalisation.json    attribute / forcing / observation statistics of the training cells and period,
                            attribute names, network input sizes, options
      splits.json           cell ids of the train / val / holdout groups, seeds
      checkpoints/          epoch_NNNN.eqx (network, optimiser state, best network) + epoch_NNNN.json
                            (epoch, seed, RNG key, early-stopping state, metrics history), latest.json
      metrics.csv           one row per epoch (train loss, val loss, val rmse, grad norm, seconds, ...)
      model.eqx             the final (best, when validating) network
      learned_params.nc     learned parameters of every cell of the data set (dims cell [, soil_layer])
      summary.json          seed, epochs run, best epoch, stop reason, wall time

Every function takes ``model`` (default ``diffland.physics.model``): any module or object with
``init_state(initial, params, options)`` and ``run(state0, forcing, params, options, lat, checkpoint)``.
``default_params_fn(ds, options, table) -> dict`` gives the per-cell table defaults (default:
:func:`diffland.learning.data.default_params_from_dataset`).
"""
from __future__ import annotations

import dataclasses
import json
import time as _time
from pathlib import Path
from typing import Callable, Mapping, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr
import yaml

from ..config import TrainConfig, config_to_dict, dump_config, load_config, parse_config
from ..parallel import is_main_process
from .data import REGIME_NAMES, Normaliser, load_dataset, prepare, select_period, split_cells, steps_per_day
from .networks import SOIL_PARAMS
from .trainer import (Runner, Trainer, _deserialise, _serialise, atomic_write_bytes, atomic_write_text, get_runner,
                      build_layout, default_model, make_learner, sample_obs)
from .transfer import TransferResult, cell_metrics, enable_x64

__all__ = ["train", "apply", "transfer_check", "make_options", "as_config", "PARAM_UNITS"]

PARAM_UNITS = {"BEXP": "1", "SMCMAX": "m3 m-3", "DKSAT": "m s-1", "DWSAT": "m2 s-1", "PSISAT": "m",
               "SMCREF": "m3 m-3", "SMCWLT": "m3 m-3", "SMCDRY": "m3 m-3", "QUARTZ": "1", "RSURF_EXP": "1",
               "REFKDT": "1", "SLOPE": "1", "VCMX25": "umol CO2 m-2 s-1", "MP": "1", "CWPVT": "1", "HVT": "m",
               "LAI": "m2 m-2", "LAIM": "m2 m-2"}
_IGNORED_ON_RESUME = {("optim", "epochs"), ("optim", "progress")}


def as_config(config) -> TrainConfig:
    if isinstance(config, TrainConfig):
        return config
    if isinstance(config, Mapping):
        return parse_config(dict(config))
    return load_config(config)


def make_options(cfg: TrainConfig, ds: Optional[xr.Dataset] = None):
    """Physics ``Options`` from ``model.options``; ``dt`` from ``data.dt``, else from the data time step."""
    from diffland.physics.options import Options

    kw = dict(cfg.model.options)
    if cfg.data.dt is not None:
        if "dt" in kw and abs(float(kw["dt"]) - cfg.data.dt) > 1e-9:
            raise ValueError(f"data.dt ({cfg.data.dt}) and model.options.dt ({kw['dt']}) disagree")
        kw["dt"] = float(cfg.data.dt)
    elif "dt" not in kw and ds is not None:
        kw["dt"] = 86400.0 / steps_per_day(ds)
    if "soil_dz" in kw:
        kw["soil_dz"] = tuple(float(x) for x in kw["soil_dz"])
    return Options(**kw)


def _cells(ds):
    return np.asarray(ds["cell"].values) if "cell" in ds.coords else np.arange(ds.sizes["cell"])


def _splits(cfg: TrainConfig, ds: xr.Dataset) -> dict:
    ids = _cells(ds)
    tr, ho = split_cells(len(ids), cfg.data.holdout_fraction, cfg.data.holdout_seed)
    val = np.array([], int)
    if cfg.optim.val_split == "cells" and cfg.optim.val_fraction > 0 and len(tr) > 1:
        rng = np.random.default_rng([cfg.seed, 7919])
        nv = max(1, int(round(cfg.optim.val_fraction * len(tr))))
        nv = min(nv, len(tr) - 1)
        pick = np.sort(rng.permutation(len(tr))[:nv])
        val = tr[pick]
        tr = np.setdiff1d(tr, val)
    return {"train": tr, "val": val, "holdout": ho}


def _config_diff(a: dict, b: dict, prefix=()) -> list:
    out = []
    for k in sorted(set(a) | set(b)):
        p = prefix + (k,)
        if p in _IGNORED_ON_RESUME:
            continue
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _config_diff(va, vb, p)
        elif va != vb:
            out.append(".".join(p))
    return out


def _prepare_kw(cfg, default_params_fn):
    return dict(obs_var=cfg.data.obs_var, overpass_hour=cfg.data.overpass_hour, network_kind=cfg.network.kind,
                use_obs_history=cfg.network.use_obs_history, history_days=cfg.network.history_days,
                default_params_fn=default_params_fn, table=cfg.data.table)


def train(config, dataset: Optional[xr.Dataset] = None, *, model=None, default_params_fn: Optional[Callable] = None,
          resume: bool = False, run_dir=None, on_epoch_end: Optional[Callable] = None,
          nan_policy: str = "raise") -> Path:
    """Train a parameter network; returns the run directory (layout in the module docstring).

    Args:
        config: :class:`~diffland.config.TrainConfig`, a dict, or a YAML path.
        dataset: the data set (layout in :mod:`diffland.learning.data`); default: ``data.source``.
        model: physics module (default ``diffland.physics.model``).
        default_params_fn: ``(ds, options, table) -> dict`` of per-cell default parameters.
        resume: continue from ``RUN_DIR/checkpoints/latest.json`` (bit-identical to an uninterrupted run);
            the configuration must match the echoed one except ``optim.epochs`` / ``optim.progress``.
        run_dir: overrides ``output_dir``.
        on_epoch_end: ``fn(epoch, record)`` called after each epoch's checkpoint is written.
        nan_policy: ``"raise"`` (default: the NaN guard raises ``NonFiniteError`` naming cell and step) or
            ``"skip"`` (a step with a finite loss and state but a non-finite gradient is skipped and recorded,
            see :meth:`Trainer._can_skip`; non-finite model outputs still raise).
    """
    t0 = _time.time()
    cfg = as_config(config)
    ds = dataset if dataset is not None else load_dataset(cfg.data.source or "")
    model = model if model is not None else default_model()
    options = make_options(cfg, ds)
    run_dir = Path(run_dir if run_dir is not None else cfg.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # with jax.distributed, every process trains (each on its own devices' cells) and the first writes
    main = is_main_process()
    echo = run_dir / "config.yaml"
    if resume and echo.exists():
        old = yaml.safe_load(echo.read_text())
        diff = _config_diff(old, config_to_dict(cfg))
        if diff:
            raise ValueError(f"resume: the configuration differs from {echo} in {diff}")
    if main:
        dump_config(cfg, echo)

    splits = _splits(cfg, ds)
    ids = _cells(ds)
    dtrain = select_period(ds, *cfg.data.train_period)
    stream = bool(cfg.optim.stream)
    norm = Normaliser.fit(dtrain.isel(cell=splits["train"]), cfg.data.attributes, cfg.data.obs_var,
                          forcing_cells=64 if stream else None)
    kw = _prepare_kw(cfg, default_params_fn)
    if stream:
        kw["lazy"] = True
    prep_tr = prepare(dtrain.isel(cell=splits["train"]), norm, options, **kw)
    prep_val = prepare(dtrain.isel(cell=splits["val"]), norm, options, **kw) if len(splits["val"]) else None
    n_seq = norm.n_seq(cfg.network.use_obs_history) if cfg.network.kind == "gZ" else 0
    n_attr = prep_tr.attrs.shape[1]
    meta = {"normaliser": norm.to_dict(), "n_attr": n_attr, "n_seq": n_seq, "n_train": int(len(splits["train"])),
            "options": {f.name: getattr(options, f.name) for f in dataclasses.fields(options)},
            "train_cells": [_py(x) for x in ids[splits["train"]]]}
    if main:
        atomic_write_text(run_dir / "normalisation.json", json.dumps(meta, indent=1, default=_py))
        atomic_write_text(run_dir / "splits.json", json.dumps(
            {g: [_py(x) for x in ids[v]] for g, v in splits.items()} |
            {"holdout_fraction": cfg.data.holdout_fraction, "holdout_seed": cfg.data.holdout_seed,
             "seed": cfg.seed, "val_split": cfg.optim.val_split}, indent=1, default=_py))

    tr = Trainer(cfg, prep_tr, prep_val, options, model, obs_stats=(norm.obs_mean, norm.obs_std),
                 run_dir=run_dir, n_attr=n_attr, n_seq=n_seq, nan_policy=nan_policy)
    learner, history = tr.fit(resume=resume, on_epoch_end=on_epoch_end)
    if not main:
        return run_dir
    atomic_write_bytes(run_dir / "model.eqx", _serialise(learner))
    learned = apply(run_dir, ds, default_params_fn=default_params_fn, _options=options)
    group = np.full(len(ids), "train", object)
    group[splits["val"]] = "val"
    group[splits["holdout"]] = "holdout"
    learned = learned.assign_coords(group=("cell", group.astype(str)))
    tmp = run_dir / ".learned_params.nc.tmp"
    learned.to_netcdf(tmp)
    tmp.replace(run_dir / "learned_params.nc")
    st = tr.state
    summary = {"seed": cfg.seed, "epochs_run": len(history), "best_epoch": st.get("best_epoch"),
               "best_value": st.get("best_value"), "stopped_early": bool(st.get("stopped")),
               "windows_per_batch": tr.n_win, "window_steps": tr.W, "spinup_steps": tr.spin_steps,
               "nan_skips": st.get("nan_skips", []), "steps_not_trained": int(prep_tr.forcing["T2D"].shape[0] - tr.n_win_all * tr.W),
               "devices": tr.n_devices, "wall_seconds": round(_time.time() - t0, 2), "final_train_loss": history[-1]["train_loss"]
               if history else None}
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=1, default=_py))
    return run_dir


def _py(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, tuple):
        return list(x)
    return x.item() if hasattr(x, "item") else x


def _load_run(run_dir: Path):
    cfg = load_config(run_dir / "config.yaml")
    meta = json.loads((run_dir / "normalisation.json").read_text())
    norm = Normaliser(**meta["normaliser"])
    return cfg, meta, norm


def load_learner(run_dir, nsoil: int):
    """The trained :class:`~diffland.learning.networks.Learner` of a run directory and its layout."""
    run_dir = Path(run_dir)
    cfg, meta, norm = _load_run(run_dir)
    layout = build_layout(cfg, nsoil)
    like = make_learner(cfg, layout, meta["n_attr"], meta["n_seq"], meta["n_train"], jax.random.PRNGKey(0))
    return _deserialise((run_dir / "model.eqx").read_bytes(), like), layout, cfg, meta, norm


def apply(run_dir, dataset: xr.Dataset, *, period=None, default_params_fn: Optional[Callable] = None,
          _options=None) -> xr.Dataset:
    """Per-cell learned parameters for every cell of ``dataset`` (also cells never trained on).

    Args:
        run_dir: a directory written by :func:`train`.
        dataset: data set in the training layout (static attributes and defaults needed; forcing too for gZ).
        period: (start, end) of the input sequence for gZ (default: the training period when the data set
            covers it, else all of it).
    Returns:
        ``xr.Dataset`` with dims ``cell`` [, ``soil_layer``]: for every physics parameter a learned entry
        changes, its full per-cell value after learning (``BEXP`` (soil_layer, cell), ``RSURF_EXP`` (cell), ...,
        derived ``DWSAT``/``SMCWLT``/``SMCDRY``/``SMCREF`` when recomputed); ``learned_<NAME>`` (cell,) the
        network's value (absolute or multiplier); ``init_sm_frac`` (soil_layer, cell) when learned;
        ``ab_a``, ``ab_b`` (cell,) with the a/b switch (not model parameters: never used by the transfer check).
        Variables carry ``units``, ``long_name`` and bounds attributes.
    """
    run_dir = Path(run_dir)
    cfg = load_config(run_dir / "config.yaml")
    options = _options or make_options(cfg, dataset)
    learner, layout, cfg, meta, norm = load_learner(run_dir, options.nsoil)
    ds = dataset
    if cfg.network.kind == "gZ":
        if period is not None:
            ds = select_period(ds, *period)
        else:
            try:
                ds = select_period(ds, *cfg.data.train_period)
            except ValueError:
                ds = dataset
    kw = _prepare_kw(cfg, default_params_fn)
    if cfg.network.kind == "gA":
        kw["lazy"] = True  # only attributes and defaults are needed: never read the forcing
    prep = prepare(ds, norm, options, **kw)
    defaults = {k: jnp.asarray(v) for k, v in prep.defaults.items()}
    raw = learner.raw(jnp.asarray(prep.attrs), None if prep.seq is None else jnp.asarray(prep.seq))
    abf = None
    ids = prep.cell_ids
    if learner.ab_free is not None:
        pos = {_py(c): i for i, c in enumerate(meta["train_cells"])}
        rows = np.array([pos.get(_py(c), -1) for c in ids])
        abf = jnp.where(jnp.asarray(rows >= 0)[:, None], learner.ab_free[np.maximum(rows, 0)], jnp.nan)
    params, extra = layout.to_physical(raw, defaults, abf)
    changed = sorted({s.key for s in layout.specs} | (
        {"DWSAT", "SMCWLT", "SMCDRY", "SMCREF"} & set(params) if layout.derived and any(
            s.key in ("BEXP", "SMCMAX", "DKSAT", "PSISAT") for s in layout.specs) else set()) | (
        {"HVB"} & set(params) if any(s.key == "HVT" for s in layout.specs) else set()))
    out = xr.Dataset(coords={"cell": ids, "lat": ("cell", prep.lat), "lon": ("cell", prep.lon)})
    for k in changed:
        v = np.asarray(params[k])
        if v.ndim == 1:
            dims = ("cell",)
        elif k in SOIL_PARAMS and v.shape[0] == options.nsoil:
            dims = ("soil_layer", "cell")
        elif k in ("LAIM", "SAIM") and v.shape[0] == 12:
            dims = ("month", "cell")
        else:
            dims = (f"{k.lower()}_dim", "cell")
        out[k] = (dims, v.astype(np.float32), {"units": PARAM_UNITS.get(k, "1"),
                                               "long_name": f"Noah-MP {k} after learning",
                                               "source": "learned" if any(s.key == k for s in layout.specs)
                                               else "derived (table identities)"})
    for s in layout.specs:
        out[f"learned_{s.name}"] = ("cell", np.asarray(extra["values"][s.name], np.float32),
                                    {"units": s.units if s.mode == "absolute" else "1", "mode": s.mode,
                                     "lower_bound": s.lo, "upper_bound": s.hi, "log_scaled": int(s.log),
                                     "target": s.key, "long_name": f"network output for {s.name} ({s.mode})"})
    if extra["init_sm_frac"] is not None:
        out["init_sm_frac"] = (("soil_layer", "cell"), np.asarray(extra["init_sm_frac"], np.float32),
                               {"units": "1", "long_name": "learned initial soil moisture as a fraction of SMCMAX"})
    if extra["a"] is not None:
        note = "scaling/bias factor of the loss (a*sim+b); not a model parameter; excluded from transfer"
        out["ab_a"] = ("cell", np.asarray(extra["a"], np.float32), {"units": "1", "long_name": note})
        out["ab_b"] = ("cell", np.asarray(extra["b"], np.float32), {"units": "m3 m-3", "long_name": note})
    if "soil_layer" in out.dims:
        out = out.assign_coords(soil_layer=np.arange(1, out.sizes["soil_layer"] + 1))
    out["lat"].attrs.update(units="degrees_north", standard_name="latitude")
    out["lon"].attrs.update(units="degrees_east", standard_name="longitude")
    out.attrs.update(title="diffland learned Noah-MP parameters", Conventions="CF-1.8",
                     source=f"diffland.learning run {run_dir.name}", network=cfg.network.kind,
                     loss=cfg.loss.kind, ab_factors=int(cfg.loss.ab_factors))
    return out


def _params_from(learned, defaults: dict, ids) -> dict:
    """Full parameter dict: defaults overridden by the physics-parameter variables of ``learned``."""
    p = {k: np.array(v, copy=True) for k, v in defaults.items()}
    if isinstance(learned, xr.Dataset):
        if "cell" in learned.coords:
            learned = learned.sel(cell=ids)
        for k in p:
            if k in learned:
                da = learned[k]
                p[k] = np.asarray(da.transpose(*[d for d in da.dims if d != "cell"], "cell").values)
    else:
        for k, v in dict(learned).items():
            if k in p:
                p[k] = np.asarray(v)
    return p


def transfer_check(source: Union[str, Path, xr.Dataset, Mapping], data: xr.Dataset, periods=None, *,
                   model=None, options=None, default_params_fn: Optional[Callable] = None, spinup_days=None,
                   spinup_cycles=None, window_days=None, obs_var=None, overpass_hour=None, groups=None,
                   precision: str = "float64", min_obs: int = 2, which=("default", "learned"),
                   return_series: bool = False) -> TransferResult:
    """Re-run the physics with default and with learned parameters (no a/b) and score both against obs.

    Args:
        source: a run directory (learned parameters from :func:`apply` on ``data``; options, spin-up,
            periods and cell groups from the run), or learned parameters (an ``xr.Dataset`` like
            ``learned_params.nc``, or a dict name -> (…, cells) array) for the cells of ``data``.
        data: data set in the training layout (forcing over all periods, observations).
        periods: dict name -> (start, end); default: ``{"train": data.train_period, "test": data.test_period}``
            of the run, else the whole data set as ``"all"``.
        spinup_days / spinup_cycles / window_days: default from the run's config (else 365 / 1 / 30).
        groups: optional dict cell id -> group name (default from the run's ``splits.json``, else ``all``).
        precision: ``"float64"`` (default, ``jax_enable_x64`` inside a context manager, restored afterwards)
            or ``"float32"``.
        which: the parameter sets to run, a subset of ``("default", "learned")``.
        return_series: keep the simulated top-layer series at the observation days in ``result.series``
            (``{"obs_time", "cell", "obs", <which>...}``, arrays (days, cells)).
    Returns:
        :class:`~diffland.learning.transfer.TransferResult` (per-cell RMSE, ubRMSE, bias, R for default and
        learned parameters, per period, cell group and aridity class).

    The model runs continuously from the start of ``data`` (after spin-up over its first ``spinup_days``);
    each period is scored on its own observation days.  Scaling / bias factors are never applied.
    """
    model = model if model is not None else default_model()
    cfg = None
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        run_dir = Path(source)
        cfg = load_config(run_dir / "config.yaml")
        options = options or make_options(cfg, data)
        learned = apply(run_dir, data, default_params_fn=default_params_fn, _options=options)
        if groups is None and (run_dir / "splits.json").exists():
            sp = json.loads((run_dir / "splits.json").read_text())
            groups = {_py(c): g for g in ("train", "val", "holdout") for c in sp.get(g, [])}
    else:
        learned = source
    if options is None:
        from diffland.physics.options import Options

        options = Options(dt=86400.0 / steps_per_day(data))
    if cfg is not None:
        spinup_days = cfg.optim.spinup_days if spinup_days is None else spinup_days
        spinup_cycles = cfg.optim.spinup_cycles if spinup_cycles is None else spinup_cycles
        window_days = cfg.optim.window_days if window_days is None else window_days
        obs_var = obs_var or cfg.data.obs_var
        overpass_hour = cfg.data.overpass_hour if overpass_hour is None else overpass_hour
        if periods is None:
            periods = {"train": cfg.data.train_period}
            if cfg.data.test_period is not None:
                periods["test"] = cfg.data.test_period
    spinup_days = 365 if spinup_days is None else spinup_days
    spinup_cycles = 1 if spinup_cycles is None else spinup_cycles
    window_days = 30 if window_days is None else window_days
    obs_var = obs_var or "SMAP_AM"
    overpass_hour = 6.0 if overpass_hour is None else overpass_hour
    if periods is None:
        periods = {"all": (str(data["time"].values[0])[:10], str(data["time"].values[-1])[:10])}
    elif not isinstance(periods, Mapping):
        periods = {f"{a}..{b}": (a, b) for a, b in periods}

    norm = Normaliser([], [], [], [0.0] * 8, [1.0] * 8, 0.0, 1.0)
    prep = prepare(data, norm, options, obs_var=obs_var, overpass_hour=overpass_hour, network_kind="gA",
                   default_params_fn=default_params_fn, table=cfg.data.table if cfg else None)
    ids = prep.cell_ids
    p_learned = _params_from(learned, prep.defaults, ids)
    init_frac = None
    if isinstance(learned, xr.Dataset) and "init_sm_frac" in learned:
        lf = learned["init_sm_frac"].sel(cell=ids) if "cell" in learned.coords else learned["init_sm_frac"]
        init_frac = np.asarray(lf.transpose("soil_layer", "cell").values)
    spd = int(round(86400 / options.dt))
    W = window_days * spd
    T = prep.forcing["T2D"].shape[0]
    spin_steps = min(spinup_days * spd, T) // W * W
    dtype = np.float64 if precision == "float64" else np.float32
    sims = {}
    with enable_x64(precision == "float64"):
        runner = get_runner(model, options)
        forcing = {k: jnp.asarray(v, dtype) for k, v in prep.forcing.items()}
        lat = jnp.asarray(prep.lat, dtype)
        initial = {k: jnp.asarray(v, dtype) for k, v in prep.initial.items()}
        runs = {"default": (prep.defaults, None), "learned": (p_learned, init_frac)}
        bad = sorted(set(which) - set(runs))
        if bad or not which:
            raise ValueError(f"transfer_check: which={which!r}; choose from {sorted(runs)}")
        for name in which:
            pr, frac = runs[name]
            params = {k: jnp.asarray(v, dtype) for k, v in pr.items()}
            state = runner.initial_state(initial, params, None if frac is None else jnp.asarray(frac, dtype))
            if frac is None:
                state = runner.spinup(state, forcing, params, lat, W, spin_steps, spinup_cycles)
            top = runner.top_series(state, forcing, params, lat, W, first=frac is not None or spin_steps == 0)
            sims[name] = sample_obs(np.asarray(top, np.float64), prep.obs_idx)
    obs_t = np.asarray(prep.obs_time).astype("datetime64[D]")
    regime = (np.array([REGIME_NAMES[i] if 0 <= i < len(REGIME_NAMES) else str(i) for i in prep.regime])
              if prep.regime is not None else np.full(len(ids), "unknown"))
    grp = np.array([(groups or {}).get(_py(c), "all") for c in ids])
    rows = []
    for pname, (a, b) in periods.items():
        sel = (obs_t >= np.datetime64(str(a), "D")) & (obs_t <= np.datetime64(str(b), "D"))
        for which, sim in sims.items():
            m = cell_metrics(sim[sel], prep.obs[sel].astype(np.float64), min_obs=min_obs)
            rows.append(pd.DataFrame({"period": pname, "params": which, "cell": ids, "lat": prep.lat,
                                      "lon": prep.lon, "group": grp, "regime": regime, **m}))
    res = TransferResult.build(pd.concat(rows, ignore_index=True), precision)
    if return_series:
        res.series = {"obs_time": obs_t, "cell": ids, "obs": prep.obs.astype(np.float64), **sims}
    return res
