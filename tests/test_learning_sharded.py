"""Data-parallel training (issue 7): with ``model.shard_cells`` every minibatch is split over two CPU devices
(of one process, or of two processes joined by ``jax.distributed`` as on two hosts) and the loss trajectory
and learned parameters equal those of single-device training to float tolerance.

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

# the training case of every run below (the stand-in physics of the learning tests), as Python source
CASE = textwrap.dedent("""
    import sys
    sys.path.insert(0, %r)
    import learning_standin as S
    from diffland.learning import api
    ds = S.make_dataset(ncell=10, ndays=60, seed=3)
    base = {"data": {"train_period": ["2015-04-01", "2015-05-30"], "holdout_fraction": 0.0},
            "params": {"learned": [{"name": "SMCMAX", "lo": 0.3, "hi": 0.55},
                                   {"name": "DKSAT", "lo": 5e-7, "hi": 3e-5, "log": True}]},
            "network": {"hidden": [8]}, "loss": {"kind": "global_rmse_z"},
            "optim": {"epochs": 3, "batch_cells": 4, "window_days": 20, "spinup_days": 20, "lr": 0.02,
                      "val_fraction": 0.2, "patience": 10, "progress": False},
            "seed": 5}
""" % str(HERE))

# one process: one device, then the cells split over its two devices
SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, numpy as np, pandas as pd, xarray as xr
    out = sys.argv[1]
""") + CASE + textwrap.dedent("""
    res = {"devices": len(jax.devices())}
    for key, shard, stream in (("False", False, False), ("True", True, False), ("stream", False, True)):
        cfg = {**base, "model": {"shard_cells": shard}, "output_dir": f"{out}/{key}",
               "optim": {**base["optim"], "stream": stream}}
        rd = api.train(cfg, ds.chunk({"cell": 2}) if stream else ds, model=S)
        m = pd.read_csv(rd / "metrics.csv")
        lp = xr.load_dataset(rd / "learned_params.nc")
        summ = json.loads((rd / "summary.json").read_text())
        res[key] = {"loss": m["train_loss"].tolist(), "val": m["val_rmse"].tolist(),
                    "smcmax": lp["SMCMAX"].values.ravel().tolist(), "used": summ["devices"]}
    print(json.dumps(res))
""")

