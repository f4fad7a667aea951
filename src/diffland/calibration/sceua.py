"""Shuffled Complex Evolution (SCE-UA; Duan, Gupta & Sorooshian 1993, JOTA 76; Duan et
al. 1994, J. Hydrol. 158).

Compact NumPy implementation with the recommended settings for ``d`` parameters:
``n_complexes`` complexes (p, default 2) of ``m = 2d + 1`` points, sub-complexes of
``q = d + 1`` points, ``alpha = 1`` offspring per sub-complex and ``beta = 2d + 1``
evolution steps per complex between shuffles.

1. Sample ``s = p m`` points uniformly in the box; sort by loss.
2. Partition into complexes (point ``k`` of the sorted population goes to complex
   ``k mod p``).
3. Evolve each complex with the Competitive Complex Evolution (CCE) step ``beta`` times:
   choose a sub-complex of ``q`` points with the trapezoidal probability
   ``p_i = 2 (m + 1 - i) / (m (m + 1))`` (rank ``i``, best first); reflect its worst point
   through the centroid of the others; if the reflection leaves the box, or is worse than
   the worst point after a contraction half-way to the centroid, draw a random point in
   the smallest box holding the complex (mutation); the new point replaces the worst.
4. Shuffle (merge, sort) and repeat from 2 until the budget is spent.

The budget is used exactly: the search stops at the ``budget``-th evaluation, wherever
it is. NaN/Inf losses count as ``+inf``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .dds import CalibrationResult, _bounds

__all__ = ["sceua"]


class _BudgetSpent(Exception):
    pass


class _Evaluator:
    def __init__(self, objective, budget):
        self.objective = objective
        self.budget = budget
        self.count = 0
        self.history = np.empty(budget)
        self.best_f = np.inf
        self.best_x = None

    def __call__(self, x):
        if self.count >= self.budget:
            raise _BudgetSpent
        f = float(self.objective(x.copy()))
        if not np.isfinite(f):
            f = np.inf
        if f < self.best_f or self.best_x is None:
            self.best_f, self.best_x = f, x.copy()
        self.history[self.count] = self.best_f
        self.count += 1
        return f


def sceua(objective: Callable[[np.ndarray], float], lower, upper, budget: int, *, seed: int = 0,
          n_complexes: int = 2, x0=None) -> CalibrationResult:
    """Minimise ``objective(x) -> float`` over ``[lower, upper]`` with SCE-UA.

    Args:
        objective: loss of a ``(d,)`` parameter vector; called exactly ``budget`` times.
        lower, upper: ``(d,)`` bounds in the parameters' units.
        budget: number of evaluations (model runs).
        seed: random seed (results are reproducible for a seed).
        n_complexes: number of complexes p (>= 1; 2-4 for small budgets, more for hard,
            multimodal problems).
        x0: optional point included in the initial population (e.g. the default parameters).
    Returns:
        :class:`CalibrationResult` with ``x (d,)``, ``f`` float, ``history (budget,)``.
    """
    budget = int(budget)
    if budget < 1:
        raise ValueError(f"budget must be >= 1 evaluation, got {budget}")
    if n_complexes < 1:
        raise ValueError(f"n_complexes must be >= 1, got {n_complexes}")
    lb, ub = _bounds(lower, upper)
    d = lb.size
    rng = np.random.default_rng(seed)
    m = 2 * d + 1
    q = d + 1
    beta = 2 * d + 1
    p = int(n_complexes)
    s = p * m
    ev = _Evaluator(objective, budget)
    ranks = np.arange(1, m + 1)
    prob = 2.0 * (m + 1 - ranks) / (m * (m + 1))
    n_shuffles = 0
    try:
        pop = lb + rng.random((s, d)) * (ub - lb)
        if x0 is not None:
            x0 = np.asarray(x0, dtype=np.float64)
            if np.any(x0 < lb) or np.any(x0 > ub):
                raise ValueError("x0 lies outside the bounds")
            pop[0] = x0
        fpop = np.array([ev(x) for x in pop])
        while True:
            order = np.argsort(fpop, kind="stable")
            pop, fpop = pop[order], fpop[order]
            for k in range(p):
                idx = np.arange(k, s, p)  # complex k: points k, k+p, k+2p, ...
                cx, cf = pop[idx].copy(), fpop[idx].copy()
                for _ in range(beta):
                    sub = np.sort(rng.choice(m, size=q, replace=False, p=prob))
                    worst = sub[-1]
                    centroid = cx[sub[:-1]].mean(axis=0)
                    lo, hi = cx.min(axis=0), cx.max(axis=0)
                    new = 2.0 * centroid - cx[worst]
                    if np.any(new < lb) or np.any(new > ub):
                        new = lo + rng.random(d) * (hi - lo)
                    fnew = ev(new)
                    if fnew > cf[worst]:
                        new = 0.5 * (centroid + cx[worst])
                        fnew = ev(new)
                        if fnew > cf[worst]:
                            new = lo + rng.random(d) * (hi - lo)
                            fnew = ev(new)
                    cx[worst], cf[worst] = new, fnew
                    o = np.argsort(cf, kind="stable")
                    cx, cf = cx[o], cf[o]
                pop[idx], fpop[idx] = cx, cf
            n_shuffles += 1
    except _BudgetSpent:
        pass
    assert ev.count == budget
    return CalibrationResult(x=ev.best_x, f=float(ev.best_f), history=ev.history, n_evals=ev.count, method="sceua",
                             info={"n_complexes": p, "points_per_complex": m, "subcomplex": q, "beta": beta,
                                   "n_shuffles": n_shuffles, "seed": seed})
