"""Tests of diffland.physics.soil_water (Noah-MP SoilWaterMain, runoff options 3 and 1)."""
from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffland.physics.constants import TFRZ
from diffland.physics.options import Options
from diffland.physics.soil_water import soil_water, thomas_solve
from diffland.physics.transpiration_factor import soil_moisture_factor

REF = Path(__file__).resolve().parents[2] / "shared" / "data"
REFDIR = REF / "noahmp_reference"
DZ = np.array([0.1, 0.3, 0.6, 1.0])


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def bondville_params(nc, dtype=jnp.float64):
    one = lambda v: jnp.full((nc,), v, dtype=dtype)  # noqa: E731
    lay = lambda v: jnp.full((4, nc), v, dtype=dtype)  # noqa: E731
    return dict(BEXP=lay(8.72), SMCMAX=lay(0.464), SMCREF=lay(0.387), SMCWLT=lay(0.12), PSISAT=lay(0.617),
                DKSAT=lay(2.03e-6), DWSAT=lay(2.35e-5), SLOPE=one(0.1), REFKDT=one(3.0), REFDK=one(2.0e-6),
                FRZK=one(0.15), NROOT=one(3.0), FSATMX=one(0.38), TIMEAN=one(10.5), ROUS=one(0.2), CMIC=one(0.8))


# ----------------------------------------------------------------------------------------- solver pieces
def test_thomas_matches_dense_solve():
    rng = np.random.default_rng(0)
    n, c = 4, 5
    a = rng.uniform(-1, 0, (n, c)); cc = rng.uniform(-1, 0, (n, c))
    a[0] = 0.0; cc[-1] = 0.0
    b = 1.0 - a - cc + rng.uniform(0, 1, (n, c))
    d = rng.normal(size=(n, c))
    x = np.stack(thomas_solve([jnp.asarray(v) for v in a], [jnp.asarray(v) for v in b],
                              [jnp.asarray(v) for v in cc], [jnp.asarray(v) for v in d]))
    for j in range(c):
        m = np.diag(b[:, j]) + np.diag(a[1:, j], -1) + np.diag(cc[:-1, j], 1)
        np.testing.assert_allclose(x[:, j], np.linalg.solve(m, d[:, j]), rtol=1e-12, atol=1e-14)


def _cases():
    """A batch of states/forcings hitting the branches: dry, wet, heavy rain (Schaake and
    saturation excess), frozen top layer, near-saturation column, very dry column (refill),
    liquid above the effective porosity (initial excess), and a dry column under a cloudburst
    with a large REFKDT (infiltration > dz1*SMCMAX1: 6 sub-steps)."""
    sh2o = np.array([
        [0.25, 0.45, 0.30, 0.20, 0.46, 0.0005, 0.40, 0.15],
        [0.28, 0.46, 0.32, 0.25, 0.46, 0.0004, 0.45, 0.15],
        [0.30, 0.46, 0.33, 0.30, 0.46, 0.0003, 0.46, 0.15],
        [0.32, 0.46, 0.35, 0.35, 0.46, 0.0002, 0.464, 0.15],
    ])
    sice = np.zeros_like(sh2o)
    sice[0, 3] = 0.20  # frozen top layer
    sice[1, 3] = 0.05
    sice[0, 6] = 0.10
    qinsur = np.array([0.0, 2e-5, 3e-5, 1e-5, 5e-5, 0.0, 4e-5, 1e-4])  # m/s (up to 360 mm/h)
    qseva = np.array([2e-8, 1e-8, 0.0, 0.0, 0.0, 5e-8, 0.0, 0.0])
    etran = np.array([5e-5, 1e-5, 0.0, 0.0, 0.0, 1e-4, 0.0, 0.0]) * 1e-3  # m/s total
    w = np.array([0.1, 0.3, 0.6, 0.0])[:, None]
    etrani = etran[None, :] * w
    return sh2o, sice, qinsur, qseva, etrani


