"""Skill metrics for simulated vs observed series, with missing-data masks.

Every metric is a pure function ``metric(sim, obs, *, dim="time", axis=0, min_count=10)``:

* ``sim``, ``obs``: NumPy arrays or xarray DataArrays of the same quantity in the same
  units (e.g. soil moisture in m3 m-3). NaN (or +-Inf) marks a missing value.
* **Pairwise masking**: a time step counts only where *both* ``sim`` and ``obs`` are
  finite. Where fewer than ``min_count`` pairs remain, the result is NaN.
* xarray inputs: the metric reduces over dimension ``dim`` (default ``"time"``) and
  returns a DataArray over the remaining dimensions (e.g. per cell). Inputs are aligned
  on their common coordinates first (inner join), so ``sim`` and ``obs`` may cover
  different periods.
* NumPy inputs: the metric reduces over ``axis`` (default 0: time leads, as in the
  ``(time, cells)`` arrays used across diffland) and returns an array (or a float).

Units of the results: ``rmse``, ``ubrmse``, ``bias``: the units of the inputs;
``pearson_r``, ``anomaly_r``, ``nse``, ``kge`` and its components: dimensionless.

Definitions (n = number of valid pairs, s = sim, o = obs, means over valid pairs):

* ``bias = mean(s - o)`` (positive: the simulation is too high).
* ``rmse = sqrt(mean((s - o)^2))``.
* ``ubrmse = sqrt(rmse^2 - bias^2)`` = population std of ``s - o`` (Entekhabi et al.
  2010); matches ``pytesmo.metrics.ubrmsd(x, y, ddof=0)``.
* ``pearson_r``: Pearson product-moment correlation.
* ``anomaly_r``: Pearson correlation of the anomalies of both series from their own
  climatology. Two climatologies (documented choice, see :func:`anomalies`):
  ``"moving"`` (default) a centred moving-window mean of ``window`` samples (31: one
  month of daily data; the same as ``pytesmo.time_series.anomaly.calc_anomaly`` with
  ``window_size=31`` days on daily data); ``"monthly"`` the mean of each calendar month
  over all years (xarray input with a datetime ``dim`` coordinate, or pass ``groups``).
  The climatology is computed from the pairwise-masked series, so both series see the
  same days.
* ``nse = 1 - sum((s - o)^2) / sum((o - mean(o))^2)`` (Nash & Sutcliffe 1970).
* ``kge = 1 - sqrt((r - 1)^2 + (alpha - 1)^2 + (beta - 1)^2)`` with ``r`` = Pearson r,
  ``alpha = std(s) / std(o)``, ``beta = mean(s) / mean(o)`` (Gupta et al. 2009);
  :func:`kge_components` returns all four.

:func:`summary` reduces per-cell values to medians (or another statistic) per class,
e.g. per aridity regime from :mod:`diffland.evaluation.regimes`.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "DEFAULT_MIN_COUNT",
    "METRICS",
    "rmse",
    "ubrmse",
    "bias",
    "pearson_r",
    "anomaly_r",
    "anomalies",
    "nse",
    "kge",
    "kge_components",
    "all_metrics",
    "summary",
]

#: Default minimum number of valid (sim, obs) pairs for a metric to be reported.
DEFAULT_MIN_COUNT = 10


# ----------------------------------------------------------------------------- core (NumPy, axis=-1)
def _masked(sim: np.ndarray, obs: np.ndarray):
    """Broadcast, cast to float64 and apply the pairwise mask; returns (s, o, valid, n)."""
    s, o = np.broadcast_arrays(np.asarray(sim, dtype=np.float64), np.asarray(obs, dtype=np.float64))
    valid = np.isfinite(s) & np.isfinite(o)
    s = np.where(valid, s, 0.0)
    o = np.where(valid, o, 0.0)
    n = valid.sum(axis=-1)
    return s, o, valid, n


def _mean(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return x.sum(axis=-1) / n


def _finish(value: np.ndarray, n: np.ndarray, min_count: int) -> np.ndarray:
    value = np.where(n >= max(int(min_count), 1), value, np.nan)
    return value


def _moments(s, o, valid, n):
    """Means, population variances/covariance over valid pairs (axis -1)."""
    ms = _mean(s, n)
    mo = _mean(o, n)
    ds = np.where(valid, s - ms[..., None], 0.0)
    do = np.where(valid, o - mo[..., None], 0.0)
    vs = _mean(ds * ds, n)
    vo = _mean(do * do, n)
    cov = _mean(ds * do, n)
    return ms, mo, vs, vo, cov


def _bias_core(sim, obs, min_count):
    s, o, valid, n = _masked(sim, obs)
    return _finish(_mean(s - o, n), n, min_count)


def _rmse_core(sim, obs, min_count):
    s, o, valid, n = _masked(sim, obs)
    d = s - o
    return _finish(np.sqrt(_mean(d * d, n)), n, min_count)


def _ubrmse_core(sim, obs, min_count):
    s, o, valid, n = _masked(sim, obs)
    d = s - o
    md = _mean(d, n)
    dd = np.where(valid, d - md[..., None], 0.0)
    return _finish(np.sqrt(_mean(dd * dd, n)), n, min_count)


def _pearson_core(sim, obs, min_count):
    s, o, valid, n = _masked(sim, obs)
    _, _, vs, vo, cov = _moments(s, o, valid, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(vs * vo)
    return _finish(np.clip(r, -1.0, 1.0), n, min_count)


def _nse_core(sim, obs, min_count):
    s, o, valid, n = _masked(sim, obs)
    mo = _mean(o, n)
    do = np.where(valid, o - mo[..., None], 0.0)
    d = s - o
    with np.errstate(invalid="ignore", divide="ignore"):
        value = 1.0 - (d * d).sum(axis=-1) / (do * do).sum(axis=-1)
    return _finish(value, n, min_count)


def _kge_core(sim, obs, min_count):
    """Returns an array with a trailing axis of 4: (kge, r, alpha, beta)."""
    s, o, valid, n = _masked(sim, obs)
    ms, mo, vs, vo, cov = _moments(s, o, valid, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip(cov / np.sqrt(vs * vo), -1.0, 1.0)
        alpha = np.sqrt(vs) / np.sqrt(vo)
        beta = ms / mo
    k = 1.0 - np.sqrt((r - 1.0) ** 2 + (alpha - 1.0) ** 2 + (beta - 1.0) ** 2)
    out = np.stack([k, r, alpha, beta], axis=-1)
    return np.where((n >= max(int(min_count), 1))[..., None], out, np.nan)


def _moving_mean(x: np.ndarray, valid: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """Centred moving mean over the last axis using valid samples only (NaN elsewhere)."""
    if window < 1:
        raise ValueError(f"anomaly window must be >= 1 sample, got {window}")
    half_lo = (window - 1) // 2
    half_hi = window - 1 - half_lo
    xs = np.where(valid, x, 0.0)
    pad = [(0, 0)] * (x.ndim - 1) + [(1, 0)]
    csum = np.pad(np.cumsum(xs, axis=-1), pad)
    ccnt = np.pad(np.cumsum(valid.astype(np.int64), axis=-1), pad)
    t = x.shape[-1]
    idx = np.arange(t)
    lo = np.clip(idx - half_lo, 0, t)
    hi = np.clip(idx + half_hi + 1, 0, t)
    total = np.take(csum, hi, axis=-1) - np.take(csum, lo, axis=-1)
    count = np.take(ccnt, hi, axis=-1) - np.take(ccnt, lo, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    return np.where(count >= min_periods, mean, np.nan)


def _group_mean(x: np.ndarray, valid: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Mean of the valid samples of each group label (last axis), broadcast back."""
    out = np.full(x.shape, np.nan)
    for g in np.unique(groups):
        sel = groups == g
        xs = np.where(valid[..., sel], x[..., sel], 0.0)
        cnt = valid[..., sel].sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            m = xs.sum(axis=-1) / cnt
        out[..., sel] = m[..., None]
    return out


