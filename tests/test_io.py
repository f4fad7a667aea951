"""Tests for diffland.io: HRLDAS namelist, point-forcing reader, forcing tables, validation."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from diffland.io.forcing_table import read_forcing_table
from diffland.io.hrldas_point import read_hrldas_point, rh_to_specific_humidity
from diffland.io.namelist import read_hrldas_namelist, write_hrldas_namelist
from diffland.io.validate import (FORCING_VARS, ForcingError, validate_classes, validate_forcing,
                                  validate_initial)
from diffland.parameters.table import NamelistError
from diffland.physics.options import Options

REF = Path(__file__).resolve().parents[2] / "shared" / "data"
NL_DIR = REF / "noahmp_reference"
POINT = REF / "hrldas_single_point" / "single_point" / "bondville_1998.dat"
CSV = NL_DIR / "bondville_default.csv.gz"


def _need(path: Path):
    if not path.exists():
        pytest.skip(f"reference data not available: {path}")


# ------------------------------------------------------------------------------------------
# synthetic data helpers
# ------------------------------------------------------------------------------------------

def _good_forcing(n=96, cells=None):
    time = np.datetime64("2000-06-01T00:00:00", "s") + np.arange(n) * np.timedelta64(1800, "s")
    shape = (n,) if cells is None else (n, cells)
    hour = (np.arange(n) % 48) / 2.0
    sw = np.clip(800.0 * np.sin((hour - 6.0) / 12.0 * np.pi), 0.0, None)
    f = {
        "T2D": 290.0 + 5.0 * np.sin(hour / 24 * 2 * np.pi), "Q2D": np.full(n, 0.01),
        "U2D": np.full(n, 3.0), "V2D": np.full(n, 1.0), "PSFC": np.full(n, 98000.0),
        "SWDOWN": sw, "LWDOWN": np.full(n, 350.0), "RAINRATE": np.where(hour == 12, 0.002, 0.0),
    }
    if cells is not None:
        f = {k: np.repeat(v[:, None], cells, axis=1) for k, v in f.items()}
    assert all(v.shape == shape for v in f.values())
    return time, f


HEADER = """&location
 latitude = 40.0
 longitude = -88.0
 vegetation_category = 12
 soil_category = 8
 deep_soil_temperature = 285.0
 elevation = 200.0
 sea_ice = 0.0
 maximum_vegetation_pct = 90.0
 minimum_vegetation_pct = 1.0
 land_mask = 1
 nsoil = 4
/
&initial
 snow_depth = 0.0
 snow_water_equivalent = 0.0
 canopy_water = 0.0
 skin_temperature = 280.0
 soil_layer_thickness = 0.1, 0.3, 0.6, 1.0
 soil_temperature = 280.0, 281.0, 282.0, 283.0
 soil_moisture = 0.3, 0.3, 0.3, 0.3
/
&metadata
 land_cover_source = "MODIFIED_IGBP_MODIS_NOAH"
/
&conversion
 have_relative_humidity = .true.
 temperature_offset = 273.15
 temperature_scale = 1.0
 pressure_scale = 100.0
 precipitation_scale = 0.014111
/
----------------------------------------
 yyyy mm dd hh mi | wind | T | RH | P | SW | LW | precip
