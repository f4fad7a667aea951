"""End-to-end training on the stand-in model: the loss falls, parameters move toward the synthetic truth,
the run directory is complete, and the transfer check runs float64 without a/b."""
import json

import jax
import numpy as np
import pytest
import xarray as xr

import learning_standin as S
from diffland.learning import api

PERIOD = ["2015-04-01", "2015-07-29"]


@pytest.fixture(scope="module")
def ds():
    return S.make_dataset(ncell=12, ndays=120, seed=0)


def _cfg(out, **kw):
    c = {"data": {"train_period": PERIOD, "holdout_fraction": 0.0},
         "params": {"learned": [{"name": "SMCMAX", "lo": 0.3, "hi": 0.55}, {"name": "BEXP", "lo": 3, "hi": 11}]},
         "network": {"hidden": [16]}, "loss": {"kind": "cell_rmse"},
         "optim": {"epochs": 12, "batch_cells": 8, "window_days": 20, "spinup_days": 20, "lr": 0.03,
                   "val_fraction": 0.0, "progress": False},
         "output_dir": str(out)}
    for k, v in kw.items():
        c[k] = {**c.get(k, {}), **v}
    return c


def test_training_reduces_loss_and_moves_params_toward_truth(ds, tmp_path):
    rd = api.train(_cfg(tmp_path / "run"), ds, model=S)
    # run-directory layout
    for f in ("config.yaml", "normalisation.json", "splits.json", "metrics.csv", "model.eqx", "learned_params.nc",
              "summary.json", "checkpoints/latest.json"):
        assert (rd / f).exists(), f
    import pandas as pd
    m = pd.read_csv(rd / "metrics.csv")
    assert len(m) == 12 and m["epoch"].tolist() == list(range(12))
    assert m["train_loss"].iloc[-3:].mean() < 0.75 * m["train_loss"].iloc[0]
    lp = xr.open_dataset(rd / "learned_params.nc")
    assert lp["SMCMAX"].dims == ("soil_layer", "cell") and lp["SMCMAX"].attrs["units"] == "m3 m-3"
    assert {"SMCREF", "SMCWLT", "DWSAT"} <= set(lp.data_vars)  # derived consistency on by default
    truth = np.array(ds.attrs["true_SMCMAX"])
    err_learned = np.abs(lp["SMCMAX"].values[0] - truth).mean()
    err_default = np.abs(0.42 - truth).mean()
    assert err_learned < 0.5 * err_default, (err_learned, err_default)
    assert np.all(lp["learned_BEXP"].values >= 3) and np.all(lp["learned_BEXP"].values <= 11)
    lp.close()
    # transfer check: float64, restores the x64 flag, learned beats default
    x64_before = bool(jax.config.jax_enable_x64)
    res = api.transfer_check(rd, ds, model=S, periods={"early": ("2015-04-01", "2015-05-31"),
                                                        "late": ("2015-06-01", "2015-07-29")})
    assert bool(jax.config.jax_enable_x64) == x64_before
    assert res.precision == "float64"
    for period in ("early", "late"):
        s = res.summary[period]["all"]
        assert s["learned"]["rmse_median"] < 0.6 * s["default"]["rmse_median"]
        assert set(res.summary[period]["by_regime"]) == {"arid", "semi-arid", "sub-humid", "humid"}
    mj = res.metrics_json("late")
    assert mj["summary"]["learned"]["rmse_median"] < mj["summary"]["default"]["rmse_median"]
    assert len(mj["cells"]) == 12 and {"lat", "lon", "regime", "rmse_default", "rmse_learned"} <= set(mj["cells"][0])
    json.dumps(mj)
    # apply() to a data set of new cells the network never saw
    other = S.make_dataset(ncell=5, ndays=120, seed=3, truth=False)
    new = api.apply(rd, other)
    assert new.sizes["cell"] == 5 and np.all(np.isfinite(new["SMCMAX"].values))


