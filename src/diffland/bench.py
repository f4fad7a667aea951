"""``diffland bench``: throughput and peak memory of the physics, forward and gradient.

Each configuration runs in its own subprocess so that peak resident memory
(``ru_maxrss``) belongs to that configuration alone. Throughput is cell-steps per
second of the jitted ``lax.scan`` after compilation (compile time reported apart).
A naive baseline, a Python loop over a jitted single step, is measured in the same
run, and the real Fortran Noah-MP figure (154 k cell-steps/s per core, -O2, physics
only, measured on this kind of machine; ``../shared/docs/architecture.md``) is given
as a ratio.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FORTRAN_CELL_STEPS_PER_S_PER_CORE = 154_000.0


def synthetic_forcing(ncells: int, nsteps: int, seed: int = 0, dt: float = 1800.0):
    """Analytic 30-min forcing for benchmarks: diurnal/seasonal cycles, random showers.

    Returns (time, forcing dict (time, cells) in SI, lat, lon). NumPy only.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    t0 = np.datetime64("2015-04-01T00:30:00")
    time = t0 + (np.arange(nsteps) * int(dt)).astype("timedelta64[s]")
    hours = (np.arange(nsteps) * dt / 3600.0)[:, None]
    lat = rng.uniform(30, 48, ncells)
    lon = rng.uniform(-120, -75, ncells)
    doy = hours / 24.0 + 90
    season = np.cos(2 * np.pi * (doy - 200) / 365.0)
    local = (hours + lon[None, :] / 15.0) % 24
    diurnal = np.cos(2 * np.pi * (local - 15) / 24)
    t2d = 283.0 + 12 * season + 6 * diurnal + rng.normal(0, 1, ncells)[None, :]
    sw = np.clip(900 * np.cos(2 * np.pi * (local - 12) / 24), 0, None) * (0.7 + 0.3 * season)
    rain = (rng.random((nsteps, ncells)) < 0.03) * rng.exponential(1.5e-3, (nsteps, ncells))
    f = {
        "T2D": t2d,
        "Q2D": np.full_like(t2d, 0.008) * (0.6 + 0.4 * season),
        "U2D": 3.0 + 1.5 * np.abs(diurnal),
        "V2D": np.zeros_like(t2d),
        "PSFC": np.full_like(t2d, 97000.0),
        "SWDOWN": sw,
        "LWDOWN": 300.0 + 40 * season + 0 * t2d,
        "RAINRATE": rain,
    }
    return time, {k: np.ascontiguousarray(np.broadcast_to(v, (nsteps, ncells)), dtype=float) for k, v in f.items()}, lat, lon


def bench_inputs(ncells: int, nsteps: int):
    """The benchmark case in float32 NumPy: (forcing (time, cells) incl. COSZ, {JULIAN, YEARLEN}
    (time,), parameters (soil class 6, MODIS class 10), default initial state, latitude)."""
    import numpy as np

    from .parameters import default_params_for
    from .physics import model
    from .simulate import time_inputs

    time_, forc, lat, lon = synthetic_forcing(ncells, nsteps)
    tin = time_inputs(time_, lat, lon)
    f = {k: np.asarray(v, np.float32) for k, v in forc.items()}
    f["COSZ"] = np.asarray(tin["COSZ"], np.float32)
    tcols = {k: np.asarray(tin[k], np.float32) for k in ("JULIAN", "YEARLEN")}
    p = {k: np.asarray(v, np.float32) for k, v in default_params_for(ncells, soil_class=6, veg_class=10).items()}
    init = {k: np.asarray(v, np.float32) for k, v in model.default_initial(ncells, np.float32).items()}
    return f, tcols, p, init, np.asarray(lat, np.float32)