def _anomalies_core(x, valid, method, window, min_periods, groups):
    if method == "moving":
        clim = _moving_mean(x, valid, window, min_periods)
    elif method == "monthly":
        if groups is None:
            raise ValueError(
                "anomaly method 'monthly' needs calendar months: pass an xarray input whose "
                "time dimension has datetime coordinates, or groups=<month number per step>"
            )
        groups = np.asarray(groups)
        if groups.shape != (x.shape[-1],):
            raise ValueError(f"groups must have one label per time step ({x.shape[-1]}), got shape {groups.shape}")
        clim = _group_mean(x, valid, groups)
    else:
        raise ValueError(f"unknown anomaly method {method!r}; use 'moving' or 'monthly'")
    return np.where(valid, x - clim, np.nan)


def _anomaly_r_core(sim, obs, min_count, method, window, min_periods, groups):
    s, o, valid, n = _masked(sim, obs)
    sa = _anomalies_core(s, valid, method, window, min_periods, groups)
    oa = _anomalies_core(o, valid, method, window, min_periods, groups)
    return _pearson_core(sa, oa, min_count)


# ----------------------------------------------------------------------------- dispatch
def _apply(core: Callable, sim, obs, dim: str, axis: int, extra_out_dim: str | None = None, **kwargs):
    """Run ``core`` (reducing the last axis) on NumPy or xarray inputs."""
    if isinstance(sim, xr.DataArray) or isinstance(obs, xr.DataArray):
        if not isinstance(sim, xr.DataArray):
            sim = xr.DataArray(np.asarray(sim), dims=obs.dims, coords=obs.coords)
        if not isinstance(obs, xr.DataArray):
            obs = xr.DataArray(np.asarray(obs), dims=sim.dims, coords=sim.coords)
        for name, arr in (("sim", sim), ("obs", obs)):
            if dim not in arr.dims:
                raise ValueError(f"{name} has no dimension {dim!r} (dims {arr.dims}); pass dim=<time dimension>")
        sim, obs = xr.align(sim, obs, join="inner")
        out_core = [[extra_out_dim]] if extra_out_dim else [[]]
        return xr.apply_ufunc(
            lambda a, b: core(a, b, **kwargs),
            sim,
            obs,
            input_core_dims=[[dim], [dim]],
            output_core_dims=out_core,
            dask="forbidden",
        )
    sim = np.moveaxis(np.asarray(sim, dtype=np.float64), axis, -1) if np.ndim(sim) else np.asarray(sim, float)
    obs = np.moveaxis(np.asarray(obs, dtype=np.float64), axis, -1) if np.ndim(obs) else np.asarray(obs, float)
    out = core(sim, obs, **kwargs)
    return float(out) if np.ndim(out) == 0 else out


