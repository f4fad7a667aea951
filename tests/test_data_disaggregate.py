"""Daily -> sub-daily disaggregation: daily means preserved exactly, sensible diurnal shapes."""
import numpy as np
import pytest

from diffland.data import DataError, cos_zenith, daily_means, disaggregate_arrays
from diffland.data._common import FORCING_VARS, qsat


def _daily(nd=20, seed=0):
    rng = np.random.default_rng(seed)
    lat = np.array([47.0, 35.0, 30.0, 41.0])
    lon = np.array([-122.0, -105.0, -90.0, -70.0])
    nc = lat.size
    d = {"T2D": 270 + 30 * rng.random((nd, nc)), "Q2D": 0.002 + 0.012 * rng.random((nd, nc)),
         "U2D": rng.normal(1, 2, (nd, nc)), "V2D": rng.normal(0, 2, (nd, nc)),
         "SWDOWN": 20 + 300 * rng.random((nd, nc)), "LWDOWN": 220 + 150 * rng.random((nd, nc)),
         "RAINRATE": np.where(rng.random((nd, nc)) < 0.4, rng.random((nd, nc)) * 2e-4, 0.0)}
    days = np.datetime64("2015-06-01") + np.arange(nd)
    return days, lat, lon, d


@pytest.mark.parametrize("dt", [900, 1800, 3600, 10800])
@pytest.mark.parametrize("humidity,precip", [("constant", "uniform"), ("cap", "window")])
def test_daily_means_preserved(dt, humidity, precip):
    days, lat, lon, d = _daily()
    t, out, rep = disaggregate_arrays(days, lat, lon, d, dt, humidity=humidity,
                                      precipitation=precip, elevation=[10, 1600, 50, 200])
    assert t.size == days.size * 86400 // dt
    assert t[0] == np.datetime64("2015-06-01T00:00") + np.timedelta64(dt, "s")  # interval end
    for k in ("T2D", "U2D", "V2D", "SWDOWN", "LWDOWN", "RAINRATE"):
        m = daily_means(out[k], dt)
        np.testing.assert_allclose(m, d[k], rtol=1e-6, atol=1e-12, err_msg=k)
    if humidity == "constant" or rep["n_cap_not_preserved"] == 0:
        np.testing.assert_allclose(daily_means(out["Q2D"], dt), d["Q2D"], rtol=1e-6)
    if humidity == "cap":
        assert np.all(out["Q2D"] <= qsat(out["T2D"], out["PSFC"]) * (1 + 1e-9) + 1e-12) or \
            rep["n_cap_not_preserved"] > 0
    np.testing.assert_allclose(out["PSFC"][0, 1], 101325 * (1 - 2.25577e-5 * 1600) ** 5.25588)
    assert set(out) == set(FORCING_VARS)


def test_shapes_follow_the_sun():
    days, lat, lon, d = _daily(nd=3)
    d["T2D"] = np.repeat(d["T2D"][:1], 3, axis=0)   # same daily mean: the shape alone shows
    d["SWDOWN"] = np.repeat(d["SWDOWN"][:1], 3, axis=0)
    t, out, _ = disaggregate_arrays(days, lat, lon, d, 1800)
    cz = cos_zenith(t - np.timedelta64(900, "s"), lat, lon)
    assert np.all(out["SWDOWN"][cz < -0.1] == 0)             # dark -> no shortwave
    assert np.all(out["SWDOWN"] >= 0)
    # temperature maximum near 15 h local solar time, minimum near sunrise
    sod = (t - t.astype("datetime64[D]")).astype("timedelta64[s]").astype(float) / 3600
    lst = (sod[:, None] - 0.25 + lon / 15.0) % 24  # mid-interval local solar hour
    day1 = slice(48, 96)
    for c in range(lat.size):
        h = lst[day1, c]
        tc = out["T2D"][day1, c]
        hmax = h[np.argmax(tc)]
        assert abs(((hmax - 15 + 12) % 24) - 12) < 0.6, hmax
        hmin = h[np.argmin(tc)]
        assert 3.5 < hmin < 8.5, hmin
    # precipitation window: all rain inside [14, 20) h LST
    t, out, _ = disaggregate_arrays(days, lat, lon, d, 1800, precipitation="window")
    lst = (np.mod((t - t.astype("datetime64[D]")).astype("timedelta64[s]").astype(float) / 3600
                  - 0.25, 24)[:, None] + lon / 15.0) % 24
    assert np.all(out["RAINRATE"][(lst < 14) | (lst >= 20)] == 0)


def test_bad_inputs():
    days, lat, lon, d = _daily(nd=2)
    with pytest.raises(DataError, match="does not divide a day"):
        disaggregate_arrays(days, lat, lon, d, 7000)
    bad = dict(d)
    bad["T2D"] = d["T2D"].copy()
    bad["T2D"][1, 2] = np.nan
    with pytest.raises(DataError, match="non-finite daily value.*cell 2"):
        disaggregate_arrays(days, lat, lon, bad, 1800)
    with pytest.raises(DataError, match="missing"):
        disaggregate_arrays(days, lat, lon, {"T2D": d["T2D"]}, 1800)
    with pytest.raises(DataError, match="unknown rule"):
        disaggregate_arrays(days, lat, lon, d, 1800, precipitation="storm")