@pytest.mark.parametrize("run", [3, 1])
def test_water_balance_closes(run):
    sh2o, sice, qinsur, qseva, etrani = _cases()
    nc = sh2o.shape[1]
    opt = Options(runsrf=run, runsub=run)
    p = bondville_params(nc)
    p["REFKDT"] = p["REFKDT"].at[7].set(10.0)
    zwt = jnp.asarray(np.array([2.5, 1.6, 3.0, 2.5, 1.55, 2.5, 1.8, 4.0]))
    wa = jnp.asarray(np.array([4900.0, 4990.0, 4800.0, 4900.0, 4999.0, 4900.0, 4950.0, 4600.0]))
    wt = wa + jnp.asarray(np.array([0.0, 30.0, 0.0, 0.0, 50.0, 0.0, 20.0, 0.0]))
    smc0 = jnp.asarray(sh2o + sice)
    dt = 1800.0
    o = jax.jit(lambda: soil_water(SH2O=jnp.asarray(sh2o), SMC=smc0, QINSUR=jnp.asarray(qinsur),
                                   QSEVA=jnp.asarray(qseva), ETRANI=jnp.asarray(etrani), params=p,
                                   options=opt, dt=dt, ZWT=zwt, WA=wa, WT=wt))()
    ds = np.sum((np.asarray(o["SMC"]) - np.asarray(smc0)) * DZ[:, None] * 1000.0, axis=0)
    dwa = np.asarray(o["WA"] - wa) if run == 1 else 0.0
    rhs = (qinsur - qseva - etrani.sum(0)) * 1000.0 * dt - (np.asarray(o["RUNSRF"]) + np.asarray(o["RUNSUB"])) * dt
    np.testing.assert_allclose(ds + dwa, rhs, rtol=0, atol=1e-9)
    # ice untouched, liquid within [0, effective porosity]
    np.testing.assert_allclose(np.asarray(o["SICE"]), sice, rtol=0, atol=1e-15)
    assert np.all(np.asarray(o["SH2O"]) >= 0.0)
    assert np.all(np.asarray(o["SH2O"]) <= 0.464 - sice + 1e-12)
    rs, inf = np.asarray(o["RUNSRF"]), np.asarray(o["PDDUM"])
    assert rs[0] == 0.0 and rs[5] == 0.0  # no input -> no surface runoff
    assert rs[4] > 0.0 and rs[2] > 0.0  # heavy rain on a wet column -> surface runoff
    assert rs[6] + inf[6] > qinsur[6] * 1000.0 + 1.0e-3  # saturation excess (3.6 mm) is surface runoff
    assert np.asarray(o["NITER"])[7] == 6.0 and np.asarray(o["NITER"])[0] == 3.0
    # very dry column: layers refilled to 0.01 mm from the layer below
    np.testing.assert_allclose(np.asarray(o["SH2O"])[0, 5] * 100.0, 0.01, rtol=1e-9)
    if run == 1:
        assert np.all(np.asarray(o["ZWT"]) >= 1.5)
        np.testing.assert_allclose(np.asarray(o["FSAT"]), 0.38 * np.exp(-0.5 * 8.72 / 3 * np.asarray(zwt)))


def test_schaake_hand_value():
    """Single sub-step quantity check: infiltration capacity of the Schaake scheme by hand."""
    from diffland.physics.runoff import infiltration_schaake
    p = bondville_params(1)
    sh2o = jnp.asarray([[0.30], [0.32], [0.33], [0.35]])
    sice = jnp.zeros((4, 1))
    q = jnp.asarray([2e-5])
    dtx = 600.0
    o = infiltration_schaake(QINSUR=q, SH2O=sh2o, SICE=sice, params=p, soil_dz=(0.1, 0.3, 0.6, 1.0), dtx=dtx)
    cap = 0.464 - 0.12
    dmax = sum(dz * cap * (1 - (s - 0.12) / cap) for dz, s in zip(DZ, [0.30, 0.32, 0.33, 0.35]))
    dd = dmax * (1 - np.exp(-3.0 * 2.03e-6 / 2e-6 * dtx / 86400))
    px = 2e-5 * dtx
    imax = px * dd / (px + dd) / dtx
    k1 = 2.03e-6 * (0.30 / 0.464) ** (2 * 8.72 + 3)
    imax = min(max(imax, k1), 2e-5)
    np.testing.assert_allclose(float(o["RUNSRF"][0]), 2e-5 - imax, rtol=1e-12)
    np.testing.assert_allclose(float(o["PDDUM"][0]), imax, rtol=1e-12)


def test_runs_in_float32():
    with jax.enable_x64(False):
        sh2o, sice, qinsur, qseva, etrani = _cases()
        f32 = lambda x: jnp.asarray(x, dtype=jnp.float32)  # noqa: E731
        p = bondville_params(sh2o.shape[1], dtype=jnp.float32)
        for run in (3, 1):
            nc = sh2o.shape[1]
            o = jax.jit(lambda: soil_water(SH2O=f32(sh2o), SMC=f32(sh2o + sice), QINSUR=f32(qinsur), QSEVA=f32(qseva),
                           ETRANI=f32(etrani), params=p, options=Options(runsrf=run, runsub=run),
                           ZWT=f32(np.full(nc, 2.5)), WA=f32(np.full(nc, 4900.0)), WT=f32(np.full(nc, 4900.0))))()
            assert o["SH2O"].dtype == jnp.float32
            assert np.all(np.isfinite(np.asarray(o["SH2O"])))
            assert np.all(np.isfinite(np.asarray(o["RUNSRF"])))


