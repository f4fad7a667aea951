"""The seed paper's experiment (Ahmad et al. 2025), reproduced and compared with the fixes, as one function.

Matrix: route {``surrogate``, ``direct``} x scaling/bias factors {``ab``, ``noab``} x loss {``global`` (the
paper's RMSE pooled over cells and days on z-scored data), ``regime`` (equal weight per aridity class)}:
eight parameter-learning runs on the same cells, periods and network.

- **surrogate** (the paper's route): a Latin-hypercube perturbed-parameter ensemble over the learned
  parameters is simulated with the physics (float32) for the training cells over both periods; an Equinox LSTM
  (:mod:`diffland.learning.surrogate`) learns daily top-layer soil moisture from forcing and parameters on the
  training period; the parameter network is then trained through the frozen surrogate with the same trainer,
  losses and a/b switch as the direct route.  ``outer`` iterations re-simulate an ensemble around the learned
  parameters, re-train the surrogate on the union and train the parameter network again.
- **direct**: the parameter network is trained through the JAX physics itself.

Every run is scored (i) in the model it was trained with (surrogate or float32 physics, a/b applied when on:
the skill the training loop "sees") and (ii) after transfer: learned parameters alone in the float64
reference physics.  Default table parameters are scored once in the float64 physics.  The report
(:func:`diffland.experiment.report.write_report`) writes ``report.md``, ``report.html``, ``results.csv`` and
the figures.
"""
from __future__ import annotations

import dataclasses
import json
import time as _time
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["EXPERIMENTS", "PaperSettings", "settings_for", "experiment_id", "run_paper"]

LOSS_KIND = {"global": "global_rmse_z", "regime": "regime_balanced"}
#: the eight matrix cells: (route, a/b on, loss)
EXPERIMENTS = tuple((route, ab, loss) for route in ("surrogate", "direct") for ab in (True, False)
                    for loss in ("global", "regime"))
PAPER = {"default_rmse": 0.10, "learned_rmse": 0.092}
CONUS_ATTRIBUTES = ["sand", "silt", "clay", "bulk_density", "water_capacity", "NDVI", "flag_albedo",
                    "flag_roughness", "flag_vegDense", "flag_waterbody", "clim_P", "clim_PET", "clim_T", "clim_AI"]
CONUS_PERIODS = (("2015-04-01", "2016-03-31"), ("2016-04-01", "2017-03-31"))
QUICK_PERIODS = (("2015-04-01", "2015-05-30"), ("2015-05-31", "2015-06-29"))


def experiment_id(route: str, ab: bool, loss: str) -> str:
    """``route|ab|loss``, e.g. ``surrogate|ab|global`` (the paper's setting)."""
    return f"{route}|{'ab' if ab else 'noab'}|{loss}"


@dataclasses.dataclass
class PaperSettings:
    """Sizes of one experiment run (``settings_for(quick)`` gives the two presets)."""

    quick: bool = False
    epochs: int = 3
    lr: float = 0.005
    batch_cells: int = 45
    window_days: int = 30
    spinup_days: int = 60
    hidden: tuple = (64, 64)
    holdout_fraction: float = 0.2
    val_fraction: float = 0.1
    members: int = 16            # ensemble members per training cell (member 0 = table default)
    sur_hidden: int = 64
    sur_epochs: int = 60
    sur_lr: float = 3e-3
    outer: int = 0               # surrogate outer iterations
    max_cells_quick: int = 8
    seed: int = 0


def settings_for(quick: bool, **overrides) -> PaperSettings:
    s = PaperSettings(quick=True, epochs=1, lr=0.01, batch_cells=6, window_days=15, spinup_days=15, hidden=(16,),
                      holdout_fraction=0.25, val_fraction=0.0, members=3, sur_hidden=16, sur_epochs=15) \
        if quick else PaperSettings()
    for k, v in overrides.items():
        if v is not None:
            if not hasattr(s, k):
                raise ValueError(f"unknown experiment setting {k!r}; allowed: {[f.name for f in dataclasses.fields(s)]}")
            setattr(s, k, v)
    return s


