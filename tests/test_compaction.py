"""Compacted per-cell loops (``diffland.physics.compaction``) give the same values and gradients as
the full-width masked loop, and the canopy energy loop of the model gives the same outputs with and
without compaction."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffland.bench import bench_inputs
from diffland.physics import model
from diffland.physics.compaction import compacted_fori_loop, compaction_widths
from diffland.physics.options import Options
from diffland.simulate import precision_mode


def test_widths():
    assert compaction_widths(5000) == (1250, 157)
    assert compaction_widths(300) == (75,)  # 300/32 < 16 cells: no second level
    assert compaction_widths(40) == ()
    assert compaction_widths(1) == ()


def _newton_sqrt(i, c, e):
    """Newton iterations for sqrt(a), Noah-MP's exit rule: flag when |dx| < tol (from iteration
    3 on), stop one iteration later."""
    x = c["x"]
    dx = 0.5 * (e["a"] / x - x)
    done = c["done"]
    new = {"x": jnp.where(done, x, x + dx), "n": jnp.where(done, c["n"], c["n"] + 1)}
    new["done"] = done | c["last"]
    new["last"] = c["last"] | ((i >= 2) & (jnp.abs(dx) <= e["tol"]))
    return new


@pytest.mark.parametrize("seed,min_iter", [(0, 0), (1, 3)])
def test_compacted_loop_equals_masked_loop_values_and_gradients(seed, min_iter):
    rng = np.random.default_rng(seed)
    n = 700
    with precision_mode("float64"):
        # start guesses far from the root in a few cells: those need many more iterations
        a = jnp.asarray(rng.uniform(0.5, 2.0, n))
        x0 = jnp.asarray(np.where(rng.random(n) < 0.05, rng.uniform(50, 5e4, n), rng.uniform(0.5, 3, n)))

        def run(a, x0, widths):
            c0 = {"x": x0, "n": jnp.zeros(n), "done": jnp.zeros(n, bool), "last": jnp.zeros(n, bool)}
            env = {"a": a, "tol": 1e-9}
            if widths is None:
                return jax.lax.fori_loop(0, 20, lambda i, c: _newton_sqrt(i, c, env), c0)
            return compacted_fori_loop(_newton_sqrt, 20, c0, env, widths, min_iter=min_iter)

        widths = compaction_widths(n, min_width=8)
        assert len(widths) == 2
        full = jax.jit(lambda a, x0: run(a, x0, None))(a, x0)
        comp = jax.jit(lambda a, x0: run(a, x0, widths))(a, x0)
        niter = np.asarray(full["n"])
        # the loop really is ragged: most cells finish early, a few run to the end
        assert np.median(niter) < 10 and niter.max() == 20
        skip = jax.jit(lambda a, x0: run(a, x0, ()))(a, x0)  # no compaction, idle iterations skipped
        for k in full:
            np.testing.assert_array_equal(np.asarray(comp[k]), np.asarray(full[k]), err_msg=k)
            np.testing.assert_array_equal(np.asarray(skip[k]), np.asarray(full[k]), err_msg=k)
        np.testing.assert_allclose(np.asarray(comp["x"])[niter < 20], np.sqrt(np.asarray(a))[niter < 20], rtol=1e-12)

        loss = lambda a, x0, w: jnp.sum(run(a, x0, w)["x"] ** 2)  # noqa: E731
        g_full = jax.jit(jax.grad(lambda a, x0: loss(a, x0, None), argnums=(0, 1)))(a, x0)
        g_comp = jax.jit(jax.grad(lambda a, x0: loss(a, x0, widths), argnums=(0, 1)))(a, x0)
        for gf, gc in zip(g_full, g_comp):
            assert np.isfinite(np.asarray(gf)).all()
            np.testing.assert_allclose(np.asarray(gc), np.asarray(gf), rtol=1e-13, atol=0)


def test_model_outputs_same_with_and_without_compaction():
    """600 cells x 48 steps of the benchmark case in float64: the canopy iteration count of every
    cell-step is identical and every output agrees to round-off. (The two programs are fused
    differently, so float round-off differs: in float32, 7 of 28 800 LH values differ by 1-15 ulp.)"""
    nc, nt = 600, 48
    assert compaction_widths(nc)  # the compacted path is the one exercised
    f, tin, p, init, lat = bench_inputs(nc, nt)
    f.update(tin)
    keys = tuple(model.OUTPUT_KEYS) + ("NITER_CANOPY",)
    out = {}
    with precision_mode("float64"):
        f, p, init, lat = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64), (f, p, init, lat))
        for compact in (False, True):
            opts = Options(compact_loops=compact)
            s0 = model.init_state(init, p, opts)
            run = jax.jit(lambda s, f, p, lat: model.run(s, f, p, opts, lat, False, outputs=keys))
            out[compact] = jax.tree_util.tree_map(np.asarray, run(s0, f, p, lat))
    niter = out[True][1]["NITER_CANOPY"]
    assert niter.max() > niter.mean() + 3  # ragged: compaction has work to skip
    np.testing.assert_array_equal(niter, out[False][1]["NITER_CANOPY"])
    for k in keys:
        np.testing.assert_allclose(out[True][1][k], out[False][1][k], rtol=1e-10, atol=1e-12, err_msg=k)
    for k, v in out[True][0].items():
        np.testing.assert_allclose(v, out[False][0][k], rtol=1e-10, atol=1e-12, err_msg=f"final state {k}")


def test_closed_over_value_and_forward_mode():
    """A value that ``iterate`` closes over (not passed in ``env``) gets its derivative too, in
    reverse and forward mode; without a derivative the loop stops when the cells are done."""
    rng = np.random.default_rng(2)
    n = 300
    with precision_mode("float64"):
        a = jnp.asarray(rng.uniform(0.5, 2.0, n))
        x0 = jnp.asarray(np.where(rng.random(n) < 0.1, rng.uniform(50, 5e3, n), rng.uniform(0.5, 3, n)))
        widths = compaction_widths(n, min_width=8)
        assert widths

        def run(s, w):
            # the Newton step is damped by a scalar closed over by the loop body
            def it(i, c, e):
                out = _newton_sqrt(i, c, e)
                return {**out, "x": jnp.where(c["done"], c["x"], c["x"] + s * (out["x"] - c["x"]))}

            c0 = {"x": x0, "n": jnp.zeros(n), "done": jnp.zeros(n, bool), "last": jnp.zeros(n, bool)}
            env = {"a": a, "tol": 1e-9}
            if w is None:
                return jax.lax.fori_loop(0, 40, lambda i, c: it(i, c, env), c0)
            return compacted_fori_loop(it, 40, c0, env, w)

        loss = lambda s, w: jnp.sum(run(s, w)["x"])  # noqa: E731
        s = jnp.asarray(0.9)
        np.testing.assert_array_equal(np.asarray(jax.jit(lambda s: run(s, widths)["x"])(s)),
                                      np.asarray(jax.jit(lambda s: run(s, None)["x"])(s)))
        g_full = jax.jit(jax.grad(lambda s: loss(s, None)))(s)
        g_comp = jax.jit(jax.grad(lambda s: loss(s, widths)))(s)
        assert np.isfinite(float(g_full)) and float(g_full) != 0.0
        assert float(g_comp) == pytest.approx(float(g_full), rel=1e-13)
        t_full = jax.jit(lambda s: jax.jvp(lambda s: loss(s, None), (s,), (jnp.ones(()),))[1])(s)
        t_comp = jax.jit(lambda s: jax.jvp(lambda s: loss(s, widths), (s,), (jnp.ones(()),))[1])(s)
        assert float(t_comp) == pytest.approx(float(t_full), rel=1e-13)
        # not differentiated: a while loop per level that stops at the hand-over, no lax.cond of
        # idle trips; differentiated: the fixed-length loop with its lax.cond
        fwd = jax.jit(lambda s: run(s, widths)["x"]).lower(s).as_text()
        grad = jax.jit(jax.grad(lambda s: loss(s, widths))).lower(s).as_text()
        assert "stablehlo.while" in fwd and "stablehlo.case" not in fwd
        assert "stablehlo.case" in grad
