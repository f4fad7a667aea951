"""Iterative per-cell solvers run on fewer and fewer cells as cells converge (stream compaction).

Noah-MP iterates some solvers per grid cell until that cell converges (the canopy energy balance:
at least 5 and at most 20 Newton iterations). Vectorised over cells, a loop runs until its slowest
cell is done, with the finished cells masked. In the benchmark case a vegetated cell needs 7.0
iterations on average while the slowest of 5 000 cells needs 12.3, so most of the loop's work is
masked off. ``compacted_fori_loop`` runs the loop at full width only while more than a given number
of cells are still active, then gathers the active cells into a smaller buffer and continues there,
level by level, and scatters the results back. Each cell goes through exactly the same iterations
and operations as in the full-width loop; only the masked work is dropped.

Pure function, no I/O. Differentiable in forward and reverse mode: without a derivative each level
is a ``lax.while_loop`` that stops when the level hands over; under differentiation a custom JVP
rule takes the tangents of the same iterations written as a fixed-length ``fori_loop`` whose idle
trips a ``lax.cond`` skips (reverse mode cannot go through a while loop). The gathered indices are
integers and carry no gradient.
"""
from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp

__all__ = ["compaction_widths", "compacted_fori_loop"]


def compaction_widths(ncell: int, fractions: Sequence[float] = (0.25, 1.0 / 32), min_width: int = 16) -> tuple:
    """Buffer sizes (number of cells) of the compacted levels for ``ncell`` cells.

    A level is kept only if it holds at least ``min_width`` cells and is smaller than the level
    above it (below that, the fixed cost per kernel dominates and a smaller buffer saves nothing).
    """
    out, prev = [], ncell
    for f in fractions:
        w = int(-(-ncell * f // 1))  # ceil
        if w < min_width or w >= prev:
            break
        out.append(w)
        prev = w
    return tuple(out)


def _take(x, idx, ncell):
    return x[..., idx] if (jnp.ndim(x) >= 1 and x.shape[-1] == ncell) else x


def compacted_fori_loop(iterate: Callable, n_iter: int, carry: dict, env: dict, widths: Sequence[int] = (),
                        min_iter: int = 0):
    """Run ``carry = iterate(i, carry, env)`` for ``i = 0 .. n_iter-1``, skipping finished cells.

    Args:
        iterate: ``(i, carry, env) -> carry``, elementwise over the cell (last) axis, that leaves a
            cell unchanged once ``carry["done"]`` is True for it; ``i`` is the iteration number
            (a traced int32 scalar, 0-based).
        n_iter: maximum number of iterations.
        carry: dict of 1-d arrays over the cells including the bool ``"done"``; the other entries
            share one floating dtype.
        env: dict of the loop's inputs; arrays whose last axis has the cell count are gathered with
            the cells, anything else (scalars, other shapes) is passed as is.
        widths: buffer sizes of the compacted levels, decreasing (``compaction_widths``); empty:
            the full-width loop, skipping iterations once every cell is done.
        min_iter: iterations that run at full width unconditionally (no cell can be done before;
            an optimisation only: a wrong value costs time, never values).

    Returns:
        The final carry, equal (cell by cell) to running ``iterate`` ``n_iter`` times at full width.
    """
    # The carry travels as one (variables, cells) array: one copy, gather and scatter per
    # iteration or level instead of one per variable.
    keys = sorted(carry)
    fdt = next(v.dtype for v in carry.values() if jnp.issubdtype(v.dtype, jnp.floating))
    dtypes = {k: carry[k].dtype for k in keys}

    def pack(c):
        return jnp.stack([c[k].astype(fdt) for k in keys])

    def unpack(a):
        return {k: (a[j] > 0.5) if dtypes[k] == jnp.bool_ else a[j].astype(dtypes[k]) for j, k in enumerate(keys)}

    def step(i, a, e):
        return pack(iterate(i, unpack(a), e))

    a = pack(carry)
    m = max(0, min(min_iter, n_iter))
    if m:
        a = jax.lax.fori_loop(0, m, lambda i, a: step(i, a, env), a)
    a, _ = _level(step, n_iter, n_iter - m, keys.index("done"), a, env, tuple(widths), jnp.asarray(m, jnp.int32))
    return unpack(a)


def _level(step, n_iter, trips, idone, a, env, widths, it):
    ncell = a.shape[-1]
    nxt = widths[0] if widths else 0
    a, it = _run_level(step, n_iter, trips, idone, nxt, a, env, it)
    if not widths:
        return a, it
    # the (at most nxt) active cells; padding slots point past the end and are marked done
    idx = jnp.nonzero(a[idone] <= 0.5, size=nxt, fill_value=ncell)[0]
    pad = idx >= ncell
    gidx = jnp.minimum(idx, ncell - 1)
    sub_env = jax.tree_util.tree_map(lambda x: _take(x, gidx, ncell), env)
    sub = a[:, gidx]
    sub = sub.at[idone].set(jnp.where(pad, 1.0, sub[idone]))
    sub, it = _level(step, n_iter, trips, idone, sub, sub_env, widths[1:], it)
    return a.at[:, idx].set(sub, mode="drop"), it


def _run_level(step, n_iter, trips, idone, nxt, a, env, it):
    """Iterate one level until at most ``nxt`` cells are active or ``n_iter`` iterations are done.

    Not differentiated, this is a ``lax.while_loop`` that stops there. Differentiated (forward or
    reverse mode), the tangents are those of a ``fori_loop`` of ``trips`` trips in which each trip
    past that point is skipped by a ``lax.cond``: the same iterations, in a loop of fixed length,
    which reverse mode needs. (The fixed loop costs a copy of the carry per idle trip, hence the
    while loop where no derivative is taken.)
    """
    env = jax.tree_util.tree_map(jnp.asarray, env)
    # closed-over values of ``step`` become explicit arguments, so that they can carry tangents
    conv, consts = jax.closure_convert(step, it, a, env)

    @jax.custom_jvp
    def run(a, env, it, consts):
        return jax.lax.while_loop(lambda s: _busy(s[0], s[1], idone, nxt, n_iter),
                                  lambda s: (conv(s[1], s[0], env, *consts), s[1] + 1), (a, it))

    @run.defjvp
    def run_jvp(primals, tangents):
        def fixed(a, env, it, consts):
            return _fixed(lambda i, a, e: conv(i, a, e, *consts), n_iter, trips, idone, nxt, a, env, it)

        return jax.jvp(fixed, primals, tangents)

    return run(a, env, it, list(consts))


def _busy(a, i, idone, nxt, n_iter):
    """Whether a level iterates again: more than ``nxt`` cells active and iterations left. The
    number of active cells never grows, so once a level hands over, it stays idle."""
    return (jnp.sum(a[idone] <= 0.5) > nxt) & (i < n_iter)


def _fixed(step, n_iter, trips, idone, nxt, a, env, it):
    def body(_, s):
        return jax.lax.cond(_busy(s[0], s[1], idone, nxt, n_iter),
                            lambda s: (step(s[1], s[0], env), s[1] + 1), lambda s: s, s)

    return jax.lax.fori_loop(0, trips, body, (a, it))