# ------------------------------------------------------------------------------------------------
def _load(data: str, s: PaperSettings) -> tuple:
    """Data set and (train, test) periods; quick mode: at most ``max_cells_quick`` cells and 90 days."""
    from diffland.learning.data import load_dataset, select_period

    spec = data
    kind = data.split(":", 1)[0] if ":" in data else ""
    if s.quick and kind == "hydrodl" and "cells=" not in data:
        spec = data + ("&" if "?" in data else "?") + "cells=0:312:39"
    ds = load_dataset(spec)
    if s.quick and ds.sizes["cell"] > s.max_cells_quick:
        step = int(np.ceil(ds.sizes["cell"] / s.max_cells_quick))
        ds = ds.isel(cell=slice(0, None, step))
    t0 = pd.Timestamp(ds["time"].values[0])
    t1 = pd.Timestamp(ds["time"].values[-1])
    periods = QUICK_PERIODS if s.quick else CONUS_PERIODS
    if not (t0.normalize() <= pd.Timestamp(periods[0][0]) and pd.Timestamp(periods[1][1]) <= t1.normalize()):
        days = (t1.normalize() - t0.normalize()).days
        if s.quick:
            days = min(days, 90)
        half = days * 2 // 3 if s.quick else days // 2
        a = t0.normalize() + pd.Timedelta(days=1 if t0 != t0.normalize() else 0)
        periods = ((str(a.date()), str((a + pd.Timedelta(days=half - 1)).date())),
                   (str((a + pd.Timedelta(days=half)).date()), str((a + pd.Timedelta(days=days - 1)).date())))
    if s.quick:
        ds = select_period(ds, periods[0][0], periods[1][1])
    return ds, periods, spec


def _base_config(s: PaperSettings, ds: xr.Dataset, periods, dt: float) -> dict:
    attrs = CONUS_ATTRIBUTES if all(a in ds for a in CONUS_ATTRIBUTES) else None
    return {
        "data": {"train_period": list(periods[0]), "test_period": list(periods[1]),
                 "holdout_fraction": s.holdout_fraction, "holdout_seed": s.seed, "dt": dt,
                 "attributes": attrs},
        "network": {"kind": "gA", "hidden": list(s.hidden)},
        "loss": {"kind": "cell_rmse", "bound_penalty": "raw", "bound_weight": 0.01},
        "optim": {"name": "adam", "lr": s.lr, "clip_norm": 1.0, "epochs": s.epochs, "batch_cells": s.batch_cells,
                  "window_days": s.window_days, "spinup_days": s.spinup_days, "spinup_cycles": 1,
                  "val_fraction": s.val_fraction, "val_split": "cells", "monitor": "val_rmse", "patience": 2,
                  "progress": False},
        "seed": s.seed,
    }


def _config(base: dict, route: str, ab: bool, loss: str, run_dir: Path) -> dict:
    cfg = json.loads(json.dumps(base))
    cfg["loss"]["kind"] = LOSS_KIND[loss]
    cfg["loss"]["ab_factors"] = bool(ab)
    cfg["output_dir"] = str(run_dir)
    return cfg


def _unit_from_learned(learned: xr.Dataset, layout, cells) -> np.ndarray:
    """Position of each learned value in its range, (cells, n_specs), from ``learned_<NAME>``."""
    lv = learned.sel(cell=cells)
    cols = []
    for sp in layout.specs:
        v = np.asarray(lv[f"learned_{sp.name}"].values, np.float64)
        if sp.log:
            u = (np.log(v) - np.log(sp.lo)) / (np.log(sp.hi) - np.log(sp.lo))
        else:
            u = (v - sp.lo) / (sp.hi - sp.lo)
        cols.append(np.clip(u, 0.001, 0.999))
    return np.stack(cols, 1)


