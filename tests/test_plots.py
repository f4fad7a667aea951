"""Smoke tests: every plot function writes a non-empty PNG and returns a Figure."""
import matplotlib
import numpy as np
import pandas as pd

from diffland.evaluation import plots


def _ok(fig, path):
    assert isinstance(fig, matplotlib.figure.Figure)
    assert path.exists() and path.stat().st_size > 1000
    matplotlib.pyplot.close(fig)


def test_all_plots(tmp_path):
    rng = np.random.default_rng(0)
    n = 30
    lat, lon = rng.uniform(25, 50, n), rng.uniform(-125, -70, n)
    vals = rng.random(n)
    p = tmp_path / "map.png"
    _ok(plots.map_plot(lat, lon, vals, title="RMSE", label="RMSE [m3 m-3]", path=p), p)
    p = tmp_path / "map_plain.png"
    _ok(plots.map_plot(lat, lon, vals, coastlines=False, path=p), p)
    t = pd.date_range("2020-01-01", periods=100, freq="D").values
    obs = rng.random(100)
    obs[::5] = np.nan
    p = tmp_path / "sub" / "ts.png"
    _ok(plots.timeseries_plot(t, {"obs": obs, "sim": rng.random(100)}, obs_key="obs", ylabel="SM [m3 m-3]", path=p), p)
    p = tmp_path / "cdf.png"
    _ok(plots.cdf_plot({"a": vals, "b": vals * 2, "empty": [np.nan]}, xlabel="RMSE", path=p), p)
    p = tmp_path / "scatter.png"
    _ok(plots.scatter_plot(vals, vals + 0.1, xlabel="obs", ylabel="sim", path=p), p)
    classes = np.array(["arid", "semi-arid", "sub-humid", "humid"] * 7 + ["arid", "humid"])
    p = tmp_path / "box.png"
    _ok(plots.box_by_regime({"learned": vals, "default": vals * 1.5}, classes, ylabel="RMSE", path=p), p)
    p = tmp_path / "box1.png"
    _ok(plots.box_by_regime(vals, classes, path=p), p)
    fig = plots.scatter_plot([1, 2], [1, 2])  # no path: nothing written, figure returned
    assert isinstance(fig, matplotlib.figure.Figure)
