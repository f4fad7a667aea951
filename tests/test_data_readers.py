"""Text readers: hydroDL CSV database, Noah point file with validation, ISMN .stm."""
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from diffland.data import DataError, read_hydrodl, read_ismn, read_noah_point, read_stm

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _need(p: Path) -> Path:
    if not p.exists():
        pytest.skip(f"shared data not found: {p}")
    return p


# ---------------------------------------------------------------- hydroDL
def _write_hydrodl(root: Path, ncell=3, years=((2015, 275), (2016, 366)), smap_fill=True):
    rng = np.random.default_rng(0)
    (root / "crd").mkdir(parents=True)
    np.savetxt(root / "crd" / "crd.csv", np.c_[np.linspace(30, 45, ncell),
                                                 np.linspace(-120, -80, ncell)], delimiter=",")
    base = {"APCP_FORA": (0.0, 0.3), "TMP_2_FORA": (260, 300), "SPFH_2_FORA": (0.002, 0.01),
            "UGRD_10_FORA": (-3, 3), "VGRD_10_FORA": (-3, 3), "DSWRF_FORA": (50, 300),
            "DLWRF_FORA": (200, 400), "SMAP_AM": (0.05, 0.4)}
    for y, n in years:
        (root / str(y)).mkdir()
        for k, (lo, hi) in base.items():
            a = lo + (hi - lo) * rng.random((ncell, n))
            if k == "SMAP_AM" and smap_fill:
                a[rng.random(a.shape) < 0.5] = -9999
            np.savetxt(root / str(y) / f"{k}.csv", a, delimiter=",")
    (root / "const").mkdir()
    for k, v in {"Sand": [40, -9999, 70], "Silt": [40, -9999, 20], "Clay": [20, -9999, 10],
                 "NDVI": [0.2, 0.5, 0.3], "flag_landcover": [10, 12, 7]}.items():
        np.savetxt(root / "const" / f"{k}.csv", np.asarray(v[:ncell], float))
    return root


def test_hydrodl_tiny(tmp_path):
    root = _write_hydrodl(tmp_path / "db")
    ds = read_hydrodl(root)
    assert ds.sizes == {"cell": 3, "time": 641, "obs_time": 641}
    assert str(ds.time.values[0])[:10] == "2015-04-01" and str(ds.time.values[-1])[:10] == "2016-12-31"
    raw = np.loadtxt(root / "2015" / "APCP_FORA.csv", delimiter=",")
    np.testing.assert_allclose(ds.RAINRATE.values[:275, 1], raw[1] / 3600.0, rtol=1e-6)
    assert ds.RAINRATE.attrs["units"] == "kg m-2 s-1" and ds.T2D.attrs["units"] == "K"
    assert np.all(ds.PSFC.values == np.float32(101325.0))
    rep = json.loads(ds.attrs["report"])
    assert rep["missing"]["SMAP_AM"] == int(np.isnan(ds.SMAP_AM.values).sum()) > 0
    assert rep["soil_class"]["fallback_cells"] == [1]
    assert ds.ISLTYP.values.tolist() == [6, 6, 3]
    assert ds.IVGTYP.values.tolist() == [10, 12, 7]
    # overpass 06:00 local solar time
    h = (ds.SMAP_AM_time.values[0] - ds.obs_time.values[0]) / np.timedelta64(1, "h")
    np.testing.assert_allclose(h, 6 - ds.lon.values / 15, atol=1e-6)
    ds2 = read_hydrodl(root, elevation=[0, 1500, 3000])
    assert ds2.PSFC.values[0, 2] < ds2.PSFC.values[0, 1] < ds2.PSFC.values[0, 0]