# ----------------------------------------------------------------------------------------- gradients
def _scan_objective(run, nsteps=48):
    """Objective after a 48-step scan containing a heavy-rain event; returns (params, objective)."""
    opt = Options(runsrf=run, runsub=run)
    nc = 2
    t = np.arange(nsteps)
    rain = np.where((t >= 5) & (t < 9), 8e-6, 0.0)  # m/s, 28.8 mm/h for 2 h -> Schaake binding
    rain = jnp.asarray(np.stack([rain, 0.5 * rain], 1))
    et = jnp.full((nsteps, nc), 3e-5)
    qseva = jnp.full((nsteps, nc), 1e-8)
    sh2o0 = jnp.asarray(np.array([[0.30, 0.33], [0.32, 0.34], [0.33, 0.35], [0.35, 0.36]]))
    sice0 = jnp.zeros((4, nc)).at[0, 1].set(0.05)
    one = jnp.ones((nc,))
    dzc = jnp.asarray(opt.soil_dz)[:, None]

    def objective(pp):
        def body(c, x):
            sh2o, zwt, wa, wt = c
            q, es, e = x
            bt = soil_moisture_factor(SH2O=sh2o, params=pp, options=opt)
            o = soil_water(SH2O=sh2o, SMC=sh2o + sice0, QINSUR=q, QSEVA=es, ETRANI=e * bt["BTRANI"] * 1e-3,
                           params=pp, options=opt, ZWT=zwt, WA=wa, WT=wt)
            return (o["SH2O"], o["ZWT"], o["WA"], o["WT"]), o["RUNSRF"]
        (sh2o, *_), rs = jax.lax.scan(body, (sh2o0, 2.5 * one, 4900.0 * one, 4900.0 * one), (rain, qseva, et))
        # layer-1 mean plus column water, so that every parameter has a visible effect
        return jnp.mean(sh2o[0]) + jnp.mean(jnp.sum(sh2o * dzc, 0)), rs
    return bondville_params(nc), objective


@pytest.mark.parametrize("run,keys", [(3, ["BEXP", "SMCMAX", "DKSAT", "REFKDT", "SLOPE", "DWSAT"]),
                                      (1, ["BEXP", "SMCMAX", "DKSAT", "PSISAT"])])
