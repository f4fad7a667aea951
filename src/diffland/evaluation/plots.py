"""Figures used by reports: maps, time series, CDFs, scatter and box plots by regime.

All functions use matplotlib's non-interactive ``Agg`` backend (safe on headless
machines), return the ``matplotlib.figure.Figure`` and, when ``path`` is given, save a
PNG there (parent folders are created). Close figures you keep no longer with
``matplotlib.pyplot.close(fig)``.

Maps draw cartopy coastlines when cartopy is importable (optional dependency), otherwise
plain longitude/latitude axes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["map_plot", "timeseries_plot", "cdf_plot", "scatter_plot", "box_by_regime", "have_cartopy"]


def have_cartopy() -> bool:
    """True when cartopy can be imported (maps then get coastlines)."""
    try:
        import cartopy  # noqa: F401
        import cartopy.crs  # noqa: F401
    except Exception:
        return False
    return True


def _finish(fig, path, dpi):
    fig.tight_layout()
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, format="png")
    return fig


def _np(x):
    return np.asarray(getattr(x, "values", x))


def map_plot(lat, lon, values, *, title: str = "", label: str = "", cmap: str = "viridis", vmin=None, vmax=None,
             size: float = 12.0, coastlines: bool | None = None, path=None, dpi: int = 120, figsize=(8, 4.5)):
    """Scatter map of per-cell values.

    Args:
        lat, lon: (cells,) degrees north / east.
        values: (cells,) values in the units named by ``label`` (e.g. ``"RMSE [m3 m-3]"``).
        coastlines: draw cartopy coastlines (default: when cartopy is installed).
        size: marker size [points^2]; path: PNG to write.
    """
    lat, lon, values = _np(lat).ravel(), _np(lon).ravel(), _np(values).astype(float).ravel()
    if not (lat.size == lon.size == values.size):
        raise ValueError(f"lat, lon, values must have one value per cell; sizes {lat.size}, {lon.size}, {values.size}")
    use_cartopy = have_cartopy() if coastlines is None else (coastlines and have_cartopy())
    if use_cartopy:
        import cartopy.crs as ccrs

        fig = plt.figure(figsize=figsize)
        ax = fig.add_subplot(1, 1, 1, projection=ccrs.PlateCarree())
        sc = ax.scatter(lon, lat, c=values, s=size, cmap=cmap, vmin=vmin, vmax=vmax, transform=ccrs.PlateCarree())
        ax.coastlines(linewidth=0.6)
        pad = 1.0
        if lon.size:
            ax.set_extent([lon.min() - pad, lon.max() + pad, lat.min() - pad, lat.max() + pad], crs=ccrs.PlateCarree())
    else:
        fig, ax = plt.subplots(figsize=figsize)
        sc = ax.scatter(lon, lat, c=values, s=size, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_xlabel("longitude [deg E]")
        ax.set_ylabel("latitude [deg N]")
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(True, linewidth=0.3)
    fig.colorbar(sc, ax=ax, label=label, shrink=0.8)
    ax.set_title(title)
    return _finish(fig, path, dpi)


def timeseries_plot(time, series: Mapping[str, object], *, title: str = "", ylabel: str = "", obs_key: str | None = None,
                    path=None, dpi: int = 120, figsize=(9, 3.5)):
    """Line plot of several series against ``time``.

    Args:
        time: (time,) datetime64 or numbers.
        series: label -> (time,) values (NaN gaps are left blank).
        obs_key: label drawn as black dots (observations), the others as lines.
        ylabel: axis label with units, e.g. ``"SOIL_M1 [m3 m-3]"``.
    """
    t = _np(time)
    fig, ax = plt.subplots(figsize=figsize)
    for name, y in series.items():
        y = _np(y).astype(float)
        if y.shape[0] != t.shape[0]:
            raise ValueError(f"series {name!r} has {y.shape[0]} values for {t.shape[0]} time steps")
        if name == obs_key:
            ax.plot(t, y, "k.", ms=3, label=name)
        else:
            ax.plot(t, y, lw=1.0, label=name)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if series:
        ax.legend(fontsize=8)
    fig.autofmt_xdate()
    return _finish(fig, path, dpi)


def cdf_plot(samples: Mapping[str, object], *, title: str = "", xlabel: str = "", xlim=None, path=None,
             dpi: int = 120, figsize=(5, 4)):
    """Empirical CDFs (e.g. of per-cell RMSE for several models); NaNs are dropped.

    Args:
        samples: label -> 1-D values in the units of ``xlabel``.
    """
    fig, ax = plt.subplots(figsize=figsize)
    for name, v in samples.items():
        v = np.sort(_np(v).astype(float).ravel())
        v = v[np.isfinite(v)]
        if v.size == 0:
            continue
        p = np.arange(1, v.size + 1) / v.size
        ax.step(v, p, where="post", label=f"{name} (median {np.median(v):.3g})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("cumulative fraction of cells [-]")
    ax.set_ylim(0, 1)
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.set_title(title)
    ax.grid(True, linewidth=0.3)
    if samples:
        ax.legend(fontsize=8)
    return _finish(fig, path, dpi)


def scatter_plot(x, y, *, xlabel: str = "", ylabel: str = "", title: str = "", one_to_one: bool = True,
                 color=None, path=None, dpi: int = 120, figsize=(4.5, 4.5), size: float = 6.0):
    """Scatter of ``y`` against ``x`` (e.g. simulated vs observed) with an optional 1:1 line."""
    x, y = _np(x).astype(float).ravel(), _np(y).astype(float).ravel()
    if x.size != y.size:
        raise ValueError(f"x and y must have the same size, got {x.size} and {y.size}")
    fig, ax = plt.subplots(figsize=figsize)
    ax.scatter(x, y, s=size, c=color, alpha=0.7)
    if one_to_one:
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.any():
            lo = min(x[ok].min(), y[ok].min())
            hi = max(x[ok].max(), y[ok].max())
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, linewidth=0.3)
    return _finish(fig, path, dpi)


def box_by_regime(values, classes, *, ylabel: str = "", title: str = "", order: Sequence[str] | None = None,
                  path=None, dpi: int = 120, figsize=(5, 4)):
    """Box plot of per-cell values per regime (e.g. RMSE by aridity class).

    Args:
        values: (cells,) values, or a mapping label -> (cells,) values drawn side by side
            (e.g. ``{"learned": rmse_a, "default": rmse_b}``).
        classes: (cells,) regime labels (see :mod:`diffland.evaluation.regimes`).
        order: regimes to show (default: those of ``REGIMES`` that occur).
    """
    from .regimes import REGIMES

    labels = _np(classes).astype(str).ravel()
    groups = values if isinstance(values, Mapping) else {"": values}
    groups = {k: _np(v).astype(float).ravel() for k, v in groups.items()}
    for k, v in groups.items():
        if v.size != labels.size:
            raise ValueError(f"values {k!r} have {v.size} cells but classes has {labels.size}")
    if order is None:
        order = [r for r in REGIMES if (labels == r).any()]
    fig, ax = plt.subplots(figsize=figsize)
    ng = len(groups)
    width = 0.8 / ng
    handles = []
    for gi, (gname, v) in enumerate(groups.items()):
        data = [v[(labels == r) & np.isfinite(v)] for r in order]
        pos = np.arange(len(order)) + (gi - (ng - 1) / 2) * width
        bp = ax.boxplot(data, positions=pos, widths=width * 0.9, patch_artist=True, showfliers=False)
        color = f"C{gi}"
        for patch in bp["boxes"]:
            patch.set_facecolor(color)
            patch.set_alpha(0.6)
        handles.append((bp["boxes"][0] if bp["boxes"] else None, gname))
    ax.set_xticks(np.arange(len(order)))
    ax.set_xticklabels([f"{r}\n(n={int((labels == r).sum())})" for r in order])
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ng > 1:
        ax.legend([h for h, _ in handles if h is not None], [n for h, n in handles if h is not None], fontsize=8)
    return _finish(fig, path, dpi)