def test_ab_factors_add_outputs_and_are_excluded_from_transfer(ds, tmp_path):
    cfg = _cfg(tmp_path / "ab", loss={"kind": "global_rmse_z", "ab_factors": True},
               data={"holdout_fraction": 0.25},
               optim={"epochs": 3, "val_fraction": 0.0})
    rd = api.train(cfg, ds, model=S)
    lp = xr.open_dataset(rd / "learned_params.nc").load()
    assert "ab_a" in lp and "ab_b" in lp
    meta_a = api.load_learner(rd, 4)
    assert meta_a[1].n_out == 2 + 2
    # transfer from the run dir == transfer from the parameters without a/b, and a/b do not matter
    per = {"all": tuple(PERIOD)}
    r1 = api.transfer_check(rd, ds, model=S, periods=per, groups=None)
    no_ab = lp.drop_vars(["ab_a", "ab_b"])
    r2 = api.transfer_check(no_ab, ds, model=S, periods=per, spinup_days=20, window_days=20)
    crazy = lp.copy()
    crazy["ab_a"] = crazy["ab_a"] * 0 + 10.0
    crazy["ab_b"] = crazy["ab_b"] * 0 - 5.0
    r3 = api.transfer_check(crazy, ds, model=S, periods=per, spinup_days=20, window_days=20)
    a = r1.per_cell.sort_values(["params", "cell"])["rmse"].to_numpy()
    b = r2.per_cell.sort_values(["params", "cell"])["rmse"].to_numpy()
    c = r3.per_cell.sort_values(["params", "cell"])["rmse"].to_numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(b, c)
    assert set(r1.per_cell["group"]) == {"train", "holdout"}
    assert "holdout" in r1.summary["all"]


def test_runner_first_step_is_an_input_of_one_program():
    """``Runner.chunk`` / ``Runner.full`` take the first-step flag as an input: a window that starts the
    run and one that continues it give their own results from one compiled program."""
    import jax.numpy as jnp
    from jax import lax

    from diffland.learning.trainer import Runner

    class Toy:  # the state restarts from 0 at the model's first step, then accumulates the forcing
        @staticmethod
        def init_state(initial, params, options):
            return {"x": jnp.asarray(initial["x"])}

        @staticmethod
        def run(state0, forcing, params, options, lat, checkpoint=False, first_step=True, outputs=None):
            t = forcing["T2D"]
            first = (jnp.arange(t.shape[0]) == 0) & jnp.asarray(first_step)

            def step(x, a):
                x = jnp.where(a[1], 0.0, x) + a[0]
                return x, x

            x, xs = lax.scan(step, state0["x"], (t, first))
            return {"x": x}, {"SMC": xs[:, None, :]}

    r = Runner(Toy, options=None)
    f = {"T2D": jnp.ones((4, 3))}
    s0 = {"x": jnp.full(3, 10.0)}
    _, top_first = r.chunk(s0, f, {}, jnp.zeros(3), first=True)
    _, top_cont = r.chunk(s0, f, {}, jnp.zeros(3), first=False)
    np.testing.assert_array_equal(np.asarray(top_first)[:, 0], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(np.asarray(top_cont)[:, 0], [11.0, 12.0, 13.0, 14.0])
    assert r._jit_chunk._cache_size() == 1
    r.full(s0, f, {}, jnp.zeros(3), first=True)
    r.full(s0, f, {}, jnp.zeros(3), first=False)
    assert r._jit_full._cache_size() == 1


def test_runs_on_other_periods_share_the_training_program(ds, tmp_path, caplog):
    """The observation statistics and the per-window observation slots do not depend on the training
    period, so a second run on another period loads the first run's training program from JAX's
    persistent compilation cache instead of compiling its own."""
    import logging

    from diffland.compile_cache import persistent_compile_cache

    old = jax.config.jax_persistent_cache_min_compile_time_secs
    try:
        with persistent_compile_cache(tmp_path / "jax-cache", min_compile_seconds=0.0):
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # the stand-in compiles fast
            with jax.log_compiles(True), caplog.at_level(logging.DEBUG):
                for i, end in enumerate(("2015-05-30", "2015-06-29")):
                    api.train(_cfg(tmp_path / f"run{i}", data={"train_period": ["2015-04-01", end]},
                                   optim={"epochs": 1}), ds, model=S)
                    if i == 0:
                        caplog.clear()
    finally:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", old)
    hits = [r.getMessage() for r in caplog.records if "cache hit for 'jit_train_step'" in r.getMessage()]
    assert hits, [r.getMessage() for r in caplog.records if "train_step" in r.getMessage()]
