"""The time loop: nested checkpointing and window continuation give the same answers."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffland.bench import synthetic_forcing
from diffland.parameters import default_params_for
from diffland.physics import model
from diffland.physics.options import Options
from diffland.simulate import precision_mode, time_inputs

NC, NT = 3, 100


@pytest.fixture(scope="module")
def case():
    with precision_mode("float64"):
        t_, forc, lat, lon = synthetic_forcing(NC, NT, seed=3)
        tin = time_inputs(t_, lat, lon)
        f = {k: jnp.asarray(v) for k, v in forc.items()}
        f.update(COSZ=jnp.asarray(tin["COSZ"]), JULIAN=jnp.asarray(tin["JULIAN"]), YEARLEN=jnp.asarray(tin["YEARLEN"]))
        p = {k: jnp.asarray(v) for k, v in default_params_for(NC, dtype=np.float64).items()}
        init = {k: jnp.asarray(v, jnp.float64) for k, v in model.default_initial(NC).items()}
        return f, p, init, jnp.asarray(lat)


@pytest.fixture(scope="module")
def value_and_grad(case):
    """``get(options_name, chunk)`` -> ((loss, outputs), gradients), float64, each program compiled once.

    Two compiled programs: ``default`` (Options(): lax.cond around idle iterations, one state
    per step) and ``for_gradient`` (Options().for_gradient(): masked iterations) with nested
    checkpointing. Keeping the module to two float64 gradient compiles keeps the suite short.
    """
    f, p, init, lat = case
    cache = {}
    named = {"default": Options(), "for_gradient": Options().for_gradient()}

    def get(name, chunk=None):
        if (name, chunk) not in cache:
            opts = named[name]
            with precision_mode("float64"):
                def loss(p):
                    s0 = model.init_state(init, p, opts)
                    _, out = model.run(s0, f, p, opts, lat, True, outputs=("SMC", "LH"), chunk=chunk)
                    return out["SMC"][:, 0, :].mean() + 1e-4 * out["LH"].mean(), out

                cache[name, chunk] = jax.jit(jax.value_and_grad(loss, has_aux=True))(p)
        return cache[name, chunk]

    return get


def test_nested_checkpointing_and_masked_iterations_same_value_and_gradient(value_and_grad):
    """Nested checkpointing (chunk 12: 8 chunks + a padded remainder of 4) and skip_idle
    (lax.cond around masked iterations) change the cost only, not the numbers."""
    assert Options().skip_idle and not Options().for_gradient().skip_idle
    (v1, o1), g1 = value_and_grad("default")
    (v2, o2), g2 = value_and_grad("for_gradient", 12)
    # the two programs are compiled differently, so float64 round-off (1e-13 relative) differs
    assert float(v2) == pytest.approx(float(v1), rel=1e-11)
    for k in ("SMC", "LH"):
        np.testing.assert_allclose(np.asarray(o2[k]), np.asarray(o1[k]), rtol=1e-11, atol=1e-11)
    for k in ("BEXP", "SMCMAX", "DKSAT", "REFKDT", "VCMX25", "HVT"):
        assert np.isfinite(np.asarray(g1[k])).all()
        np.testing.assert_allclose(np.asarray(g2[k]), np.asarray(g1[k]), rtol=1e-9, atol=1e-18)
    assert np.abs(np.asarray(g1["BEXP"])).max() > 0
    assert np.abs(np.asarray(g1["VCMX25"])).max() > 0


def test_two_windows_with_carried_state_equal_one_run(case):
    f, p, init, lat = case
    opts = Options()
    with precision_mode("float64"):
        s0 = model.init_state(init, p, opts)
        _, whole = model.run(s0, f, p, opts, lat, False)
        half = NT // 2
        fa = {k: v[:half] for k, v in f.items()}
        fb = {k: v[half:] for k, v in f.items()}
        sa, a = model.run(s0, fa, p, opts, lat, False)
        _, b = model.run(sa, fb, p, opts, lat, False, first_step=False)
        for k in ("SMC", "LH", "HFX", "STC"):
            np.testing.assert_array_equal(np.concatenate([a[k], b[k]]), np.asarray(whole[k]))
