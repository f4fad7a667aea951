"""Cell-axis sharding over two CPU devices gives the same model output and gradient as one device.

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
    (l2, sm2), g2 = vg(ps, fs, inits, lats)
    print(json.dumps({"devices": len(jax.devices()), "sharded": str(ps["BEXP"].sharding),
                      "dloss": float(abs(l1 - l2)), "dsm": float(np.max(np.abs(np.asarray(sm1) - np.asarray(sm2)))),
                      "dgrad": float(np.max(np.abs(np.asarray(g1["BEXP"]) - np.asarray(g2["BEXP"])))),
                      "gmax": float(np.max(np.abs(np.asarray(g1["BEXP"]))))}))
""")


def test_sharded_equals_single_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["devices"] == 2 and "cells" in res["sharded"]
    assert res["dloss"] < 1e-12 and res["dsm"] < 1e-12
    assert res["gmax"] > 0 and res["dgrad"] <= 1e-10 * res["gmax"]
