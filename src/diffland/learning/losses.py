"""Training losses against gappy observations.

All functions take ``sim`` and ``obs`` of shape (days, cells) [m3/m3]; ``obs`` NaN means missing.  Missing
values are removed with the *double-where* pattern (the NaN never enters an arithmetic op whose gradient is
taken), so NaN observations give finite gradients.  ``cell_mask`` (cells,) bool removes whole cells (e.g.
padding cells of a minibatch).  Square roots use a safe sqrt (zero gradient at 0 instead of inf).

Losses (``kind`` in :func:`compute_loss`):

- ``global_rmse_z`` -- the paper's objective: one RMSE pooled over every (cell, day) of the minibatch, on data
  z-scored with continent-wide scalars ``mu``, ``sd`` (mean/std of all training observations).
- ``cell_rmse`` -- RMSE per cell [m3/m3], averaged over cells.
- ``cell_nse`` -- ``1 - NSE`` per cell (MSE over the cell's observed variance + ``eps``), averaged over cells.
- ``cell_kge`` -- ``1 - KGE`` per cell (Gupta et al. 2009), averaged over cells.
- ``regime_balanced`` -- a per-cell metric (``regime_base``: rmse | nse | kge) averaged within each aridity
  class, then averaged over the classes present, so each class has equal weight.

Cells with fewer than ``min_obs`` observations are left out of per-cell losses.

Scaling / bias factors: with ``a``, ``b`` (cells,) the loss compares ``a * sim + b`` with ``obs``.

Range-bound penalty: :func:`bound_penalty_raw` (squared excess of |raw| over a threshold, on pre-sigmoid
outputs) or :func:`bound_penalty_params` (squared distance inside a margin from either bound, on the unit
position of each parameter in its range).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "safe_sqrt", "obs_mask", "global_rmse_z", "cell_stats", "cell_rmse", "cell_nse", "cell_kge",
    "per_cell_metric", "regime_balanced", "bound_penalty_raw", "bound_penalty_params", "compute_loss",
    "LOSS_KINDS", "compute_loss_switch",
]

LOSS_KINDS = ("global_rmse_z", "cell_rmse", "cell_nse", "cell_kge", "regime_balanced")


def safe_sqrt(x):
    """sqrt with a finite (zero) gradient at x <= 0."""
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def obs_mask(obs, cell_mask=None):
    m = jnp.isfinite(obs)
    if cell_mask is not None:
        m = m & jnp.asarray(cell_mask, bool)[None, :]
    return m


def _clean(sim, obs, mask):
    o = jnp.where(mask, obs, 0.0)
    s = jnp.where(mask, sim, 0.0)
    return s, o


def global_rmse_z(sim, obs, mu, sd, cell_mask=None):
    """Paper objective: pooled RMSE over all observed (day, cell) on z-scored data [-]."""
    mask = obs_mask(obs, cell_mask)
    s, o = _clean(sim, obs, mask)
    d = jnp.where(mask, (s - mu) / sd - (o - mu) / sd, 0.0)
    n = jnp.sum(mask)
    return safe_sqrt(jnp.sum(d * d) / jnp.maximum(n, 1))


def cell_stats(sim, obs, cell_mask=None, min_obs: int = 2):
    """Per-cell masked moments: dict of (cells,) arrays n, valid, mean_s, mean_o, mse, var_s, var_o, cov."""
    mask = obs_mask(obs, cell_mask)
    s, o = _clean(sim, obs, mask)
    n = jnp.sum(mask, axis=0)
    valid = n >= max(int(min_obs), 1)
    nn = jnp.maximum(n, 1).astype(s.dtype)
    ms = jnp.sum(s, 0) / nn
    mo = jnp.sum(o, 0) / nn
    ds = jnp.where(mask, s - ms, 0.0)
    do = jnp.where(mask, o - mo, 0.0)
    err = jnp.where(mask, s - o, 0.0)
    return {"n": n, "valid": valid, "mean_s": ms, "mean_o": mo, "mse": jnp.sum(err * err, 0) / nn,
            "var_s": jnp.sum(ds * ds, 0) / nn, "var_o": jnp.sum(do * do, 0) / nn, "cov": jnp.sum(ds * do, 0) / nn}


def _mean_valid(x, valid):
    return jnp.sum(jnp.where(valid, x, 0.0)) / jnp.maximum(jnp.sum(valid), 1)


def per_cell_metric(sim, obs, base: str = "rmse", cell_mask=None, min_obs: int = 2, eps: float = 1e-4):
    """(values (cells,), valid (cells,)) for base in rmse | nse (1-NSE) | kge (1-KGE)."""
    st = cell_stats(sim, obs, cell_mask, min_obs)
    if base == "rmse":
        v = safe_sqrt(st["mse"])
    elif base == "nse":
        v = st["mse"] / (st["var_o"] + eps)
    elif base == "kge":
        sd_s = safe_sqrt(st["var_s"])
        sd_o = safe_sqrt(st["var_o"])
        r = st["cov"] / (sd_s * sd_o + eps)
        alpha = sd_s / (sd_o + eps)
        beta = st["mean_s"] / jnp.where(jnp.abs(st["mean_o"]) > eps, st["mean_o"], eps)
        v = safe_sqrt((r - 1.0) ** 2 + (alpha - 1.0) ** 2 + (beta - 1.0) ** 2)
    else:
        raise ValueError(f"unknown per-cell metric {base!r}; choose rmse, nse or kge")
    valid = st["valid"]
    return jnp.where(valid, v, 0.0), valid


def cell_rmse(sim, obs, cell_mask=None, min_obs: int = 2):
    """Mean over cells of the per-cell RMSE [m3/m3]."""
    v, valid = per_cell_metric(sim, obs, "rmse", cell_mask, min_obs)
    return _mean_valid(v, valid)


def cell_nse(sim, obs, cell_mask=None, min_obs: int = 2, eps: float = 1e-4):
    """Mean over cells of 1 - NSE = MSE / (var(obs) + eps) [-]."""
    v, valid = per_cell_metric(sim, obs, "nse", cell_mask, min_obs, eps)
    return _mean_valid(v, valid)


def cell_kge(sim, obs, cell_mask=None, min_obs: int = 2, eps: float = 1e-4):
    """Mean over cells of 1 - KGE [-]."""
    v, valid = per_cell_metric(sim, obs, "kge", cell_mask, min_obs, eps)
    return _mean_valid(v, valid)


def regime_balanced(values, valid, classes, n_classes: int):
    """Equal weight per class: mean over classes present of the within-class mean of ``values``.

    Args:
        values, valid: (cells,) per-cell loss values and validity.
        classes: (cells,) int class index in [0, n_classes).
    """
    w = jax.nn.one_hot(classes, n_classes, dtype=values.dtype) * valid[:, None].astype(values.dtype)
    cnt = jnp.sum(w, 0)
    cls_mean = jnp.sum(w * values[:, None], 0) / jnp.maximum(cnt, 1.0)
    present = cnt > 0
    return jnp.sum(jnp.where(present, cls_mean, 0.0)) / jnp.maximum(jnp.sum(present), 1)


def bound_penalty_raw(raw, threshold: float = 4.0):
    """Mean squared excess of |raw| (pre-sigmoid outputs) over ``threshold`` (sigmoid(4) = 0.982)."""
    e = jax.nn.relu(jnp.abs(raw) - threshold)
    return jnp.mean(e * e)


def bound_penalty_params(unit, margin: float = 0.02):
    """Mean squared intrusion into a ``margin`` band near either bound; ``unit`` = position in range [0, 1]."""
    lo = jax.nn.relu(margin - unit)
    hi = jax.nn.relu(unit - (1.0 - margin))
    return jnp.mean((lo * lo + hi * hi) / (margin * margin))


def compute_loss(kind: str, sim, obs, *, cell_mask=None, a=None, b=None, mu: float = 0.0, sd: float = 1.0,
                 classes=None, n_classes: int = 4, regime_base: str = "rmse", min_obs: int = 2,
                 eps: float = 1e-4):
    """The configured data loss on (days, cells) arrays; ``a*sim + b`` is compared when a/b are given."""
    if a is not None:
        sim = a[None, :] * sim + (b[None, :] if b is not None else 0.0)
    if kind == "global_rmse_z":
        return global_rmse_z(sim, obs, mu, sd, cell_mask)
    if kind == "cell_rmse":
        return cell_rmse(sim, obs, cell_mask, min_obs)
    if kind == "cell_nse":
        return cell_nse(sim, obs, cell_mask, min_obs, eps)
    if kind == "cell_kge":
        return cell_kge(sim, obs, cell_mask, min_obs, eps)
    if kind == "regime_balanced":
        if classes is None:
            raise ValueError("loss 'regime_balanced' needs per-cell aridity classes")
        v, valid = per_cell_metric(sim, obs, regime_base, cell_mask, min_obs, eps)
        return regime_balanced(v, valid, classes, n_classes)
    raise ValueError(f"unknown loss kind {kind!r}; choose one of {LOSS_KINDS}")


def compute_loss_switch(index, kinds: tuple, sim, obs, **kw):
    """:func:`compute_loss` with the kind picked at run time: ``kinds[index]`` (``index`` an int array).

    ``jax.lax.switch`` runs (and differentiates) only the selected branch, so the value and gradient are
    those of ``compute_loss(kinds[index], ...)``; the kind is not baked into the compiled program, so runs
    that differ only in their loss share one program (e.g. through JAX's persistent compilation cache).
    """
    branches = [lambda s, o, k=k: compute_loss(k, s, o, **kw) for k in kinds]
    return jax.lax.switch(jnp.asarray(index, jnp.int32), branches, sim, obs)
