"""Cell-axis sharding over two CPU devices gives the same model output as one device, under plain jit
(GSPMD) and under ``map_cells`` (each device runs its own cells), and ``map_cells`` with the loss outside
(the trainer's sharded step) the same value and gradient.

Runs in a subprocess because the number of CPU devices is fixed when JAX starts
(``XLA_FLAGS=--xla_force_host_platform_device_count=2``).
"""
import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json, jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    from diffland.bench import synthetic_forcing
    from diffland.parallel import cell_mesh, shard_cells
    from diffland.parameters import default_params_for
    from diffland.physics import model
    from diffland.physics.options import Options
    from diffland.simulate import time_inputs
    nc, nt = 4, 48
    GK = ("BEXP", "SMCMAX", "DKSAT", "VCMX25")
    opts = Options()
    t_, forc, lat, lon = synthetic_forcing(nc, nt, seed=1)
    tin = time_inputs(t_, lat, lon)
    f = {k: np.asarray(v) for k, v in forc.items()}
    f["COSZ"] = np.asarray(tin["COSZ"])
    p = {k: np.asarray(v) for k, v in default_params_for(nc, dtype=np.float64).items()}
    init = {k: np.asarray(v, np.float64) for k, v in model.default_initial(nc).items()}
    extra = {"JULIAN": jnp.asarray(tin["JULIAN"]), "YEARLEN": jnp.asarray(tin["YEARLEN"])}
    def loss(p, f, init, lat):
        s0 = model.init_state(init, p, opts)
        _, out = model.run(s0, {**f, **extra}, p, opts, lat, True, outputs=("SMC",))
        return jnp.mean(out["SMC"][:, 0, :]), out["SMC"][:, 0, :]
    vg = jax.jit(jax.value_and_grad(loss, has_aux=True))
    (l1, sm1), g1 = vg(p, f, init, np.asarray(lat))
    mesh = cell_mesh()
    ps, fs, inits, lats = shard_cells((p, f, init, np.asarray(lat)), mesh, nc)
    from diffland.parallel import map_cells
    def top(p, f, init, lat):
        s0 = model.init_state(init, p, opts)
        _, out = model.run(s0, {**f, **extra}, p, opts, lat, False, outputs=("SMC",))
        return out["SMC"][:, 0, :]
    # plain jit of sharded inputs (GSPMD), forward
    sm2 = jax.jit(top)(ps, fs, inits, lats)
    # map_cells: each device runs its own cells (shard_map), forward
    sm3 = jax.jit(map_cells(top, mesh, nc))(ps, fs, inits, lats)
    # value and gradient with the physics under map_cells and the loss outside, as the trainer runs
    # it with model.shard_cells (for_gradient options, forcing as a time-major argument)
    gopts = opts.for_gradient()
    def top_g(s0, fc, p, lat):
        _, out = model.run(s0, fc, p, gopts, lat, True, outputs=("SMC",))
        return out["SMC"][:, 0, :]
    def loss_map(p, f, init, lat):
        s0 = model.init_state(init, p, gopts)
        sm = map_cells(top_g, mesh, nc, per_step=(1,))(s0, {**f, **extra}, p, lat)
        return jnp.mean(sm), sm
    (l4, sm4), g4 = jax.jit(jax.value_and_grad(loss_map, has_aux=True))(ps, fs, inits, lats)
    # a per-step array as long as the cell axis, in a time-major argument, is replicated
    w = jnp.arange(1.0, nc + 1.0)
    xw = jax.jit(map_cells(lambda x, fc: x * fc["w"][:, None], mesh, nc, per_step=(1,)))(
        jnp.ones((nc, nc)), {"w": w})
    print(json.dumps({"devices": len(jax.devices()), "sharded": str(ps["BEXP"].sharding),
                      "map_sharding": str(sm3.sharding),
                      "dsm_map": float(np.max(np.abs(np.asarray(sm1) - np.asarray(sm3)))),
                      "gspmd_sharding": str(sm2.sharding),
                      "dsm": float(np.max(np.abs(np.asarray(sm1) - np.asarray(sm2)))),
                      "dloss_map": float(abs(l1 - l4)),
                      "dsm_map_grad": float(np.max(np.abs(np.asarray(sm1) - np.asarray(sm4)))),
                      "gmax": {k: float(np.max(np.abs(np.asarray(g1[k])))) for k in GK},
                      "dgrad_map": {k: float(np.max(np.abs(np.asarray(g1[k]) - np.asarray(g4[k])))) for k in GK},
                      "xw_ok": bool(np.array_equal(np.asarray(xw), np.tile(np.asarray(w)[:, None], (1, nc))))}))
""")


def test_sharded_equals_single_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["devices"] == 2 and "cells" in res["sharded"]
    assert "cells" in res["gspmd_sharding"] and res["dsm"] < 1e-12
    assert "cells" in res["map_sharding"] and res["dsm_map"] < 1e-12
    # physics under map_cells, loss outside (the trainer's sharded step): same value and gradient
    assert res["dloss_map"] < 1e-12 and res["dsm_map_grad"] < 1e-12
    for k, gmax in res["gmax"].items():
        assert gmax > 0 and res["dgrad_map"][k] <= 1e-10 * gmax, (k, res)
    assert res["xw_ok"]


def test_map_cells_values_and_output_check():
    """map_cells on a one-device mesh: per-cell outputs come back whole; an output without the
    cell axis last is refused with a message naming the shape."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import pytest

    from diffland.parallel import cell_mesh, map_cells

    mesh = cell_mesh(jax.devices()[:1])
    x = jnp.arange(12.0).reshape(3, 4)  # (time, cells)
    w = jnp.array([1.0, 2.0, 3.0])  # per step: replicated (3 != 4 cells)
    out = jax.jit(map_cells(lambda x, w: jnp.cumsum(x * w[:, None], 0), mesh, 4))(x, w)
    np.testing.assert_array_equal(np.asarray(out), np.cumsum(np.asarray(x) * np.asarray(w)[:, None], 0))
    with pytest.raises(ValueError, match=r"cell axis \(4\) last; got an output of shape \(\)"):
        map_cells(lambda x: x.sum(), mesh, 4)(x)
