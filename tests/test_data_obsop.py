"""Observation operator: overpass sampling, masks with counts, jit-safety, depth option."""
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffland.data import DataError, build_obs_operator, masked_rmse, read_hydrodl, smap_mask_report

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _setup():
    dt = 1800
    t = np.datetime64("2015-04-01T00:30") + np.arange(48 * 4) * np.timedelta64(dt, "s")
    lon = np.array([-120.0, -90.0, -75.0])
    days = np.datetime64("2015-04-01") + np.arange(5)            # day 5 is past the model period
    obs = np.full((5, 3), 0.2)
    obs[0, 1] = np.nan
    qc = np.ones((5, 3), bool)
    qc[1, 2] = False
    return t, lon, days, obs, qc


def test_sampling_and_counts():
    t, lon, days, obs, qc = _setup()
    op = build_obs_operator(t, lon, obs, days, overpass_hour=6.0, qc=qc)
    # 06 LST at 120 W = 14:00 UTC -> state time 14:00 is index 27 (00:30 + 27*30 min)
    assert t[op.step_idx[0, 0]] == np.datetime64("2015-04-01T14:00")
    assert t[op.step_idx[2, 1]] == np.datetime64("2015-04-03T12:00")
    c = op.counts
    assert c["missing"] == 1 and c["flagged"] == 1 and c["outside_model_period"] == 3
    assert c["available"] == 15 - 1 - 1 - 3
    assert c["missing"] + c["flagged"] + c["outside_model_period"] + c["available"] == c["total"]


def test_dynamic_masks_under_jit():
    t, lon, days, obs, qc = _setup()
    op = build_obs_operator(t, lon, obs, days, qc=qc)
    nt = t.size
    sm = jnp.linspace(0.1, 0.4, nt)[:, None] * jnp.ones((1, 3))
    tsoil = jnp.full((nt, 3), 280.0).at[op.step_idx[2, 0], 0].set(270.0)      # frozen slot
    swe = jnp.zeros((nt, 3)).at[op.step_idx[3, 1], 1].set(5.0)                # snow slot

    @jax.jit
    def loss(scale):
        pred, o, mask, counts = op.apply(sm * scale, t_top=tsoil, sneqv=swe)
        return masked_rmse(pred, o, mask), counts

    val, counts = loss(1.0)
    assert int(counts["frozen"]) == 1 and int(counts["snow"]) == 1
    assert int(counts["used"]) == op.counts["available"] - 2
    g = jax.grad(lambda s: loss(s)[0])(1.0)
    assert np.isfinite(float(g)) and float(g) != 0.0
    pred, _, mask, _ = op.apply(sm)
    np.testing.assert_allclose(np.asarray(pred)[0, 0], np.asarray(sm)[op.step_idx[0, 0], 0])


def test_depth_option():
    t, lon, days, obs, qc = _setup()
    op = build_obs_operator(t, lon, obs, days)
    nt = t.size
    l1, l2 = jnp.full((nt, 3), 0.30), jnp.full((nt, 3), 0.22)
    p_lin = op.apply(l1, sm_layer2=l2, depth="linear_0_5cm")[0]
    np.testing.assert_allclose(np.asarray(p_lin), 0.30 + 0.125 * 0.08, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(op.apply(l1)[0]), 0.30)
    with pytest.raises(DataError, match="needs layer 2"):
        op.apply(l1, depth="linear_0_5cm")
    with pytest.raises(DataError, match="unknown option"):
        op.apply(l1, depth="deep")
    with pytest.raises(DataError, match="not strictly increasing"):
        build_obs_operator(t[::-1], lon, obs, days)
    with pytest.raises(DataError, match="not \\(obs_time, 3\\)"):
        build_obs_operator(t, lon, obs[:, :2], days)


def test_conus_smap_mask_counts():
    root = SHARED / "conus_smap"
    if not root.exists():
        pytest.skip(f"shared data not found: {root}")
    ds = read_hydrodl(root)
    r = smap_mask_report(ds)
    assert r["total"] == 312 * 731 and r["missing"] == 133116
    assert r["missing"] + r["flagged"] + r["frozen_proxy"] + r["snow_proxy"] + r["used"] == r["total"]
    assert 0 < r["frozen_proxy"] < 10000 and r["snow_proxy"] > 0
