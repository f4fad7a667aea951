"""Losses against hand computations; NaN observations give finite gradients."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffland.learning import losses as L

SIM = np.array([[0.20, 0.30, 0.10], [0.25, 0.35, 0.12], [0.22, 0.28, 0.15], [0.30, 0.40, 0.11]], np.float32)
OBS = np.array([[0.21, np.nan, 0.13], [0.24, 0.30, np.nan], [np.nan, 0.33, 0.10], [0.28, 0.36, 0.16]], np.float32)


def _cells(fn):
    out = []
    for c in range(SIM.shape[1]):
        m = np.isfinite(OBS[:, c])
        out.append(fn(SIM[m, c].astype(float), OBS[m, c].astype(float)))
    return np.array(out)


def test_global_rmse_z_hand():
    mu, sd = 0.25, 0.08
    m = np.isfinite(OBS)
    z = ((SIM - mu) / sd - (OBS - mu) / sd)[m]
    want = np.sqrt(np.mean(z.astype(float) ** 2))
    got = float(L.global_rmse_z(jnp.asarray(SIM), jnp.asarray(OBS), mu, sd))
    assert got == pytest.approx(want, rel=1e-5)


def test_cell_rmse_nse_kge_hand():
    rmse = _cells(lambda s, o: np.sqrt(np.mean((s - o) ** 2)))
    assert float(L.cell_rmse(SIM, OBS)) == pytest.approx(rmse.mean(), rel=1e-5)
    eps = 1e-4
    nse = _cells(lambda s, o: np.mean((s - o) ** 2) / (np.var(o) + eps))
    assert float(L.cell_nse(SIM, OBS, eps=eps)) == pytest.approx(nse.mean(), rel=1e-4)

    def kge(s, o):
        r = np.mean((s - s.mean()) * (o - o.mean())) / (s.std() * o.std() + eps)
        a = s.std() / (o.std() + eps)
        b = s.mean() / o.mean()
        return np.sqrt((r - 1) ** 2 + (a - 1) ** 2 + (b - 1) ** 2)

    assert float(L.cell_kge(SIM, OBS, eps=eps)) == pytest.approx(_cells(kge).mean(), rel=1e-4)


def test_min_obs_and_cell_mask_exclude_cells():
    obs = OBS.copy()
    obs[:, 2] = np.nan
    obs[0, 2] = 0.1  # one obs only -> excluded with min_obs=2
    rmse = _cells(lambda s, o: np.sqrt(np.mean((s - o) ** 2)))
    assert float(L.cell_rmse(SIM, obs, min_obs=2)) == pytest.approx(rmse[:2].mean(), rel=1e-5)
    got = float(L.cell_rmse(SIM, OBS, cell_mask=np.array([True, False, True])))
    assert got == pytest.approx(rmse[[0, 2]].mean(), rel=1e-5)


def test_regime_balanced_equal_weight_per_class():
    v = jnp.array([1.0, 3.0, 10.0, 4.0])
    valid = jnp.array([True, True, True, False])
    cls = jnp.array([0, 0, 1, 2])
    # class 0 mean 2, class 1 mean 10, class 2 has no valid cell -> (2 + 10) / 2
    assert float(L.regime_balanced(v, valid, cls, 4)) == pytest.approx(6.0)
    rmse = _cells(lambda s, o: np.sqrt(np.mean((s - o) ** 2)))
    got = float(L.compute_loss("regime_balanced", SIM, OBS, classes=np.array([0, 0, 1]), n_classes=2))
    assert got == pytest.approx((rmse[:2].mean() + rmse[2]) / 2, rel=1e-5)


def test_ab_factors_applied_as_a_sim_plus_b():
    a = np.array([1.1, 0.9, 1.0], np.float32)
    b = np.array([0.01, -0.02, 0.0], np.float32)
    want = float(L.cell_rmse(a * SIM + b, OBS))
    assert float(L.compute_loss("cell_rmse", SIM, OBS, a=a, b=b)) == pytest.approx(want, rel=1e-6)


def test_bound_penalties():
    raw = jnp.array([[0.0, 5.0], [-6.0, 3.9]])
    assert float(L.bound_penalty_raw(raw, 4.0)) == pytest.approx((1.0 + 4.0) / 4)
    unit = jnp.array([[0.5, 0.01], [0.995, 0.3]])
    m = 0.02
    want = ((0.01 / m) ** 2 + (0.015 / m) ** 2) / 4
    assert float(L.bound_penalty_params(unit, m)) == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("kind", L.LOSS_KINDS)
def test_nan_observations_give_finite_gradients(kind):
    obs = OBS.copy()
    obs[:, 1] = np.nan  # a cell without any observation
    sim0 = jnp.asarray(SIM)
    a = jnp.array([1.0, 1.0, 1.0])

    def f(sim, a):
        return L.compute_loss(kind, sim, jnp.asarray(obs), a=a, b=jnp.zeros(3), mu=0.25, sd=0.08,
                              classes=jnp.array([0, 1, 1]), n_classes=2)

    val, (gs, ga) = jax.value_and_grad(f, argnums=(0, 1))(sim0, a)
    assert np.isfinite(float(val))
    assert np.all(np.isfinite(np.asarray(gs))) and np.all(np.isfinite(np.asarray(ga)))
    # no gradient flows to missing observations
    assert np.all(np.asarray(gs)[~np.isfinite(obs)] == 0)
    # a perfect simulation (zero error) also has finite gradients (safe sqrt)
    g0 = jax.grad(lambda s: L.compute_loss(kind, s, jnp.asarray(obs), mu=0.25, sd=0.08,
                                           classes=jnp.array([0, 1, 1]), n_classes=2))(
        jnp.asarray(np.where(np.isfinite(obs), obs, 0.2)))
    assert np.all(np.isfinite(np.asarray(g0)))


def test_all_missing_gives_zero_loss_and_finite_grad():
    obs = np.full_like(OBS, np.nan)
    for kind in L.LOSS_KINDS:
        v, g = jax.value_and_grad(lambda s: L.compute_loss(kind, s, jnp.asarray(obs), classes=jnp.zeros(3, int)))(
            jnp.asarray(SIM))
        assert float(v) == 0.0 and np.all(np.asarray(g) == 0)


def test_switch_gives_the_selected_kind_in_one_program():
    """compute_loss_switch (the kind as a run-time index, used by the trainer) equals compute_loss of that
    kind in value and gradient, and one jitted program serves every kind."""
    kw = dict(mu=0.25, sd=0.08, classes=jnp.array([0, 1, 1]), n_classes=2)
    obs = jnp.asarray(OBS)
    traces = []

    @jax.jit
    def switched(i, sim):
        traces.append(1)
        return jax.value_and_grad(lambda s: L.compute_loss_switch(i, L.LOSS_KINDS, s, obs, **kw))(sim)

    for i, kind in enumerate(L.LOSS_KINDS):
        v, g = switched(np.int32(i), jnp.asarray(SIM))
        v0, g0 = jax.value_and_grad(lambda s: L.compute_loss(kind, s, obs, **kw))(jnp.asarray(SIM))
        assert float(v) == pytest.approx(float(v0), rel=1e-6), kind
        np.testing.assert_allclose(np.asarray(g), np.asarray(g0), rtol=1e-5, atol=1e-8, err_msg=kind)
    assert len(traces) == 1
