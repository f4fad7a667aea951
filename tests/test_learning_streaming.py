"""Streaming (issue 7): with ``optim.stream`` the forcing stays lazy (Dask) and the trainer reads one
minibatch of cells at a time; the result equals in-memory training when the batch order is the same."""
import numpy as np
import pandas as pd
import xarray as xr

import learning_standin as S
from diffland.learning import api
from diffland.learning import data as D


def _cfg(out, stream, batch=10, **optim):
    return {"data": {"train_period": ["2015-04-01", "2015-05-30"], "holdout_fraction": 0.0},
            "params": {"learned": [{"name": "SMCMAX", "lo": 0.3, "hi": 0.55},
                                   {"name": "DKSAT", "lo": 5e-7, "hi": 3e-5, "log": True}]},
            "network": {"hidden": [8]}, "loss": {"kind": "global_rmse_z"},
            "optim": {"epochs": 3, "batch_cells": batch, "window_days": 20, "spinup_days": 20, "lr": 0.02,
                      "val_fraction": 0.0, "progress": False, "stream": stream, **optim},
            "seed": 5, "output_dir": str(out)}


def test_streaming_equals_in_memory_and_reads_only_minibatches(tmp_path, monkeypatch):
    ds = S.make_dataset(ncell=10, ndays=60, seed=3)
    lazy = ds.chunk({"cell": 5})
    assert hasattr(lazy["T2D"].data, "dask")
    seen = []
    real = D.materialise

    def spy(data, cells, options, read=None):
        assert not isinstance(data.forcing["T2D"], np.ndarray)  # the full forcing is never loaded
        assert read is None  # one process: it reads every cell of the minibatch
        seen.append(len(cells))
        return real(data, cells, options, read=read)

    monkeypatch.setattr("diffland.learning.trainer.materialise", spy)
    # one minibatch holding every cell: the in-memory permutation and the streamed block order see the same
    # cells, so the trajectories agree to float round-off
    a = api.train(_cfg(tmp_path / "mem", False), ds, model=S)
    b = api.train(_cfg(tmp_path / "stream", True), lazy, model=S)
    assert seen and set(seen) == {10}
    ma, mb = pd.read_csv(a / "metrics.csv"), pd.read_csv(b / "metrics.csv")
    np.testing.assert_allclose(ma["train_loss"], mb["train_loss"], rtol=1e-5)
    la, lb = xr.load_dataset(a / "learned_params.nc"), xr.load_dataset(b / "learned_params.nc")
    np.testing.assert_allclose(la["SMCMAX"].values, lb["SMCMAX"].values, rtol=1e-5)


def test_stream_batches_are_contiguous_blocks_and_bounded(tmp_path, monkeypatch):
    ds = S.make_dataset(ncell=12, ndays=60, seed=1).chunk({"cell": 4})
    got = []
    real = D.materialise

    def spy(data, cells, options, read=None):
        got.append(np.asarray(cells).copy())
        return real(data, cells, options, read=read)

    monkeypatch.setattr("diffland.learning.trainer.materialise", spy)
    run = api.train(_cfg(tmp_path / "s", True, batch=4, epochs=1, max_batches_per_epoch=2), ds, model=S)
    assert len(got) == 2  # max_batches_per_epoch
    for c in got:
        assert len(c) == 4 and np.all(np.diff(np.sort(c)) == 1) and c.min() % 4 == 0
    assert pd.read_csv(run / "metrics.csv")["n_steps"].iloc[0] == 2 * 3  # 2 batches x 3 windows


def test_prepare_lazy_keeps_forcing_lazy():
    ds = S.make_dataset(ncell=6, ndays=30, seed=2).chunk({"cell": 3})
    from diffland.physics.options import Options

    norm = D.Normaliser([], [], [], [0.0] * 8, [1.0] * 8, 0.0, 1.0)
    opts = Options(dt=86400.0 / D.steps_per_day(ds))
    p = D.prepare(ds, norm, opts, lazy=True)
    assert hasattr(p.forcing["T2D"], "dask") and "COSZ" not in p.forcing and D.is_lazy(p)
    m = D.materialise(p, np.array([2, 3]), opts)
    full = D.prepare(ds.compute(), norm, opts)
    np.testing.assert_allclose(m.forcing["T2D"], full.forcing["T2D"][:, 2:4])
    np.testing.assert_allclose(m.forcing["COSZ"], full.forcing["COSZ"][:, 2:4], rtol=1e-5, atol=1e-6)
    for k in full.initial:
        np.testing.assert_allclose(m.initial[k], full.initial[k][..., 2:4], rtol=1e-6)
    # ``read``: only these positions of the minibatch are read (a process's own cells); the others stay zero
    part = D.materialise(p, np.array([1, 2, 3, 4]), opts, read=np.array([2, 3]))
    np.testing.assert_allclose(part.forcing["T2D"][:, 2:], full.forcing["T2D"][:, 3:5])
    assert not part.forcing["T2D"][:, :2].any() and not part.forcing["RAINRATE"][:, :2].any()
