"""Tests for diffland.physics.phenology (Noah-MP PhenologyMain, table LAI)."""
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffland.physics.options import Options
from diffland.physics.phenology import monthly_interp, phenology
from diffland.physics.solar import julian_day

pytestmark = pytest.mark.usefixtures("x64_module")  # float64 for this module only

REF = Path(__file__).resolve().parents[2] / "shared" / "data"
CSV = REF / "noahmp_reference" / "bondville_default.csv.gz"
TBL = REF / "noahmp_tables" / "v5" / "NoahmpTable.TBL"
OPT = Options()

# MODIS class 12 (croplands), reference README
LAI_12 = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 3.0, 1.5, 0.0, 0.0, 0.0])
SAI_12 = np.array([0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.4, 0.5, 0.4, 0.3, 0.3, 0.3])


def _params(n, dtype=np.float64, **over):
    p = dict(LAIM=np.repeat(LAI_12[:, None], n, 1), SAIM=np.repeat(SAI_12[:, None], n, 1),
             HVT=np.full(n, 2.0), HVB=np.full(n, 0.1), SHDMAX=np.full(n, 0.96))
    p.update(over)
    return {k: jnp.asarray(v, dtype=dtype) for k, v in p.items()}


def _run(julian, snowh, dtype=np.float64, lat=40.0, yearlen=365.0, options=OPT, **over):
    n = len(snowh)
    return phenology(julian=jnp.asarray(julian, dtype=dtype), yearlen=jnp.asarray(yearlen, dtype=dtype),
                     lat=jnp.full(n, lat, dtype=dtype), SNOWH=jnp.asarray(snowh, dtype=dtype),
                     params=_params(n, dtype, **over), options=options)


def test_monthly_interpolation_hand_values():
    tab = jnp.asarray(np.arange(1.0, 13.0)[:, None] * np.ones((1, 5)))  # month index as value
    N = 365.0
    # m = 12 J / N: mid-January (m=0.5) -> January; m=1.0 -> half Jan, half Feb; m=0.2 -> wraps to Dec
    J = np.array([0.5, 1.0, 0.2, 11.75, 11.5]) * N / 12.0
    v = monthly_interp(jnp.asarray(J), N, jnp.full(5, 10.0), tab)
    # m=0.2: i1=int(0.7)=0 -> 12, w1 = 0.5-0.2 = 0.3 -> 0.3*12 + 0.7*1
    # m=11.75: i1=12, i2=13->1, w1 = 12.5-11.75 = 0.75 -> 0.75*12 + 0.25*1
    np.testing.assert_allclose(np.asarray(v), [1.0, 1.5, 0.3 * 12 + 0.7 * 1, 0.75 * 12 + 0.25, 12.0],
                               atol=1e-12)
    # southern hemisphere: shifted by half a year
    vs = monthly_interp(jnp.asarray(J[:1]), N, jnp.full(1, -10.0), tab[:, :1])
    vn = monthly_interp(jnp.asarray([J[0] + N / 2]), N, jnp.full(1, 10.0), tab[:, :1])
    np.testing.assert_allclose(np.asarray(vs), np.asarray(vn), atol=1e-12)


def test_thresholds_and_fveg():
    N = 365.0
    # mid-April: LAI = 0 (table), SAI 0.3 ; mid-July: LAI 3, SAI 0.4
    J = np.array([3.5, 6.5]) * N / 12.0
    o = _run(J, np.zeros(2))
    np.testing.assert_allclose(np.asarray(o["LAI"]), [0.0, 3.0], atol=1e-12)
    np.testing.assert_allclose(np.asarray(o["SAI"]), [0.3, 0.4], atol=1e-12)
    np.testing.assert_allclose(np.asarray(o["FVEG"]), [0.96, 0.96], atol=1e-12)
    # SAI below 0.05 -> 0, then LAI -> 0 and FVEG -> 0 (no vegetation area)
    o = _run(J, np.zeros(2), SAIM=np.full((12, 2), 0.04))
    assert np.all(np.asarray(o["SAI"]) == 0.0) and np.all(np.asarray(o["LAI"]) == 0.0)
    assert np.all(np.asarray(o["FVEG"]) == 0.0)
    # small SHDMAX is raised to 0.05
    o = _run(J, np.zeros(2), SHDMAX=np.full(2, 0.02))
    np.testing.assert_allclose(np.asarray(o["FVEG"]), 0.05)
    # non-vegetated classes
    o = _run(J, np.zeros(2), IS_URBAN=np.array([1.0, 0.0]), IS_WATER=np.array([0.0, 1.0]))
    np.testing.assert_allclose(np.asarray(o["LAI"]), 0.0)
    np.testing.assert_allclose(np.asarray(o["SAI"]), 0.0)
    np.testing.assert_allclose(np.asarray(o["FVEG"]), 0.0)
    # dveg=3: FVEG from LAI+SAI
    o = _run(J, np.zeros(2), options=Options(dveg=3))
    np.testing.assert_allclose(np.asarray(o["FVEG"]), 1.0 - np.exp(-0.52 * np.array([0.3, 3.4])), atol=1e-12)
    with pytest.raises(NotImplementedError):
        _run(J, np.zeros(2), options=Options(dveg=2))


