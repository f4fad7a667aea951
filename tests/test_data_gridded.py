"""HRLDAS LDASIN and NLDAS-2 NetCDF readers, on tiny files written in the official layouts."""
import netCDF4
import numpy as np
import pytest

from diffland.data import DataError, read_ldasin, read_nldas2, to_dataset

VALUES = {"T2D": 280.0, "Q2D": 0.005, "U2D": 2.0, "V2D": -1.0, "PSFC": 95000.0,
          "SWDOWN": 300.0, "LWDOWN": 320.0, "RAINRATE": 1e-4}


def _ldasin(path, k=0, ny=2, nx=3, drop=None, units=None, shape=None, latlon=True):
    with netCDF4.Dataset(path, "w") as nc:
        sh = shape or (ny, nx)
        nc.createDimension("Time", None)
        nc.createDimension("south_north", sh[0])
        nc.createDimension("west_east", sh[1])
        for name, v in VALUES.items():
            if name == drop:
                continue
            var = nc.createVariable(name, "f4", ("Time", "south_north", "west_east"))
            var[0] = np.full(sh, v) * (1 + 0.01 * k) + np.arange(sh[0] * sh[1]).reshape(sh) * 1e-3
            if units and name in units:
                var.units = units[name]
        if latlon:
            la = nc.createVariable("XLAT", "f4", ("Time", "south_north", "west_east"))
            lo = nc.createVariable("XLONG", "f4", ("Time", "south_north", "west_east"))
            la[0] = np.linspace(40, 41, sh[0] * sh[1]).reshape(sh)
            lo[0] = np.linspace(-90, -89, sh[0] * sh[1]).reshape(sh)


def test_ldasin_folder(tmp_path):
    for k, stamp in enumerate(["2015040101", "2015040100", "2015040102"]):
        _ldasin(tmp_path / f"{stamp}.LDASIN_DOMAIN1", k)
    ds = read_ldasin(tmp_path)
    assert ds.sizes == {"cell": 6, "time": 3}
    assert str(ds.time.values[0])[:16] == "2015-04-01T00:00"      # sorted by stamp
    np.testing.assert_allclose(ds.T2D.values[0, 0], 280.0 * 1.01, rtol=1e-6)  # k=1 file
    assert ds.attrs["dt_seconds"] == 3600 and ds.grid_x.values.tolist() == [0, 1, 2, 0, 1, 2]
    assert ds.RAINRATE.attrs["units"] == "kg m-2 s-1"
    ds2 = to_dataset(f"ldasin:{tmp_path}")
    assert float(ds2.lat[5]) == pytest.approx(41.0)


def test_ldasin_setup_file(tmp_path):
    _ldasin(tmp_path / "2015040100.LDASIN_DOMAIN1", latlon=False)
    with pytest.raises(DataError, match="no coordinates.*setup"):
        read_ldasin(tmp_path)
    with netCDF4.Dataset(tmp_path / "wrfinput_d01.nc", "w") as nc:
        nc.createDimension("south_north", 2)
        nc.createDimension("west_east", 3)
        nc.createVariable("XLAT", "f4", ("south_north", "west_east"))[:] = 35.0
        nc.createVariable("XLONG", "f4", ("south_north", "west_east"))[:] = -100.0
    ds = read_ldasin(tmp_path)
    assert np.all(ds.lat.values == 35.0) and np.all(ds.lon.values == -100.0)


