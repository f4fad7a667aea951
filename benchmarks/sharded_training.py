"""Time per training epoch with ``model.shard_cells`` (issue 7, item 1), real physics, synthetic data.

    XLA_FLAGS=--xla_force_host_platform_device_count=2 .venv/bin/python benchmarks/sharded_training.py \
        [--cells 2048] [--batch-cells 1024] [--days 60] [--epochs 3] [--shard 1]

Trains the parameter network through the real physics (hourly steps, 30-day windows, 30 days of spin-up,
a validation share of the cells) on the synthetic generator's attributes and forcing. The observations are
a random field (``stream_50k.speed_only_fields``): the figures measure speed, not skill. Prints one JSON line with the
seconds of each epoch from ``metrics.csv``; the first epoch includes compilation, so compare the later ones.
The epoch covers the spin-up and training windows of every minibatch and the validation run.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=2048)
    ap.add_argument("--batch-cells", type=int, default=1024)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--shard", type=int, default=1, help="1: model.shard_cells (all devices), 0: one device")
    a = ap.parse_args()
    import jax
    import pandas as pd

    from stream_50k import speed_only_fields  # benchmarks/ is the script's directory

    from diffland.data.synthetic import make_synthetic
    from diffland.learning import api

    ds = make_synthetic(a.cells, a.days, seed=0, dt=3600)
    speed_only_fields(ds)
    start = str(ds["obs_time"].values[0])[:10]
    end = str(ds["obs_time"].values[-1])[:10]
    with tempfile.TemporaryDirectory() as out:
        cfg = {"data": {"train_period": [start, end], "holdout_fraction": 0.0, "dt": 3600},
               "model": {"shard_cells": bool(a.shard)},
               "network": {"kind": "gA", "hidden": [32]}, "loss": {"kind": "cell_rmse"},
               "optim": {"epochs": a.epochs, "batch_cells": a.batch_cells, "window_days": 30, "spinup_days": 30,
                         "val_fraction": 0.2, "val_split": "cells", "patience": 100, "progress": False},
               "output_dir": out}
        t0 = time.time()
        run = api.train(cfg, ds, nan_policy="skip")
        wall = time.time() - t0
        m = pd.read_csv(run / "metrics.csv")
        summ = json.loads((run / "summary.json").read_text())
    print(json.dumps({"cells": a.cells, "batch_cells": a.batch_cells, "days": a.days, "shard": a.shard,
                      "devices": summ.get("devices"), "jax_devices": len(jax.devices()),
                      "epoch_s": [round(float(s), 2) for s in m["seconds"]],
                      "train_loss": [round(float(x), 6) for x in m["train_loss"]],
                      "val_rmse": [round(float(x), 6) for x in m["val_rmse"]], "wall_s": round(wall, 1)}))


if __name__ == "__main__":
    main()