class _Surrogate:
    """Builds and holds the surrogate shared by the surrogate runs (ensemble, targets, accuracy)."""

    def __init__(self, ds, cfg_dict, s: PaperSettings, log: Callable):
        from diffland.config import parse_config
        from diffland.learning.api import _splits, make_options
        from diffland.learning.data import Normaliser, prepare
        from diffland.learning.trainer import build_layout

        self.s, self.log = s, log
        cfg = parse_config(cfg_dict)
        self.options = make_options(cfg, ds)
        self.layout = build_layout(cfg, self.options.nsoil)
        sp = _splits(cfg, ds)
        self.train_idx = np.sort(np.concatenate([sp["train"], sp["val"]]))
        self.hold_idx = np.asarray(sp["holdout"])
        norm = Normaliser([], [], [], [0.0] * 8, [1.0] * 8, 0.0, 1.0)
        kw = dict(obs_var=cfg.data.obs_var, overpass_hour=cfg.data.overpass_hour, network_kind="gA")
        self.prep = prepare(ds.isel(cell=self.train_idx), norm, self.options, **kw)
        self.prep_hold = prepare(ds.isel(cell=self.hold_idx), norm, self.options, **kw) if len(self.hold_idx) else None
        t = np.asarray(self.prep.obs_time).astype("datetime64[D]")
        (a, b), (c, d) = cfg.data.train_period, cfg.data.test_period
        self.train_days = (t >= np.datetime64(str(a), "D")) & (t <= np.datetime64(str(b), "D"))
        self.test_days = (t >= np.datetime64(str(c), "D")) & (t <= np.datetime64(str(d), "D"))
        self.spinup_days, self.window_days = s.spinup_days, s.window_days
        self.model = None
        self.accuracy: dict = {}
        self.seconds = 0.0
        self.ens = None
        self.targets = None

    def _simulate(self, prep, ens):
        from diffland.learning.surrogate import simulate_ensemble

        return simulate_ensemble(prep, ens, self.options, spinup_days=self.spinup_days,
                                 window_days=self.window_days)

    def build(self, around: Optional[np.ndarray] = None, seed: int = 0):
        from diffland.learning.surrogate import make_ensemble, surrogate_accuracy, train_surrogate

        t0 = _time.time()
        s = self.s
        ens = make_ensemble(self.prep, self.layout, s.members, s.seed + seed, around=around)
        targ = self._simulate(self.prep, ens)
        self.log(f"  surrogate ensemble: {len(ens['member'])} columns ({self.prep.ncell} cells x {s.members} "
                 f"members) simulated in {_time.time() - t0:.0f} s")
        if self.ens is not None:  # outer iteration: keep the earlier members
            ens = _concat_ens(self.ens, ens, self.prep.ncell)
            targ = np.concatenate([self.targets, targ], 1)
        self.ens, self.targets = ens, targ
        t1 = _time.time()
        self.model, fit = train_surrogate(self.prep, ens, targ, options=self.options, hidden=s.sur_hidden,
                                          epochs=s.sur_epochs, lr=s.sur_lr, seed=s.seed + seed,
                                          train_days=self.train_days, warmup_days=min(30, s.spinup_days))
        acc = {f"fit_{k}": v for k, v in fit.items() if isinstance(v, (int, float))}
        test = surrogate_accuracy(self.model, self.prep, ens, targ, self.options, days=self.test_days)
        acc.update({f"test_{k}": v for k, v in test.items() if isinstance(v, (int, float))})
        if self.prep_hold is not None:
            from diffland.learning.surrogate import make_ensemble as _me

            eh = _me(self.prep_hold, self.layout, 1, s.seed)
            th = self._simulate(self.prep_hold, eh)
            hold = surrogate_accuracy(self.model, self.prep_hold, eh, th, self.options, days=None)
            acc.update({f"holdout_default_{k}": v for k, v in hold.items() if isinstance(v, (int, float))})
        self.accuracy = acc
        self.seconds += _time.time() - t0
        self.log(f"  surrogate trained in {_time.time() - t1:.0f} s: " +
                 ", ".join(f"{k}={v:.4f}" for k, v in acc.items() if "rmse" in k or k.endswith("_r")))
        return self.model


def _concat_ens(a: dict, b: dict, ncell: int) -> dict:
    """Union of two ensembles of the same cells (columns ordered cell-major again)."""
    ka = len(a["member"]) // ncell
    kb = len(b["member"]) // ncell
    order_a = np.arange(ncell * ka).reshape(ncell, ka)
    order_b = np.arange(ncell * kb).reshape(ncell, kb)
    out = {"params": {}}
    for k in a["params"]:
        va, vb = np.asarray(a["params"][k]), np.asarray(b["params"][k])
        xa = va[..., order_a]
        xb = vb[..., order_b]
        out["params"][k] = np.concatenate([xa, xb], -1).reshape(va.shape[:-1] + (-1,))
    out["unit"] = np.concatenate([np.asarray(a["unit"])[order_a], np.asarray(b["unit"])[order_b]], 1).reshape(
        ncell * (ka + kb), -1)
    out["cell_index"] = np.repeat(np.arange(ncell), ka + kb)
    out["member"] = np.tile(np.arange(ka + kb), ncell)
    return out


