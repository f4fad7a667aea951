"""Canopy-loop compaction (``Options.compact_loops``): how ragged the loop is, and what compaction saves.

    XLA_FLAGS=--xla_force_host_platform_device_count=2 .venv/bin/python benchmarks/compaction.py --cells 10000 --steps 480
    .venv/bin/python benchmarks/compaction.py --cells 10000 --steps 480 --niter

Default: compiles the forward pass of the benchmark case (float32, top-layer SMC) with
``compact_loops`` False and True in this process (``diffland.parallel.map_cells`` on several
devices), then times them alternately ``--reps`` times and prints the medians and their ratio.
Interleaving in one process keeps the machine's load drift and the process-to-process spread out of
the ratio. ``--niter``: instead, the distribution of the canopy iteration count (``NITER_CANOPY``)
over cells and steps: the mean, the slowest cell per block of cells, and the share of cells still
iterating after each iteration. Results: BENCHMARKS.md, "Canopy loop on the cells still iterating".
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from diffland.bench import bench_inputs
from diffland.parallel import cell_mesh, map_cells, shard_cells
from diffland.physics import model
from diffland.physics.options import Options


def niter_stats(nc: int, nt: int) -> None:
    f, tin, p, init, lat = bench_inputs(nc, nt)
    f.update(tin)
    opts = Options()
    s0 = model.init_state(init, p, opts)
    run = jax.jit(lambda s, f, p, lat: model.run(s, f, p, opts, lat, False, outputs=("NITER_CANOPY",)))
    n = np.asarray(run(s0, f, p, lat)[1]["NITER_CANOPY"])  # (time, cells)
    print(f"{nc} cells x {nt} steps: mean iterations per cell-step {n.mean():.2f}")
    for b in sorted({nc, nc // 2, 500, 25}, reverse=True):
        if b and nc % b == 0:
            print(f"  slowest cell of each block of {b}: {n.reshape(nt, -1, b).max(-1).mean():.2f} per step (mean)")
    for k in range(6, 20):
        print(f"  still iterating after iteration {k}: {100 * (n > k).mean():.2f} % of cell-steps, "
              f"in {100 * (n > k).any(1).mean():.0f} % of the steps")


def timing(nc: int, nt: int, reps: int) -> None:
    ndev = len(jax.devices())
    f, tin, p, init, lat = bench_inputs(nc, nt)
    mesh = cell_mesh()
    f, p, init, lat = shard_cells((f, p, init, lat), mesh, nc)
    f.update({k: jnp.asarray(v) for k, v in tin.items()})
    fns = {}
    for comp in (False, True):
        opts = Options(compact_loops=comp)

        def top(p, f, init, lat, opts=opts):
            s0 = model.init_state(init, p, opts)
            return model.run(s0, f, p, opts, lat, False, outputs=("SMC",))[1]["SMC"][:, 0, :]

        fn = map_cells(top, mesh, nc) if ndev > 1 else top
        fns[comp] = jax.jit(lambda p, f, init, lat, fn=fn: fn(p, f, init, lat).mean())
        t0 = time.perf_counter()
        jax.block_until_ready(fns[comp](p, f, init, lat))
        print(f"compact_loops={comp}: compile + first run {time.perf_counter() - t0:.1f} s")
    ts = {False: [], True: []}
    for _ in range(reps):
        for comp in (False, True):
            t0 = time.perf_counter()
            jax.block_until_ready(fns[comp](p, f, init, lat))
            ts[comp].append(time.perf_counter() - t0)
    for comp in (False, True):
        med = float(np.median(ts[comp]))
        print(f"devices {ndev}, {nc} cells x {nt} steps, compact_loops={comp}: median {med:.3f} s "
              f"= {nc * nt / med:.3g} cell-steps/s; runs {np.round(ts[comp], 3).tolist()}")
    print(f"ratio (full width / compacted time): {np.median(ts[False]) / np.median(ts[True]):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=10000)
    ap.add_argument("--steps", type=int, default=480)
    ap.add_argument("--reps", type=int, default=6)
    ap.add_argument("--niter", action="store_true")
    a = ap.parse_args()
    if a.niter:
        niter_stats(a.cells, a.steps)
    else:
        timing(a.cells, a.steps, a.reps)


if __name__ == "__main__":
    main()
