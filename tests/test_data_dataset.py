"""to_dataset / prepare (zarr) / open_dataset (lazy) / inspect and the `data` CLI."""
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from diffland.cli_data import app
from diffland.data import (DataError, FORCING_VARS, daily_means, inspect, open_dataset,
                           parse_source, prepare, to_dataset)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_parse_source():
    assert parse_source("hydrodl:/x/y") == ("hydrodl", "/x/y")
    with pytest.raises(DataError, match="KIND:PATH"):
        parse_source("/x/y")
    with pytest.raises(DataError, match="unknown source kind 'grib'"):
        parse_source("grib:/x")


def test_synthetic_roundtrip_lazy(tmp_path):
    out = prepare("synthetic:4,10,2", tmp_path / "s.zarr")
    ds = open_dataset(out)
    assert ds.T2D.chunks is not None                         # dask-backed
    ref = to_dataset("synthetic:4,10,2")
    np.testing.assert_array_equal(ds.T2D.values, ref.T2D.values)
    txt = inspect(out)
    assert "cells: 4" in txt and "time: 2015-04-01T00:30 .. 2015-04-11T00:00 (480 steps" in txt
    assert "T2D" in txt and "kg m-2 s-1" in txt and "SMAP_AM" in txt and "1.000" in txt
    with pytest.raises(DataError, match="zarr store not found"):
        open_dataset(tmp_path / "nope.zarr")


def test_cli(tmp_path):
    r = CliRunner().invoke(app, ["prepare", "--source", "synthetic:3,2,0", "--out",
                                 str(tmp_path / "c.zarr")])
    assert r.exit_code == 0, r.output
    assert "cells: 3" in r.output
    r = CliRunner().invoke(app, ["inspect", str(tmp_path / "c.zarr")])
    assert r.exit_code == 0 and "RAINRATE" in r.output
    r = CliRunner().invoke(app, ["prepare", "--source", "hydrodl:/no/such", "--out",
                                 str(tmp_path / "d.zarr")])
    assert r.exit_code == 2 and "database folder not found" in r.output


def test_conus_prepare_disaggregated(tmp_path):
    root = SHARED / "conus_smap"
    if not root.exists():
        pytest.skip(f"shared data not found: {root}")
    daily = to_dataset(f"hydrodl:{root}")
    sub = to_dataset(f"hydrodl:{root}", dt=3600)
    assert sub.sizes["time"] == 731 * 24 and sub.attrs["time_convention"] == "interval_end"
    for k in FORCING_VARS:
        np.testing.assert_allclose(daily_means(sub[k].values, 3600), daily[k].values, rtol=1e-6,
                                   atol=1e-12, err_msg=k)
    assert "SMAP_AM" in sub and sub.SMAP_AM.dims == ("obs_time", "cell")
    out = prepare(f"hydrodl:{root}", tmp_path / "conus.zarr")
    txt = inspect(out)
    assert "cells: 312" in txt and "2015-04-01T00:00 .. 2017-03-31T00:00 (731 steps" in txt
    assert "SMAP_AM" in txt and "0.584" in txt
    with pytest.raises(DataError, match="native step 1800 s != requested dt 3600"):
        to_dataset(f"noahpoint:{SHARED / 'bondville_1998' / 'forcing98_with_validation.dat'}",
                   dt=3600)
