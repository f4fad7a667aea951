"""Tests for diffland.physics.solar (HRLDAS CALC_DECLIN / YEARLEN)."""
from pathlib import Path

import numpy as np
import pytest

from diffland.physics.solar import cos_zenith, julian_day, solar_inputs

REF = Path(__file__).resolve().parents[2] / "shared" / "data"
CSV = REF / "noahmp_reference" / "bondville_default.csv.gz"
LAT, LON = 40.01, -88.37  # Bondville


def test_julian_day_hand_values():
    t = np.array(["1998-01-01T00:00", "1998-01-02T00:30", "1998-12-31T18:00",
                  "2000-03-01T00:00", "1900-12-31T12:00", "2000-12-31T06:00"], dtype="datetime64[s]")
    jd = julian_day(t)
    np.testing.assert_allclose(jd["JULIAN"], [0.0, 1.0 + 0.5 / 24.0, 364.75, 60.0, 364.5, 365.25],
                               rtol=0, atol=1e-12)
    np.testing.assert_array_equal(jd["YEARLEN"], [365, 365, 365, 366, 365, 366])
    np.testing.assert_array_equal(jd["YEAR"], [1998, 1998, 1998, 2000, 1900, 2000])
    np.testing.assert_allclose(jd["GMT"], [0.0, 0.5, 18.0, 0.0, 12.0, 6.0])


def test_julian_day_accepts_strings_and_other_units():
    a = julian_day(np.array(["1998-07-01T12:00:00"]))["JULIAN"]
    b = julian_day(np.array(["1998-07-01T12:00"], dtype="datetime64[ns]"))["JULIAN"]
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(a, 181.5)  # 31+28+31+30+31+30 = 181 days before 1 July


def test_cos_zenith_hand_values():
    # Julian day 80.0 (1998-03-22 00 UTC) is the model's equinox: declination exactly 0.
    t = np.array(["1998-03-22T00:00"], dtype="datetime64[s]")
    np.testing.assert_allclose(cos_zenith(t, 0.0, 0.0), [-1.0], atol=1e-12)      # local midnight
    np.testing.assert_allclose(cos_zenith(t, 0.0, 180.0), [1.0], atol=1e-12)     # local noon
    np.testing.assert_allclose(cos_zenith(t, 0.0, 90.0), [0.0], atol=1e-7)       # local 06 h
    np.testing.assert_allclose(cos_zenith(t, 90.0, 0.0), [0.0], atol=1e-7)       # pole at equinox
    # pole: cos Z = sin(declination) = sin(23.5 deg) sin(longitude of the sun)
    t2 = np.array(["1998-06-21T00:00"], dtype="datetime64[s]")  # Julian 171
    deg = 3.14159265 / 180.0
    expect = np.sin(23.5 * deg) * np.sin(360.0 / 365.0 * (171.0 - 80.0) * deg)
    np.testing.assert_allclose(cos_zenith(t2, 90.0, 0.0), [expect], atol=1e-12)
    # before day 80 the longitude wraps with +285 days
    t3 = np.array(["1998-01-10T00:00"], dtype="datetime64[s]")  # Julian 9
    expect3 = np.sin(23.5 * deg) * np.sin(360.0 / 365.0 * (9.0 + 285.0) * deg)
    np.testing.assert_allclose(cos_zenith(t3, 90.0, 0.0), [expect3], atol=1e-12)


def test_shapes_time_by_cells():
    t = np.arange(np.datetime64("1998-01-02T00:30"), np.datetime64("1998-01-03T00:30"),
                  np.timedelta64(30, "m"))
    lat = np.array([40.0, -30.0, 0.0])
    lon = np.array([-88.0, 150.0, 10.0])
    c = cos_zenith(t, lat, lon)
    assert c.shape == (48, 3)
    np.testing.assert_allclose(c[:, 1], cos_zenith(t, -30.0, 150.0))
    s = solar_inputs(t, lat, lon)
    assert s["COSZ"].shape == s["JULIAN"].shape == s["YEARLEN"].shape == (48, 3)
    assert np.all(s["YEARLEN"] == 365.0)
    np.testing.assert_allclose(s["JULIAN"][:, 0], julian_day(t)["JULIAN"])
    assert np.all(np.abs(c) <= 1.0)


def test_cosz_matches_reference_every_step():
    if not CSV.exists():
        pytest.skip(f"reference data not available: {CSV}")
    pd = pytest.importorskip("pandas")
    d = pd.read_csv(CSV, usecols=["time_utc", "COSZ"])
    t = pd.to_datetime(d["time_utc"]).values
    err = np.abs(cos_zenith(t, LAT, LON) - d["COSZ"].values)
    # measured: 4.8e-7 (single-precision rounding of the reference)
    assert err.max() < 2e-6, f"max |COSZ error| = {err.max():.3g}"
