"""Dynamically Dimensioned Search (DDS; Tolson & Shoemaker 2007, WRR 43, W01413).

DDS is a greedy single-solution search designed for a fixed, small budget of model runs:
early it perturbs all dimensions (global search), later ever fewer (local search).

Algorithm, for a budget of ``m`` evaluations (all counted, the initial ones included):

1. Initial solution: ``x0`` if given (1 evaluation), else the best of ``n_init =
   max(5, round(0.005 m))`` uniform random points (as recommended by Tolson & Shoemaker).
2. For DDS iteration ``i = 1 .. m_dds`` (``m_dds = m - n_init``): select each dimension
   with probability ``P(i) = 1 - ln(i) / ln(m_dds)`` (at least one, chosen at random);
   perturb the selected ones, ``x_j <- x_best_j + r (ub_j - lb_j) N(0, 1)``, ``r = 0.2``;
   reflect at the bounds (a value beyond a bound is mirrored back; if the mirrored value
   is beyond the other bound it is set to the bound it crossed first);
   evaluate; keep the candidate if ``f(candidate) <= f(best)``.

NaN or infinite losses (failed model runs) count as ``+inf`` and are never accepted.

:func:`dds_cells` runs N independent DDS searches in lock-step: every objective call gets
one candidate per cell as an ``(N, d)`` array and returns ``(N,)`` losses, so each model
run simulates all cells at once (the natural way to use a cell-vectorised land model).
Each cell has its own best solution, perturbation choices and acceptance; the budget
counts model runs (each run = one evaluation for every cell). :func:`dds` is the N = 1
case with a scalar objective, and gives the same result as :func:`dds_cells` with one
cell and the same seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["CalibrationResult", "dds", "dds_cells"]


@dataclass
class CalibrationResult:
    """Outcome of a calibration.

    Attributes:
        x: best parameters, ``(d,)`` (or ``(N, d)`` for :func:`dds_cells`) in the units of
            the bounds.
        f: best loss (float, or ``(N,)``).
        history: best loss so far after each evaluation, ``(n_evals,)`` (or ``(n_evals, N)``):
            ``history[k]`` is the best after ``k + 1`` evaluations.
        n_evals: number of objective evaluations (model runs) used; equals the budget.
        method: ``"dds"`` / ``"dds_cells"`` / ``"sceua"``.
        info: method-specific extras (e.g. ``n_init``, ``n_complexes``).
    """

    x: np.ndarray
    f: float | np.ndarray
    history: np.ndarray
    n_evals: int
    method: str
    info: dict = field(default_factory=dict)

    @property
    def evaluations(self) -> np.ndarray:
        """Evaluation counts ``1 .. n_evals`` matching :attr:`history`."""
        return np.arange(1, self.n_evals + 1)


def _bounds(lower, upper):
    lb = np.atleast_1d(np.asarray(lower, dtype=np.float64))
    ub = np.atleast_1d(np.asarray(upper, dtype=np.float64))
    if lb.shape != ub.shape:
        raise ValueError(f"lower and upper bounds must have the same shape, got {lb.shape} and {ub.shape}")
    if not np.all(ub > lb):
        bad = int(np.flatnonzero(~(ub > lb))[0])
        raise ValueError(f"upper bound must exceed lower bound; parameter {bad}: [{lb[bad]}, {ub[bad]}]")
    return lb, ub


def _clean(f) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    return np.where(np.isfinite(f), f, np.inf)


def _reflect(x, lb, ub):
    """DDS boundary handling (Tolson & Shoemaker 2007, step 4)."""
    below = x < lb
    x = np.where(below, lb + (lb - x), x)
    x = np.where(below & (x > ub), lb, x)
    above = x > ub
    x = np.where(above, ub - (x - ub), x)
    x = np.where(above & (x < lb), ub, x)
    return x


def dds_cells(objective: Callable[[np.ndarray], np.ndarray], lower, upper, budget: int, *, n_cells: int,
              seed: int = 0, x0=None, r: float = 0.2, n_init: int | None = None) -> CalibrationResult:
    """Calibrate ``n_cells`` independent cells at once with DDS.

    Args:
        objective: maps ``(n_cells, d)`` parameter sets (one per cell) to ``(n_cells,)``
            losses (lower is better). Called exactly ``budget`` times.
        lower, upper: ``(d,)`` bounds shared by all cells, or ``(n_cells, d)`` per cell, in
            the parameters' units.
        budget: number of objective calls (model runs); each call evaluates every cell.
        seed: random seed (results are reproducible for a seed).
        x0: optional initial parameters ``(d,)`` or ``(n_cells, d)``; default: best of
            ``n_init`` random points.
        r: perturbation size as a fraction of the range (0.2 as in the paper).
        n_init: random initial points when ``x0`` is None (default ``max(5, round(0.005 budget))``).
    Returns:
        :class:`CalibrationResult` with ``x (n_cells, d)``, ``f (n_cells,)``,
        ``history (budget, n_cells)``.
    """
    budget = int(budget)
    if budget < 1:
        raise ValueError(f"budget must be >= 1 evaluation, got {budget}")
    lb, ub = _bounds(lower, upper)
    d = lb.shape[-1]
    lb = np.broadcast_to(lb, (n_cells, d))
    ub = np.broadcast_to(ub, (n_cells, d))
    rng = np.random.default_rng(seed)
    history = np.empty((budget, n_cells))
    count = 0

    def evaluate(x):
        nonlocal count
        f = _clean(objective(x.copy()))
        if f.shape != (n_cells,):
            raise ValueError(f"objective must return ({n_cells},) losses for ({n_cells}, {d}) inputs; got shape {f.shape}")
        count += 1
        return f

    if x0 is not None:
        xb = np.broadcast_to(np.asarray(x0, dtype=np.float64), (n_cells, d)).copy()
        if np.any(xb < lb) or np.any(xb > ub):
            raise ValueError("x0 lies outside the bounds")
        fb = evaluate(xb)
        history[0] = fb
        n_start = 1
    else:
        n_start = max(5, int(round(0.005 * budget))) if n_init is None else int(n_init)
        n_start = max(1, min(n_start, budget))
        xb = fb = None
        for k in range(n_start):
            x = lb + rng.random((n_cells, d)) * (ub - lb)
            f = evaluate(x)
            if xb is None:
                xb, fb = x, f
            else:
                better = f < fb
                xb = np.where(better[:, None], x, xb)
                fb = np.where(better, f, fb)
            history[k] = fb
    m_dds = budget - n_start
    sigma = r * (ub - lb)
    for i in range(1, m_dds + 1):
        p = 1.0 - math.log(i) / math.log(m_dds) if m_dds > 1 else 1.0
        select = rng.random((n_cells, d)) < p
        fallback = rng.integers(0, d, size=n_cells)
        none = ~select.any(axis=1)
        select[none, fallback[none]] = True
        z = rng.standard_normal((n_cells, d))
        cand = np.where(select, xb + sigma * z, xb)
        cand = _reflect(cand, lb, ub)
        f = evaluate(cand)
        accept = f <= fb
        xb = np.where(accept[:, None], cand, xb)
        fb = np.where(accept, f, fb)
        history[n_start + i - 1] = fb
    assert count == budget
    return CalibrationResult(x=xb, f=fb, history=history, n_evals=budget, method="dds_cells",
                             info={"n_init": n_start if x0 is None else 0, "r": r, "seed": seed})


def dds(objective: Callable[[np.ndarray], float], lower, upper, budget: int, *, seed: int = 0, x0=None,
        r: float = 0.2, n_init: int | None = None) -> CalibrationResult:
    """Minimise ``objective(x) -> float`` over the box ``[lower, upper]`` with DDS.

    Args:
        objective: loss of a ``(d,)`` parameter vector (lower is better); called exactly
            ``budget`` times.
        lower, upper: ``(d,)`` bounds in the parameters' units.
        budget: number of evaluations. seed, x0, r, n_init: see :func:`dds_cells`.
    Returns:
        :class:`CalibrationResult` with ``x (d,)``, ``f`` float, ``history (budget,)``.
    """
    res = dds_cells(lambda X: np.array([objective(X[0])], dtype=np.float64), lower, upper, budget, n_cells=1,
                    seed=seed, x0=None if x0 is None else np.asarray(x0, dtype=np.float64)[None],
                    r=r, n_init=n_init)
    return CalibrationResult(x=res.x[0], f=float(res.f[0]), history=res.history[:, 0], n_evals=res.n_evals,
                             method="dds", info=res.info)
