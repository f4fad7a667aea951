"""Checkpoint / resume: a run killed after k epochs and resumed ends bit-identical to an uninterrupted run."""
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import learning_standin as S
from diffland.learning import api


class Killed(Exception):
    pass


def _cfg(out, epochs=4):
    return {"data": {"train_period": ["2015-04-01", "2015-05-30"], "holdout_fraction": 0.0},
            "params": {"learned": [{"name": "SMCMAX", "lo": 0.3, "hi": 0.55},
                                   {"name": "DKSAT", "lo": 5e-7, "hi": 3e-5, "log": True}]},
            "network": {"hidden": [8]}, "loss": {"kind": "cell_rmse"},
            "optim": {"epochs": epochs, "batch_cells": 4, "window_days": 20, "spinup_days": 20, "lr": 0.02,
                      "val_fraction": 0.2, "patience": 10, "progress": False},
            "seed": 11, "output_dir": str(out)}


def test_killed_and_resumed_run_is_bit_identical(tmp_path):
    ds = S.make_dataset(ncell=10, ndays=60, seed=1)
    full = api.train(_cfg(tmp_path / "full"), ds, model=S)

    def kill(epoch, rec):
        if epoch == 1:
            raise Killed()

    with pytest.raises(Killed):
        api.train(_cfg(tmp_path / "part"), ds, model=S, on_epoch_end=kill)
    latest = json.loads((tmp_path / "part/checkpoints/latest.json").read_text())
    assert latest["epoch"] == 1
    assert not (tmp_path / "part/model.eqx").exists()
    seen = []
    part = api.train(_cfg(tmp_path / "part"), ds, model=S, resume=True, on_epoch_end=lambda e, r: seen.append(e))
    assert seen == [2, 3]  # continued, not restarted

    assert (full / "model.eqx").read_bytes() == (part / "model.eqx").read_bytes()
    a = sorted((full / "checkpoints").glob("epoch_*.eqx"))[-1]
    b = sorted((part / "checkpoints").glob("epoch_*.eqx"))[-1]
    assert a.name == b.name and a.read_bytes() == b.read_bytes()  # network, optimiser state, best network
    ma, mb = pd.read_csv(full / "metrics.csv"), pd.read_csv(part / "metrics.csv")
    cols = [c for c in ma.columns if c != "seconds"]
    pd.testing.assert_frame_equal(ma[cols], mb[cols])
    assert len(ma) == 4
    la, lb = xr.open_dataset(full / "learned_params.nc"), xr.open_dataset(part / "learned_params.nc")
    np.testing.assert_array_equal(la["SMCMAX"].values, lb["SMCMAX"].values)
    la.close(), lb.close()
    meta = json.loads((part / "checkpoints" / latest["meta"].replace("0001", "0003")).read_text())
    assert meta["seed"] == 11 and len(meta["key"]) == 2 and len(meta["history"]) == 4
    # only the last keep_checkpoints (2) epochs are kept
    assert len(list((part / "checkpoints").glob("epoch_*.eqx"))) == 2


def test_resume_refuses_a_changed_config(tmp_path):
    ds = S.make_dataset(ncell=6, ndays=60, seed=2, truth=False)
    ds["SMAP_AM"] = ds["SMAP_AM"].fillna(0.3)
    cfg = _cfg(tmp_path / "r", epochs=1)
    api.train(cfg, ds, model=S)
    cfg["optim"]["lr"] = 0.5
    with pytest.raises(ValueError, match="optim.lr"):
        api.train(cfg, ds, model=S, resume=True)
