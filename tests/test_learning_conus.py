"""End to end on the real CONUS SMAP database: the quick config trains through the CLI functions, and
``evaluate`` writes METRICS.json with the keys of issue 4 (skipped when ../shared/data is absent)."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import SHARED, need

CONUS = SHARED / "conus_smap"
ROOT = Path(__file__).resolve().parents[1]


def test_conus_loader_layout_and_cache(tmp_path, monkeypatch):
    need(CONUS)
    monkeypatch.setenv("DIFFLAND_CACHE", str(tmp_path / "cache"))
    from diffland.learning import load_conus
    from diffland.learning.data import load_dataset

    ds = load_conus(f"{CONUS}?cells=0:312:100", 3600)
    assert list(ds["cell"].values) == [0, 100, 200, 300]
    assert ds["T2D"].dims == ("time", "cell") and ds.sizes["time"] == 731 * 24
    assert ds["SMAP_AM"].dims == ("obs_time", "cell") and ds.sizes["obs_time"] == 731
    t = ds["time"].values
    assert (t[1] - t[0]) == np.timedelta64(3600, "s")
    for v in ("sand", "silt", "clay", "bulk_density", "water_capacity", "NDVI", "soil_class", "veg_class",
              "shdmax", "tbot", "aridity_index", "aridity_class", "lat", "lon"):
        assert v in ds, v
    assert np.all((ds["shdmax"] >= 5) & (ds["shdmax"] <= 95))
    assert np.all((ds["soil_class"] >= 1) & (ds["soil_class"] <= 12))
    assert set(np.unique(ds["aridity_class"])) <= {0, 1, 2, 3}
    # daily means of the disaggregated forcing equal the database's daily means
    from diffland.data import read_hydrodl

    daily = read_hydrodl(CONUS).isel(cell=[0, 100, 200, 300])
    sw = ds["SWDOWN"].values.reshape(731, 24, 4).mean(1)
    np.testing.assert_allclose(sw, daily["SWDOWN"].values, rtol=1e-4, atol=1e-3)
    assert len(list((tmp_path / "cache").glob("*.nc"))) == 1
    again = load_dataset(f"hydrodl:{CONUS}?cells=0:312:100")  # registered loader, from the cache
    np.testing.assert_array_equal(again["T2D"].values, ds["T2D"].values)


def test_quick_config_trains_and_evaluates_via_cli(tmp_path, monkeypatch, jax_cache_dir):
    need(CONUS)
    monkeypatch.setenv("DIFFLAND_CACHE", str(tmp_path / "cache"))
    from diffland.cli_learning import evaluate_cmd, train_cmd

    cfg = yaml.safe_load((ROOT / "configs" / "conus_smap_quick.yaml").read_text())
    src = cfg["data"]["source"]
    query = src.split("?", 1)[1]
    cfg["data"]["source"] = f"hydrodl:{CONUS}?{query}"
    cfg["output_dir"] = str(tmp_path / "run")
    cp = tmp_path / "quick.yaml"
    cp.write_text(yaml.safe_dump(cfg))

    run_dir = Path(train_cmd(config=cp, resume=False))
    for f in ("config.yaml", "splits.json", "model.eqx", "learned_params.nc", "metrics.csv", "summary.json"):
        assert (run_dir / f).exists(), f
    # the compiled training programs are in the persistent compilation cache (the test session's, see
    # conftest; test_compile_cache checks the default directory)
    assert any(p.is_file() for p in jax_cache_dir.iterdir())
    splits = json.loads((run_dir / "splits.json").read_text())
    assert len(splits["holdout"]) == 2

    out = tmp_path / "METRICS.json"
    evaluate_cmd(run_dir=run_dir, data=cfg["data"]["source"], start=None, end=None, out=out)
    m = json.loads(out.read_text())
    assert m["period"] == ["2016-04-01", "2016-04-15"]
    for p in ("default", "learned"):
        v = m["summary"][p]["rmse_median"]
        assert v is not None and math.isfinite(v) and 0 < v < 1
    assert m["by_regime"]
    for cls, d in m["by_regime"].items():
        assert cls in ("arid", "semi-arid", "sub-humid", "humid")
        for p in ("default", "learned"):
            assert math.isfinite(d[p]["rmse_median"])
    assert len(m["cells"]) == 8
    groups = {c["group"] for c in m["cells"]}
    assert groups == {"train", "holdout"}  # held-out cells are evaluated too
    for c in m["cells"]:
        for k in ("lat", "lon", "regime", "rmse_default", "rmse_learned"):
            assert k in c
        assert math.isfinite(c["rmse_default"]) and math.isfinite(c["rmse_learned"])
    assert "holdout" in m["groups"] and "learned" in m["groups"]["holdout"]["summary"]


def test_nan_policy_skip_records_and_continues(tmp_path):
    """nan_policy='skip' (the CLI default): an update whose gradient alone is non-finite is skipped and
    recorded with its cell; the run finishes with finite parameters. ('raise' is tested in
    test_learning_nanguard.py.)"""
    import learning_standin as S
    from test_learning_nanguard import _BadGradModel, _cfg

    from diffland.learning import api

    ds = S.make_dataset(ncell=6, ndays=60, seed=4)
    rd = api.train(_cfg(tmp_path / "s"), ds, model=_BadGradModel(2), nan_policy="skip")
    summ = json.loads((rd / "summary.json").read_text())
    perm = np.random.default_rng([0, 0]).permutation(6)
    assert summ["epochs_run"] == 2 and len(summ["nan_skips"]) >= 1
    assert summ["nan_skips"][0]["cells"] == [int(100 + perm[2])]
    import xarray as xr

    lp = xr.open_dataset(rd / "learned_params.nc")
    assert np.all(np.isfinite(lp["SMCMAX"].values))
