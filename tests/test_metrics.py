"""Metrics: hand-computed values, masking rules, xarray handling, pytesmo cross-check."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from diffland.evaluation import metrics as M


def test_hand_computed_values():
    obs = np.array([1.0, 2.0, 3.0, 4.0])
    sim = np.array([2.0, 2.0, 4.0, 4.0])
    # d = [1, 0, 1, 0]
    assert M.bias(sim, obs, min_count=1) == pytest.approx(0.5)
    assert M.rmse(sim, obs, min_count=1) == pytest.approx(np.sqrt(0.5))
    assert M.ubrmse(sim, obs, min_count=1) == pytest.approx(0.5)  # sqrt(0.5 - 0.25)
    # obs anomalies [-1.5,-.5,.5,1.5], sim anomalies [-1,-1,1,1]: cov=1, var_o=1.25, var_s=1
    assert M.pearson_r(sim, obs, min_count=1) == pytest.approx(1 / np.sqrt(1.25))
    assert M.nse(sim, obs, min_count=1) == pytest.approx(1 - 2 / 5)
    c = M.kge_components(sim, obs, min_count=1)
    r, alpha, beta = 1 / np.sqrt(1.25), 1 / np.sqrt(1.25), 3.0 / 2.5
    assert c["r"] == pytest.approx(r)
    assert c["alpha"] == pytest.approx(alpha)
    assert c["beta"] == pytest.approx(beta)
    assert c["kge"] == pytest.approx(1 - np.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2))
    assert M.kge(sim, obs, min_count=1) == pytest.approx(c["kge"])
    # perfect simulation
    assert M.nse(obs, obs, min_count=1) == 1.0
    assert M.kge(obs, obs, min_count=1) == pytest.approx(1.0)


def test_pairwise_mask_and_min_count():
    obs = np.array([1.0, np.nan, 3.0, 4.0, 5.0])
    sim = np.array([1.0, 2.0, np.nan, 5.0, 5.0])
    # valid pairs: (1,1), (5,4), (5,5) -> d = [0, 1, 0]
    assert M.bias(sim, obs, min_count=3) == pytest.approx(1 / 3)
    assert np.isnan(M.bias(sim, obs, min_count=4))
    assert np.isnan(M.rmse(np.full(5, np.nan), obs, min_count=1))
    assert np.isnan(M.pearson_r(np.ones(5), obs, min_count=1))  # constant series


def test_axis_and_xarray_per_cell():
    rng = np.random.default_rng(1)
    obs = rng.random((50, 3))
    sim = obs + 0.1
    sim[5, 1] = np.nan
    out = M.bias(sim, obs)
    assert out.shape == (3,)
    np.testing.assert_allclose(out, 0.1)
    np.testing.assert_allclose(M.bias(sim.T, obs.T, axis=1), out)
    time = pd.date_range("2020-01-01", periods=50, freq="D")
    S = xr.DataArray(sim, dims=("time", "cell"), coords={"time": time})
    O = xr.DataArray(obs[10:], dims=("time", "cell"), coords={"time": time[10:]})  # shorter: inner join
    b = M.bias(S, O)
    assert b.dims == ("cell",)
    np.testing.assert_allclose(b.values, 0.1)
    ds = M.all_metrics(S, O)
    assert set(ds.data_vars) == set(M.METRICS)
    k = M.kge_components(S, O)
    assert k["beta"].dims == ("cell",)
    with pytest.raises(ValueError, match="dimension"):
        M.rmse(S, O, dim="t")


def test_anomaly_r_moving_and_monthly():
    t = np.arange(730)
    seasonal = np.sin(2 * np.pi * t / 365.25)
    rng = np.random.default_rng(2)
    noise = rng.standard_normal(730) * 0.1
    obs = seasonal + noise
    sim = 2 * seasonal + noise  # same anomalies, different seasonal cycle
    assert M.pearson_r(sim, obs) < 0.999
    assert M.anomaly_r(sim, obs, window=31) > 0.95
    time = pd.date_range("2019-01-01", periods=730, freq="D")
    S = xr.DataArray(sim, dims="time", coords={"time": time})
    O = xr.DataArray(obs, dims="time", coords={"time": time})
    a_month = M.anomaly_r(S, O, method="monthly")
    assert 0.0 < float(a_month) <= 1.0
    np.testing.assert_allclose(float(a_month), M.anomaly_r(sim, obs, method="monthly", groups=time.month.values))
    with pytest.raises(ValueError, match="monthly"):
        M.anomaly_r(sim, obs, method="monthly")
    # moving-window anomalies of a constant + step are exact by hand
    x = np.array([1.0, 1.0, 4.0])
    np.testing.assert_allclose(M.anomalies(x, window=3), [0.0, -1.0, 1.5])


def test_summary_by_regime():
    vals = {"rmse": np.array([1.0, 2.0, 3.0, 4.0, np.nan]), "kge": np.array([0.1, 0.2, 0.3, 0.4, 0.5])}
    classes = np.array(["humid", "arid", "humid", "arid", "semi-arid"])
    df = M.summary(vals, by=classes)
    assert list(df.index) == ["arid", "semi-arid", "humid", "all"]
    assert df.loc["arid", "rmse"] == 3.0 and df.loc["humid", "rmse"] == 2.0
    assert np.isnan(df.loc["semi-arid", "rmse"]) and df.loc["semi-arid", "kge"] == 0.5
    assert df.loc["all", "n_cells"] == 5
    assert M.summary(np.array([1.0, 3.0])).loc["all", "value"] == 2.0


def test_against_pytesmo():
    pm = pytest.importorskip("pytesmo.metrics")
    anomaly = pytest.importorskip("pytesmo.time_series.anomaly")
    rng = np.random.default_rng(42)
    worst = 0.0
    for k in range(20):
        n = int(rng.integers(50, 400))
        obs = rng.random(n) * 0.4
        sim = 0.7 * obs + 0.05 + 0.03 * rng.standard_normal(n)
        sim[rng.random(n) < 0.15] = np.nan
        obs[rng.random(n) < 0.15] = np.nan
        v = np.isfinite(sim) & np.isfinite(obs)
        s, o = sim[v], obs[v]
        pairs = [
            (M.rmse(sim, obs), pm.rmsd(s, o)),
            (M.ubrmse(sim, obs), pm.ubrmsd(s, o)),
            (M.bias(sim, obs), pm.bias(s, o)),
            (M.pearson_r(sim, obs), pm.pearson_r(s, o)),
            (M.nse(sim, obs), pm.nash_sutcliffe(o, s)),
        ]
        for ours, theirs in pairs:
            worst = max(worst, abs(float(ours) - float(np.asarray(theirs).ravel()[0])))
        # moving-window anomalies: pytesmo's 31-day boxcar on daily data == our 31-sample window
        idx = pd.date_range("2020-01-01", periods=n, freq="D")
        theirs = anomaly.calc_anomaly(pd.Series(np.where(v, sim, np.nan), index=idx), window_size=31).values
        ours = M.anomalies(np.where(v, sim, np.nan), window=31)
        ok = np.isfinite(ours)
        worst = max(worst, float(np.max(np.abs(ours[ok] - theirs[ok]))))
    print(f"pytesmo max abs diff {worst:.3g}")
    assert worst < 1e-12