def _hwm_mb():
    """Peak resident memory of this process [MB] (Linux VmHWM), None where unavailable."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _reset_hwm() -> None:
    """Reset the peak-RSS mark (Linux ``/proc/self/clear_refs``); no-op elsewhere."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _child(cfg: dict) -> dict:
    """Run one configuration in this process and return its record.

    The cell axis is sharded over ``cfg['devices']`` devices (CPU devices are made with
    ``XLA_FLAGS=--xla_force_host_platform_device_count``, set by the parent); the naive
    baseline runs on one device.
    """
    import resource

    import jax
    import jax.numpy as jnp

    from .parallel import cell_mesh, map_cells, shard_cells
    from .physics import model
    from .physics.options import Options

    ncells, nsteps, mode = cfg["cells"], cfg["steps"], cfg["mode"]
    if cfg.get("cache_dir"):  # JAX's persistent compilation cache (see run_bench, "cached")
        jax.config.update("jax_compilation_cache_dir", cfg["cache_dir"])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    f, tin, p, init, latj = bench_inputs(ncells, nsteps)
    # shard only when each device gets enough cells to amortise the per-iteration
    # cross-device reductions (the early-exit tests of the iterative solvers)
    # (``min_shard_cells`` overrides the threshold). ``for_gradient`` (default True): the
    # gradient runs Options.for_gradient() (masked loop iterations instead of lax.cond);
    # False measures the forward options under jax.grad
    min_cells = cfg.get("min_shard_cells", 2048)
    ndev = len(jax.devices()) if (mode != "naive" and ncells >= min_cells) else 1
    if ncells % ndev:
        ndev = 1
    # on several devices each runs its own cells (map_cells: shard_map, no cross-device
    # reductions inside the physics); ``map_cells: False`` measures plain GSPMD instead
    cellwise = ndev > 1 and cfg.get("map_cells", True)
    # ``compact_loops: False`` runs the canopy loop at full width to its slowest cell; off by
    # default under GSPMD, where gathering the active cells crosses devices (0.70x)
    opts = Options(compact_loops=cfg.get("compact_loops", cellwise or ndev == 1))
    mesh = cell_mesh(jax.devices()[:ndev])
    f, p, init, latj = shard_cells((f, p, init, latj), mesh, ncells)
    f.update({k: jnp.asarray(v) for k, v in tin.items()})
    checkpoint = cfg.get("checkpoint", True)
    chunk = cfg.get("chunk")

    ropts = opts.for_gradient() if mode == "gradient" and cfg.get("for_gradient", True) else opts

    # forcing, initial state and latitude are arguments, as in training (not constants folded
    # into the compiled program)
    def top_smc(p, f, init, latj):
        s0 = model.init_state(init, p, ropts)
        _, out = model.run(s0, f, p, ropts, latj, checkpoint, outputs=("SMC",), chunk=chunk)
        return out["SMC"][:, 0, :]

    run_top = map_cells(top_smc, mesh, ncells) if cellwise else top_smc

    def loss(p, f, init, latj):
        return run_top(p, f, init, latj).mean()

    args = (f, init, latj)

    xla_mb = None
    compile_s = lower_s = None
    if mode in ("forward", "gradient"):
        tc = time.perf_counter()
        jitted = jax.jit(loss if mode == "forward" else jax.grad(loss))
        lowered = jitted.lower(p, *args)
        lower_s = time.perf_counter() - tc
        compiled = lowered.compile()
        try:  # buffers XLA allocates for the program: what a GPU would need on the device
            m = compiled.memory_analysis()
            xla_mb = (m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes) / 2**20
        except Exception:  # noqa: BLE001 - not every backend reports it
            xla_mb = None
        g = lambda p: compiled(p, *args)  # noqa: E731
        compile_s = time.perf_counter() - tc
        if cfg.get("compile_only"):
            return {"compile_s": compile_s, "lower_s": lower_s}
    elif mode == "naive":
        stepj = jax.jit(lambda s, ft, p: model.step(s, ft, p, opts, latj))
        s0 = model.init_state(init, p, opts)
        keys = list(f)

        def g(p):
            s = s0
            for t in range(nsteps):
                ft = {k: f[k][t] for k in keys}
                ft["FIRST"] = jnp.asarray(t == 0)
                s, _ = stepj(s, ft, p)
            return s["SMC"]
    else:
        raise ValueError(mode)
    t0 = time.perf_counter()
    jax.block_until_ready(g(p))
    first = time.perf_counter() - t0
    reps = cfg.get("reps", 1)
    peak_with_compile = _hwm_mb()
    _reset_hwm()  # from here on, the high-water mark is that of the timed run alone
    t0 = time.perf_counter()
    for _ in range(reps):
        jax.block_until_ready(g(p))
    run = (time.perf_counter() - t0) / reps
    peak = _hwm_mb() if peak_with_compile is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {
        "cells": ncells, "steps": nsteps, "mode": mode, "checkpoint": checkpoint if mode == "gradient" else None,
        "chunk": chunk, "devices": ndev, "map_cells": bool(cellwise),
        "compact_loops": bool(ropts.skip_idle and ropts.compact_loops),
        "seconds": run, "compile_s": compile_s if compile_s is not None else max(first - run, 0.0),
        "lower_s": lower_s,  # tracing and lowering, included in compile_s
        "cell_steps_per_s": ncells * nsteps / run, "peak_mem_mb": peak,
        "peak_mem_incl_compile_mb": peak_with_compile,
        "xla_buffers_mb": xla_mb,
        # whole-process peak, from start to end (tracing, compilation or cache load, data, runs)
        "peak_mem_process_mb": max(peak_with_compile, peak) if peak_with_compile is not None else peak,
        "device": str(jax.devices()[0].platform),
    }


