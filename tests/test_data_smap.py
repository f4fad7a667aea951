"""SMAP L3 readers: tiny HDF5 granules in the SPL3SMP layout, and the real QA4SM time series."""
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from diffland.data import (DataError, ease2_latlon_to_rowcol, ease2_rowcol_to_latlon, read_smap_l3,
                           read_smap_ts, select_granules, to_dataset)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CELLS = [(100, 200), (101, 201), (150, 300)]


def _granule(path, sm_val=0.25, flag=0, pm=True, shape=(406, 964), pm_suffix=True):
    with h5py.File(path, "w") as h:
        h.create_group("Metadata")
        for p in (["AM", "PM"] if pm else ["AM"]):
            g = h.create_group(f"Soil_Moisture_Retrieval_Data_{p}")
            suf = "_pm" if (p == "PM" and pm_suffix) else ""
            sm = np.full(shape, -9999.0, np.float32)
            fl = np.full(shape, 65534, np.uint16)
            tu = np.full(shape, b"", dtype="S24")
            for i, (r, c) in enumerate(CELLS):
                sm[r, c] = sm_val + 0.01 * i + (0.1 if p == "PM" else 0)
                fl[r, c] = flag if i != 1 else 1          # cell 1: not recommended
                tu[r, c] = (b"2015-04-01T12:30:00.000Z" if p == "AM" else b"2015-04-01T00:40:00.000Z")
            sm[CELLS[2]] = 0.7 if p == "AM" else sm[CELLS[2]]  # out of valid range on AM
            d = g.create_dataset("soil_moisture" + suf, data=sm)
            d.attrs["valid_min"] = np.float32(0.02)
            d.attrs["valid_max"] = np.float32(0.5)
            d.attrs["units"] = b"cm**3/cm**3"
            g.create_dataset("retrieval_qual_flag" + suf, data=fl)
            g.create_dataset("tb_time_utc" + suf, data=tu)


def test_ease2_grid():
    lat, lon = ease2_rowcol_to_latlon(0, 0, "M36")
    assert lat == pytest.approx(83.632, abs=1e-3) and lon == pytest.approx(-179.8133, abs=1e-3)
    assert ease2_rowcol_to_latlon(0, 0, "M09")[0] == pytest.approx(84.656, abs=1e-3)
    r, c = np.arange(0, 406, 37), np.arange(0, 964, 88)
    la, lo = ease2_rowcol_to_latlon(r, c)
    r2, c2 = ease2_latlon_to_rowcol(la, lo)
    assert r2.tolist() == r.tolist() and c2.tolist() == c.tolist()


def test_read_granules(tmp_path):
    _granule(tmp_path / "SMAP_L3_SM_P_20150401_R13080_001.h5", 0.10)
    _granule(tmp_path / "SMAP_L3_SM_P_20150401_R14010_001.h5", 0.20)   # newer CRID wins
    _granule(tmp_path / "SMAP_L3_SM_P_20150402_R14010_002.h5", 0.30)
    _granule(tmp_path / "SMAP_L3_SM_P_20150402_R14010_001.h5", 0.05)
    ds = read_smap_l3(tmp_path)
    rep = json.loads(ds.attrs["report"])
    assert len(rep["superseded"]) == 2 and rep["grid"] == "M36"
    assert ds.sizes == {"cell": 3, "obs_time": 2}
    np.testing.assert_allclose(ds.SMAP_AM.values[:, 0], [0.20, 0.30], rtol=1e-6)
    np.testing.assert_allclose(ds.SMAP_PM.values[:, 0], [0.30, 0.40], rtol=1e-6)
    assert np.all(np.isnan(ds.SMAP_AM.values[:, 2]))                # 0.7 > valid_max
    assert ds.SMAP_AM_qc.values[:, 1].tolist() == [False, False]     # flag bit 0
    assert rep["AM"] == {"values": 6, "fill": 0, "out_of_valid_range": 2, "not_recommended": 2,
                         "kept": 2}
    assert ds.SMAP_AM_time.values[0, 0] == np.datetime64("2015-04-01T12:30")
    la, lo = ease2_rowcol_to_latlon(100, 200)
    assert float(ds.lat[0]) == pytest.approx(la) and float(ds.lon[0]) == pytest.approx(lo)
    sub = read_smap_l3(tmp_path, passes=("AM",), cells=[(150, 300)])
    assert sub.sizes["cell"] == 1 and "SMAP_PM" not in sub
    assert to_dataset(f"smapl3:{tmp_path}").sizes["cell"] == 3


def test_granule_errors(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    _granule(a / "SMAP_L3_SM_P_20150401_R14010_001.h5", pm_suffix=False)
    with pytest.raises(DataError, match="Soil_Moisture_Retrieval_Data_PM/soil_moisture_pm: "
                                        "dataset missing \\(PM dataset names end in '_pm'\\)"):
        read_smap_l3(a)
    b = tmp_path / "b"
    b.mkdir()
    (b / "SMAP_L3_SM_P_20150401_R14010_001.h5").write_bytes(b"\x89HDF\r\n\x1a\ntruncated")
    with pytest.raises(DataError, match="not a readable HDF5 file.*corrupt"):
        read_smap_l3(b)
    c = tmp_path / "c"
    c.mkdir()
    _granule(c / "SMAP_L3_SM_P_20150401_R14010_001.h5")
    _granule(c / "SMAP_L3_SM_P_20150402_R14010_001.h5", shape=(1624, 3856))
    with pytest.raises(DataError, match="grid M09 differs.*do not mix"):
        read_smap_l3(c)
    d = tmp_path / "d"
    d.mkdir()
    _granule(d / "SMAP_L3_SM_P_20150401_R14010_001.h5", shape=(400, 900))
    with pytest.raises(DataError, match="neither the 36 km"):
        read_smap_l3(d)
    e = tmp_path / "e"
    e.mkdir()
    _granule(e / "SMAP_L3_SM_P_20150401_R14010_001.h5", pm=False)
    with pytest.raises(DataError, match="Soil_Moisture_Retrieval_Data_PM: group missing"):
        read_smap_l3(e)
    assert read_smap_l3(e, passes=("AM",)).sizes["cell"] == 3
    with pytest.raises(DataError, match="not a SMAP L3 granule name"):
        select_granules([tmp_path / "foo.h5"])


def test_smap_timeseries_real():
    folder = SHARED / "smap_ismn_hawaii" / "SMAP_L3_V9_AM_PM"
    if not folder.exists():
        pytest.skip(f"shared data not found: {folder}")
    ds = read_smap_ts(folder)          # also checks every cell against grid.nc
    assert ds.sizes["cell"] == 13
    assert float(ds.lat.min()) > 18.5 and float(ds.lon.max()) < -154.5
    rep = json.loads(ds.attrs["report"])
    for p in ("AM", "PM"):
        r = rep[p]
        assert r["kept"] == int(ds[f"SMAP_{p}_qc"].sum())
        assert r["fill"] + r["out_of_valid_range"] + r["not_recommended"] + r["kept"] == r["records"]
    # AM overpass ~06 LST = ~16.4 UTC at 156 W, PM ~18 LST = ~04.4 UTC
    t = ds.SMAP_AM_time.values
    h = ((t - t.astype("datetime64[D]")) / np.timedelta64(1, "h"))[~np.isnat(t)]
    assert 15.5 < np.median(h) < 17.5
    assert to_dataset(f"smapl3:{folder}").sizes["cell"] == 13