def test_hydrodl_errors(tmp_path):
    with pytest.raises(DataError, match="database folder not found"):
        read_hydrodl(tmp_path / "nope")
    root = _write_hydrodl(tmp_path / "a")
    (root / "2016" / "DLWRF_FORA.csv").unlink()
    with pytest.raises(DataError, match="DLWRF_FORA.csv.*file not found"):
        read_hydrodl(root)
    root = _write_hydrodl(tmp_path / "b")
    np.savetxt(root / "2016" / "TMP_2_FORA.csv", np.full((2, 366), 280.0), delimiter=",")
    with pytest.raises(DataError, match="2 rows .* crd has 3.*grids do not match"):
        read_hydrodl(root)
    root = _write_hydrodl(tmp_path / "c")
    a = np.full((3, 366), 15.0)                     # deg C instead of K
    np.savetxt(root / "2016" / "TMP_2_FORA.csv", a, delimiter=",")
    with pytest.raises(DataError, match="T2D.*outside the plausible range.*2016-01-01.*cell 0"):
        read_hydrodl(root)
    root = _write_hydrodl(tmp_path / "d")
    a = np.full((3, 366), 0.1)
    a[2, 10] = -9999
    np.savetxt(root / "2016" / "APCP_FORA.csv", a, delimiter=",")
    with pytest.raises(DataError, match="RAINRATE.*non-finite.*2016-01-11.*cell 2"):
        read_hydrodl(root)
    root = _write_hydrodl(tmp_path / "e", years=((2016, 300),))   # fits both layouts
    with pytest.raises(DataError, match="cannot infer the dates.*both layouts fit"):
        read_hydrodl(root)
    ds = read_hydrodl(root, start="2016-01-01")
    assert str(ds.time.values[-1])[:10] == "2016-10-26"
    assert str(read_hydrodl(root, time_layout="hydrodl").time.values[0])[:10] == "2016-04-01"


def test_hydrodl_real():
    root = _need(SHARED / "conus_smap")
    ds = read_hydrodl(root)
    assert ds.sizes["cell"] == 312 and ds.sizes["time"] == 731
    assert str(ds.time.values[0])[:10] == "2015-04-01" and str(ds.time.values[-1])[:10] == "2017-03-31"
    mm_per_year = float(ds.RAINRATE.mean()) * 86400 * 365
    assert 600 < mm_per_year < 900      # CONUS mean ~750 mm/yr: APCP is kg m-2 per hour
    frac = float(ds.SMAP_AM.isnull().mean())
    assert 0.55 < frac < 0.62
    assert float(ds.SMAP_AM.min()) >= 0.0199 and float(ds.SMAP_AM.max()) <= 0.5


# ---------------------------------------------------------------- Noah point
def _noah_line(jd, hhmm, t=10.0, sm=0.3, miss=False):
    v = [jd, hhmm, 3.0, 180, t, 80.0, 990, 100, 200, 20, 50, 5, 0.01, 0.05, t + 1,
         t, t, t, t, t, t, 2.5, -0.1, 1, 1, 0.3, 40, -6999 if miss else 100, -6999, 300,
         sm, sm + 0.05, sm + 0.1]
    return " ".join(str(x) for x in v)


def test_noahpoint_tiny(tmp_path):
    p = tmp_path / "forcing_with_validation.dat"
    lines = [_noah_line(1, h, miss=(h == 100)) for h in (30, 100, 130, 200)]
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="no site coordinates"):
        read_noah_point(p, year=2001)
    ds = read_noah_point(p, lat=40.0, lon=-88.0, year=2001)
    assert str(ds.time.values[0]) == "2001-01-01T06:30:00.000000000"   # CST -> UTC
    np.testing.assert_allclose(ds.T2D.values[:, 0], 283.15, rtol=1e-6)
    np.testing.assert_allclose(ds.RAINRATE.values[0, 0], 0.01 * 0.014111, rtol=1e-5)
    np.testing.assert_allclose(ds.PSFC.values[0, 0], 99000.0)
    assert ds.SM_5cm.values[0, 0] == pytest.approx(0.3) and ds.SM_60cm.values[0, 0] == pytest.approx(0.4)
    assert np.isnan(ds.LH_OBS.values[1, 0])
    rep = json.loads(ds.attrs["report"])
    assert rep["missing_obs"]["LH_OBS"] == 1
    # non-monotonic time
    p.write_text("\n".join([_noah_line(1, 100), _noah_line(1, 30)]) + "\n")
    with pytest.raises(DataError, match="not strictly increasing"):
        read_noah_point(p, lat=40.0, lon=-88.0, year=2001)
    p.write_text("1 30 3.0 180\n")
    with pytest.raises(DataError, match="expected 33 columns"):
        read_noah_point(p, lat=40.0, lon=-88.0, year=2001)
    with pytest.raises(DataError, match="not found"):
        read_noah_point(tmp_path / "missing.dat")