def _bench_child(cfg: dict, env: dict) -> dict:
    r = subprocess.run([sys.executable, "-m", "diffland.bench", json.dumps(cfg)],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"bench configuration {cfg} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_bench(out: Path, quick: bool = False, devices: int | None = None,
              cfgs: list[dict] | None = None) -> list[dict]:
    """Run the benchmark matrix (or the configurations ``cfgs``), write ``out/bench.json`` and ``out/bench.md``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    year = 17520
    if cfgs is None and quick:
        cfgs = [
            {"cells": 412, "steps": 96, "mode": "naive"},
            {"cells": 1, "steps": 480, "mode": "forward"},
            {"cells": 412, "steps": 480, "mode": "forward"},
            {"cells": 412, "steps": 240, "mode": "gradient", "cached": True},
        ]
    elif cfgs is None:
        cfgs = [
            {"cells": 412, "steps": 480, "mode": "naive"},
            {"cells": 1, "steps": year, "mode": "forward"},
            {"cells": 412, "steps": year, "mode": "forward"},
            {"cells": 10_000, "steps": 1440, "mode": "forward"},
            {"cells": 1, "steps": year, "mode": "gradient", "chunk": 132},
            {"cells": 412, "steps": year // 4, "mode": "gradient", "chunk": 66},
            {"cells": 412, "steps": year, "mode": "gradient", "chunk": 132, "cached": True},
            {"cells": 412, "steps": year // 4, "mode": "gradient"},
            {"cells": 10_000, "steps": 96, "mode": "gradient"},
        ]
    recs = []
    for cfg in cfgs:
        print(f"bench: {cfg} ...", flush=True)
        ndev = devices or (os.cpu_count() or 1)
        env = {**os.environ}
        if "cpu" in env.get("JAX_PLATFORMS", "cpu") and ndev > 1:
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={ndev}").strip()
        if cfg.get("cached"):
            # "cached": a first process compiles the program into a fresh persistent compilation
            # cache; the recorded process loads it from there, so its whole-process peak memory
            # is that of running the program (as in a training job whose program is cached)
            with tempfile.TemporaryDirectory() as cache:
                fill = _bench_child({**cfg, "cache_dir": cache, "compile_only": True}, env)
                rec = _bench_child({**cfg, "cache_dir": cache}, env)
            rec["cached"] = True
            rec["compile_s_uncached"] = fill["compile_s"]
        else:
            rec = _bench_child(cfg, env)
        print(f"   {rec['cell_steps_per_s']:.3g} cell-steps/s, peak {rec['peak_mem_mb']:.0f} MB "
              f"(process {rec['peak_mem_process_mb']:.0f} MB), compile {rec['compile_s']:.1f} s", flush=True)
        recs.append(rec)
    fortran2 = FORTRAN_CELL_STEPS_PER_S_PER_CORE * (os.cpu_count() or 1)
    naive = [r for r in recs if r["mode"] == "naive"]
    for r in recs:
        r["ratio_vs_fortran_all_cores"] = r["cell_steps_per_s"] / fortran2
        if naive:
            r["ratio_vs_naive"] = r["cell_steps_per_s"] / naive[0]["cell_steps_per_s"]
    (out / "bench.json").write_text(json.dumps(recs, indent=2))
    lines = [
        f"# diffland bench ({platform.machine()}, {os.cpu_count()} cores, device {recs[0]['device']})",
        "",
        f"Fortran Noah-MP reference: {FORTRAN_CELL_STEPS_PER_S_PER_CORE:.0f} cell-steps/s per core "
        f"x {os.cpu_count()} cores = {fortran2:.0f}.",
        "",
        "Cells are sharded over the devices (CPU: one device per core); on several devices each runs its own cells (`diffland.parallel.map_cells`, no cross-device reductions inside the physics). `chunk`: nested checkpointing "
        "(states kept every `chunk` steps); `-`: one state per step. Peak MB = resident memory of the whole "
        "process during the timed run (the JAX runtime and the data included, compilation excluded). "
        "Process MB = the whole process from start to end, compilation included; in rows marked `cached` the "
        "process loads the compiled program from JAX's persistent compilation cache, filled by an earlier "
        "process (as a repeated training job would). XLA buffers MB = arguments + outputs + temporaries "
        "of the compiled program (the memory the computation itself needs, e.g. on a GPU).",
        "",
        "| cells | steps | mode | devices | chunk | cell-steps/s | x Fortran (all cores) | x naive loop | peak MB | process MB | XLA buffers MB | compile s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in recs:
        chunk = (str(r.get("chunk") or "-")) + (" cached" if r.get("cached") else "")
        lines.append(f"| {r['cells']} | {r['steps']} | {r['mode']} | {r['devices']} | {chunk} | "
                     f"{r['cell_steps_per_s']:.3g} | "
                     f"{r['ratio_vs_fortran_all_cores']:.2f} | {r.get('ratio_vs_naive', float('nan')):.1f} | "
                     f"{r['peak_mem_mb']:.0f} | {r['peak_mem_process_mb']:.0f} | {(r.get('xla_buffers_mb') or float('nan')):.0f} | {r['compile_s']:.1f} |")
    (out / "bench.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return recs


if __name__ == "__main__":
    print(json.dumps(_child(json.loads(sys.argv[1]))))