----------------------------------------
"""
L1 = HEADER.count("\n") + 1  # line number of the first data record
ROWS = [
    "2000 06 01 00 00  3.0  20.0  50.0  990.0  0.0  350.0  0.000",
    "2000 06 01 00 30  3.0  19.0  55.0  990.0  0.0  350.0  0.010",
    "2000 06 01 01 00  3.0  18.0  60.0  990.0  0.0  350.0  0.000",
]


def _write_point(tmp_path, header=HEADER, rows=ROWS):
    p = tmp_path / "point.dat"
    p.write_text(header + "\n".join(rows) + "\n")
    return p


# ------------------------------------------------------------------------------------------
# namelist
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, runoff", [("namelist.hrldas.default", 3),
                                          ("namelist.hrldas.optrun1", 1)])
def test_reference_namelists(name, runoff, tmp_path):
    path = NL_DIR / name
    _need(path)
    opts, info = read_hrldas_namelist(path)
    expect = Options(runsrf=runoff, runsub=runoff)
    assert opts == expect
    assert (opts.dveg, opts.crs, opts.stc, opts.rsf, opts.sncov) == (4, 1, 3, 4, 1)
    assert opts.soil_dz == (0.1, 0.3, 0.6, 1.0) and opts.dt == 1800.0 and opts.zref == 10.0
    assert info["start"] == np.datetime64("1998-01-02T00:00:00")
    assert info["end"] == np.datetime64("1999-01-01T00:00:00")
    assert info["kday"] == 364 and info["nsteps"] == 17472
    assert info["forcing_timestep"] == 1800 and info["soil_timestep"] == 0
    assert info["switches"]["SNOW_COMPACTION_OPTION"] == 2
    assert info["forcing_names"]["RAINRATE"] == "RAINRATE"
    # round trip
    out = tmp_path / "namelist.out"
    write_hrldas_namelist(opts, out, info)
    opts2, info2 = read_hrldas_namelist(out)
    assert opts2 == opts
    for k in ("start", "end", "kday", "khour", "nsteps", "forcing_timestep", "output_timestep",
              "switches", "forcing_names", "indir", "outdir", "hrldas_setup_file"):
        assert info2[k] == info[k], k


def test_namelist_roundtrip_nondefault(tmp_path):
    opts = Options(crs=2, runsrf=1, runsub=1, dt=900.0, soil_dz=(0.05, 0.15, 0.3, 0.5, 1.0),
                   zref=2.0)
    out = tmp_path / "nl"
    write_hrldas_namelist(opts, out, {"start": np.datetime64("2015-03-31T06:00"), "khour": 30})
    opts2, info = read_hrldas_namelist(out)
    assert opts2 == opts
    assert info["nsteps"] == 120 and info["start"] == np.datetime64("2015-03-31T06:00:00")


def _nl(tmp_path, body: str) -> Path:
    p = tmp_path / "namelist.hrldas"
    p.write_text("&NOAHLSM_OFFLINE\n START_YEAR = 2000\n START_MONTH = 1\n START_DAY = 1\n"
                 " KDAY = 1\n FORCING_TIMESTEP = 3600\n NOAH_TIMESTEP = 3600\n NSOIL = 4\n"
                 " soil_thick_input(1) = 0.1\n soil_thick_input(2) = 0.3\n"
                 " soil_thick_input(3) = 0.6\n soil_thick_input(4) = 1.0\n"
                 " TEMP_TIME_SCHEME_OPTION = 3\n SURFACE_RESISTANCE_OPTION = 4\n" + body + "\n/\n")
    return p


@pytest.mark.parametrize("body, words", [
    ("DYNAMIC_VEG_OPTION = 2", ["DYNAMIC_VEG_OPTION = 2", "supported: 4", "line 15"]),
    ("CANOPY_STOMATAL_RESISTANCE_OPTION = 3", ["CANOPY_STOMATAL_RESISTANCE_OPTION", "supported: 1, 2"]),
    ("SURFACE_RUNOFF_OPTION = 1", ["SUBSURFACE_RUNOFF_OPTION = 3", "(3, 3) and (1, 1)"]),
    ("SURFACE_RUNOFF_OPTION = 8\n SUBSURFACE_RUNOFF_OPTION = 8", ["SURFACE_RUNOFF_OPTION = 8", "supported: 3, 1"]),
    ("SNOW_COMPACTION_OPTION = 1", ["SNOW_COMPACTION_OPTION = 1", "supported: 2"]),
    ("SNOW_ALBEDO_OPTION = 2", ["SNOW_ALBEDO_OPTION", "supported: 1"]),
    ("SOIL_TIMESTEP = 7200", ["SOIL_TIMESTEP"]),
    ("NSOIL = 5", ["soil_thick_input needs NSOIL = 5"]),
])
def test_namelist_unsupported(tmp_path, body, words):
    with pytest.raises(NamelistError) as exc:
        read_hrldas_namelist(_nl(tmp_path, body))
    for w in words:
        assert w in str(exc.value), (w, str(exc.value))


def test_namelist_missing_keys(tmp_path):
    p = tmp_path / "nl"
    p.write_text("&NOAHLSM_OFFLINE\n START_YEAR = 2000\n START_MONTH = 1\n START_DAY = 1\n KDAY = 1\n"
                 " NOAH_TIMESTEP = 1800\n FORCING_TIMESTEP = 1800\n soil_thick_input = 0.1, 0.3, 0.6, 1.0\n/\n")
    with pytest.raises(NamelistError) as exc:
        read_hrldas_namelist(p)
    assert "TEMP_TIME_SCHEME_OPTION = 1" in str(exc.value) and "HRLDAS default" in str(exc.value)
    p.write_text("&wrong\n A = 1\n/\n")
    with pytest.raises(NamelistError, match="NOAHLSM_OFFLINE"):
        read_hrldas_namelist(p)
    p = _nl(tmp_path, "").read_text().replace(" NOAH_TIMESTEP = 3600\n", "")
    (tmp_path / "nl2").write_text(p)
    with pytest.raises(NamelistError, match="NOAH_TIMESTEP"):
        read_hrldas_namelist(tmp_path / "nl2")


# ------------------------------------------------------------------------------------------
# HRLDAS point file
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bondville():
    _need(POINT)
    return read_hrldas_point(POINT)


def test_point_site_and_initial(bondville):
    s, i = bondville.site, bondville.initial
    assert (s["lat"], s["lon"], s["elevation"]) == (40.01, -88.37, 218.0)
    assert (s["veg_class"], s["soil_class"], s["nsoil"]) == (12, 8, 4)
    assert (s["TBOT"], s["SHDMAX"], s["SHDMIN"]) == (285.0, 96.0, 1.0)
    assert s["land_cover_source"] == "MODIFIED_IGBP_MODIS_NOAH" and s["ISURBAN"] == 13
    np.testing.assert_allclose(i["SMC"], [0.298, 0.294, 0.271, 0.307])
    np.testing.assert_allclose(i["STC"], [266.1, 274.0, 276.9, 279.9])
    np.testing.assert_allclose(i["soil_dz"], [0.1, 0.3, 0.6, 1.0])
    assert (i["TSK"], i["SNEQV"], i["SNOWH"], i["CANWAT"]) == (263.7, 1.0, 0.01, 0.01)


def test_point_time_axis(bondville):
    t = bondville.time
    assert t.dtype == np.dtype("datetime64[s]")
    assert t.size == 17473
    assert t[0] == np.datetime64("1998-01-02T00:00:00") and t[-1] == np.datetime64("1999-01-01T00:00:00")
    assert bondville.dt == 1800.0
    assert np.all(np.diff(t.astype(np.int64)) == 1800)


def test_point_forcing_matches_reference_csv(bondville):
    _need(CSV)
    pd = pytest.importorskip("pandas")
    cols = ["time_utc", "step"] + [f"in_{v}" for v in FORCING_VARS]
    df = pd.read_csv(CSV, usecols=cols)
    tc = pd.to_datetime(df["time_utc"]).to_numpy().astype("datetime64[s]")
    # the CSV row with step k holds the forcing used at step k = the record stamped t_k
    np.testing.assert_array_equal(tc, bondville.time)
    np.testing.assert_array_equal(df["step"].to_numpy(), np.arange(tc.size))
    # tolerances: the reference values are float32 (Fortran single precision)
    tol = {"T2D": 5e-5, "Q2D": 1e-7, "U2D": 2e-6, "V2D": 0.0, "PSFC": 0.01, "SWDOWN": 1e-4,
           "LWDOWN": 1e-4, "RAINRATE": 1e-9}
    for v in FORCING_VARS:
        ref = df[f"in_{v}"].to_numpy()
        diff = np.abs(bondville.forcing[v] - ref)
        assert diff.max() <= tol[v], (v, diff.max())
        rel = diff / np.maximum(np.abs(ref), 1e-12)
        assert rel.max() < 2e-6, (v, rel.max())
    assert bondville.forcing["RAINRATE"].sum() * 1800 == pytest.approx(925.8, abs=0.1)  # README P


def test_rh_conversion_by_hand():
    # 20 C, 50 %, 990 hPa: svp = 611.2 exp(17.67*20/(293.15-29.65)) = 2336.9 Pa
    svp = 611.2 * np.exp(17.67 * 20.0 / 263.5)
    e = 0.5 * svp
    q = 0.622 * e / (99000.0 - 0.378 * e)
    assert svp == pytest.approx(2336.95, abs=0.05)
    assert rh_to_specific_humidity(50.0, 293.15, 99000.0) == pytest.approx(q, rel=1e-12)
    assert q == pytest.approx(0.007374, abs=1e-6)


def test_point_small_file(tmp_path):
    pf = read_hrldas_point(_write_point(tmp_path))
    assert pf.time.size == 3
    np.testing.assert_allclose(pf.forcing["T2D"], [293.15, 292.15, 291.15])
    np.testing.assert_allclose(pf.forcing["PSFC"], 99000.0)
    np.testing.assert_allclose(pf.forcing["RAINRATE"], [0.0, 0.00014111, 0.0])
    np.testing.assert_allclose(pf.forcing["Q2D"][0], rh_to_specific_humidity(50.0, 293.15, 99000.0))
    np.testing.assert_array_equal(pf.forcing["V2D"], 0.0)


@pytest.mark.parametrize("edit, words", [
    (lambda h, r: (h.replace(" soil_category = 8\n", ""), r), ["&location", "soil_category"]),
    (lambda h, r: (h.replace(" skin_temperature = 280.0\n", ""), r), ["skin_temperature"]),
    (lambda h, r: (h.replace("&conversion", "&conversionx"), r), ["&conversion", "missing"]),
    (lambda h, r: (h.replace("0.3, 0.3, 0.3, 0.3", "0.3, 0.3, 0.3"), r), ["soil_moisture", "nsoil = 4"]),
    (lambda h, r: (h.replace(" nsoil = 4\n/", " nsoil = 4\n"), r), ["&location", "not closed"]),
    (lambda h, r: (h, [r[0], r[2], r[1]]), [f"line {L1 + 2}", "not increasing"]),
    (lambda h, r: (h, [r[0], r[1], r[1]]), [f"line {L1 + 2}", "duplicated"]),
    (lambda h, r: (h, [r[0], r[1] + " 9.9", r[2]]), [f"line {L1 + 1}", "expected 12 columns", "got 13"]),
    (lambda h, r: (h, [r[0], r[1].replace("19.0", "abc"), r[2]]), [f"line {L1 + 1}", "non-numeric"]),
    (lambda h, r: (h, [r[0], r[1].replace(" 06 01 00 30", " 06 31 00 30"), r[2]]), [f"line {L1 + 1}", "invalid date"]),
    (lambda h, r: (h, [r[0], r[1].replace("20.0", "99.0").replace("19.0", "-300.0"), r[2]]), ["T2D"]),
])
def test_point_errors(tmp_path, edit, words):
    header, rows = edit(HEADER, list(ROWS))
    with pytest.raises(ValueError) as exc:
        read_hrldas_point(_write_point(tmp_path, header, rows))
    for w in words:
        assert w in str(exc.value), (w, str(exc.value))


# ------------------------------------------------------------------------------------------
# forcing tables
# ------------------------------------------------------------------------------------------

def test_csv_roundtrip(tmp_path):
    pd = pytest.importorskip("pandas")
    time, f = _good_forcing()
    df = pd.DataFrame({"time": pd.to_datetime(time).strftime("%Y-%m-%dT%H:%M:%S+00:00"), **f})
    df["extra"] = 1.0
    p = tmp_path / "forcing.csv"
    df.to_csv(p, index=False)
    t2, f2 = read_forcing_table(p)
    np.testing.assert_array_equal(t2, time)
    for k in FORCING_VARS:
        np.testing.assert_allclose(f2[k], f[k], rtol=1e-12)
    assert set(f2) == set(FORCING_VARS)


def test_csv_timezone_and_v2d(tmp_path):
    pd = pytest.importorskip("pandas")
    time, f = _good_forcing(n=4)
    del f["V2D"]
    # local time UTC-6 -> converted to UTC
    local = pd.to_datetime(time).tz_localize("UTC").tz_convert("Etc/GMT+6")
    df = pd.DataFrame({"time": local.strftime("%Y-%m-%dT%H:%M:%S%z"), **f})
    p = tmp_path / "f.csv"
    df.to_csv(p, index=False)
    with pytest.warns(UserWarning, match="V2D missing"):
        t2, f2 = read_forcing_table(p)
    np.testing.assert_array_equal(t2, time)
    np.testing.assert_array_equal(f2["V2D"], 0.0)


def test_csv_errors(tmp_path):
    pd = pytest.importorskip("pandas")
    time, f = _good_forcing(n=4)
    p = tmp_path / "f.csv"
    pd.DataFrame({"when": time.astype(str), **f}).to_csv(p, index=False)
    with pytest.raises(ForcingError, match="no 'time' column"):
        read_forcing_table(p)
    g = dict(f)
    del g["PSFC"]
    pd.DataFrame({"time": time.astype(str), **g}).to_csv(p, index=False)
    with pytest.raises(ForcingError, match="missing forcing variable.*PSFC"):
        read_forcing_table(p)
    g = {k: v.astype(object) for k, v in f.items()}
    g["LWDOWN"][2] = "x"
    pd.DataFrame({"time": time.astype(str), **g}).to_csv(p, index=False)
    with pytest.raises(ForcingError, match="LWDOWN.*non-numeric.*row 3"):
        read_forcing_table(p)


def _write_nc(path, time, f, dims, units=None):
    xr = pytest.importorskip("xarray")
    data = {}
    for k, v in f.items():
        arr = v if dims == ("time",) or dims == ("time", "cell") else v.T
        data[k] = (dims, arr, {"units": (units or {}).get(k, {"T2D": "K", "PSFC": "Pa"}.get(k, "SI"))})
        if k not in ("T2D", "PSFC") and not units:
            data[k][2].pop("units")
    ds = xr.Dataset(data, coords={"time": time.astype("datetime64[ns]")})
    ds.to_netcdf(path)


def test_netcdf_cells(tmp_path):
    time, f = _good_forcing(n=48, cells=3)
    f["T2D"] = f["T2D"] + np.array([0.0, 1.0, 2.0])
    for dims in (("time", "cell"), ("cell", "time")):
        p = tmp_path / f"f_{dims[0]}.nc"
        _write_nc(p, time, f, dims)
        t2, f2 = read_forcing_table(p)
        np.testing.assert_array_equal(t2, time)
        for k in FORCING_VARS:
            assert f2[k].shape == (48, 3)
            np.testing.assert_allclose(f2[k], f[k], rtol=1e-6)


def test_netcdf_single_point_squeezed(tmp_path):
    xr = pytest.importorskip("xarray")
    time, f = _good_forcing(n=10)
    ds = xr.Dataset({k: (("time", "south_north", "west_east"), v[:, None, None]) for k, v in f.items()},
                    coords={"time": time.astype("datetime64[ns]")})
    p = tmp_path / "ldasin.nc"
    ds.to_netcdf(p)
    t2, f2 = read_forcing_table(p)
    assert f2["RAINRATE"].shape == (10,)
    np.testing.assert_allclose(f2["SWDOWN"], f["SWDOWN"])


def test_netcdf_bad_units(tmp_path):
    time, f = _good_forcing(n=10)
    f["T2D"] = f["T2D"] - 273.15
    p = tmp_path / "degc.nc"
    _write_nc(p, time, f, ("time",), units={"T2D": "degC", "PSFC": "Pa"})
    with pytest.raises(ForcingError) as exc:
        read_forcing_table(p)
    assert "T2D" in str(exc.value) and "degC" in str(exc.value) and "K" in str(exc.value)


# ------------------------------------------------------------------------------------------
# validate_forcing: every bad-input case names the variable
# ------------------------------------------------------------------------------------------

def _bad(var, fn):
    def make():
        time, f = _good_forcing()
        f = {k: v.copy() for k, v in f.items()}
        out = fn(time, f)
        return out if out is not None else (time, f)
    return var, make


BAD_CASES = [
    ("T2D", lambda t, f: f.__setitem__("T2D", f["T2D"] - 273.15), "Celsius"),
    ("T2D", lambda t, f: f["T2D"].__setitem__(5, 500.0), "150..350"),
    ("Q2D", lambda t, f: f["Q2D"].__setitem__(7, np.nan), "NaN"),
    ("Q2D", lambda t, f: f.__setitem__("Q2D", f["Q2D"] * 0 + 60.0), "percent"),
    ("Q2D", lambda t, f: f["Q2D"].__setitem__(3, -0.001), "negative"),
    ("Q2D", lambda t, f: f.__setitem__("Q2D", f["Q2D"] * 0 + 0.6), "kg/kg"),
    ("PSFC", lambda t, f: f.__setitem__("PSFC", f["PSFC"] / 100.0), "hPa"),
    ("PSFC", lambda t, f: f.__setitem__("PSFC", f["PSFC"] / 1000.0), "kPa"),
    ("RAINRATE", lambda t, f: f["RAINRATE"].__setitem__(slice(10, 14), 5.0), "mm per step"),
    ("RAINRATE", lambda t, f: f["RAINRATE"].__setitem__(3, -1e-4), "negative"),
    ("RAINRATE", lambda t, f: f["RAINRATE"].__setitem__(3, np.inf), "infinite"),
    ("SWDOWN", lambda t, f: f["SWDOWN"].__setitem__(3, -5.0), "negative"),
    ("SWDOWN", lambda t, f: f.__setitem__("SWDOWN", f["SWDOWN"] * 1800.0), "1500"),
    ("LWDOWN", lambda t, f: f["LWDOWN"].__setitem__(0, 0.0), "30..700"),
    ("U2D", lambda t, f: f.__setitem__("U2D", f["U2D"] * 50.0), "m/s"),
    ("V2D", lambda t, f: f.pop("V2D"), "missing"),
    ("LWDOWN", lambda t, f: f.__setitem__("LWDOWN", f["LWDOWN"][:-1]), "time steps"),
    ("time", lambda t, f: (t[[0, 2, 1] + list(range(3, t.size))], f), "not increasing"),
    ("time", lambda t, f: (np.concatenate([t[:1], t[:-1]]), f), "duplicated"),
]


@pytest.mark.parametrize("var, fn, word", BAD_CASES)
def test_validate_forcing_bad_inputs(var, fn, word):
    time, f = _good_forcing()
    f = {k: v.copy() for k, v in f.items()}
    out = fn(time, f)
    if out is not None and isinstance(out, tuple):
        time, f = out
    with pytest.raises(ForcingError) as exc:
        validate_forcing(time, f, source="test.nc")
    msg = str(exc.value)
    assert "test.nc" in msg and var in msg and word in msg, msg
    if var not in ("time", "V2D") and word not in ("time steps", "Celsius", "hPa", "kPa"):
        assert "UTC" in msg  # the time stamp of the first bad value


def test_validate_forcing_good_and_cells():
    time, f = _good_forcing(cells=4)
    validate_forcing(time, f)
    f["Q2D"][10, 2] = np.nan
    with pytest.raises(ForcingError) as exc:
        validate_forcing(time, f, source="grid")
    assert "Q2D" in str(exc.value) and "cell 2" in str(exc.value)
    assert "2000-06-01T05:00:00 UTC" in str(exc.value)
    f["Q2D"][10, 2] = 0.01
    f["T2D"] = f["T2D"][:, :3]
    with pytest.raises(ForcingError, match="has 4 cells but other variables have 3"):
        validate_forcing(time, f)


def test_validate_forcing_mm_per_step_low_intensity():
    # 0.05 mm per 30-min step every step looks harmless per value but gives 876 000 mm/year
    time = np.datetime64("2000-01-01", "s") + np.arange(17520) * np.timedelta64(1800, "s")
    _, f = _good_forcing(n=17520)
    f["RAINRATE"] = np.full(17520, 0.05)
    with pytest.raises(ForcingError, match="RAINRATE.*mm/year"):
        validate_forcing(time, f)


def test_validate_classes_and_initial():
    validate_classes([8, 1], [12, 20])
    with pytest.raises(ValueError, match="soil_class = 25 at cell 1.*1..19"):
        validate_classes([8, 25], [12, 12])
    with pytest.raises(ValueError, match="veg_class = 0 at cell 0"):
        validate_classes([8], [0])
    good = dict(SMC=np.array([0.3, 0.3]), STC=np.array([280.0, 281.0]), TSK=279.0, SNEQV=10.0,
                SNOWH=0.05, CANWAT=0.0, soil_dz=np.array([0.1, 0.3]))
    validate_initial(good, smcmax=0.46)
    cases = [
        (dict(SMC=np.array([30.0, 30.0])), "SMC", "percent"),
        (dict(SMC=np.array([0.3, 0.5])), "SMC", "porosity"),
        (dict(STC=np.array([7.0, 8.0])), "STC", "Celsius"),
        (dict(TSK=np.nan), "TSK", "NaN"),
        (dict(SNEQV=0.01, SNOWH=0.05), "SNEQV", "mm"),
        (dict(SNEQV=-1.0), "SNEQV", "negative"),
        (dict(SNEQV=5.0, SNOWH=0.0), "SNOWH", "both"),
        (dict(soil_dz=np.array([0.1, 0.3, 0.6])), "soil_dz", "layers"),
    ]
    for change, var, word in cases:
        bad = dict(good, **change)
        with pytest.raises(ValueError) as exc:
            validate_initial(bad, smcmax=0.46)
        assert var in str(exc.value) and word in str(exc.value), str(exc.value)


def test_validate_classes_with_table():
    tbl = REF / "noahmp_tables" / "v5" / "NoahmpTable.TBL"
    _need(tbl)
    from diffland.parameters.table import read_noahmp_table
    t = read_noahmp_table(tbl)
    validate_classes([8, 8], [12, 55], t)  # LCZ 55 is urban
    with pytest.raises(ValueError, match="site: veg_class.*21.*1..20"):
        validate_classes([8], [21], t)


def test_point_forcing_is_dataclass(bondville):
    assert dataclasses.is_dataclass(bondville)
    assert set(bondville.forcing) == set(FORCING_VARS)
    assert all(v.shape == bondville.time.shape and v.dtype == np.float64
               for v in bondville.forcing.values())