def bias(sim, obs, *, dim: str = "time", axis: int = 0, min_count: int = DEFAULT_MIN_COUNT):
    """Mean error ``mean(sim - obs)`` over valid pairs [units of the inputs]."""
    return _apply(_bias_core, sim, obs, dim, axis, min_count=min_count)


def rmse(sim, obs, *, dim: str = "time", axis: int = 0, min_count: int = DEFAULT_MIN_COUNT):
    """Root-mean-square error over valid pairs [units of the inputs]."""
    return _apply(_rmse_core, sim, obs, dim, axis, min_count=min_count)


def ubrmse(sim, obs, *, dim: str = "time", axis: int = 0, min_count: int = DEFAULT_MIN_COUNT):
    """Unbiased RMSE ``sqrt(rmse^2 - bias^2)`` (population std of ``sim - obs``) [units of the inputs]."""
    return _apply(_ubrmse_core, sim, obs, dim, axis, min_count=min_count)


def pearson_r(sim, obs, *, dim: str = "time", axis: int = 0, min_count: int = DEFAULT_MIN_COUNT):
    """Pearson correlation over valid pairs [-]; NaN when either series is constant."""
    return _apply(_pearson_core, sim, obs, dim, axis, min_count=min_count)


def nse(sim, obs, *, dim: str = "time", axis: int = 0, min_count: int = DEFAULT_MIN_COUNT):
    """Nash-Sutcliffe efficiency over valid pairs [-] (1 perfect, 0 = as good as mean(obs))."""
    return _apply(_nse_core, sim, obs, dim, axis, min_count=min_count)


