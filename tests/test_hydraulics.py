"""Tests of diffland.physics.hydraulics and diffland.physics.transpiration_factor."""
from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffland.physics.hydraulics import (
    frozen_impermeable_fraction,
    matric_potential,
    soil_diffusivity_conductivity,
)
from diffland.physics.options import Options
from diffland.physics.transpiration_factor import soil_moisture_factor

REF = Path(__file__).resolve().parents[2] / "shared" / "data"
B, SMAX, KS, DS, PS = 8.72, 0.464, 2.03e-6, 2.35e-5, 0.617


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def test_conductivity_diffusivity_hand_values():
    th = jnp.asarray([0.1, 0.3, 0.464, 0.001])
    o = soil_diffusivity_conductivity(SMC=th, BEXP=B, SMCMAX=SMAX, DKSAT=KS, DWSAT=DS, opt_inf=1)
    s = np.maximum(0.01, np.asarray(th) / SMAX)  # last entry hits the 0.01 floor
    np.testing.assert_allclose(np.asarray(o["WCND"]), KS * s ** (2 * B + 3), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(o["WDF"]), DS * s ** (B + 2), rtol=1e-12)
    # frozen: scaled by (1 - FCR)
    fcr = frozen_impermeable_fraction(SICE=jnp.asarray([0.0, 0.2, 0.464]), SMCMAX=SMAX)
    e4 = np.exp(-4.0)
    np.testing.assert_allclose(np.asarray(fcr), [0.0, (np.exp(-4 * (1 - 0.2 / SMAX)) - e4) / (1 - e4), 1.0],
                               rtol=1e-12, atol=1e-15)
    o2 = soil_diffusivity_conductivity(SMC=th[:3], BEXP=B, SMCMAX=SMAX, DKSAT=KS, DWSAT=DS, opt_inf=1, FCR=fcr)
    np.testing.assert_allclose(np.asarray(o2["WCND"]), KS * s[:3] ** (2 * B + 3) * (1 - np.asarray(fcr)),
                               rtol=1e-12)


def test_opt_inf2_ice_blending():
    th = jnp.asarray([0.3])
    sicemax = 0.01
    o = soil_diffusivity_conductivity(SMC=th, BEXP=B, SMCMAX=SMAX, DKSAT=KS, DWSAT=DS, opt_inf=2,
                                      SICEMAX=jnp.asarray(sicemax))
    s = 0.3 / SMAX
    s1 = min(0.05 / SMAX, s)
    w = 1.0 / (1.0 + (500 * sicemax) ** 3)
    np.testing.assert_allclose(float(o["WDF"][0]), w * DS * s ** (B + 2) + (1 - w) * DS * s1 ** (B + 2), rtol=1e-12)
    np.testing.assert_allclose(float(o["WCND"][0]), KS * s ** (2 * B + 3), rtol=1e-12)


def test_matric_potential_and_float32_range():
    psi = matric_potential(SMC=jnp.asarray([0.2, 0.464]), BEXP=B, SMCMAX=SMAX, PSISAT=PS)
    np.testing.assert_allclose(np.asarray(psi), [-PS * (0.2 / SMAX) ** (-B), -PS], rtol=1e-12)
    with jax.enable_x64(False):
        th = jnp.asarray([1e-4, 0.01, 0.2], dtype=jnp.float32)
        o = soil_diffusivity_conductivity(SMC=th, BEXP=jnp.float32(11.55), SMCMAX=jnp.float32(0.468),
                                          DKSAT=jnp.float32(9.7e-7), DWSAT=jnp.float32(1.1e-5))
        p = matric_potential(SMC=th, BEXP=jnp.float32(11.55), SMCMAX=jnp.float32(0.468), PSISAT=jnp.float32(0.468))
        assert o["WCND"].dtype == jnp.float32
        assert np.all(np.isfinite(np.asarray(o["WCND"]))) and np.all(np.isfinite(np.asarray(p)))
        g = jax.grad(lambda b: jnp.sum((soil_diffusivity_conductivity(
            SMC=th, BEXP=b, SMCMAX=jnp.float32(0.468), DKSAT=jnp.float32(9.7e-7),
            DWSAT=jnp.float32(1.1e-5))["WCND"])))(jnp.float32(11.55))
        assert np.isfinite(float(g))


