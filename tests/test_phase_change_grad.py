"""Regression: the gradient through frozen-soil phase change stays bounded just below freezing.

The supercooled-liquid limit has an unbounded slope in temperature as T -> TFRZ; through latent
heat it fed back on temperature and grew the gradient to 1e38 in ten days (NaN in float32) on
snowy CONUS cells. phase_change cuts that temperature path in the backward pass (forward exact).
"""
import jax
import jax.numpy as jnp
import numpy as np

from diffland.parameters import default_params_for
from diffland.physics import phase_change, thermal_properties
from diffland.physics.constants import TFRZ
from diffland.physics.options import Options


def test_phase_change_gradient_bounded_near_freezing():
    opts = Options()
    n = 4
    p = {k: jnp.asarray(v) for k, v in default_params_for(n).items()}
    dtv = np.array([1e-4, 1e-3, 1e-2, 0.5], np.float32)
    stc = jnp.asarray(np.tile(TFRZ - dtv, (4, 1)), jnp.float32)
    smc = jnp.full((4, n), 0.35, jnp.float32)
    sh2o = jnp.full((4, n), 0.15, jnp.float32)
    z = jnp.zeros(n, jnp.float32)
    th = thermal_properties.thermal_properties(SMC=smc, SH2O=sh2o, STC=stc, TSNO=z + TFRZ, SNOWH=z, SNICE=z,
                                               SNLIQ=z, DZSNO=z, ISNOW=z, params=p, options=opts)

    def f(stc):
        pc = phase_change.phase_change(STC=stc, SMC=smc, SH2O=sh2o, TSNO=z + TFRZ, SNICE=z, SNLIQ=z, SNEQV=z,
                                       SNOWH=z, ISNOW=z, FACT=th["FACT"], params=p, options=opts)
        return pc["SH2O"].sum() + pc["STC"].sum()

    g = np.asarray(jax.grad(f)(stc))
    assert np.isfinite(g).all()
    assert np.abs(g).max() < 1e3, np.abs(g).max()
    # the forward still follows Noah-MP: liquid water at the supercooled limit below freezing
    pc = phase_change.phase_change(STC=stc, SMC=smc, SH2O=sh2o, TSNO=z + TFRZ, SNICE=z, SNLIQ=z, SNEQV=z,
                                   SNOWH=z, ISNOW=z, FACT=th["FACT"], params=p, options=opts)
    assert np.all(np.asarray(pc["SH2O"]) <= np.asarray(smc) + 1e-7)