def kge(sim, obs, *, dim: str = "time", axis: int = 0, min_count: int = DEFAULT_MIN_COUNT):
    """Kling-Gupta efficiency (Gupta et al. 2009) over valid pairs [-]; see :func:`kge_components`."""
    out = kge_components(sim, obs, dim=dim, axis=axis, min_count=min_count)
    return out["kge"]


def kge_components(sim, obs, *, dim: str = "time", axis: int = 0, min_count: int = DEFAULT_MIN_COUNT) -> dict:
    """KGE and its components: dict with ``kge``, ``r`` (Pearson r), ``alpha`` (std ratio
    sim/obs) and ``beta`` (mean ratio sim/obs), all dimensionless; each value is shaped like
    the other metrics' results (float, array or DataArray)."""
    out = _apply(_kge_core, sim, obs, dim, axis, extra_out_dim="kge_component", min_count=min_count)
    names = ("kge", "r", "alpha", "beta")
    if isinstance(out, xr.DataArray):
        return {k: out.isel(kge_component=i, drop=True) for i, k in enumerate(names)}
    out = np.asarray(out)
    return {k: (float(out[..., i]) if out.ndim == 1 else out[..., i]) for i, k in enumerate(names)}


def anomalies(x, *, valid=None, method: str = "moving", window: int = 31, min_periods: int = 1,
              groups=None, dim: str = "time", axis: int = 0):
    """Anomalies of ``x`` from its climatology [units of ``x``].

    method ``"moving"``: ``x`` minus the centred moving mean of ``window`` samples
    (31 = one month of daily data; the window holds ``(window-1)//2`` samples before and
    ``window//2`` after, shrinking at the ends) computed from the valid samples, NaN where
    fewer than ``min_periods`` valid samples fall in the window.
    method ``"monthly"``: ``x`` minus the mean of its calendar month over all years;
    month labels come from the datetime coordinate ``dim`` of an xarray input or from
    ``groups`` (one label per time step).
    ``valid``: optional boolean mask (same shape); missing values (NaN) are always invalid.
    """
    if isinstance(x, xr.DataArray):
        if method == "monthly" and groups is None:
            groups = x[dim].dt.month.values
        v = xr.ones_like(x, dtype=bool) if valid is None else valid
        return xr.apply_ufunc(
            lambda a, m: _anomalies_core(np.asarray(a, float), m & np.isfinite(a), method, window, min_periods, groups),
            x, v, input_core_dims=[[dim], [dim]], output_core_dims=[[dim]],
        ).transpose(*x.dims)
    a = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    m = np.isfinite(a) if valid is None else (np.moveaxis(np.asarray(valid, bool), axis, -1) & np.isfinite(a))
    return np.moveaxis(_anomalies_core(a, m, method, window, min_periods, groups), -1, axis)


def anomaly_r(sim, obs, *, method: str = "moving", window: int = 31, min_periods: int = 1, groups=None,
              dim: str = "time", axis: int = 0, min_count: int = DEFAULT_MIN_COUNT):
    """Pearson correlation of anomalies [-]; see :func:`anomalies` for the climatology.

    The pairwise mask is applied before the climatology, so both series' climatologies use
    the same time steps. ``window`` and ``min_periods`` are in samples (time steps).
    """
    if method == "monthly" and groups is None and (isinstance(sim, xr.DataArray) or isinstance(obs, xr.DataArray)):
        if isinstance(sim, xr.DataArray) and isinstance(obs, xr.DataArray):
            sim, obs = xr.align(sim, obs, join="inner")
        ref = sim if isinstance(sim, xr.DataArray) else obs
        if dim not in ref.coords or not np.issubdtype(ref[dim].dtype, np.datetime64):
            raise ValueError(f"anomaly method 'monthly' needs datetime coordinates on dimension {dim!r}, or groups=")
        groups = ref[dim].dt.month.values
    return _apply(_anomaly_r_core, sim, obs, dim, axis, min_count=min_count, method=method,
                  window=window, min_periods=min_periods, groups=groups)