def _params(nc, nroot):
    return dict(SMCWLT=jnp.full((4, nc), 0.12), SMCREF=jnp.full((4, nc), 0.387), SMCMAX=jnp.full((4, nc), 0.464),
                BEXP=jnp.full((4, nc), B), PSISAT=jnp.full((4, nc), PS), PSIWLT=jnp.full((nc,), -150.0),
                NROOT=jnp.asarray(nroot, dtype=jnp.float64))


def test_btran_hand_values_and_root_mask():
    sh2o = jnp.asarray(np.array([[0.20, 0.30, 0.10], [0.30, 0.40, 0.25], [0.35, 0.20, 0.25], [0.30, 0.30, 0.30]]))
    opt = Options()
    o = soil_moisture_factor(SH2O=sh2o, params=_params(3, [3.0, 2.0, 4.0]), options=opt)
    dz = np.array([0.1, 0.3, 0.6, 1.0])
    for j, nroot in enumerate([3, 2, 4]):
        zr = dz[:nroot].sum()
        g = np.clip((np.asarray(sh2o)[:nroot, j] - 0.12) / (0.387 - 0.12), 0, 1)
        v = np.maximum(1e-6, dz[:nroot] / zr * g)
        np.testing.assert_allclose(float(o["BTRAN"][j]), max(1e-6, v.sum()), rtol=1e-12)
        w = np.zeros(4)
        w[:nroot] = v / max(1e-6, v.sum())
        np.testing.assert_allclose(np.asarray(o["BTRANI"][:, j]), w, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.asarray(o["BTRANI"]).sum(0), 1.0, rtol=1e-12)
    # below wilting everywhere: floors at 1e-6 per layer, weights still sum to one
    dry = soil_moisture_factor(SH2O=jnp.full((4, 1), 0.05), params=_params(1, [3.0]), options=opt)
    np.testing.assert_allclose(float(dry["BTRAN"][0]), 3e-6, rtol=1e-12)


@pytest.mark.parametrize("btr", [2, 3])
def test_btran_other_options_finite(btr):
    sh2o = jnp.asarray(np.array([[0.20, 0.05], [0.30, 0.40], [0.35, 0.20], [0.30, 0.30]]))
    o = soil_moisture_factor(SH2O=sh2o, params=_params(2, [3.0, 3.0]), options=Options(btr=btr))
    b = np.asarray(o["BTRAN"])
    assert np.all((b > 0) & (b <= 1.0 + 1e-12))
    np.testing.assert_allclose(np.asarray(o["BTRANI"]).sum(0), 1.0, rtol=1e-12)
    psi = -PS * (0.2 / SMAX) ** (-B)
    g = (1 - psi / -150.0) / (1 + PS / -150.0) if btr == 2 else 1 - np.exp(-5.8 * np.log(-150.0 / psi))
    assert np.isfinite(g)


def test_btran_gradient_in_wilting_range():
    sh2o = jnp.full((4, 1), 0.25)
    f = lambda p: jnp.sum(soil_moisture_factor(SH2O=sh2o, params=p, options=Options())["BTRAN"])  # noqa: E731
    g = jax.grad(f)(_params(1, [3.0]))
    # d BTRAN / d SMCWLT = sum_k dz_k/zr * (sh2o-ref)/(ref-wlt)^2
    expect = (0.25 - 0.387) / (0.387 - 0.12) ** 2
    np.testing.assert_allclose(float(jnp.sum(g["SMCWLT"])), expect, rtol=1e-10)


@pytest.mark.realdata
def test_btran_reference_range():
    """BTRAN from the reference liquid water stays in (0, 1] over the whole year."""
    pd = pytest.importorskip("pandas")
    f = REF / "noahmp_reference" / "bondville_default.csv.gz"
    if not f.exists():
        pytest.skip("reference data absent")
    d = pd.read_csv(f, usecols=[f"SOIL_W{i}" for i in range(1, 5)])
    w = jnp.asarray(d.to_numpy().T)
    nc = w.shape[1]
    o = soil_moisture_factor(SH2O=w, params=_params(nc, np.full(nc, 3.0)), options=Options())
    b = np.asarray(o["BTRAN"])
    assert b.min() > 0.0 and b.max() <= 1.0
    assert np.all(np.asarray(o["BTRANI"])[3] == 0.0)
