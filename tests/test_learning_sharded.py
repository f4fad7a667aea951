"""Data-parallel training (issue 7): with ``model.shard_cells`` every minibatch is split over two CPU devices
and the loss trajectory and learned parameters equal those of single-device training to float tolerance.

Runs in a subprocess because the number of CPU devices is fixed when JAX starts
(``XLA_FLAGS=--xla_force_host_platform_device_count=2``).  The physics is the cheap stand-in model of the
learning tests; the sharded physics itself (value and gradient) is checked in ``test_parallel.py``.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent

SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, numpy as np, pandas as pd, xarray as xr
    sys.path.insert(0, %r)
    import learning_standin as S
    from diffland.learning import api
    out = sys.argv[1]
    ds = S.make_dataset(ncell=10, ndays=60, seed=3)
    res = {"devices": len(jax.devices())}
    for shard in (False, True):
        cfg = {"data": {"train_period": ["2015-04-01", "2015-05-30"], "holdout_fraction": 0.0},
               "params": {"learned": [{"name": "SMCMAX", "lo": 0.3, "hi": 0.55},
                                      {"name": "DKSAT", "lo": 5e-7, "hi": 3e-5, "log": True}]},
               "model": {"shard_cells": shard},
               "network": {"hidden": [8]}, "loss": {"kind": "global_rmse_z"},
               "optim": {"epochs": 3, "batch_cells": 4, "window_days": 20, "spinup_days": 20, "lr": 0.02,
                         "val_fraction": 0.2, "patience": 10, "progress": False},
               "seed": 5, "output_dir": f"{out}/shard{int(shard)}"}
        rd = api.train(cfg, ds, model=S)
        m = pd.read_csv(rd / "metrics.csv")
        lp = xr.load_dataset(rd / "learned_params.nc")
        summ = json.loads((rd / "summary.json").read_text())
        res[str(shard)] = {"loss": m["train_loss"].tolist(), "val": m["val_rmse"].tolist(),
                           "smcmax": lp["SMCMAX"].values.ravel().tolist(), "used": summ["devices"]}
    print(json.dumps(res))
""" % str(HERE))


def test_sharded_training_has_the_same_loss_trajectory(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    one, two = res["False"], res["True"]
    assert res["devices"] == 2 and one["used"] == 1 and two["used"] == 2
    assert len(one["loss"]) == len(two["loss"]) == 3
    assert one["loss"][-1] < one["loss"][0]  # it trains
    for a, b in zip(one["loss"] + one["val"], two["loss"] + two["val"]):
        assert abs(a - b) <= 1e-5 * max(1.0, abs(a)), (one, two)
    diff = max(abs(a - b) for a, b in zip(one["smcmax"], two["smcmax"]))
    assert diff < 1e-5, diff


def test_shard_cells_rejects_an_uneven_batch(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    code = SCRIPT.replace('"batch_cells": 4', '"batch_cells": 3')
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode != 0 and "cannot be split evenly over 2 devices" in r.stderr
