"""Forward-mode against reverse-mode gradients of per-cell parameters (a probe, not used in training).

    .venv/bin/python benchmarks/forward_mode.py --cells 412 --steps 96 [--k 11] [--reps 3]

The cells are independent: cell c's outputs depend only on cell c's parameters. K forward-mode
tangents, each setting one parameter to one in every cell at once, therefore give the exact
per-cell gradient of any loss of the outputs: ``jax.vmap`` over the K tangents of ``jax.jvp``,
then the loss's cotangent contracted with the (K, time, cells) sensitivities. The script
differentiates the mean square of top-layer SMC with respect to K multipliers of the default
learned parameters (networks.DEFAULT_SPECS order), float32, one device, and times, best of
``--reps`` round robin after compiling all four programs in this process:

- the forward pass (Options(), no gradient);
- reverse mode, ``jax.grad`` with Options().for_gradient() and one state per step (what training runs);
- forward mode with Options() (early exits of the iterative solvers kept);
- forward mode with Options().for_gradient().

Prints compile seconds, seconds per call and cell-steps/s for each, and the largest difference
between the forward- and reverse-mode gradients, against the largest reverse-mode gradient.
Results: BENCHMARKS.md, "Forward mode instead of reverse mode".
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from diffland.bench import bench_inputs
from diffland.learning.networks import DEFAULT_SPECS
from diffland.physics import model
from diffland.physics.options import Options


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=412)
    ap.add_argument("--steps", type=int, default=96)
    ap.add_argument("--k", type=int, default=len(DEFAULT_SPECS), help="number of parameters differentiated")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()

    names = [s.key for s in DEFAULT_SPECS][:a.k]
    f, tin, p, init, lat = bench_inputs(a.cells, a.steps)
    f = {k: jnp.asarray(v) for k, v in {**f, **tin}.items()}
    p = {k: jnp.asarray(v) for k, v in p.items()}
    init = {k: jnp.asarray(v) for k, v in init.items()}
    lat = jnp.asarray(lat)

    def top_smc(u, opts, checkpoint):
        """Top-layer SMC (time, cells) with parameter k multiplied by u[:, k]."""
        q = dict(p)
        for k, n in enumerate(names):
            q[n] = p[n] * u[:, k]  # broadcasts over leading (layer, month) axes
        s0 = model.init_state(init, q, opts)
        _, out = model.run(s0, f, q, opts, lat, checkpoint, outputs=("SMC",))
        return out["SMC"][:, 0, :]

    def loss_of(y):
        return jnp.mean(y ** 2)

    def reverse(u):
        return jax.grad(lambda u: loss_of(top_smc(u, Options().for_gradient(), True)))(u)

    def forward_mode(opts):
        def grad(u):
            tangents = jnp.eye(len(names), dtype=u.dtype)[:, None, :] * jnp.ones_like(u)[None]
            y, sens = jax.vmap(lambda t: jax.jvp(lambda v: top_smc(v, opts, False), (u,), (t,)),
                               out_axes=(None, 0))(tangents)
            return jnp.einsum("tc,ktc->ck", jax.grad(loss_of)(y), sens)
        return grad

    cases = {"forward pass": lambda u: top_smc(u, Options(), False), "reverse mode": reverse,
             "forward mode, Options()": forward_mode(Options()),
             "forward mode, for_gradient()": forward_mode(Options().for_gradient())}
    u0 = jnp.ones((a.cells, len(names)), jnp.float32)
    compiled, compile_s = {}, {}
    for name, fn in cases.items():
        t0 = time.perf_counter()
        compiled[name] = jax.jit(fn).lower(u0).compile()
        jax.block_until_ready(compiled[name](u0))
        compile_s[name] = time.perf_counter() - t0
    best = {name: float("inf") for name in cases}
    for _ in range(a.reps):
        for name, c in compiled.items():
            t0 = time.perf_counter()
            jax.block_until_ready(c(u0))
            best[name] = min(best[name], time.perf_counter() - t0)
    print(f"{a.cells} cells x {a.steps} steps, K = {len(names)} ({', '.join(names)}), {jax.devices()[0].platform}")
    for name in cases:
        print(f"{name:30s} compile {compile_s[name]:6.1f} s  {best[name]:8.4f} s/call  "
              f"{a.cells * a.steps / best[name]:10.0f} cell-steps/s  {best['reverse mode'] / best[name]:5.2f}x reverse")
    gr = np.asarray(compiled["reverse mode"](u0))
    for name in ("forward mode, Options()", "forward mode, for_gradient()"):
        gf = np.asarray(compiled[name](u0))
        print(f"{name}: max |forward - reverse| / max |reverse| = {np.abs(gf - gr).max() / np.abs(gr).max():.2e}")


if __name__ == "__main__":
    main()
