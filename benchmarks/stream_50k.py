"""Streaming training on a larger-than-memory data set (issue 7, item 2).

Builds the synthetic data set lazily (Dask: nothing is generated until a minibatch reads it), 50 000 cells x
5 years hourly by default (43 824 steps; 8 forcing variables = 70 GB as float32), and trains the parameter
network through the real physics with ``optim.stream`` for a bounded number of minibatches.  Prints one JSON
line: wall time, peak RSS, nominal data size.

    .venv/bin/python benchmarks/stream_50k.py [--cells 50000] [--years 5] [--batches 2] [--batch-cells 32]

Observations: the synthetic generator only fills SMAP_AM by running a model over the whole data set, which is
what we avoid here; the benchmark fills SMAP_AM with a lazily-free random field (in memory: days x cells
float32) so that the loss has data.  The numbers measure memory and the streaming mechanics, not skill.
"""
from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time

import numpy as np


def speed_only_fields(ds, seed: int = 0) -> None:
    """Add to a synthetic data set, in place, what training needs without running a model over it: a
    random SMAP_AM field (60 % missing; the figures then measure speed, not skill), the learning layer's
    class names, and SHDMAX and TBOT from NDVI and a latitude rule [K] (the CONUS loader derives TBOT from
    the mean T2D, which would read all of a lazy forcing)."""
    rng = np.random.default_rng(seed)
    obs = rng.uniform(0.1, 0.4, (ds.sizes["obs_time"], ds.sizes["cell"])).astype(np.float32)
    obs[rng.random(obs.shape) < 0.6] = np.nan
    ds["SMAP_AM"] = (("obs_time", "cell"), obs)
    ds["soil_class"], ds["veg_class"] = ds["ISLTYP"], ds["IVGTYP"]
    ds["shdmax"] = ("cell", np.clip(np.asarray(ds["NDVI"].values) * 100.0, 5.0, 95.0))
    ds["tbot"] = ("cell", 288.0 - 0.4 * (np.abs(np.asarray(ds["lat"].values)) - 30.0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=50_000)
    ap.add_argument("--years", type=int, default=5)
    ap.add_argument("--batches", type=int, default=2)
    ap.add_argument("--batch-cells", type=int, default=32)
    ap.add_argument("--train-days", type=int, default=90)
    a = ap.parse_args()
    from diffland.data.synthetic import make_synthetic
    from diffland.learning import api

    t0 = time.time()
    n_days = 365 * a.years + a.years // 4
    ds = make_synthetic(a.cells, n_days, seed=0, dt=3600, lazy_threshold=1)
    speed_only_fields(ds)
    nbytes = sum(ds[v].size * 4 for v in ("T2D", "Q2D", "U2D", "V2D", "PSFC", "SWDOWN", "LWDOWN", "RAINRATE"))
    lazy = hasattr(ds["T2D"].data, "dask")
    t_build = time.time() - t0
    start = str(ds["obs_time"].values[0])[:10]
    end = str(ds["obs_time"].values[a.train_days - 1])[:10]
    with tempfile.TemporaryDirectory() as out:
        cfg = {"data": {"train_period": [start, end], "holdout_fraction": 0.0, "dt": 3600},
               "network": {"kind": "gA", "hidden": [32]}, "loss": {"kind": "cell_rmse"},
               "optim": {"epochs": 1, "batch_cells": a.batch_cells, "window_days": 30, "spinup_days": 30,
                         "val_fraction": 0.0, "progress": False, "stream": True,
                         "max_batches_per_epoch": a.batches},
               "output_dir": out}
        t1 = time.time()
        run = api.train(cfg, ds, nan_policy="skip")
        t_train = time.time() - t1
        summ = json.loads((run / "summary.json").read_text())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"cells": a.cells, "steps": int(ds.sizes["time"]), "years": a.years,
                      "forcing_nominal_GB": round(nbytes / 1e9, 1), "forcing_lazy": lazy,
                      "train_days": a.train_days, "batches": a.batches, "batch_cells": a.batch_cells,
                      "build_s": round(t_build, 1), "train_s": round(t_train, 1),
                      "peak_rss_MB": round(rss, 0), "epochs_run": summ["epochs_run"]}))


if __name__ == "__main__":
    main()
