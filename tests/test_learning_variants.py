"""Configuration variants run end to end on the stand-in: gZ + regime-balanced + Adadelta + time split,
learned initial soil moisture + free a/b + parameter-bound penalty, early stopping; data helpers."""
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import learning_standin as S
from diffland.learning import api
from diffland.learning.data import aridity_classes, overpass_indices
from diffland.learning.transfer import cell_metrics


@pytest.fixture(scope="module")
def ds():
    return S.make_dataset(ncell=8, ndays=80, seed=5)


def _cfg(out, **kw):
    c = {"data": {"train_period": ["2015-04-01", "2015-06-19"], "holdout_fraction": 0.0},
         "params": {"learned": [{"name": "SMCMAX", "lo": 0.3, "hi": 0.55},
                                {"name": "RSURF_EXP", "lo": 1, "hi": 6}]},
         "network": {"hidden": [8]},
         "optim": {"epochs": 3, "batch_cells": 8, "window_days": 20, "spinup_days": 20, "lr": 0.02,
                   "val_fraction": 0.0, "progress": False},
         "output_dir": str(out)}
    for k, v in kw.items():
        c[k] = {**c.get(k, {}), **v}
    return c


def test_gz_regime_adadelta_time_split(ds, tmp_path):
    cfg = _cfg(tmp_path / "gz", network={"kind": "gZ", "use_obs_history": True, "history_days": 40},
               loss={"kind": "regime_balanced", "regime_base": "nse"},
               optim={"name": "adadelta", "lr": 1.0, "val_split": "time", "val_fraction": 0.25, "patience": 5,
                      "progress": True})
    rd = api.train(cfg, ds, model=S)
    m = pd.read_csv(rd / "metrics.csv")
    assert len(m) == 3 and np.all(np.isfinite(m["val_loss"])) and np.all(np.isfinite(m["val_rmse"]))
    assert json.loads((rd / "summary.json").read_text())["windows_per_batch"] == 3  # 4 windows, 1 for validation
    lp = xr.open_dataset(rd / "learned_params.nc")
    assert np.all((lp["RSURF_EXP"].values >= 1) & (lp["RSURF_EXP"].values <= 6))
    lp.close()


def test_initial_sm_free_ab_param_penalty(ds, tmp_path):
    cfg = _cfg(tmp_path / "init", params={"learn_initial_sm": True},
               loss={"kind": "cell_rmse", "ab_factors": True, "ab_mode": "free", "bound_penalty": "params",
                     "bound_weight": 0.1},
               optim={"spinup_days": 0})
    rd = api.train(cfg, ds, model=S)
    lp = xr.open_dataset(rd / "learned_params.nc")
    assert lp["init_sm_frac"].dims == ("soil_layer", "cell")
    assert "ab_a" in lp and np.all(np.isfinite(lp["ab_a"].values))
    lp.close()
    res = api.transfer_check(rd, ds, model=S)
    assert np.isfinite(res.summary["train"]["all"]["learned"]["rmse_median"])


def test_early_stopping_keeps_best(ds, tmp_path):
    cfg = _cfg(tmp_path / "es", optim={"epochs": 6, "lr": 1e-9, "val_fraction": 0.25, "patience": 2,
                                       "min_delta": 1e-3})
    rd = api.train(cfg, ds, model=S)
    m = pd.read_csv(rd / "metrics.csv")
    assert len(m) == 3  # epoch 0 best, then 2 epochs without improvement
    s = json.loads((rd / "summary.json").read_text())
    assert s["stopped_early"] and s["best_epoch"] == 0
    sp = json.loads((rd / "splits.json").read_text())
    assert len(sp["val"]) == 2 and not set(sp["val"]) & set(sp["train"])


def test_overpass_indices_and_helpers():
    time = np.datetime64("2015-04-01T00:00") + np.arange(1, 49) * np.timedelta64(1, "h")
    obs_time = np.array(["2015-04-01", "2015-04-02"], "datetime64[D]")
    idx = overpass_indices(time, obs_time, np.array([0.0, -90.0, -97.5]))
    # 06:00 local solar: lon 0 -> 06 UTC (index 5), lon -90 -> 12 UTC (11), -97.5 -> 12:30 UTC (11 or 12)
    assert idx[0, 0] == 5 and idx[0, 1] == 11 and idx[0, 2] in (11, 12) and idx[1, 1] == 35
    assert aridity_classes([0.1, 0.3, 0.6, 1.2]).tolist() == [0, 1, 2, 3]
    sim = np.array([[0.2, 0.1], [0.3, 0.2], [0.4, np.nan]])
    obs = np.array([[0.25, np.nan], [0.3, 0.1], [0.35, 0.2]])
    m = cell_metrics(sim, obs)
    assert m["bias"][0] == pytest.approx(0.0) and m["rmse"][0] == pytest.approx(np.sqrt(0.005 / 3))
    assert m["ubrmse"][0] == pytest.approx(np.sqrt(0.005 / 3))
    assert m["n"][1] == 1 and np.isnan(m["rmse"][1])
    assert m["r"][0] == pytest.approx(np.corrcoef([0.2, 0.3, 0.4], [0.25, 0.3, 0.35])[0, 1])