def test_snow_burial_hand_values():
    J = np.full(4, 6.5 * 365.0 / 12.0)  # mid-July, LAI 3, SAI 0.4
    snowh = np.array([0.05, 1.05, 3.0, 0.5])
    o = _run(J, snowh)
    fb = np.array([0.0, 0.95 / 1.9, 1.0, 0.4 / 1.9])
    np.testing.assert_allclose(np.asarray(o["FB"]), fb, atol=1e-12)
    elai = 3.0 * (1 - fb)
    esai = 0.4 * (1 - fb)
    esai = np.where(esai < 0.05, 0.0, esai)
    elai = np.where((elai < 0.05) | (esai == 0), 0.0, elai)
    np.testing.assert_allclose(np.asarray(o["ELAI"]), elai, atol=1e-12)
    np.testing.assert_allclose(np.asarray(o["ESAI"]), esai, atol=1e-12)
    assert np.asarray(o["FVEG"])[2] == 0.0 and np.asarray(o["FVEG"])[0] == pytest.approx(0.96)
    # short canopy (HVT <= 1): h* = HVT exp(-h/0.2), f_b = min(h, h*)/h*
    o = _run(J, snowh, HVT=np.full(4, 0.5), HVB=np.full(4, 0.05))
    hs = 0.5 * np.exp(-np.minimum(snowh, 10.0) / 0.2)
    np.testing.assert_allclose(np.asarray(o["FB"]), np.minimum(snowh, hs) / hs, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_jit_and_gradient(dtype):
    J = np.linspace(0.0, 364.9, 7)
    snowh = np.array([0.0, 0.2, 0.5, 0.0, 0.0, 0.05, 1.0])
    f = jax.jit(lambda p: phenology(julian=jnp.asarray(J, dtype), yearlen=365.0,
                                    lat=jnp.full(7, 40.0, dtype), SNOWH=jnp.asarray(snowh, dtype),
                                    params=p, options=OPT))
    p = _params(7, dtype)
    o = f(p)
    for k, v in o.items():
        assert v.dtype == dtype, k
        assert np.all(np.isfinite(np.asarray(v))), k
    g = jax.grad(lambda p: jnp.sum(f(p)["ELAI"] + f(p)["ESAI"]))(p)
    for k, v in g.items():
        assert np.all(np.isfinite(np.asarray(v))), k
    assert float(jnp.sum(jnp.abs(g["LAIM"]))) > 0.0


def test_params_from_table_builder_have_the_keys():
    if not TBL.exists():
        pytest.skip(f"parameter table not available: {TBL}")
    build = pytest.importorskip("diffland.parameters.build")
    p = build.build_params(soil_class=[8], veg_class=[12], table=TBL, shdmax=96.0, dtype=np.float64)
    o = phenology(julian=jnp.asarray([190.0]), yearlen=365.0, lat=jnp.asarray([40.0]),
                  SNOWH=jnp.zeros(1), params={k: jnp.asarray(v) for k, v in p.items()}, options=OPT)
    np.testing.assert_allclose(np.asarray(o["FVEG"]), 0.96, rtol=1e-6)
    m = 12.0 * 190.0 / 365.0  # between June (i1=6) and July
    w1 = 6.5 - m
    np.testing.assert_allclose(float(o["LAI"][0]), w1 * 2.0 + (1 - w1) * 3.0, rtol=1e-6)


def test_whole_year_matches_reference():
    if not CSV.exists():
        pytest.skip(f"reference data not available: {CSV}")
    pd = pytest.importorskip("pandas")
    d = pd.read_csv(CSV, usecols=["time_utc", "LAI", "SAI", "FVEG", "SNOWH"])
    jd = julian_day(pd.to_datetime(d["time_utc"]).values)
    n = len(d)
    snowh = np.r_[0.01, d["SNOWH"].values[:-1]]  # state at the start of step k
    for dtype in (np.float32, np.float64):
        o = _run(jd["JULIAN"], snowh, dtype=dtype, lat=40.01, yearlen=jd["YEARLEN"].astype(float))
        for key in ("LAI", "SAI", "FVEG"):
            err = np.abs(np.asarray(o[key], dtype=np.float64)[1:] - d[key].values[1:])
            # measured: 0 (float32) / < 1e-7 (float64) for all 17472 steps
            assert err.max() < 1e-5, f"{key} {dtype.__name__}: max error {err.max():.3g}"
    assert n == 17473