def test_gradients_match_finite_differences(run, keys):
    p, objective = _scan_objective(run)
    # one compiled function (value and gradient) also serves the finite differences; cheap XLA
    # backend passes keep the test fast (the numerics are unaffected at the tolerance used)
    vg = jax.jit(jax.value_and_grad(objective, has_aux=True)).lower(p).compile(
        compiler_options={"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True})
    f = lambda pp: vg(pp)[0][0]  # noqa: E731
    (_, runoff), g = vg(p)
    assert float(jnp.sum(runoff[:, 0])) > 0.0  # the rain event makes surface runoff
    for k in keys:
        assert np.all(np.isfinite(np.asarray(g[k])))
        h = 1e-6 * float(jnp.mean(jnp.abs(p[k])))
        fd = (f({**p, k: p[k] + h}) - f({**p, k: p[k] - h})) / (2 * h)
        ad = float(jnp.sum(g[k]))
        assert abs(fd) > 0.0, k
        assert abs(ad - float(fd)) <= 1e-3 * abs(float(fd)), (k, ad, float(fd))


# ----------------------------------------------------------------------------------------- reference run
def _reference_inputs(d):
    """Per-step drivers from the reference CSV (SOIL_UPDATE_STEPS = 1, so ACC_* are per-step values)."""
    m = d[[f"SOIL_M{i}" for i in range(1, 5)]].to_numpy()
    w = d[[f"SOIL_W{i}" for i in range(1, 5)]].to_numpy()
    cur = d.iloc[1:]
    qinsur = cur["ACC_QINSUR"].to_numpy()  # m/s
    qseva = cur["ACC_QSEVA"].to_numpy()  # m/s (already 0 on frozen ground)
    etran = cur["ETRAN"].to_numpy()  # mm/s
    sice = (m - w)[1:]  # ice of the step (the soil-water solver keeps it)
    # frozen ground (TG <= TFRZ): WaterMain puts the soil part of dew/evaporation on the layer-1 ice
    edir = cur["EDIR"].to_numpy()
    snow_prev = d["SNEQV"].to_numpy()[:-1]
    vap, cond = np.maximum(edir, 0.0), np.maximum(-edir, 0.0)
    sub_snow = np.where(snow_prev > 0, np.minimum(vap, snow_prev / 1800.0), 0.0)
    frost_snow = np.where(snow_prev > 0, cond, 0.0)
    e_ice = ((cond - frost_snow) - (vap - sub_snow)) * 1800.0 / (0.1 * 1000.0)
    e_ice = np.where(cur["TG"].to_numpy() <= TFRZ, e_ice, 0.0)
    return m, w, qinsur, qseva, etran, sice, e_ice


def _run_reference(name, run):
    pd = pytest.importorskip("pandas")
    f = REFDIR / f"bondville_{name}.csv.gz"
    if not f.exists():
        pytest.skip("reference data absent")
    d = pd.read_csv(f)
    m, w, qinsur, qseva, etran, sice, e_ice = _reference_inputs(d)
    opt = Options(runsrf=run, runsub=run)
    p = bondville_params(1)

    def body(c, x):
        sh2o_prev, smc_prev, zwt, wa, wt = c
        q, es, et, si, ei = x
        bt = soil_moisture_factor(SH2O=sh2o_prev, params=p, options=opt)
        smc = smc_prev.at[0].add(ei)
        si = si[:, None]
        sh2o = jnp.maximum(smc - si, 0.0)
        o = soil_water(SH2O=sh2o, SMC=smc, SICE=smc - sh2o, QINSUR=q[None], QSEVA=es[None],
                       ETRANI=et * bt["BTRANI"] * 1e-3, params=p, options=opt, ZWT=zwt, WA=wa, WT=wt)
        nz = (o["ZWT"], o["WA"], o["WT"]) if run == 1 else (zwt, wa, wt)
        return (o["SH2O"], o["SMC"], *nz), (o["SMC"][:, 0], o["RUNSRF"][0], o["RUNSUB"][0], nz[0][0], nz[1][0])

    c0 = (jnp.asarray(w[0][:, None]), jnp.asarray(m[0][:, None]), jnp.asarray([d.ZWT[0]], dtype=jnp.float64),
          jnp.asarray([d.WA[0]], dtype=jnp.float64), jnp.asarray([d.WT[0]], dtype=jnp.float64))
    xs = tuple(jnp.asarray(v) for v in (qinsur, qseva, etran, sice, e_ice))
    _, (smc, rs, rb, zwt, wa) = jax.jit(lambda c, x: jax.lax.scan(body, c, x))(c0, xs)
    return d, m, np.asarray(smc), np.asarray(rs), np.asarray(rb), np.asarray(zwt), np.asarray(wa)


@pytest.mark.realdata
@pytest.mark.parametrize("name,run", [("default", 3), ("optrun1", 1)])
def test_year_against_reference(name, run):
    """Drive soil_water for the whole Bondville year with the reference's own fluxes and ice."""
    d, m, smc, rs, rb, zwt, wa = _run_reference(name, run)
    rmse = np.sqrt(np.mean((smc - m[1:]) ** 2, axis=0))
    # measured: default 8.4e-5 5.1e-5 6.0e-5 2.8e-5 ; optrun1 3.7e-5 2.8e-5 2.2e-5 1.8e-5
    assert np.all(rmse < 5e-4), rmse
    rs_ref, rb_ref = d["RUNSF"].to_numpy()[1:], d["RUNSB"].to_numpy()[1:]
    tot = lambda x: x.sum() * 1800.0  # noqa: E731
    # measured: default RUNSF 143.29 vs 143.30 mm, RUNSB 18.469 vs 18.479 mm
    assert abs(tot(rs) - tot(rs_ref)) < 0.01 * tot(rs_ref) + 0.05
    assert abs(tot(rb) - tot(rb_ref)) < 0.01 * tot(rb_ref) + 0.05
    assert np.sqrt(np.mean((rs - rs_ref) ** 2)) < 0.05 * rs_ref.std()
    if run == 1:
        assert abs(zwt[-1] - d.ZWT.to_numpy()[-1]) < 0.01
        assert abs(wa[-1] - d.WA.to_numpy()[-1]) < 2.0
