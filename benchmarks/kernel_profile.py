"""How many XLA kernels one gradient step runs, and how long each takes (JAX profiler trace).

    .venv/bin/python benchmarks/kernel_profile.py --cells 412 --steps 12 [--mode forward|gradient]

Compiles jax.grad(mean top-layer SMC) (Options().for_gradient(), one state per step) on one
device, runs it once to warm up, then once under ``jax.profiler.trace`` and reads the Perfetto
trace. A kernel is a trace event named after an instruction of the compiled HLO module (a fusion,
copy, dynamic-update-slice, ...), not counting the while/conditional/call containers. The trace
also holds an ``end: NAME`` event per kernel and thread-pool, buffer-hold and Python events;
those are not kernels. Prints kernels per model step, their median and mean duration, their
summed time against the traced wall time, the untimed time per step (median of three runs
without the profiler) divided by the kernel count, and the kernel kinds (name without the
number) with the most launches. The profiler adds overhead per kernel, so the traced run is slower than an
untimed one; the counts are exact. The trace holds at most about 1 M events: keep ``--steps``
small.

``--by-routine`` wraps the physics routines a model step calls (and the tiles, stomata and
surface-layer routines inside the energy balance) in ``jax.named_scope``, which XLA keeps in each
kernel's ``op_name``, and prints, per routine (the innermost scope), the kernels per step and their
share of the summed traced kernel time, split into the forward pass and its transpose (the
backward pass of reverse mode). The values computed are unchanged.

``--mode forward`` profiles ``Options()``; ``DIFFLAND_COMPACT=0`` in the environment profiles it
with ``compact_loops=False`` (the canopy loop at full width to its slowest cell).
"""
from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import re
import statistics
import tempfile
import time
from collections import Counter, defaultdict

import jax
from grad_cost import smc_loss_case, wrap_routines  # benchmarks/ is the script's directory

from diffland.physics.options import Options

# a while/conditional/call instruction: its opcode follows the result type (names need not say it:
# JAX's lax.cond becomes e.g. ``%cond.32 = (...) conditional(...)``)
CONTAINER = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = .*? (?:while|conditional|call)\(", re.M)


def kernel_names(hlo_text: str) -> set[str]:
    """Names of the compiled module's instructions, less the while/conditional/call containers
    (whose trace events span the kernels they run)."""
    names = set(re.findall(r"^\s*(?:ROOT )?%([\w.\-]+) = ", hlo_text, re.M))
    return names - set(CONTAINER.findall(hlo_text))


# (module of diffland.physics, function): what ``--by-routine`` scopes
ROUTINES = (
    ("atmos", "process_forcing"), ("phenology", "phenology"), ("canopy_water", "canopy_intercept"),
    ("snow", "snow_cover_fraction"), ("thermal_properties", "thermal_properties"), ("radiation", "snow_age"),
    ("radiation", "radiation"), ("transpiration_factor", "soil_moisture_factor"),
    ("energy_flux", "surface_energy"), ("energy_flux", "surface_energy_vegetated"),
    ("energy_flux", "surface_energy_bare"), ("energy_flux", "ground_evap_resistance"),
    ("stomata", "ball_berry"), ("stomata", "jarvis"), ("aerodynamics", "most_exchange"),
    ("aerodynamics", "leaf_to_ground"), ("soil_temperature", "soil_snow_temperature"),
    ("phase_change", "phase_change"), ("canopy_water", "canopy_hydrology"), ("snow", "snow_water"),
    ("soil_water", "soil_water"),
)


def scope_routines() -> list[str]:
    """Wrap each of ``ROUTINES`` in a ``jax.named_scope`` of its name; return the names."""
    def scoped(orig, name):
        def wrapped(*args, **kw):
            with jax.named_scope(name):
                return orig(*args, **kw)
        return wrapped

    wrap_routines(ROUTINES, scoped)
    return [fn for _, fn in ROUTINES]


def routine_of(hlo_text: str, routines: list[str]) -> dict[str, tuple[str, bool]]:
    """Instruction name -> (innermost routine scope in its op_name or "other", in the transpose)."""
    pat = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = .*?metadata=\{op_name=\"([^\"]*)\"", re.M)
    out = {}
    for m in pat.finditer(hlo_text):
        parts = re.split(r"[/()]", m.group(2))
        hit = [p for p in parts if p in routines]
        out[m.group(1)] = (hit[-1] if hit else "other", "transpose(" in m.group(2))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=412)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--mode", choices=("forward", "gradient"), default="gradient")
    ap.add_argument("--by-routine", action="store_true")
    a = ap.parse_args()
    routines = scope_routines() if a.by_routine else []
    opts = Options().for_gradient() if a.mode == "gradient" else Options(compact_loops=os.environ.get("DIFFLAND_COMPACT", "1") == "1")
    loss, args = smc_loss_case(a.cells, a.steps, opts)
    compiled = jax.jit(loss if a.mode == "forward" else jax.grad(loss)).lower(*args).compile()
    hlo = compiled.as_text()
    names = kernel_names(hlo)
    jax.block_until_ready(compiled(*args))
    untimed = []
    for _ in range(3):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        untimed.append(time.perf_counter() - t0)
    untimed_step_ms = statistics.median(untimed) / a.steps * 1e3
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d, create_perfetto_trace=True):
            jax.block_until_ready(compiled(*args))
        path = glob.glob(os.path.join(d, "plugins", "profile", "*", "perfetto_trace.json.gz"))[0]
        with gzip.open(path) as fh:
            events = [e for e in json.load(fh)["traceEvents"] if e.get("ph") == "X"]
    leaf = [e for e in events if e["name"] in names]
    kinds = Counter(re.sub(r"[.\d]+$", "", e["name"]) for e in leaf)
    durs = [e.get("dur", 0) for e in leaf]
    t0 = min(e["ts"] for e in events)
    t1 = max(e["ts"] + e.get("dur", 0) for e in events)
    print(json.dumps({
        "cells": a.cells, "steps": a.steps, "mode": a.mode, "trace_events": len(events),
        "kernels": len(leaf), "kernels_per_step": round(len(leaf) / a.steps),
        "untimed_ms_per_step": round(untimed_step_ms, 3),
        "untimed_us_per_kernel": round(untimed_step_ms * 1e3 * a.steps / max(len(leaf), 1), 3),
        "kernel_median_us": statistics.median(durs), "kernel_mean_us": round(statistics.mean(durs), 2),
        "kernel_sum_ms": round(sum(durs) / 1e3, 1), "traced_wall_ms": round((t1 - t0) / 1e3, 1),
        "top_kinds_per_step": {k: round(n / a.steps) for k, n in kinds.most_common(8)}}))
    if a.by_routine:
        where = routine_of(hlo, routines)
        agg = defaultdict(lambda: [0, 0.0])
        for e in leaf:
            r, back = where.get(e["name"], ("other", False))
            key = (r, "backward" if back else "forward")
            agg[key][0] += 1
            agg[key][1] += e.get("dur", 0)
        total = sum(v[1] for v in agg.values())
        print(f"{'routine':28s} {'pass':9s} {'kernels/step':>12s} {'time share':>10s}")
        for (r, pas), (n, t) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
            print(f"{r:28s} {pas:9s} {n / a.steps:12.0f} {100 * t / total:9.1f}%")


if __name__ == "__main__":
    main()