#: Name -> function of every scalar metric (used by :func:`all_metrics`).
METRICS: dict[str, Callable] = {
    "rmse": rmse,
    "ubrmse": ubrmse,
    "bias": bias,
    "pearson_r": pearson_r,
    "anomaly_r": anomaly_r,
    "nse": nse,
    "kge": kge,
}


def all_metrics(sim, obs, *, names: Sequence[str] | None = None, dim: str = "time", axis: int = 0,
                min_count: int = DEFAULT_MIN_COUNT, **anomaly_kwargs):
    """All metrics in ``names`` (default: every one in :data:`METRICS`).

    Returns an ``xarray.Dataset`` (one variable per metric) for xarray inputs, otherwise a
    dict name -> array/float. ``anomaly_kwargs`` go to :func:`anomaly_r`.
    """
    names = list(METRICS) if names is None else list(names)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; available: {sorted(METRICS)}")
    out = {}
    for name in names:
        kw = dict(anomaly_kwargs) if name == "anomaly_r" else {}
        out[name] = METRICS[name](sim, obs, dim=dim, axis=axis, min_count=min_count, **kw)
    if any(isinstance(v, xr.DataArray) for v in out.values()):
        return xr.Dataset(out)
    return out


def summary(per_cell, by=None, *, stat: str | Callable = "median", order: Sequence[str] | None = None,
            include_all: bool = True) -> pd.DataFrame:
    """Summarise per-cell metric values, optionally per class (e.g. aridity regime).

    Args:
        per_cell: one metric (1-D array / DataArray over cells), or a mapping / xarray
            Dataset name -> 1-D per-cell values (e.g. the result of :func:`all_metrics`).
        by: optional 1-D array of class labels per cell (e.g. from
            :func:`diffland.evaluation.regimes.classify`).
        stat: ``"median"`` (default), ``"mean"``, or a callable on a 1-D array of finite values.
        order: row order of the classes (default: regimes order for regime labels, else sorted).
        include_all: add a row ``"all"`` over every cell.
    Returns:
        DataFrame with one row per class (+ ``"all"``), one column per metric, and a column
        ``n_cells`` (number of cells in the class). NaN cells are ignored by the statistic.
    """
    if isinstance(per_cell, xr.Dataset):
        cols = {k: np.asarray(v.values, float).ravel() for k, v in per_cell.data_vars.items()}
    elif isinstance(per_cell, Mapping):
        cols = {k: np.asarray(getattr(v, "values", v), float).ravel() for k, v in per_cell.items()}
    else:
        name = getattr(per_cell, "name", None) or "value"
        cols = {name: np.asarray(getattr(per_cell, "values", per_cell), float).ravel()}
    ncell = {len(v) for v in cols.values()}
    if len(ncell) != 1:
        raise ValueError(f"all metrics must have the same number of cells, got sizes {sorted(ncell)}")
    ncell = ncell.pop()
    if stat == "median":
        fn = np.median
    elif stat == "mean":
        fn = np.mean
    elif callable(stat):
        fn = stat
    else:
        raise ValueError(f"stat must be 'median', 'mean' or a callable, got {stat!r}")

    def _stat(v):
        v = v[np.isfinite(v)]
        return float(fn(v)) if v.size else np.nan

    groups: dict[str, np.ndarray] = {}
    if by is not None:
        labels = np.asarray(getattr(by, "values", by)).astype(str).ravel()
        if labels.size != ncell:
            raise ValueError(f"`by` has {labels.size} labels but there are {ncell} cells")
        present = list(dict.fromkeys(labels.tolist()))
        if order is None:
            from .regimes import REGIMES

            known = [r for r in REGIMES if r in present]
            order = known + sorted(p for p in present if p not in known)
        for lab in order:
            groups[lab] = labels == lab
    if include_all or by is None:
        groups["all"] = np.ones(ncell, bool)
    rows = {}
    for lab, sel in groups.items():
        row = {k: _stat(v[sel]) for k, v in cols.items()}
        row["n_cells"] = int(sel.sum())
        rows[lab] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "class"
    return df
