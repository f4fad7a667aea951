"""Per-cell DDS calibration against gridded soil moisture (e.g. SMAP), the classic baseline for
parameter learning.

Every cell is calibrated independently with :func:`diffland.calibration.dds_cells`: one objective
call = ONE model run over all selected cells (each cell with its own candidate), so the budget
counts model runs per cell. Same parameters and ranges as the single-site case
(:data:`diffland.calibration.pointcal.SPACE`: BEXP, SMCMAX, DKSAT (log), PSISAT (log), RSURF_EXP;
the derived DWSAT/SMCWLT/SMCDRY/SMCREF recomputed); objective = RMSE of the top-layer soil moisture
``SOIL_M1`` at the overpass step (:func:`diffland.learning.data.overpass_indices`) against the
observation variable (default ``SMAP_AM``) over the training period. The data set layout is the
one of :mod:`diffland.learning.data` (default parameters from ``soil_class``/``veg_class``, initial
state from :func:`diffland.learning.data.initial_conditions`).

Evaluation: one float32 run from the start of the training period to the end of the test period
with the default, the calibrated and (optionally) the learned parameters; RMSE per cell on each
period. Cells without per-cell calibration (held out of training) keep the defaults.
"""
from __future__ import annotations

import time as _time

import numpy as np
import xarray as xr

from .dds import dds_cells
from .pointcal import PARAMS, from_unit, to_unit

__all__ = ["calibrate_cells"]


def _obs(ds, obs_var, hour, time):
    from diffland.learning.data import overpass_indices

    idx = overpass_indices(time, ds["obs_time"].values, ds["lon"].values, hour)
    obs = np.asarray(ds[obs_var].transpose("obs_time", "cell").values, float)
    day = np.asarray(ds["obs_time"].values, "datetime64[D]")
    return idx, obs, day


def _rmse(sm, idx, obs, mask):
    c = np.arange(sm.shape[1])[None, :]
    sim = sm[np.clip(idx, 0, sm.shape[0] - 1), c]
    ok = mask & np.isfinite(obs) & (idx < sm.shape[0])
    err = np.where(ok, sim - obs, 0.0)
    n = ok.sum(0)
    return np.where(n > 0, np.sqrt((err ** 2).sum(0) / np.maximum(n, 1)), np.nan), n


def calibrate_cells(ds: xr.Dataset, *, train_period, test_period, budget: int = 64, seed: int = 0,
                    obs_var: str = "SMAP_AM", overpass_hour: float = 6.0, options=None,
                    learned: xr.Dataset | None = None, holdout=None) -> dict:
    """Per-cell DDS on the cells of ``ds``; returns a dict of per-cell RMSE and timings.

    Args:
        ds: data set (learning layout) restricted to the cells to use.
        train_period, test_period: ``(start, end)`` dates; calibration uses the training period only.
        budget: model runs (each run evaluates one candidate for every cell).
        learned: optional ``learned_params.nc`` dataset (matched by ``cell`` id) for the comparison.
        holdout: optional cell ids that are not calibrated (they keep the defaults, as a per-cell
            calibration has no observation to use there).
    """
    from diffland.learning.data import default_params_from_dataset, initial_conditions, select_period
    from diffland.parameters import derive_soil_params
    from diffland.physics.options import Options
    from diffland.simulate import simulate

    t0 = _time.perf_counter()
    whole = select_period(ds, train_period[0], test_period[1])
    time = whole["time"].values
    dt = float((time[1] - time[0]) / np.timedelta64(1, "s"))
    options = options or Options(dt=dt)
    forcing = {k: np.asarray(whole[k].transpose("time", "cell").values, float)
               for k in ("T2D", "Q2D", "U2D", "V2D", "PSFC", "SWDOWN", "LWDOWN", "RAINRATE")}
    defaults = default_params_from_dataset(whole, options)
    initial = initial_conditions(whole, defaults, options, forcing["T2D"])
    lat, lon = whole["lat"].values, whole["lon"].values
    ids = np.asarray(whole["cell"].values)
    n = ids.size
    idx, obs, day = _obs(whole, obs_var, overpass_hour, time)
    tr_end = np.datetime64(str(train_period[1]), "D")
    train_mask = (day <= tr_end)[:, None] & np.ones((1, n), bool)
    test_mask = (day > tr_end)[:, None] & np.ones((1, n), bool)
    n_train = int(np.searchsorted(time.astype("datetime64[s]"), (tr_end + 1).astype("datetime64[s]"), "right"))

    def params_for(values):
        p = {k: np.array(v, np.float64, copy=True) for k, v in defaults.items()}
        for j, name in enumerate(PARAMS):
            p[name] = np.broadcast_to(values[:, j], p[name].shape).copy()
        p.update(derive_soil_params(p["BEXP"], p["SMCMAX"], p["DKSAT"], p["PSISAT"]))
        return {k: np.asarray(v, np.float32) for k, v in p.items()}

    def run(p, steps):
        f = {k: v[:steps] for k, v in forcing.items()}
        return simulate(f, p, options, initial, time=time[:steps], lat=lat, lon=lon, precision="float32",
                        checkpoint=False)["SOIL_M1"]

    def objective(unit):
        r, _ = _rmse(run(params_for(from_unit(unit)), n_train), idx, obs, train_mask)
        return np.where(np.isfinite(r), r, np.inf)

    default_vals = np.stack([np.ravel(np.asarray(defaults[k])[..., :][0] if np.ndim(defaults[k]) == 2
                                      else defaults[k]) for k in PARAMS], axis=1)
    tc = _time.perf_counter()
    res = dds_cells(objective, np.zeros(len(PARAMS)), np.ones(len(PARAMS)), budget, n_cells=n, seed=seed,
                    x0=to_unit(default_vals))
    calib_s = _time.perf_counter() - tc
    best = from_unit(res.x)
    held = np.isin(ids, np.asarray([] if holdout is None else holdout))
    best[held] = default_vals[held]
    sets = {"default": {k: np.asarray(v, np.float32) for k, v in defaults.items()}, "dds": params_for(best)}
    if learned is not None:
        lp = {k: np.array(v, np.float32, copy=True) for k, v in defaults.items()}
        sub = learned.sel(cell=ids) if "cell" in learned.coords else learned
        for k in lp:
            if k in sub.data_vars:
                da = sub[k]
                da = da.transpose(*[d for d in da.dims if d != "cell"], "cell")
                lp[k] = np.broadcast_to(np.asarray(da.values, np.float32), lp[k].shape).copy()
        sets["learned"] = lp
    out = {"cells": ids.tolist(), "held_out": held.tolist(), "budget_model_runs": int(budget),
           "calibration_wall_s": calib_s, "rmse": {}}
    for name, p in sets.items():
        sm = run(p, len(time))
        out["rmse"][name] = {"train": _rmse(sm, idx, obs, train_mask)[0].tolist(),
                             "test": _rmse(sm, idx, obs, test_mask)[0].tolist()}
    out["n_obs"] = {"train": _rmse(np.zeros((len(time), n)), idx, obs, train_mask)[1].tolist(),
                    "test": _rmse(np.zeros((len(time), n)), idx, obs, test_mask)[1].tolist()}
    out["calibrated"] = {k: best[:, j].tolist() for j, k in enumerate(PARAMS)}
    out["wall_s"] = _time.perf_counter() - t0
    return out
