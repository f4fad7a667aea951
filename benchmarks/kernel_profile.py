"""How many XLA kernels one gradient step runs, and how long each takes (JAX profiler trace).

    .venv/bin/python benchmarks/kernel_profile.py --cells 412 --steps 12 [--mode forward|gradient]

Compiles jax.grad(mean top-layer SMC) (Options().for_gradient(), one state per step) on one
device, runs it once to warm up, then once under ``jax.profiler.trace`` and reads the Perfetto
trace: leaf kernel events (fusions and other thunks; not the while/conditional containers)
per model step, their median and mean duration, and their summed time against the traced wall
time. The profiler adds overhead per kernel, so the traced run is slower than an untimed one;
the counts are exact. The trace holds at most about 1 M events: keep ``--steps`` small.
"""
from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import statistics
import tempfile

import jax
from grad_cost import smc_loss_case  # benchmarks/ is the script's directory

from diffland.physics.options import Options

CONTAINERS = ("ThunkExecutor", "while", "conditional", "call", "$", "Pjit")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=412)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--mode", choices=("forward", "gradient"), default="gradient")
    a = ap.parse_args()
    opts = Options().for_gradient() if a.mode == "gradient" else Options()
    loss, args = smc_loss_case(a.cells, a.steps, opts)
    compiled = jax.jit(loss if a.mode == "forward" else jax.grad(loss)).lower(*args).compile()
    jax.block_until_ready(compiled(*args))
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d, create_perfetto_trace=True):
            jax.block_until_ready(compiled(*args))
        path = glob.glob(os.path.join(d, "plugins", "profile", "*", "perfetto_trace.json.gz"))[0]
        with gzip.open(path) as fh:
            events = [e for e in json.load(fh)["traceEvents"] if e.get("ph") == "X"]
    leaf = [e for e in events if not e["name"].startswith(CONTAINERS)]
    durs = [e.get("dur", 0) for e in leaf]
    t0 = min(e["ts"] for e in events)
    t1 = max(e["ts"] + e.get("dur", 0) for e in events)
    print(json.dumps({
        "cells": a.cells, "steps": a.steps, "mode": a.mode, "trace_events": len(events),
        "kernels": len(leaf), "kernels_per_step": round(len(leaf) / a.steps),
        "kernel_median_us": statistics.median(durs), "kernel_mean_us": round(statistics.mean(durs), 2),
        "kernel_sum_ms": round(sum(durs) / 1e3, 1), "traced_wall_ms": round((t1 - t0) / 1e3, 1)}))


if __name__ == "__main__":
    main()