def _scores(series: dict, periods: dict, which: str, ab=None) -> dict:
    """Per-period per-cell metrics of one simulated series (days, cells) [+ a/b]."""
    from diffland.learning.transfer import cell_metrics

    sim = np.asarray(series[which], np.float64)
    if ab is not None:
        sim = ab[0][None, :] * sim + ab[1][None, :]
    t = series["obs_time"]
    out = {}
    for name, (a, b) in periods.items():
        sel = (t >= np.datetime64(str(a), "D")) & (t <= np.datetime64(str(b), "D"))
        out[name] = cell_metrics(sim[sel], series["obs"][sel])
    return out


def run_paper(data: str, out, *, quick: bool = False, experiments: Optional[Sequence[str]] = None,
              log: Callable = print, report: bool = True, compile_cache: bool = True, **overrides) -> dict:
    """Run the experiment matrix on ``data`` (``KIND:PATH``) and write the report into ``out``.

    Args:
        data: data set spec (e.g. ``hydrodl:../shared/data/conus_smap`` or ``...?cells=0:312:6``).
        out: output folder (``runs/<experiment>/`` run directories, ``surrogate/``, ``report.md``, ...).
        quick: small preset (<= 8 cells, 60 + 30 days, 1 epoch) for tests and smoke runs.
        experiments: subset of experiment ids (default: all eight).
        compile_cache: keep compiled programs in JAX's persistent compilation cache
            (:func:`diffland.compile_cache.persistent_compile_cache`, ``$DIFFLAND_CACHE/jax``): runs that
            differ only in their loss share one training program, and a repeated call loads the
            programs instead of compiling them.
        overrides: :class:`PaperSettings` fields (``epochs``, ``members``, ``outer``, ...).
    Returns:
        dict with ``cells`` (the per-cell table), ``report`` (paths returned by ``write_report``), ``meta``.
    """
    if not compile_cache:
        return _run_paper(data, out, quick, experiments, log, report, overrides, None)
    from diffland.compile_cache import persistent_compile_cache

    with persistent_compile_cache() as use:
        log(f"compiled programs are cached in {use.path}")
        return _run_paper(data, out, quick, experiments, log, report, overrides, use)