def test_ldasin_errors(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    _ldasin(a / "2015040100.LDASIN_DOMAIN1", drop="LWDOWN")
    with pytest.raises(DataError, match=r"2015040100.LDASIN_DOMAIN1: variable LWDOWN: variable missing"):
        read_ldasin(a)
    b = tmp_path / "b"
    b.mkdir()
    _ldasin(b / "2015040100.LDASIN_DOMAIN1")
    _ldasin(b / "2015040101.LDASIN_DOMAIN1", shape=(3, 3))
    with pytest.raises(DataError, match="2015040101.*grid \\(3, 3\\) differs"):
        read_ldasin(b)
    c = tmp_path / "c"
    c.mkdir()
    (c / "2015040100.LDASIN_DOMAIN1").write_bytes(b"\x89HDF\r\n\x1a\n garbage")
    with pytest.raises(DataError, match="cannot open as NetCDF.*corrupt"):
        read_ldasin(c)
    d = tmp_path / "d"
    d.mkdir()
    _ldasin(d / "2015040100.LDASIN_DOMAIN1", units={"T2D": "C"})
    with pytest.raises(DataError, match="T2D: units 'c' are not the LDASIN SI units K"):
        read_ldasin(d)
    e = tmp_path / "e"
    e.mkdir()
    f1, f2 = e / "2015040101.LDASIN_DOMAIN1", e / "2015040100.LDASIN_DOMAIN1"
    _ldasin(f1)
    _ldasin(f2)
    with pytest.raises(DataError, match="not strictly increasing"):
        read_ldasin([f1, f2])
    g = tmp_path / "g"
    g.mkdir()
    _ldasin(g / "2015040100.LDASIN_DOMAIN1")
    with netCDF4.Dataset(g / "2015040100.LDASIN_DOMAIN1", "a") as nc:
        nc["PSFC"][0, 1, 2] = 950.0                      # hPa written into a Pa field
    with pytest.raises(DataError, match="PSFC.*outside the plausible range.*index 5"):
        read_ldasin(g)


def _nldas(path, hour, names="grib", apcp=1.8, units_apcp="kg m-2", fill_point=True):
    lat = np.array([35.0625, 35.1875])
    lon = np.array([-100.9375, -100.8125, -100.6875])
    grib = {"T2D": "TMP", "Q2D": "SPFH", "PSFC": "PRES", "U2D": "UGRD", "V2D": "VGRD",
            "LWDOWN": "DLWRF", "SWDOWN": "DSWRF", "RAINRATE": "APCP"}
    v2 = {"T2D": "Tair", "Q2D": "Qair", "PSFC": "PSurf", "U2D": "Wind_E", "V2D": "Wind_N",
          "LWDOWN": "LWdown", "SWDOWN": "SWdown", "RAINRATE": "Rainf"}
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", None)
        nc.createDimension("lat", 2)
        nc.createDimension("lon", 3)
        t = nc.createVariable("time", "f8", ("time",))
        t.units = "hours since 2015-04-01 00:00:00"
        t[0] = hour
        nc.createVariable("lat", "f4", ("lat",))[:] = lat
        nc.createVariable("lon", "f4", ("lon",))[:] = lon
        for k, n in (grib if names == "grib" else v2).items():
            var = nc.createVariable(n, "f4", ("time", "lat", "lon"), fill_value=9.999e20)
            val = apcp if k == "RAINRATE" else VALUES[k]
            a = np.full((1, 2, 3), val, dtype=np.float32)
            if fill_point:
                a[0, 1, 2] = 9.999e20                      # a water point: all fill
            var[:] = a
            if k == "RAINRATE":
                var.units = units_apcp


@pytest.mark.parametrize("names", ["grib", "v2"])
def test_nldas2(tmp_path, names):
    for h in (1, 0, 2):
        _nldas(tmp_path / f"NLDAS_FORA0125_H.A20150401.{h:02d}00.002.nc", h, names)
    ds = read_nldas2(tmp_path)
    assert ds.sizes == {"cell": 5, "time": 3}
    assert str(ds.time.values[0])[:16] == "2015-04-01T01:00"       # end of the first hour
    np.testing.assert_allclose(ds.RAINRATE.values, 1.8 / 3600, rtol=1e-6)  # kg m-2 per hour
    np.testing.assert_allclose(ds.PSFC.values, 95000.0)
    assert ds.attrs["time_convention"] == "interval_end"
    import json
    assert json.loads(ds.attrs["report"])["dropped_fill_points"] == 1
    assert read_nldas2(tmp_path, stamp="start").time.values[0] == np.datetime64("2015-04-01T00:00")


def test_nldas2_errors(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    _nldas(a / "NLDAS_FORA0125_H.A20150401.0000.002.nc", 0)
    _nldas(a / "NLDAS_FORA0125_H.A20150401.0000.020.nc", 0)
    with pytest.raises(DataError, match="duplicated record"):
        read_nldas2(a)
    b = tmp_path / "b"
    b.mkdir()
    _nldas(b / "NLDAS_FORA0125_H.A20150401.0000.002.nc", 0, units_apcp="mm/h")
    with pytest.raises(DataError, match="APCP: unexpected precipitation units"):
        read_nldas2(b)
    c = tmp_path / "c"
    c.mkdir()
    _nldas(c / "NLDAS_FORA0125_H.A20150401.0000.002.nc", 0, apcp=3600.0)   # 1 mm/s: absurd
    with pytest.raises(DataError, match="RAINRATE.*outside the plausible range"):
        read_nldas2(c)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no NLDAS-2"):
        read_nldas2(empty)
