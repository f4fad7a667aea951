"""Tests for diffland.physics.atmos (Noah-MP ProcessAtmosForcing)."""
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffland.physics.atmos import frozen_precip_fraction, process_forcing
from diffland.physics.constants import RAIR, TFRZ
from diffland.physics.options import Options

pytestmark = pytest.mark.usefixtures("x64_module")  # float64 for this module only

REF = Path(__file__).resolve().parents[2] / "shared" / "data"
CSV = REF / "noahmp_reference" / "bondville_default.csv.gz"
OPT = Options()


def _forcing(T, P=1.0e-3, U=3.0, V=0.0, dtype=jnp.float64):
    a = lambda x: jnp.asarray(np.broadcast_to(x, np.shape(T)), dtype=dtype)  # noqa: E731
    return dict(T2D=a(T), Q2D=a(0.004), U2D=a(U), V2D=a(V), PSFC=a(98000.0), LWDOWN=a(300.0),
                SWDOWN=a(500.0), RAINRATE=a(P))


def test_jordan_partition_hand_values():
    T = jnp.array([TFRZ + 3.0, TFRZ + 2.5, TFRZ + 2.2, TFRZ + 1.0, TFRZ + 0.5, TFRZ - 5.0])
    f = np.asarray(frozen_precip_fraction(T, 1))
    expect = [0.0, 0.6, 0.6, 1.0 - (-54.632 + 0.2 * (TFRZ + 1.0)), 1.0, 1.0]
    np.testing.assert_allclose(f, expect, rtol=0, atol=1e-12)
    assert abs(expect[3] - 0.8) < 1e-9


def test_process_forcing_hand_values():
    T = np.array([TFRZ - 10.0, TFRZ, TFRZ + 1.0, TFRZ + 10.0])
    out = process_forcing(**_forcing(T, U=np.array([0.2, 0.0, 3.0, 4.0]), V=np.array([0.1, 0.0, 4.0, 3.0])),
                          options=OPT, params={"SNOWDEN_MAX": jnp.full(4, 120.0)})
    np.testing.assert_allclose(out["UR"], [1.0, 1.0, 5.0, 5.0])
    np.testing.assert_allclose(out["FP"], 1.0 / 1.9)
    np.testing.assert_allclose(out["QPRECC"], 1e-4)
    np.testing.assert_allclose(out["QPRECL"], 9e-4)
    e = 0.004 * 98000.0 / (0.622 + 0.378 * 0.004)
    np.testing.assert_allclose(out["EAIR"], e)
    np.testing.assert_allclose(out["RHOAIR"], (98000.0 - 0.378 * e) / (RAIR * T))
    bd = np.minimum(120.0, 67.92 + 51.25 * np.exp((T - TFRZ) / 2.59))
    np.testing.assert_allclose(out["BDFALL"], bd)
    assert abs(float(out["BDFALL"][1]) - 119.17) < 1e-9
    np.testing.assert_allclose(out["RAIN"] + out["SNOW"], 1e-3)
    np.testing.assert_allclose(out["SNOW"], 1e-3 * np.array([1.0, 1.0, 0.8, 0.0]), atol=1e-12)
    dry = process_forcing(**_forcing(T, P=0.0), options=OPT, params={"SNOWDEN_MAX": 120.0})
    np.testing.assert_allclose(dry["FP"], 0.0)
    np.testing.assert_allclose(dry["SOLAD"][0] + dry["SOLAD"][1] + dry["SOLAI"].sum(0), 500.0)


def test_gradients_finite_and_float32():
    def f(T, U):
        o = process_forcing(T2D=T, Q2D=jnp.full(2, 0.004), U2D=U, V2D=jnp.zeros(2), PSFC=jnp.full(2, 98000.0),
                            LWDOWN=jnp.full(2, 300.0), SWDOWN=jnp.full(2, 0.0), RAINRATE=jnp.array([0.0, 1e-3]),
                            options=OPT, params={"SNOWDEN_MAX": 120.0})
        return jnp.sum(o["SNOW"] + o["BDFALL"] + o["UR"] + o["RHOAIR"] + o["FP"])
    g = jax.grad(f, argnums=(0, 1))(jnp.array([TFRZ + 1.0, TFRZ - 2.0]), jnp.array([0.0, 3.0]))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in g)
    o32 = process_forcing(**_forcing(np.array([270.0, 280.0]), dtype=jnp.float32), options=OPT,
                          params={"SNOWDEN_MAX": jnp.float32(120.0)})
    assert o32["RAIN"].dtype == jnp.float32 and o32["EAIR"].dtype == jnp.float32


def test_against_reference_partition():
    if not CSV.exists():
        pytest.skip("reference data absent")
    import pandas as pd
    d = pd.read_csv(CSV).iloc[1:]
    out = process_forcing(T2D=jnp.asarray(d.FORCTLSM.values), Q2D=jnp.asarray(d.FORCQLSM.values),
                          U2D=jnp.asarray(d.in_U2D.values), V2D=jnp.asarray(d.in_V2D.values),
                          PSFC=jnp.asarray(d.FORCPLSM.values), LWDOWN=jnp.asarray(d.LWFORC.values),
                          SWDOWN=jnp.asarray(d.SWFORC.values), RAINRATE=jnp.asarray(d.PRECIP_mm_s.values),
                          options=OPT, params={"SNOWDEN_MAX": 120.0})
    # RAINLSM / SNOWLSM are Noah-MP's rain/snow at the reference height (float32 output)
    assert np.abs(np.asarray(out["RAIN"]) - d.RAINLSM.values).max() < 1e-8
    assert np.abs(np.asarray(out["SNOW"]) - d.SNOWLSM.values).max() < 1e-8
    tot_ref = d.SNOWLSM.values.sum() * 1800.0
    assert abs(float(out["SNOW"].sum()) * 1800.0 - tot_ref) < 1e-3  # 55.89 mm of snowfall
    np.testing.assert_allclose(out["UR"], np.maximum(d.FORCWLSM.values, 1.0), rtol=1e-6)
