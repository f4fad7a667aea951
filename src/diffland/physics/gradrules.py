"""Custom backward rules for Noah-MP's clips.

Noah-MP's forward pass must stay exact (its ``max``/``min`` clips), but some clips
kill the gradient of everything upstream of them. The helpers here keep the forward
value bit-identical to the plain clip and change only the backward pass:

* ``clip_st(x, lo, hi)``: forward ``clip(x, lo, hi)``; backward passes the cotangent
  straight through (identity) even where the clip is active ("straight-through
  estimator"). Use only where a dead gradient is worse than a biased one, and say so
  at the call site.
* ``floor_leaky(x, lo, leak)``: forward ``max(x, lo)``; backward slope 1 above ``lo``
  and ``leak`` below it.

All functions are element-wise and dtype-preserving.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


@jax.custom_jvp
def clip_st(x, lo, hi):
    """Forward: ``jnp.clip(x, lo, hi)``. Backward: identity in ``x`` (straight-through)."""
    return jnp.clip(x, lo, hi)


@clip_st.defjvp
def _clip_st_jvp(primals, tangents):
    x, lo, hi = primals
    dx, _, _ = tangents
    return clip_st(x, lo, hi), dx


@jax.custom_jvp
def floor_leaky(x, lo, leak):
    """Forward: ``jnp.maximum(x, lo)``. Backward: slope 1 where ``x > lo``, ``leak`` below."""
    return jnp.maximum(x, lo)


@floor_leaky.defjvp
def _floor_leaky_jvp(primals, tangents):
    x, lo, leak = primals
    dx, _, _ = tangents
    slope = jnp.where(x > lo, 1.0, leak).astype(dx.dtype) if hasattr(dx, "dtype") else 1.0
    return floor_leaky(x, lo, leak), slope * dx