def _run_paper(data, out, quick, experiments, log, report, overrides, cache_use) -> dict:
    from diffland.learning.api import train, transfer_check
    from diffland.learning.data import steps_per_day

    t_start = _time.time()
    s = settings_for(quick, **overrides)
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    ds, periods, spec = _load(data, s)
    dt = 86400.0 / steps_per_day(ds)
    base = _base_config(s, ds, periods, dt)
    base["data"]["source"] = spec
    todo = [e for e in EXPERIMENTS if experiments is None or experiment_id(*e) in experiments]
    if not todo:
        raise ValueError(f"no experiment selected; ids are {[experiment_id(*e) for e in EXPERIMENTS]}")
    log(f"paper experiment: {ds.sizes['cell']} cells, train {periods[0]}, test {periods[1]}, "
        f"{len(todo)} runs, {'quick' if s.quick else 'full'} settings")
    pdict = {"train": periods[0], "test": periods[1]}

    sur = None
    if any(e[0] == "surrogate" for e in todo):
        log("building the surrogate (perturbed-parameter ensemble + LSTM)")
        sur = _Surrogate(ds, _config(base, "surrogate", False, "global", out / "runs" / "x"), s, log)
        sur.build()
        from diffland.learning.surrogate import save_surrogate

        (out / "surrogate").mkdir(exist_ok=True)
        save_surrogate(out / "surrogate" / "surrogate.eqx", sur.model)

    wall, rows, learned_ds, trans_series = {}, [], {}, {}
    default_scores, default_series = None, None
    at_learned = {}
    for route, ab, loss in todo:
        eid = experiment_id(route, ab, loss)
        run_dir = out / "runs" / eid.replace("|", "_")
        t0 = _time.time()
        cfg = _config(base, route, ab, loss, run_dir)
        done = _load_done(run_dir, cfg, s)
        if done is not None:  # finished in an earlier call with the same configuration: reuse it
            log(f"[{eid}] reusing the finished run in {run_dir}")
            rows.append(done["cells"])
            learned_ds[eid] = xr.load_dataset(run_dir / "learned_params.nc")
            trans_series[eid] = done["series"]
            wall[eid] = done["wall"]
            if done.get("at_learned"):
                at_learned[eid] = done["at_learned"]
            if default_scores is None and (out / "default_series.npz").exists():
                z = np.load(out / "default_series.npz", allow_pickle=False)
                default_series = {k: z[k] for k in z.files}
                default_scores = _scores(default_series, pdict, "default")
            continue
        model = sur.model if route == "surrogate" else None
        log(f"[{eid}] training ({'through the frozen surrogate' if model is not None else 'through the physics'})")
        train(cfg, ds, model=model, nan_policy="skip")
        if route == "surrogate" and s.outer > 0:
            from diffland.learning.api import apply

            own = _Surrogate(ds, cfg, s, log)  # this run's own surrogate, grown around its parameters
            own.ens, own.targets = sur.ens, sur.targets
            for it in range(s.outer):
                around = _unit_from_learned(apply(run_dir, ds), own.layout, ds["cell"].values[own.train_idx])
                log(f"[{eid}] outer iteration {it + 1}/{s.outer}: ensemble around the learned parameters")
                model = own.build(around=around, seed=100 + it)
                train(cfg, ds, model=model, nan_policy="skip")
            at_learned.setdefault(eid, {}).update({f"outer_{k}": v for k, v in own.accuracy.items()})
        wall[eid] = round(_time.time() - t0, 1)
        log(f"[{eid}] trained in {wall[eid]:.0f} s; transfer check (float64 physics, no a/b)")
        if default_scores is None:
            d = transfer_check(run_dir, ds, which=("default",), return_series=True)
            default_scores = _scores(d.series, pdict, "default")
            default_series = d.series
        tr = transfer_check(run_dir, ds, which=("learned",), return_series=True)
        learned = xr.load_dataset(run_dir / "learned_params.nc")
        learned_ds[eid] = learned
        trans_series[eid] = tr.series["learned"]
        t_scores = _scores(tr.series, pdict, "learned")
        # skill in the model used for training (float32; a/b applied when on)
        m = transfer_check(run_dir, ds, which=("learned",), return_series=True, precision="float32",
                           model=model)
        abv = None
        if ab and "ab_a" in learned:
            abv = (np.asarray(learned["ab_a"].sel(cell=m.series["cell"]).values, np.float64),
                   np.asarray(learned["ab_b"].sel(cell=m.series["cell"]).values, np.float64))
        m_scores = _scores(m.series, pdict, "learned", ab=abv)
        if route == "surrogate":
            diff = np.asarray(m.series["learned"], np.float64) - np.asarray(tr.series["learned"], np.float64)
            at_learned.setdefault(eid, {}).update(
                rmse_sur_vs_phys=float(np.sqrt(np.nanmean(diff ** 2))), bias_sur_vs_phys=float(np.nanmean(diff)))
        pc = tr.per_cell[tr.per_cell["period"] == "train"]
        meta_c = pc[["cell", "lat", "lon", "group", "regime"]].reset_index(drop=True)
        for period in pdict:
            df = meta_c.copy()
            df.insert(0, "period", period)
            df.insert(0, "loss", loss)
            df.insert(0, "ab", bool(ab))
            df.insert(0, "route", route)
            df.insert(0, "experiment", eid)
            dsc, tsc, msc = default_scores[period], t_scores[period], m_scores[period]
            df["rmse_default"], df["rmse_model"], df["rmse_transfer"] = dsc["rmse"], msc["rmse"], tsc["rmse"]
            df["bias_default"], df["bias_transfer"] = dsc["bias"], tsc["bias"]
            df["r_default"], df["r_transfer"] = dsc["r"], tsc["r"]
            df["ubrmse_default"], df["ubrmse_transfer"] = dsc["ubrmse"], tsc["ubrmse"]
            rows.append(df)
        _save_done(run_dir, cfg, s, pd.concat(rows[-2:], ignore_index=True), tr.series["learned"], wall[eid],
                   at_learned.get(eid))
        if not (out / "default_series.npz").exists():
            np.savez(out / "default_series.npz", **{k: np.asarray(v) for k, v in default_series.items()})
        te = rows[-1]
        log(f"[{eid}] test median RMSE default {np.nanmedian(te['rmse_default']):.4f} -> in training model "
            f"{np.nanmedian(te['rmse_model']):.4f}, after transfer {np.nanmedian(te['rmse_transfer']):.4f}")
    cells = pd.concat(rows, ignore_index=True)
    cells.to_csv(out / "cells.csv", index=False)
    series = _example_series(cells, default_series, trans_series)
    wall["total"] = round(_time.time() - t_start, 1)  # this call (runs reused from earlier calls cost ~0 here)
    wall["runs_and_surrogate"] = round(sum(float(wall[experiment_id(*e)]) for e in todo)
                                       + (sur.seconds if sur is not None else 0.0), 1)
    surrogate = None
    if sur is not None:
        surrogate = {"accuracy": sur.accuracy, "at_learned": at_learned,
                     "ensemble": {"members": s.members, "cells": int(sur.prep.ncell),
                                  "columns": int(len(sur.ens["member"]))},
                     "seconds": round(sur.seconds, 1)}
    meta = {"data": spec, "n_cells": int(ds.sizes["cell"]), "quick": bool(s.quick),
            "train_period": list(periods[0]), "test_period": list(periods[1]), "wall_seconds": wall,
            "command": f"diffland experiment paper --data {data} --out {out}" + (" --quick" if quick else ""),
            "paper": PAPER, "settings": dataclasses.asdict(s),
            "compile_cache": None if cache_use is None else {"path": str(cache_use.path), "hits": cache_use.hits}}
    (out / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
    paths = {}
    if report:
        from diffland.experiment.report import write_report

        paths = write_report(out, cells, series=series, learned=learned_ds, surrogate=surrogate, meta=meta)
    log(f"report: {paths.get('report_md')} ({wall['total']:.0f} s in all)")
    return {"cells": cells, "report": paths, "meta": meta, "surrogate": surrogate}


_SURROGATE_SETTINGS = ("members", "sur_hidden", "sur_epochs", "sur_lr", "outer")


def _done_key(cfg: dict, s: PaperSettings) -> dict:
    """What must match for a finished run to be reused (surrogate settings only matter to surrogate runs)."""
    st = dataclasses.asdict(s)
    if "direct" in Path(cfg["output_dir"]).name:
        st = {k: v for k, v in st.items() if k not in _SURROGATE_SETTINGS}
    return {"config": cfg, "settings": st}


def _save_done(run_dir: Path, cfg, s, cells: pd.DataFrame, series, wall, at_learned) -> None:
    """Scores of a finished matrix cell, so that a re-run of the experiment (after an interruption, or to add
    experiments) reuses it; written last and atomically (``done.json`` marks completion)."""
    from diffland.learning.trainer import atomic_write_text

    cells.to_csv(run_dir / "experiment_cells.csv", index=False)
    np.save(run_dir / "transfer_series.npy", np.asarray(series, np.float64))
    atomic_write_text(run_dir / "done.json", json.dumps({**_done_key(cfg, s), "wall": wall,
                                                         "at_learned": at_learned}, default=str))


def _load_done(run_dir: Path, cfg, s):
    f = run_dir / "done.json"
    if not f.exists():
        return None
    d = json.loads(f.read_text())
    if json.loads(json.dumps(_done_key(cfg, s), default=str)) != {k: d[k] for k in ("config", "settings")}:
        return None
    cells = pd.read_csv(run_dir / "experiment_cells.csv")
    cells["ab"] = cells["ab"].astype(bool)
    return {"cells": cells, "series": np.load(run_dir / "transfer_series.npy"), "wall": d["wall"],
            "at_learned": d.get("at_learned")}


def _example_series(cells: pd.DataFrame, default_series: dict, trans: dict) -> dict:
    """Example cells: the arid and the humid cell with the most test-period observations."""
    ids = list(np.asarray(default_series["cell"]))
    obs = default_series["obs"]
    out = {}
    first = cells[(cells["experiment"] == cells["experiment"].iloc[0]) & (cells["period"] == "test")]
    for cls in ("arid", "humid"):
        cand = first[first["regime"] == cls]
        if cls == "arid" and cand.empty:
            cand = first[first["regime"] == "semi-arid"]
        if cand.empty:
            continue
        nobs = [np.isfinite(obs[:, ids.index(c)]).sum() for c in cand["cell"]]
        row = cand.iloc[int(np.argmax(nobs))]
        j = ids.index(row["cell"])
        out[cls] = {"cell": row["cell"], "lat": float(row["lat"]), "lon": float(row["lon"]),
                    "regime": row["regime"], "time": default_series["obs_time"], "obs": obs[:, j],
                    "default": np.asarray(default_series["default"])[:, j],
                    "learned": {e: np.asarray(v)[:, j] for e, v in trans.items()}}
    return out
