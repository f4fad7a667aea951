"""Where the gradient time goes: cell-steps/s of jax.grad(mean top-layer SMC) over a short window.

    .venv/bin/python benchmarks/grad_cost.py --cells 412 --steps 96 [--mode forward|gradient]
        [--forward-options] [--stop energy_flux.surface_energy ...]

``--forward-options`` differentiates with ``Options()`` (``lax.cond`` around masked
iterations) instead of ``Options().for_gradient()``. ``--stop MODULE.FUNCTION`` wraps a
physics function in ``jax.lax.stop_gradient`` (a cost probe: the gradient is then wrong), to
see how much of the backward pass it accounts for. One CPU device; compile time excluded.
"""
from __future__ import annotations

import argparse
import importlib
import json
import time

import jax
import jax.numpy as jnp

from diffland.bench import bench_inputs
from diffland.physics import model
from diffland.physics.options import Options


def smc_loss_case(cells: int, steps: int, opts):
    """(loss, args): mean top-layer SMC of ``model.run`` on the benchmark case, and its arguments.

    Forcing, initial state and latitude are arguments of the program, not constants folded into
    it (as in ``diffland bench`` and in training).
    """
    f, tin, p, init, latj = jax.tree_util.tree_map(jnp.asarray, bench_inputs(cells, steps))
    f = {**f, **tin}

    def loss(p, f, init, latj):
        s0 = model.init_state(init, p, opts)
        _, out = model.run(s0, f, p, opts, latj, True, outputs=("SMC",))
        return out["SMC"][:, 0, :].mean()

    return loss, (p, f, init, latj)


def wrap_routines(routines, wrap) -> None:
    """Replace each physics function ``(module, name)`` of ``routines`` (modules of
    ``diffland.physics``) by ``wrap(original, name)``, in its module (a probe: callers that look the
    function up in its module at trace time see the wrapper)."""
    for mod, fn in routines:
        m = importlib.import_module("diffland.physics." + mod)
        setattr(m, fn, wrap(getattr(m, fn), fn))


def _stopped(orig, name):
    def wrapped(*args, **kw):
        return jax.tree_util.tree_map(jax.lax.stop_gradient, orig(*args, **kw))
    return wrapped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=412)
    ap.add_argument("--steps", type=int, default=96)
    ap.add_argument("--mode", choices=("forward", "gradient"), default="gradient")
    ap.add_argument("--forward-options", action="store_true")
    ap.add_argument("--stop", nargs="*", default=[])
    ap.add_argument("--reps", type=int, default=2)
    a = ap.parse_args()
    wrap_routines([tuple(spec.split(".")) for spec in a.stop], _stopped)
    opts = Options() if a.forward_options else Options().for_gradient()
    loss, args = smc_loss_case(a.cells, a.steps, opts)
    fn = jax.jit(loss if a.mode == "forward" else jax.grad(loss))
    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(*args))
    t0 = time.perf_counter()
    for _ in range(a.reps):
        jax.block_until_ready(compiled(*args))
    dt = (time.perf_counter() - t0) / a.reps
    print(json.dumps({"cells": a.cells, "steps": a.steps, "mode": a.mode,
                      "options": "forward" if a.forward_options else "for_gradient", "stop": a.stop,
                      "compile_s": round(compile_s, 1), "cell_steps_per_s": round(a.cells * a.steps / dt)}))


if __name__ == "__main__":
    main()
