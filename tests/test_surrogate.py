"""The LSTM surrogate route (issue 5): Latin hypercube, ensemble, physics-module interface, training, and
learning through the frozen surrogate with the standard trainer.  Uses the cheap stand-in physics of the
learning tests (``learning_standin``), so the whole file runs in well under a minute."""
import numpy as np
import jax
import jax.numpy as jnp
import pytest

import learning_standin as S
from diffland.config import parse_config
from diffland.learning import api
from diffland.learning.data import Normaliser, prepare
from diffland.learning.surrogate import (Surrogate, latin_hypercube, load_surrogate, make_ensemble,
                                        save_surrogate, simulate_ensemble, surrogate_accuracy, train_surrogate)
from diffland.learning.trainer import build_layout


def _cfg(out=None, **loss):
    return parse_config({"data": {"train_period": ["2015-04-01", "2015-06-29"], "holdout_fraction": 0.0},
                         "params": {"learned": [{"name": "SMCMAX", "lo": 0.3, "hi": 0.55},
                                                {"name": "DKSAT", "lo": 5e-7, "hi": 3e-5, "log": True},
                                                {"name": "BEXP", "lo": 3.0, "hi": 11.0}]},
                         "network": {"hidden": [8]}, "loss": {"kind": "cell_rmse", **loss},
                         "optim": {"epochs": 2, "batch_cells": 4, "window_days": 10, "spinup_days": 10, "lr": 0.02,
                                   "val_fraction": 0.0, "progress": False},
                         "seed": 2, "output_dir": str(out or "unused")})


@pytest.fixture(scope="module")
def setup():
    ds = S.make_dataset(ncell=4, ndays=90, seed=4)
    cfg = _cfg()
    opts = api.make_options(cfg, ds)
    norm = Normaliser([], [], [], [0.0] * 8, [1.0] * 8, 0.0, 1.0)
    prep = prepare(ds, norm, opts, network_kind="gA")
    layout = build_layout(cfg, opts.nsoil)
    ens = make_ensemble(prep, layout, 8, seed=1)
    targ = simulate_ensemble(prep, ens, opts, model=S, spinup_days=10, window_days=10)
    return ds, cfg, opts, prep, layout, ens, targ


def test_latin_hypercube_is_stratified():
    u = latin_hypercube(20, 3, np.random.default_rng(0))
    assert u.shape == (20, 3) and (u >= 0).all() and (u < 1).all()
    for j in range(3):
        assert sorted(np.floor(u[:, j] * 20).astype(int)) == list(range(20))


def test_ensemble_layout_and_member0_is_the_start(setup):
    ds, cfg, opts, prep, layout, ens, targ = setup
    C, K = prep.ncell, 8
    assert ens["params"]["SMCMAX"].shape == (opts.nsoil, C * K)
    assert list(ens["cell_index"][:K]) == [0] * K and list(ens["member"][:K]) == list(range(K))
    # member 0 = the parameter network's starting point (raw output 0 -> the table default)
    p0, _ = layout.to_physical(jnp.zeros((C, layout.n_out)), {k: jnp.asarray(v) for k, v in prep.defaults.items()})
    np.testing.assert_allclose(ens["params"]["SMCMAX"][:, ens["member"] == 0], np.asarray(p0["SMCMAX"]), rtol=1e-5)
    np.testing.assert_allclose(ens["params"]["SMCMAX"][0, ens["member"] == 0], prep.defaults["SMCMAX"][0], rtol=1e-4)
    # the other members spread over the range
    v = ens["params"]["SMCMAX"][0]
    assert v.min() < 0.33 and v.max() > 0.52
    assert targ.shape == (prep.obs_idx.shape[0], C * K) and np.isfinite(targ).all()
    assert np.std(targ) > 0.005  # the parameters matter


def test_run_interface_state_carry_and_gradient(setup):
    ds, cfg, opts, prep, layout, ens, targ = setup
    sur = Surrogate(hidden=8, key=jax.random.PRNGKey(0))
    p = {k: jnp.asarray(v[..., :4]) for k, v in ens["params"].items()}
    spd = int(round(86400 / opts.dt))
    f = {k: jnp.asarray(v[: 10 * spd]) for k, v in prep.forcing.items()}
    lat = jnp.asarray(prep.lat)
    s0 = sur.init_state(None, p, opts)
    s1, out = sur.run(s0, f, p, opts, lat, False)
    assert out["SMC"].shape == (10 * spd, 1, 4)
    # two 5-day windows with the state carried == one 10-day run
    h = 5 * spd
    sa, oa = sur.run(s0, {k: v[:h] for k, v in f.items()}, p, opts, lat)
    sb, ob = sur.run(sa, {k: v[h:] for k, v in f.items()}, p, opts, lat)
    np.testing.assert_allclose(np.concatenate([oa["SMC"], ob["SMC"]]), out["SMC"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sb["h"], s1["h"], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="whole days"):
        sur.run(s0, {k: v[: spd + 1] for k, v in f.items()}, p, opts, lat)

    def loss(b):
        return jnp.mean(sur.run(s0, f, {**p, "BEXP": b}, opts, lat)[1]["SMC"])

    g = jax.grad(loss)(p["BEXP"])
    assert np.isfinite(np.asarray(g)).all() and np.abs(np.asarray(g)).max() > 0


def test_training_learns_the_physics_and_round_trips(setup, tmp_path):
    ds, cfg, opts, prep, layout, ens, targ = setup
    sur, m = train_surrogate(prep, ens, targ, options=opts, hidden=16, epochs=150, lr=1e-2, batch=32, seed=0,
                             warmup_days=5, val_fraction=0.25)
    assert m["columns_val"] > 0 and np.isfinite(m["val_rmse"])
    spread = float(np.std(targ[5:]))
    assert m["train_rmse"] < 0.5 * spread and m["val_rmse"] < 0.6 * spread, (m, spread)
    acc = surrogate_accuracy(sur, prep, ens, targ, opts, warmup_days=5)
    assert acc["r"] > 0.8
    save_surrogate(tmp_path / "s.eqx", sur)
    back = load_surrogate(tmp_path / "s.eqx")
    a = surrogate_accuracy(back, prep, ens, targ, opts, warmup_days=5)
    assert a["rmse"] == acc["rmse"]

    # learning through the frozen surrogate with the standard trainer (interface check)
    run = api.train(_cfg(tmp_path / "run", ab_factors=True).model_dump(mode="json"), ds, model=sur)
    import pandas as pd

    hist = pd.read_csv(run / "metrics.csv")
    assert len(hist) == 2 and np.isfinite(hist["train_loss"]).all()
    res = api.transfer_check(run, ds, model=sur, precision="float32", which=("learned",), return_series=True)
    assert res.series["learned"].shape[1] == 4 and "default" not in res.series