# the same training as two processes of one CPU device each (jax.distributed, as on two hosts)
WORKER = textwrap.dedent("""
    import json, sys
    pid, port, out, resume = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "resume"
    from diffland.parallel import init_distributed
    init_distributed(f"localhost:{port}", 2, pid)
    import jax
""") + CASE + textwrap.dedent("""
    cfg = {**base, "model": {"shard_cells": True}, "output_dir": f"{out}/proc{pid}"}
    recs = []
    api.train(cfg, ds, model=S, on_epoch_end=lambda e, r: recs.append(r), resume=resume)
    res = {"devices": len(jax.devices()), "local": len(jax.local_devices()),
           "loss": [r["train_loss"] for r in recs], "val": [r["val_rmse"] for r in recs]}
    if not resume:  # streamed: each process reads only its own device's cells of every minibatch
        import numpy as np
        from diffland.learning import trainer
        real, reads = trainer.materialise, []

        def spy(data, cells, options, read=None):
            reads.append([np.asarray(cells).tolist(), None if read is None else np.asarray(read).tolist()])
            return real(data, cells, options, read=read)

        trainer.materialise = spy
        cfg = {**cfg, "output_dir": f"{out}/stream{pid}", "optim": {**base["optim"], "stream": True}}
        recs = []
        api.train(cfg, ds.chunk({"cell": 2}), model=S, on_epoch_end=lambda e, r: recs.append(r))
        res["stream"] = {"loss": [r["train_loss"] for r in recs], "val": [r["val_rmse"] for r in recs],
                         "reads": reads}
    print(json.dumps(res))
""")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_sharded_training_has_the_same_loss_trajectory(tmp_path, jax_cache_dir):
    """One device, two devices of one process, and two processes of one device each (jax.distributed):
    the same loss trajectory. The three runs are started together. Each process trains in memory, then
    streamed: the streamed run loads its programs from the session's compilation cache."""
    cache = {"JAX_COMPILATION_CACHE_DIR": str(jax_cache_dir), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu", **cache}
    env1 = {**os.environ, "JAX_PLATFORMS": "cpu", **cache}
    env1.pop("XLA_FLAGS", None)
    port = str(_free_port())
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)]
    procs += _workers(port, tmp_path, "fresh", env1)
    outs = []
    for p in procs:
        so, se = p.communicate(timeout=600)
        assert p.returncode == 0, se[-3000:]
        outs.append(json.loads(so.strip().splitlines()[-1]))
    res, dist0, dist1 = outs
    one, two = res["False"], res["True"]
    assert res["devices"] == 2 and one["used"] == 1 and two["used"] == 2
    assert len(one["loss"]) == len(two["loss"]) == 3
    assert one["loss"][-1] < one["loss"][0]  # it trains
    for a, b in zip(one["loss"] + one["val"], two["loss"] + two["val"]):
        assert abs(a - b) <= 1e-5 * max(1.0, abs(a)), (one, two)
    diff = max(abs(a - b) for a, b in zip(one["smcmax"], two["smcmax"]))
    assert diff < 1e-5, diff
    # two processes: both see 2 devices, 1 of them local, and follow the single-device trajectory
    for d in (dist0, dist1):
        assert d["devices"] == 2 and d["local"] == 1, d
        assert len(d["loss"]) == 3
        for a, b in zip(one["loss"] + one["val"], d["loss"] + d["val"]):
            assert abs(a - b) <= 1e-5 * max(1.0, abs(a)), (one, d)
    # streamed over two processes: the trajectory of one device's streamed training (the same blocks of
    # cells in the same order), each process reading only its half of every minibatch (the first or
    # second two of its 4 cells; training and validation minibatches alike)
    ref = res["stream"]
    assert ref["used"] == 1 and len(ref["loss"]) == 3
    for d in (dist0, dist1):
        for a, b in zip(ref["loss"] + ref["val"], d["stream"]["loss"] + d["stream"]["val"]):
            assert abs(a - b) <= 1e-5 * max(1.0, abs(a)), (ref, d["stream"])
    r0, r1 = dist0["stream"]["reads"], dist1["stream"]["reads"]
    assert len(r0) == len(r1) > 0 and [c for c, _ in r0] == [c for c, _ in r1], (r0, r1)
    assert all(r == [0, 1] for _, r in r0) and all(r == [2, 3] for _, r in r1), (r0, r1)
    # only the first process writes the run directory
    assert (tmp_path / "proc0" / "metrics.csv").is_file() and (tmp_path / "proc0" / "learned_params.nc").is_file()
    assert not any(p.is_file() for p in (tmp_path / "proc1").rglob("*"))
    # resuming needs one checkpoint that every process sees: here process 1's directory is empty, so
    # both processes stop with the same error instead of waiting for each other
    procs = _workers(str(_free_port()), tmp_path, "resume", env1)
    for p in procs:
        so, se = p.communicate(timeout=600)
        assert p.returncode != 0 and "found different checkpoints (next epoch per process: [3, 0])" in se, se[-3000:]


def _workers(port, out, mode, env):
    return [subprocess.Popen([sys.executable, "-c", WORKER, str(pid), port, str(out), mode], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env) for pid in (0, 1)]


def test_shard_cells_rejects_an_uneven_batch(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    code = CASE.replace('"batch_cells": 4', '"batch_cells": 3') + textwrap.dedent("""
        api.train({**base, "model": {"shard_cells": True}, "output_dir": sys.argv[1]}, ds, model=S)
    """)
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode != 0 and "cannot be split evenly over 2 devices" in r.stderr


def test_train_cli_coordinator_needs_the_process_layout(tmp_path):
    from typer.testing import CliRunner

    from diffland.cli import app

    r = CliRunner().invoke(app, ["train", "--config", str(tmp_path / "c.yaml"), "--coordinator", "localhost:1234"])
    text = " ".join(r.output.replace("│", " ").split())  # rich wraps the message in a box
    assert r.exit_code != 0 and "--coordinator needs --num-processes and --process-id" in text, r.output
