"""Transfer-check helpers: float64 mode, per-cell skill metrics, result container.

The transfer check itself (:func:`diffland.learning.api.transfer_check`) re-runs the physics with the learned
parameters alone (never the a/b factors) in float64, and scores the top-layer soil moisture at the overpass
steps against the observations, for the default table parameters and for the learned ones.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Optional

import jax
import numpy as np
import pandas as pd

__all__ = ["enable_x64", "cell_metrics", "TransferResult"]


@contextlib.contextmanager
def enable_x64(on: bool = True):
    """Temporarily set ``jax_enable_x64`` (restored on exit, also after an error)."""
    old = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", bool(on))
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", old)


def cell_metrics(sim: np.ndarray, obs: np.ndarray, min_obs: int = 2) -> dict:
    """Per-cell skill of ``sim`` against ``obs`` (days, cells) [m3/m3], NaN obs = missing.

    Returns dict of (cells,) float64 arrays: ``n``, ``rmse``, ``ubrmse`` (RMSE after removing the mean bias),
    ``bias`` (mean sim - obs), ``r`` (Pearson); NaN where fewer than ``min_obs`` pairs (``r``: < 3 pairs or
    zero variance).
    """
    sim = np.asarray(sim, np.float64)
    obs = np.asarray(obs, np.float64)
    m = np.isfinite(obs) & np.isfinite(sim)
    n = m.sum(0)
    nn = np.maximum(n, 1)
    s = np.where(m, sim, 0.0)
    o = np.where(m, obs, 0.0)
    d = s - o
    bias = d.sum(0) / nn
    mse = (d * d).sum(0) / nn
    rmse = np.sqrt(mse)
    ubrmse = np.sqrt(np.maximum(mse - bias ** 2, 0.0))
    ms, mo = s.sum(0) / nn, o.sum(0) / nn
    ds_, do_ = np.where(m, s - ms, 0.0), np.where(m, o - mo, 0.0)
    den = np.sqrt((ds_ ** 2).sum(0) * (do_ ** 2).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where((den > 0) & (n >= 3), (ds_ * do_).sum(0) / np.where(den > 0, den, 1.0), np.nan)
    bad = n < max(min_obs, 1)
    for a in (bias, rmse, ubrmse):
        a[bad] = np.nan
    return {"n": n.astype(np.int64), "rmse": rmse, "ubrmse": ubrmse, "bias": bias, "r": r}


def _median(x):
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else float("nan")


@dataclasses.dataclass
class TransferResult:
    """Per-cell metrics (long table) and summaries of a transfer check.

    ``per_cell`` columns: period, params (``default`` | ``learned``), cell, lat, lon, group (``train`` | ``val`` |
    ``holdout`` | ``all``), regime (class name or ``unknown``), n, rmse, ubrmse, bias, r (m3/m3 except r, n).
    ``summary[period][group][params]`` and ``summary[period]["by_regime"][regime][params]`` hold medians over
    cells (``rmse_median``, ``ubrmse_median``, ``bias_median``, ``r_median``) and ``n_cells``; ``group``
    includes ``"all"``.
    """

    per_cell: pd.DataFrame
    summary: dict
    precision: str = "float64"
    series: Optional[dict] = None

    @classmethod
    def build(cls, per_cell: pd.DataFrame, precision="float64") -> "TransferResult":
        summary = {}

        def agg(df):
            return {"rmse_median": _median(df["rmse"]), "ubrmse_median": _median(df["ubrmse"]),
                    "bias_median": _median(df["bias"]), "r_median": _median(df["r"]),
                    "rmse_mean": float(np.nanmean(df["rmse"])) if np.isfinite(df["rmse"]).any() else float("nan"),
                    "n_cells": int(np.isfinite(df["rmse"]).sum())}

        for period, dp in per_cell.groupby("period", sort=False):
            sp = {}
            groups = ["all"] + sorted(g for g in dp["group"].unique() if g != "all")
            for g in groups:
                dg = dp if g == "all" else dp[dp["group"] == g]
                sp[g] = {p: agg(dgp) for p, dgp in dg.groupby("params", sort=False)}
            sp["by_regime"] = {r: {p: agg(d2) for p, d2 in dr.groupby("params", sort=False)}
                               for r, dr in dp.groupby("regime", sort=True)}
            summary[period] = sp
        return cls(per_cell, summary, precision)

    def metrics_json(self, period: str, group: Optional[str] = None) -> dict:
        """The ``diffland evaluate`` METRICS.json layout for one period (issue 4 item 6).

        ``summary.default|learned.rmse_median``, ``by_regime.<class>.default|learned.rmse_median`` and
        ``cells``: one record per cell with lat, lon, regime, group, rmse_default, rmse_learned (+ ubrmse,
        bias, r for both).
        """
        df = self.per_cell[self.per_cell["period"] == period]
        if group is not None:
            df = df[df["group"] == group]
        out = {"period": period, "precision": self.precision,
               "summary": {p: {"rmse_median": _median(d["rmse"]), "ubrmse_median": _median(d["ubrmse"]),
                               "bias_median": _median(d["bias"]), "r_median": _median(d["r"]),
                               "n_cells": int(np.isfinite(d["rmse"]).sum())}
                           for p, d in df.groupby("params", sort=False)},
               "by_regime": {r: {p: {"rmse_median": _median(d2["rmse"])} for p, d2 in dr.groupby("params")}
                             for r, dr in df.groupby("regime")}}
        keys = ["cell", "lat", "lon", "regime", "group"]
        cells = None
        for p in ("default", "learned"):
            d = df[df["params"] == p][keys + ["rmse", "ubrmse", "bias", "r"]].rename(
                columns={m: f"{m}_{p}" for m in ("rmse", "ubrmse", "bias", "r")})
            cells = d if cells is None else cells.merge(d, on=keys, how="outer")
        recs = []
        for rec in cells.to_dict("records"):
            r = {k: _py(v) for k, v in rec.items()}
            for k, v in list(r.items()):
                if isinstance(v, float) and not np.isfinite(v):
                    r[k] = None
            recs.append(r)
        cells = recs
        out["cells"] = cells
        return out


def _py(x):
    return x.item() if hasattr(x, "item") else x
