"""Synthetic generator: layout, determinism, observation hook, lazy large sizes."""
import json

import numpy as np
import pytest

from diffland.data import FORCING_VARS, daily_means, make_synthetic


def test_layout_and_determinism():
    a = make_synthetic(3, 20, seed=7)
    b = make_synthetic(3, 20, seed=7)
    c = make_synthetic(3, 20, seed=8)
    assert a.sizes == {"cell": 3, "time": 20 * 48, "obs_time": 20}
    for k in FORCING_VARS:
        assert a[k].dims == ("time", "cell") and "units" in a[k].attrs
        np.testing.assert_array_equal(a[k].values, b[k].values)
    assert not np.array_equal(a.T2D.values, c.T2D.values)
    for k in ("true_BEXP", "true_SMCMAX", "true_DKSAT", "true_PSISAT", "sand", "NDVI", "ISLTYP"):
        assert k in a and a[k].dims == ("cell",)
    assert np.all(np.isnan(a.SMAP_AM.values)) and "no simulate_fn" in a.attrs["SMAP_AM_status"]
    assert 170 < float(a.T2D.min()) and float(a.T2D.max()) < 330
    assert float(a.SWDOWN.min()) >= 0 and float(a.RAINRATE.min()) >= 0


def test_climate_gradient_and_parameters():
    ds = make_synthetic(200, 365, seed=1, dt=10800)
    p = ds.RAINRATE.mean("time").values * 86400 * 365
    h = ds.humidity_index.values
    assert np.corrcoef(h, p)[0, 1] > 0.7                       # wet cells rain more
    assert np.corrcoef(ds.clay.values, ds.true_BEXP.values)[0, 1] > 0.8
    assert np.all((ds.true_SMCMAX > 0.25) & (ds.true_SMCMAX < 0.6))
    np.testing.assert_allclose(ds.sand + ds.silt + ds.clay, 100.0)


def test_observation_hook():
    def sim(ds):
        nt = ds.sizes["time"]
        return np.tile(0.1 + 0.2 * (np.arange(nt) / nt)[:, None], (1, ds.sizes["cell"]))

    ds = make_synthetic(6, 100, seed=3, simulate_fn=sim, obs_noise=0.03)
    frac = float(np.isnan(ds.SMAP_AM.values).mean())
    assert 0.45 < frac < 0.65
    resid = ds.SMAP_AM.values - (0.1 + 0.2 * (np.arange(100)[:, None] + 0.5) / 100)
    assert 0.02 < np.nanstd(resid) < 0.04
    assert "simulated" in ds.attrs["SMAP_AM_status"]
    with pytest.raises(ValueError, match="returned shape"):
        make_synthetic(3, 5, seed=0, simulate_fn=lambda ds: np.zeros((5, 3)))


def test_lazy_blocks_match_eager():
    eager = make_synthetic(40, 10, seed=5, block_size=16)
    lazy = make_synthetic(40, 10, seed=5, block_size=16, lazy_threshold=100)
    assert json.loads(lazy.attrs["synthetic"])["lazy"] is True
    assert lazy.T2D.chunks is not None
    np.testing.assert_array_equal(lazy.T2D.values, eager.T2D.values)
    np.testing.assert_allclose(daily_means(eager.T2D.values, 1800).shape, (10, 40))


def test_large_is_lazy_and_cheap():
    ds = make_synthetic(50_000, 5 * 365, seed=0)
    assert ds.T2D.shape == (5 * 365 * 48, 50_000)
    assert json.loads(ds.attrs["synthetic"])["lazy"] is True
    assert ds.T2D.data.chunks[1][0] == 256          # generated block by block
    v = ds.T2D[:48, :3].values                       # computes one block only
    assert v.shape == (48, 3) and np.all(np.isfinite(v))
