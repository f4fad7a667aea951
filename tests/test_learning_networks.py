"""Parameter networks and the raw -> physical map: bounds, modes, derived consistency, output counts."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffland.learning.networks import (DEFAULT_SPECS, GA, GZ, LAI_MULT_SPEC, OutputLayout, ParamSpec, _derive,
                                        make_network)
from diffland.parameters.derived import derive_soil_params

import learning_standin as S

NCELL = 50


def _defaults():
    return {k: jnp.asarray(v, jnp.float32) for k, v in S.default_params(NCELL).items()}


@pytest.mark.parametrize("start_at_default", [True, False])
def test_bounds_respected_for_random_raw_outputs(start_at_default):
    specs = list(DEFAULT_SPECS) + [LAI_MULT_SPEC]
    lay = OutputLayout(specs, 4, start_at_default=start_at_default, learn_initial_sm=True, ab_factors=True)
    d = _defaults()
    rng = np.random.default_rng(0)
    for scale in (0.1, 3.0, 30.0, 1e4):
        raw = jnp.asarray(rng.normal(0, scale, (NCELL, lay.n_out)), jnp.float32)
        params, extra = lay.to_physical(raw, d)
        for s in specs:
            v = np.asarray(extra["values"][s.name])
            assert np.all(np.isfinite(v))
            assert np.all(v >= s.lo * (1 - 1e-5)) and np.all(v <= s.hi * (1 + 1e-5)), s.name
            p = np.asarray(params[s.key])
            if s.mode == "absolute":
                if p.ndim == 2:  # soil parameter: same value in every layer
                    assert p.shape == (4, NCELL)
                    np.testing.assert_allclose(p, np.broadcast_to(v, p.shape), rtol=1e-6)
                else:
                    np.testing.assert_allclose(p, v, rtol=1e-6)
            else:
                np.testing.assert_allclose(p, np.asarray(d[s.key]) * v, rtol=1e-5)
        init = np.asarray(extra["init_sm_frac"])
        assert init.shape == (4, NCELL) and init.min() >= 0.1 - 1e-6 and init.max() <= 1.0 + 1e-6
        a, b = np.asarray(extra["a"]), np.asarray(extra["b"])
        assert a.min() >= 0.5 - 1e-6 and a.max() <= 1.5 + 1e-6 and b.min() >= -0.15 - 1e-6 and b.max() <= 0.15 + 1e-6


def test_log_mapping_is_uniform_in_log_space():
    s = ParamSpec("DKSAT", 5e-7, 3e-5, log=True)
    lay = OutputLayout([s], 4, start_at_default=False, derived=False)
    raw = jnp.zeros((3, 1))
    _, extra = lay.to_physical(raw, _defaults_n(3))
    np.testing.assert_allclose(np.asarray(extra["values"]["DKSAT"]), np.sqrt(5e-7 * 3e-5), rtol=1e-5)


def _defaults_n(n):
    return {k: jnp.asarray(v, jnp.float32) for k, v in S.default_params(n).items()}


def test_start_at_default_reproduces_table_values_at_zero_raw():
    lay = OutputLayout(list(DEFAULT_SPECS), 4, start_at_default=True, derived=False)
    d = _defaults()
    params, _ = lay.to_physical(jnp.zeros((NCELL, lay.n_out)), d)
    for s in DEFAULT_SPECS:
        np.testing.assert_allclose(np.asarray(params[s.key]), np.asarray(d[s.key]), rtol=2e-3, err_msg=s.name)


def test_derived_parameters_recomputed_by_default_and_not_when_off():
    specs = [ParamSpec("BEXP", 3, 11), ParamSpec("SMCMAX", 0.3, 0.55)]
    d = _defaults()
    raw = jnp.asarray(np.random.default_rng(1).normal(size=(NCELL, 2)), jnp.float32)
    on, _ = OutputLayout(specs, 4).to_physical(raw, d)
    ref = derive_soil_params(on["BEXP"], on["SMCMAX"], on["DKSAT"], on["PSISAT"])
    for k in ("DWSAT", "SMCWLT", "SMCDRY", "SMCREF"):
        np.testing.assert_allclose(np.asarray(on[k]), np.asarray(ref[k]), rtol=1e-5)
    # the local fallback equals the parameters-layer identities
    loc = _derive(on["BEXP"], on["SMCMAX"], on["DKSAT"], on["PSISAT"])
    for k in ref:
        np.testing.assert_allclose(np.asarray(loc[k]), np.asarray(ref[k]), rtol=1e-5)
    assert np.all(np.asarray(on["SMCWLT"]) < np.asarray(on["SMCREF"]))
    assert np.all(np.asarray(on["SMCREF"]) < np.asarray(on["SMCMAX"]))
    off, _ = OutputLayout(specs, 4, derived=False).to_physical(raw, d)
    np.testing.assert_array_equal(np.asarray(off["SMCREF"]), np.asarray(d["SMCREF"]))


def test_ab_switch_changes_number_of_outputs():
    base = OutputLayout(list(DEFAULT_SPECS), 4)
    ab = OutputLayout(list(DEFAULT_SPECS), 4, ab_factors=True)
    free = OutputLayout(list(DEFAULT_SPECS), 4, ab_factors=True, ab_mode="free")
    init = OutputLayout(list(DEFAULT_SPECS), 4, learn_initial_sm=True)
    assert base.n_out == 11 and ab.n_out == 13 and free.n_out == 11 and init.n_out == 15
    net = make_network("gA", 3, ab.n_out, hidden=[8], key=jax.random.PRNGKey(0))
    assert net(jnp.ones((5, 3))).shape == (5, 13)


def test_networks_shapes_and_gradients():
    key = jax.random.PRNGKey(0)
    ga = GA(4, 7, (16, 16), key=key)
    out = ga(jnp.ones((6, 4)))
    assert out.shape == (6, 7) and np.all(np.abs(np.asarray(out)) < 1.0)  # small last layer
    for pool in ("last", "mean"):
        gz = GZ(4, 3, 7, hidden=8, pool=pool, key=key)
        seq = jnp.asarray(np.random.default_rng(0).normal(size=(20, 6, 3)), jnp.float32)
        o = gz(jnp.ones((6, 4)), seq)
        assert o.shape == (6, 7)
        import equinox as eqx
        g = eqx.filter_grad(lambda m: jnp.sum(m(jnp.ones((6, 4)), seq) ** 2))(gz)
        assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree_util.tree_leaves(g))
    with pytest.raises(ValueError, match="gA' or 'gZ"):
        make_network("gX", 1, 1, key=key)


def test_unknown_target_raises_clearly():
    lay = OutputLayout([ParamSpec("FOO", 0, 1)], 4)
    with pytest.raises(KeyError, match="FOO"):
        lay.to_physical(jnp.zeros((NCELL, 1)), _defaults())