def test_noahpoint_real_matches_hrldas_copy():
    p = _need(SHARED / "bondville_1998" / "forcing98_with_validation.dat")
    ds = read_noah_point(p)
    assert ds.sizes["time"] == 17520
    assert float(ds.lat[0]) == 40.01 and float(ds.lon[0]) == -88.37
    rep = json.loads(ds.attrs["report"])
    assert rep["forcing_filled"]["wind"].startswith("1526")
    assert float(ds.RAINRATE.sum()) * 1800 == pytest.approx(36.45 * 25.4, rel=1e-3)  # 926 mm
    assert 0.15 <= float(ds.SM_5cm.min()) and float(ds.SM_5cm.max()) <= 0.47
    hp = SHARED / "hrldas_single_point" / "single_point" / "bondville_1998.dat"
    if hp.exists():
        from diffland.data import to_dataset
        h = to_dataset(f"hrldas:{hp}")
        i = int(np.searchsorted(ds.time.values, h.time.values[0]))
        n = h.sizes["time"]
        np.testing.assert_allclose(ds.LWDOWN.values[i:i + n, 0], h.LWDOWN.values[:, 0])
        np.testing.assert_allclose(ds.T2D.values[i:i + n, 0], h.T2D.values[:, 0], atol=0.051)
        np.testing.assert_allclose(ds.RAINRATE.values[i:i + n, 0], h.RAINRATE.values[:, 0],
                                   atol=1e-8)


# ---------------------------------------------------------------- ISMN
HDR = "COSMOS     COSMOS          ARM-9             36.60540   -97.48780  322.00    0.00    0.19 Cosmic-ray-Probe\n"


def test_stm_header_and_ceop(tmp_path):
    f = tmp_path / "COSMOS_COSMOS_ARM-9_sm_0.000000_0.190000_Cosmic-ray-Probe_20170810_20170811.stm"
    f.write_text(HDR + "2017/08/10 00:00   0.1410 G M\n2017/08/10 01:00   0.1390 D03,D05 M\n"
                 "2017/08/10 02:00   -9999 M M\n")
    df, meta = read_stm(f)
    assert meta["layout"] == "header" and meta["depth_to"] == 0.19 and meta["lat"] == 36.6054
    assert df["value"].iloc[0] == 0.141 and df["flag"].iloc[1] == "D03,D05"
    ds = read_ismn(f)
    assert ds.ISMN_sm_good.values[:, 0].tolist() == [True, False, False]
    assert np.isnan(ds.ISMN_sm.values[2, 0])
    rep = json.loads(ds.attrs["report"])
    assert rep["flags"] == {"G": 1, "D03,D05": 1, "M": 1}
    g = tmp_path / "SCAN_SCAN_Pua_sm_0.050800_0.050800_Hydraprobe_20170101_20170101.stm"
    g.write_text("2017/01/01 00:00 2017/01/01 00:00 SCAN       SCAN            Pua_Akala         "
                 "19.80000  -155.33300 1948.89    0.05    0.05   0.3370 G M\n")
    df, meta = read_stm(g)
    assert meta["layout"] == "ceop" and meta["station"] == "Pua_Akala" and df["value"].iloc[0] == 0.337
    bad = tmp_path / "COSMOS_COSMOS_ARM-9_sm_0.000000_0.190000_X_20170810_20170811.stm"
    bad.write_text(HDR + "2017/08/10 00:00   abc G M\n")
    with pytest.raises(DataError, match="not a number.*line 2"):
        read_stm(bad)
    bad.write_text(HDR + "2017/08/10 01:00 0.1 G M\n2017/08/10 00:00 0.1 G M\n")
    with pytest.raises(DataError, match="not strictly increasing"):
        read_stm(bad)
    with pytest.raises(DataError, match="not an ISMN file name"):
        read_stm(tmp_path / "x.stm") if (tmp_path / "x.stm").write_text(HDR) else None
    z = tmp_path / "bad.zip"
    z.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a zip"):
        read_ismn(z)


def test_ismn_real():
    ds = read_ismn(_need(SHARED / "ismn_arm1"))
    assert ds.sizes["cell"] == 1 and ds.sizes["obs_time"] == 6865
    assert float(ds.sand[0]) == 36.0 and float(ds.depth_to[0]) == 0.19
    assert int(ds.ISMN_sm_good.sum()) == 6514
    z = SHARED / "smap_ismn_hawaii" / "ISMN" / "ISMN_TESTDATA_HAWAII_no_ts.zip"
    if z.exists():
        dz = read_ismn(z)
        assert dz.sizes["cell"] == 10 and set(dz.network.values) == {"SCAN", "COSMOS"}
        assert float(dz.lat.min()) > 18 and float(dz.lon.max()) < -154
        with zipfile.ZipFile(z) as zz:
            assert sum(n.endswith(".stm") and "_sm_" in n for n in zz.namelist()) == 10
