"""The ``diffland`` command line: simulate on the reference case and on tables, bad input."""
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import BONDVILLE_DAT, REFERENCE, need
from diffland.cli import app

runner = CliRunner()


def _table(bondville, n=96):
    b = bondville
    df = pd.DataFrame({"time": pd.to_datetime(b["time"][:n]).strftime("%Y-%m-%dT%H:%M:%SZ")})
    for k, v in b["forcing"].items():
        df[k] = v[:n, 0]
    return df


@pytest.mark.slow
@pytest.mark.realdata
def test_simulate_reference_case_with_no_other_flag(tmp_path):
    need(BONDVILLE_DAT)
    out = tmp_path / "bv.csv"
    r = runner.invoke(app, ["simulate", "--forcing", str(BONDVILLE_DAT), "--out", str(out)])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out)
    expected = (["time"] + [f"SOIL_M{k}" for k in range(1, 5)] + [f"SH2O{k}" for k in range(1, 5)]
                + [f"SOIL_T{k}" for k in range(1, 5)]
                + ["SNEQV", "LH", "HFX", "ECAN", "ETRAN", "EDIR", "RUNSF", "RUNSB"])
    assert list(df.columns[:len(expected)]) == expected
    assert list(df.columns[len(expected):]) == ["T2D", "Q2D", "U2D", "V2D", "PSFC", "SWDOWN", "LWDOWN", "RAINRATE"]
    ref = pd.read_csv(need(REFERENCE / "bondville_default.csv.gz"))
    ref = ref[ref.step >= 1].reset_index(drop=True)
    assert len(df) == len(ref)
    # stamps aligned with the reference (end of step, UTC) and the forcing it used
    assert (pd.to_datetime(df["time"]).dt.tz_localize(None) == pd.to_datetime(ref["time_utc"])).all()
    np.testing.assert_allclose(df["T2D"], ref["FORCTLSM"], atol=1e-3)
    # float32 (the default precision) still meets the float64 tolerances of issue 2
    assert np.sqrt(np.mean((df["SOIL_M1"] - ref["SOIL_M1"]) ** 2)) < 0.005
    assert np.sqrt(np.mean((df["LH"] - ref["LH"]) ** 2)) < 10.0


@pytest.mark.realdata
def test_simulate_csv_table_with_overrides_and_netcdf(bondville, tmp_path):
    f = tmp_path / "forcing.csv"
    _table(bondville).to_csv(f, index=False)
    site = ["--lat", "40.01", "--lon", "-88.37", "--veg-class", "12", "--soil-class", "8"]
    out = tmp_path / "o.nc"
    r = runner.invoke(app, ["simulate", "--forcing", str(f), "--out", str(out), *site,
                            "--precision", "float64"])
    assert r.exit_code == 0, r.output
    import xarray as xr

    ds = xr.open_dataset(out)
    assert ds.sizes["time"] == 96 and ds["SOIL_M1"].attrs["units"] == "m3 m-3"
    out2 = tmp_path / "o2.nc"
    r = runner.invoke(app, ["simulate", "--forcing", str(f), "--out", str(out2), *site,
                            "--precision", "float64", "--set", "BEXP=4.0"])
    assert r.exit_code == 0, r.output
    ds2 = xr.open_dataset(out2)
    assert not np.allclose(ds["SOIL_M1"].values, ds2["SOIL_M1"].values)  # the override changes the physics
    # a table without site information is refused with the missing flags named
    r = runner.invoke(app, ["simulate", "--forcing", str(f), "--out", str(tmp_path / "x.csv")])
    assert r.exit_code != 0 and "--lat" in str(r.exception)


@pytest.mark.realdata
@pytest.mark.parametrize("mutate,needle", [
    (lambda d: d.assign(T2D=d["T2D"].where(d.index != 10)), "T2D"),
    (lambda d: d.assign(T2D=d["T2D"] - 273.15), "Celsius"),
    (lambda d: d.assign(PSFC=d["PSFC"] / 100.0), "PSFC"),
    (lambda d: d.assign(RAINRATE=d["RAINRATE"] * 0 - 1.0), "RAINRATE"),
    (lambda d: d.iloc[::-1], "time"),
])
def test_bad_forcing_gives_clear_error(bondville, tmp_path, mutate, needle):
    f = tmp_path / "bad.csv"
    mutate(_table(bondville)).to_csv(f, index=False)
    r = runner.invoke(app, ["simulate", "--forcing", str(f), "--out", str(tmp_path / "x.csv"), "--lat", "40",
                            "--lon", "-88", "--veg-class", "12", "--soil-class", "8"])
    assert r.exit_code != 0
    assert needle.lower() in str(r.exception).lower(), str(r.exception)


@pytest.mark.realdata
@pytest.mark.parametrize("extra,needle", [
    (["--set", "SMCMAX=2.0"], "SMCMAX"),
    (["--set", "BEXPP=5"], "BEXP"),
    (["--veg-class", "99"], "99"),
])
def test_bad_parameters_give_clear_error(bondville, tmp_path, extra, needle):
    f = tmp_path / "forcing.csv"
    _table(bondville, 48).to_csv(f, index=False)
    args = ["simulate", "--forcing", str(f), "--out", str(tmp_path / "x.csv"), "--lat", "40", "--lon", "-88",
            "--soil-class", "8"]
    if "--veg-class" not in extra:
        args += ["--veg-class", "12"]
    r = runner.invoke(app, args + extra)
    assert r.exit_code != 0
    assert needle in str(r.exception), str(r.exception)
