"""How far the physics is from what the hardware can do (issue 7, item 3).

Counts the work of one Noah-MP step per cell from XLA's own cost analysis of the compiled step
(floating-point operations, transcendental functions, bytes accessed), measures the machine's
achievable arithmetic rate and memory bandwidth with two tiny kernels in the same run, and prints
the resulting upper bounds on cell-steps/s next to the measured forward throughput.

    .venv/bin/python benchmarks/hardware_limit.py [--cells 4096] [--steps 240]

Prints one JSON line.  Caveats: XLA's cost analysis counts the body of a ``while`` loop once, so the Newton
iterations (``lax.fori_loop``) are under-counted and the work per cell-step is a *lower bound* (the compute
bound on throughput is therefore optimistic); "bytes accessed" is counted at the HLO level and includes
intermediates that stay in cache, so it over-states DRAM traffic (a bound from it is pessimistic and is
reported only for completeness).  The theoretical float32 peak assumes 32 flop/cycle/core (two 256-bit FMA
pipes, AVX2/AVX-512) at the clock in /proc/cpuinfo.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np


def _cost(compiled) -> dict:
    ca = compiled.cost_analysis()
    if isinstance(ca, (list, tuple)):
        ca = ca[0]
    return {k: float(ca.get(k, 0.0)) for k in ("flops", "transcendentals", "bytes accessed")}


def measure_peak_flops(n=1 << 22, reps=50) -> float:
    """Achieved float32 FMA rate of a vectorised polynomial (flop/s, all cores XLA uses)."""
    x = jnp.linspace(0.0, 1.0, n, dtype=jnp.float32)

    @jax.jit
    def poly(x):
        def body(i, y):
            return y * 0.999 + 0.001  # one FMA = 2 flops per element
        return jax.lax.fori_loop(0, reps, body, x)

    poly(x).block_until_ready()
    t = time.perf_counter()
    poly(x).block_until_ready()
    return 2.0 * n * reps / (time.perf_counter() - t)


def measure_bandwidth(n=1 << 25) -> float:
    """Achieved memory bandwidth of a large copy+scale (bytes/s: read + write)."""
    x = jnp.ones(n, jnp.float32)
    f = jax.jit(lambda x: x * 1.0001)
    f(x).block_until_ready()
    t = time.perf_counter()
    for _ in range(5):
        y = f(x)
    y.block_until_ready()
    return 5 * 2 * 4.0 * n / (time.perf_counter() - t)


def theoretical_peak_flops(flop_per_cycle: int = 32):
    """cores x clock x flop/cycle from /proc/cpuinfo (None where it cannot be read)."""
    try:
        mhz = [float(line.split(":")[1]) for line in open("/proc/cpuinfo") if line.startswith("cpu MHz")]
    except OSError:
        return None
    return (os.cpu_count() or 1) * (max(mhz) * 1e6 if mhz else 0.0) * flop_per_cycle or None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=240)
    a = ap.parse_args()
    from diffland.bench import synthetic_forcing
    from diffland.parameters import default_params_for
    from diffland.physics import model
    from diffland.physics.options import Options
    from diffland.simulate import time_inputs

    C, T = a.cells, a.steps
    opts = Options(dt=1800.0)
    t_, forc, lat, lon = synthetic_forcing(C, T, seed=0)
    tin = time_inputs(t_, lat, lon)
    f = {k: jnp.asarray(v, jnp.float32) for k, v in forc.items()}
    f["COSZ"] = jnp.asarray(tin["COSZ"], jnp.float32)
    f["JULIAN"], f["YEARLEN"] = jnp.asarray(tin["JULIAN"]), jnp.asarray(tin["YEARLEN"])
    p = {k: jnp.asarray(v, jnp.float32) for k, v in default_params_for(C, dtype=np.float32).items()}
    init = {k: jnp.asarray(v, jnp.float32) for k, v in model.default_initial(C).items()}
    latj = jnp.asarray(lat, jnp.float32)
    s0 = model.init_state(init, p, opts)

    # parameters, forcing, state and latitude are all arguments (nothing folded as a constant)
    def one(state, ft, pp, la):
        return model.step(state, ft, pp, opts, la)

    ft0 = {k: (v[0] if v.ndim else v) for k, v in f.items()}
    ft0["FIRST"] = jnp.asarray(False)
    fwd = jax.jit(one).lower(s0, ft0, p, latj).compile()
    cf = _cost(fwd)

    def loss(pp, state, ft, la):
        st, out = model.step(state, ft, pp, opts, la)
        return jnp.sum(out["SMC"][0])

    bwd = jax.jit(jax.grad(loss)).lower(p, s0, ft0, latj).compile()
    cb = _cost(bwd)

    run = jax.jit(lambda s, ff, pp, la: model.run(s, ff, pp, opts, la, False, outputs=("SMC",))[1]["SMC"])
    run(s0, f, p, latj).block_until_ready()
    t = time.perf_counter()
    run(s0, f, p, latj).block_until_ready()
    fwd_rate = C * T / (time.perf_counter() - t)

    peak = measure_peak_flops()
    bw = measure_bandwidth()
    theo = theoretical_peak_flops()
    per = {k: v / C for k, v in cf.items()}
    perb = {k: v / C for k, v in cb.items()}
    trans_cost = 20.0  # flops-equivalent of one exp/log/pow in vectorised libm (order of magnitude)
    work = per["flops"] + trans_cost * per["transcendentals"]
    workb = perb["flops"] + trans_cost * perb["transcendentals"]
    res = {
        "cells": C, "steps": T, "devices": len(jax.devices()), "cpu_count": os.cpu_count(),
        "forward_per_cell_step": per, "gradient_step_per_cell_step": perb,
        "theoretical_peak_flops": theo, "achieved_fma_flops": peak, "achieved_bandwidth_Bps": bw,
        "bound_theoretical_cell_steps_per_s": (theo / work) if theo else None,
        "bound_compute_cell_steps_per_s": peak / work,
        "bound_memory_cell_steps_per_s": bw / per["bytes accessed"],
        "bound_compute_gradient_cell_steps_per_s": peak / (work + workb),
        "measured_forward_cell_steps_per_s": fwd_rate,
    }
    if theo:
        res["forward_fraction_of_theoretical_bound"] = fwd_rate / res["bound_theoretical_cell_steps_per_s"]
    print(json.dumps(res))


if __name__ == "__main__":
    main()
