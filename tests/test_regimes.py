"""Aridity index, Priestley-Taylor PET and regime classes with hand numbers."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from diffland.evaluation import regimes as R


def test_pet_priestley_taylor_hand_number():
    # T = 20 degC, SW = 200, LW = 350 W m-2, PSFC = 101.3 kPa
    T = 293.15
    rn = 0.77 * 200.0 + 0.98 * (350.0 - 5.670374419e-8 * T**4)
    es = 0.6108 * np.exp(17.27 * 20.0 / 257.3)
    delta = 4098 * es / 257.3**2  # 0.1447 kPa/K
    gamma = 0.665e-3 * 101.3  # 0.06736 kPa/K
    expected = 1.26 * delta / (delta + gamma) * rn * 86400 / 2.45e6
    got = R.pet_priestley_taylor(T, 200.0, 350.0, 101300.0)
    assert got == pytest.approx(expected, rel=1e-12)
    assert 2.0 < got < 4.0  # mm/day (Rn = 86.7 W m-2), a plausible warm-season value
    assert delta == pytest.approx(0.1447, abs=2e-4)
    # cold dark day: net radiation < 0 -> PET clipped to 0
    assert R.pet_priestley_taylor(263.15, 0.0, 200.0, 1e5) == 0.0


def test_aridity_index_and_classes():
    ai = R.aridity_index(np.array([0.1, 1.0, 1.5, 3.0, 1.0, 1.0]), np.array([4.0, 4.0, 2.5, 3.0, 0.0, np.nan]))
    np.testing.assert_allclose(ai[:4], [0.025, 0.25, 0.6, 1.0])
    assert np.isnan(ai[4]) and np.isnan(ai[5])
    labels = R.classify(np.array([0.01, 0.05, 0.1999, 0.2, 0.49, 0.5, 0.649, 0.65, 2.0, np.nan]))
    assert labels.tolist() == ["arid", "arid", "arid", "semi-arid", "semi-arid", "sub-humid", "sub-humid",
                               "humid", "humid", "unknown"]
    assert R.REGIMES == ("arid", "semi-arid", "sub-humid", "humid")


def test_split_by_regime():
    classes = np.array(["humid", "arid", "humid", "unknown"])
    vals = np.arange(8.0).reshape(2, 4)
    parts = R.split_by_regime(vals, classes)
    assert list(parts) == list(R.REGIMES)
    np.testing.assert_array_equal(parts["humid"], [[0, 2], [4, 6]])
    assert parts["semi-arid"].shape == (2, 0)
    assert "unknown" in R.split_by_regime(vals, classes, include_unknown=True)
    da = xr.DataArray(vals, dims=("layer", "cell"))
    assert R.split_by_regime(da, classes)["arid"].sizes["cell"] == 1
    with pytest.raises(ValueError):
        R.split_by_regime(np.zeros(3), classes)


def test_aridity_from_forcing_hourly_dataset():
    time = pd.date_range("2020-06-01", periods=48, freq="h")
    n = 2
    hours = np.asarray(time.hour)
    sw = np.clip(np.sin((hours - 6) / 12 * np.pi), 0, None)[:, None] * 600.0 * np.ones(n)
    ds = xr.Dataset(
        {
            "T2D": (("time", "cell"), np.full((48, n), 293.15)),
            "SWDOWN": (("time", "cell"), sw),
            "LWDOWN": (("time", "cell"), np.full((48, n), 350.0)),
            "PSFC": (("time", "cell"), np.full((48, n), 101300.0)),
            "RAINRATE": (("time", "cell"), np.array([[0.0, 1.0]]).repeat(48, 0) / 86400.0 * 3.0),  # 0 and 3 mm/day
        },
        coords={"time": time},
    )
    ai, P, PET = R.aridity_from_forcing(ds)
    np.testing.assert_allclose(P.values, [0.0, 3.0])
    daily_sw = float(sw[:24, 0].mean())
    np.testing.assert_allclose(PET.values, R.pet_priestley_taylor(293.15, daily_sw, 350.0, 101300.0))
    assert R.classify(ai).tolist()[0] == "arid"
    with pytest.raises(KeyError, match="RAINRATE"):
        R.aridity_from_forcing(ds.drop_vars("RAINRATE"))
