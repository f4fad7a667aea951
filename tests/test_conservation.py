"""Per-cell, per-step water balance: P - ET - runoff - dStorage = 0.

Storage: soil (SMC * dz), snow (SNEQV), canopy (CANLIQ + CANICE), aquifer WA (runoff
option 1). Noah-MP zeroes snow <= 1e-6 mm and canopy water <= 1e-6 mm without a flux; the
model reports those amounts (SNDISCARD, CANDISCARD) and the budget counts them.
The case has a 30 mm initial snow pack, frozen soil (January at Bondville) and a
90 mm-per-step downpour that forces surface runoff.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import bondville_params
from diffland.physics import model
from diffland.physics.options import Options
from diffland.simulate import precision_mode, time_inputs

NSTEPS = 900


def _residuals(b, opt, precision):
    with precision_mode(precision) as dtype:
        f = {k: np.asarray(v[:NSTEPS], float).copy() for k, v in b["forcing"].items()}
        f["RAINRATE"][200:210] = 0.05  # 90 mm per 30-min step
        t = b["time"][:NSTEPS]
        tin = time_inputs(t, np.array([b["site"]["lat"]]), np.array([b["site"]["lon"]]))
        F = {k: jnp.asarray(v, dtype) for k, v in f.items()}
        F["COSZ"] = jnp.asarray(tin["COSZ"], dtype)
        F["JULIAN"] = jnp.asarray(tin["JULIAN"], dtype)
        F["YEARLEN"] = jnp.asarray(tin["YEARLEN"], dtype)
        F["FIRST"] = jnp.arange(NSTEPS) == 0
        p = {k: jnp.asarray(v, dtype) for k, v in bondville_params(b["site"], dtype=dtype).items()}
        ini = {k: jnp.asarray(v, dtype) for k, v in b["initial"].items()}
        ini["SNEQV"] = jnp.asarray([30.0], dtype)
        ini["SNOWH"] = jnp.asarray([0.15], dtype)
        s0 = model.init_state(ini, p, opt)
        lat = jnp.asarray([b["site"]["lat"]], dtype)

        @jax.jit
        def go(s0):
            def body(s, ft):
                new, out = model.step(s, ft, p, opt, lat)
                return new, (new, out)
            return jax.lax.scan(body, s0, F)[1]

        S, O = go(s0)
        dz = jnp.asarray(opt.soil_dz, dtype)[None, :, None]

        def storage(S):
            wa = S["WA"] if opt.runsub == 1 else 0.0
            return (S["SMC"] * dz).sum(1) * 1000.0 + S["SNEQV"] + S["CANLIQ"] + S["CANICE"] + wa

        st = storage(S)
        st0 = storage({k: v[None] for k, v in s0.items()})
        d_s = jnp.concatenate([st[:1] - st0, jnp.diff(st, axis=0)])
        dt = opt.dt
        res = (F["RAINRATE"] * dt - (O["ECAN"] + O["ETRAN"] + O["EDIR"]) * dt - (O["RUNSF"] + O["RUNSB"]) * dt
               - d_s - O["SNDISCARD"] - O["CANDISCARD"])
        return np.asarray(res), np.asarray(S["SNEQV"]), np.asarray(S["STC"][:, 0]), np.asarray(O["RUNSF"])


@pytest.mark.realdata
@pytest.mark.parametrize("precision,tol", [("float64", 1e-6), ("float32", 0.1)])
@pytest.mark.parametrize("run_opt", [3, 1])
def test_water_balance_closes_every_step(bondville, precision, tol, run_opt):
    opt = Options(runsrf=run_opt, runsub=run_opt)
    res, swe, t1, runsf = _residuals(bondville, opt, precision)
    # the case really exercises snow, frozen soil and heavy rain
    assert swe.max() > 20.0 and swe.min() < 5.0  # accumulation and melt
    assert t1.min() < 270.0
    assert runsf.max() * 1800 > 10.0
    assert np.isfinite(res).all()
    print(f"\n{precision} opt {run_opt}: max |residual| = {np.abs(res).max():.3g} mm")
    assert np.abs(res).max() < tol
