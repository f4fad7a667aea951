"""Tests for diffland.physics.snow (snow cover fraction, single-layer snowpack water)."""
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffland.physics.atmos import process_forcing
from diffland.physics.constants import TFRZ
from diffland.physics.options import Options
from diffland.physics.phase_change import phase_change
from diffland.physics.snow import ice_fraction, snow_cover_fraction, snow_water
from diffland.physics.soil_temperature import soil_snow_temperature
from diffland.physics.thermal_properties import thermal_properties

pytestmark = pytest.mark.usefixtures("x64_module")  # float64 for this module only

REF = Path(__file__).resolve().parents[2] / "shared" / "data"
CSV = REF / "noahmp_reference" / "bondville_default.csv.gz"
OPT = Options()
DT = OPT.dt
SCP = {"MFSNO": 3.0, "SCFFAC": 0.014}


def test_snow_cover_fraction_hand_values_and_grad():
    h = jnp.array([0.0, 0.01, 0.1])
    s = jnp.array([0.0, 1.0, 25.0])
    f = np.asarray(snow_cover_fraction(SNOWH=h, SNEQV=s, params=SCP))
    assert f[0] == 0.0
    assert abs(f[1] - np.tanh(0.01 / (0.014 * 1.0 ** 3))) < 1e-12
    assert abs(f[2] - np.tanh(0.1 / (0.014 * 2.5 ** 3))) < 1e-12
    g = jax.grad(lambda hh: jnp.sum(snow_cover_fraction(SNOWH=hh, SNEQV=s, params=SCP)))(h)
    assert bool(jnp.all(jnp.isfinite(g)))


def test_snow_cover_fraction_against_reference():
    if not CSV.exists():
        pytest.skip("reference data absent")
    import pandas as pd
    d = pd.read_csv(CSV)
    # FSNO of step k is computed in EnergyMain from the snow state at the end of step k-1
    f = np.asarray(snow_cover_fraction(SNOWH=jnp.asarray(d.SNOWH.values[:-1]),
                                       SNEQV=jnp.asarray(d.SNEQV.values[:-1]), params=SCP))
    assert np.abs(f - d.FSNO.values[1:]).max() < 1e-6  # measured 1.6e-7 (float32 output)


def _cases():
    """Cells: 0 bare+rain, 1 thin snow+snowfall -> new layer, 2 layer+rain (wet), 3 layer eaten by
    sublimation, 4 thin snow fully sublimated, 5 thin snow + frost, frozen ground, 6 layer melting,
    7 thin layer below 0.025 m after compaction."""
    n = 8
    z = np.zeros(n)
    sneqv = np.array([0.0, 4.0, 12.0, 0.5, 0.3, 2.0, 10.0, 2.0])
    snowh = np.array([0.0, 0.022, 0.08, 0.03, 0.003, 0.015, 0.06, 0.0251])
    isnow = np.array([0, 0, -1, -1, 0, 0, -1, -1.0])
    snliq = np.array([0, 0, 1.0, 0.05, 0, 0, 2.5, 0.2])
    snice = np.where(isnow < 0, sneqv - snliq, 0.0)
    dzsno = np.where(isnow < 0, snowh, 0.0)
    snliq = np.where(isnow < 0, snliq, 0.0)
    tsno = np.array([TFRZ, TFRZ, TFRZ, 270.0, TFRZ, TFRZ, TFRZ, 272.0])
    qsnow = np.array([0, 0.002, 0, 0, 0, 0, 0, 0.0])
    qrain = np.array([0.001, 0, 0.003, 0, 0, 0, 0.0005, 0])
    qvap = np.array([1e-5, 0, 0, 5e-4, 5e-4, 0, 1e-5, 0.0])
    qdew = np.array([0, 1e-5, 0, 0, 0, 3e-5, 0, 0.0])
    tg = np.array([280.0, 270.0, 273.5, 265.0, 270.0, 268.0, 274.0, 271.0])
    smc = np.tile(np.array([0.30, 0.31, 0.32, 0.33])[:, None], (1, n))
    sh2o = smc * 0.8
    ficeold = np.where(isnow < 0, snice / np.maximum(sneqv, 1e-9) + 0.02, 0.0)
    imelt = np.array([0, 0, 1, 0, 0, 0, 1, 0.0])
    pond = np.array([0, 0, 0, 0, 0.0, 0.0, 0, 0])
    j = lambda x: jnp.asarray(x, dtype=jnp.float64)  # noqa: E731
    return dict(SNEQV=j(sneqv), SNOWH=j(snowh), ISNOW=j(isnow), SNICE=j(snice), SNLIQ=j(snliq), TSNO=j(tsno),
                DZSNO=j(dzsno), FICEOLD=j(ficeold), SH2O=j(sh2o), SMC=j(smc), QSNOW=j(qsnow), QRAIN=j(qrain),
                BDFALL=j(np.full(n, 100.0)), QVAP=j(qvap), QDEW=j(qdew), TG=j(tg), SFCTMP=j(np.full(n, 271.0)),
                SFCPRS=j(np.full(n, 99000.0)), IMELT_SNOW=j(imelt), PONDING=j(pond))


def test_snow_water_conserves_water():
    c = _cases()
    o = snow_water(**c, params={}, options=OPT)
    dz1 = OPT.soil_dz[0] * 1000.0
    dswe = o["SNEQV"] - c["SNEQV"]
    dsoil = (o["SMC"][0] - c["SMC"][0]) * dz1
    # whole budget of pack + soil layer 1 (QINSUR and the remaining soil evaporation leave it)
    lhs = dswe + dsoil
    rhs = ((c["QSNOW"] + c["QRAIN"] + c["QDEW"] - c["QVAP"]) * DT + c["PONDING"] - o["QINSUR"] * DT
           + o["QSEVA"] * DT - o["SNDISCARD"])
    np.testing.assert_allclose(lhs, rhs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(o["SMC"][1:], c["SMC"][1:], atol=0)
    # pack alone, cells where no soil water is touched (no over-sublimation / frozen-ground path)
    pack = (c["QSNOW"] + o["QRAIN_SNOW"] - o["QSNSUB"] + o["QSNFRO"] - o["QSNBOT"]) * DT \
        - o["PONDING1"] - o["PONDING2"] - o["SNDISCARD"]
    sel = np.array([0, 1, 2, 6, 7])
    np.testing.assert_allclose(dswe[sel], pack[sel], rtol=0, atol=1e-9)
    assert bool(jnp.all(o["SNEQV"] >= 0)) and bool(jnp.all(o["SH2O"] >= 0))


def test_snow_water_branches():
    c = _cases()
    o = snow_water(**c, params={}, options=OPT)
    isnow = np.asarray(o["ISNOW"])
    # 0: bare ground, rain straight to the soil
    assert isnow[0] == 0 and abs(float(o["QINSUR"][0]) - 0.001) < 1e-15
    # 1: snowfall pushes the thin pack over 0.025 m -> one layer at min(TFRZ, SFCTMP)
    assert isnow[1] == -1 and float(o["TSNO"][1]) == 271.0
    assert abs(float(o["SNEQV"][1]) - (4.0 + 0.002 * DT + 1e-5 * DT)) < 1e-12
    # 2: rain on a layer: held up to SSI of pores, outflow released at SNOW_RET_FAC
    assert isnow[2] == -1 and float(o["QSNBOT"][2]) > 0.0 and float(o["QINSUR"][2]) == float(o["QSNBOT"][2])
    # 3: sublimation removes the layer (ice < 1e-6): the rest comes out of soil layer 1 ice/liquid
    assert isnow[3] == 0 and float(o["SNEQV"][3]) == 0.0
    # 4: thin snow sublimation is capped at SNEQV/dt, the rest is soil evaporation (frozen ground:
    # taken from soil layer 1 ice)
    assert float(o["SNEQV"][4]) == 0.0 and abs(float(o["QSNSUB"][4]) - 0.3 / DT) < 1e-15
    assert abs((float(c["SMC"][0, 4]) - float(o["SMC"][0, 4])) * 100.0 - (5e-4 - 0.3 / DT) * DT) < 1e-12
    # 5: frost on thin snow, frozen ground
    assert abs(float(o["SNEQV"][5]) - (2.0 + 3e-5 * DT)) < 1e-12
    # 7: layer compacted below 0.025 m -> back to thin snow, its liquid ponds
    assert isnow[7] == 0 and abs(float(o["PONDING2"][7]) - 0.2) < 1e-12 and abs(float(o["SNEQV"][7]) - 1.8) < 1e-12
    # hand check of the outflow for cell 2: liquid 1 + rain 5.4 mm in 0.08 m of snow
    snice, snliq, dz = 11.0, 1.0 + 0.003 * DT, float(o["DZSNO"][2])
    # compaction changes dz before the flow, so recompute the flow from the compacted thickness
    dzc = dz  # dz is only raised by max(dz, liq/1000+ice/917), inactive here
    epore = 1.0 - min(1.0, snice / (dzc * 917.0))
    excess = max(0.0, (snliq / (dzc * 1000.0) - 0.03 * epore) * dzc)
    out = max((snliq / (dzc * 1000.0) - epore) * dzc, 5.0e-5 * DT * excess) * 1000.0
    assert abs(float(o["QSNBOT"][2]) * DT - out) < 1e-9
    # ice fraction carried to the next step
    np.testing.assert_allclose(o["FICEOLD"], np.asarray(ice_fraction(o["SNICE"], o["SNLIQ"], o["ISNOW"])))


def test_snow_water_float32_and_grad():
    c = {k: v.astype(jnp.float32) for k, v in _cases().items()}
    o = snow_water(**c, params={}, options=OPT)
    assert o["SNEQV"].dtype == jnp.float32
    c64 = _cases()

    def f(qs, qr):
        cc = dict(c64, QSNOW=qs, QRAIN=qr)
        r = snow_water(**cc, params={}, options=OPT)
        return jnp.sum(r["SNEQV"] + r["QINSUR"] * DT + r["SNOWH"])
    g = jax.grad(f, argnums=(0, 1))(c64["QSNOW"], c64["QRAIN"])
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in g)


def test_coupled_year_against_reference():
    """Snow + soil heat + phase change + snow water driven by the reference GRDFLX, ground rain/snow,
    EDIR, TG and soil water; compared with the reference SWE, snow layers and soil temperature."""
    if not CSV.exists():
        pytest.skip("reference data absent")
    import pandas as pd
    d = pd.read_csv(CSV)
    M = d[[f"SOIL_M{i}" for i in range(1, 5)]].values
    W = d[[f"SOIL_W{i}" for i in range(1, 5)]].values
    Tref = d[[f"SOIL_T{i}" for i in range(1, 5)]].values
    P = {"BEXP": jnp.full((4, 1), 8.72), "SMCMAX": jnp.full((4, 1), 0.464), "PSISAT": jnp.full((4, 1), 0.617),
         "QUARTZ": jnp.full((4, 1), 0.10), "CSOIL": jnp.full((1,), 2.0e6), "ZBOT": jnp.full((1,), -8.0),
         "SNOWDEN_MAX": jnp.full((1,), 120.0)}
    f = process_forcing(T2D=jnp.asarray(d.FORCTLSM.values[1:]), Q2D=jnp.asarray(d.FORCQLSM.values[1:]),
                        U2D=jnp.asarray(d.in_U2D.values[1:]), V2D=jnp.asarray(d.in_V2D.values[1:]),
                        PSFC=jnp.asarray(d.FORCPLSM.values[1:]), LWDOWN=jnp.asarray(d.LWFORC.values[1:]),
                        SWDOWN=jnp.asarray(d.SWFORC.values[1:]), RAINRATE=jnp.asarray(d.PRECIP_mm_s.values[1:]),
                        options=OPT, params=P)
    one = jnp.ones((1,))

    def step(carry, xs):
        stc, sn = carry
        smc, sh2o, g, qs, qr, edir, tg, ta, ps, bd = xs
        smc, sh2o = smc[:, None], sh2o[:, None]
        fice0 = ice_fraction(sn["SNICE"], sn["SNLIQ"], sn["ISNOW"])
        snow_in = {k: sn[k] for k in ("TSNO", "SNOWH", "SNICE", "SNLIQ", "DZSNO", "ISNOW")}
        tp = thermal_properties(SMC=smc, SH2O=sh2o, STC=stc, **snow_in, params=P, options=OPT)
        st = soil_snow_temperature(STC=stc, TSNO=sn["TSNO"], SSOIL=g * one, DF=tp["DF"], HCPCT=tp["HCPCT"],
                                   DZSNO=sn["DZSNO"], ISNOW=sn["ISNOW"], SNOWH=sn["SNOWH"], TBOT=285.0 * one,
                                   params=P, options=OPT)
        pc = phase_change(STC=st["STC"], SMC=smc, SH2O=sh2o, TSNO=st["TSNO"], SNICE=sn["SNICE"],
                          SNLIQ=sn["SNLIQ"], SNEQV=sn["SNEQV"], SNOWH=sn["SNOWH"], ISNOW=sn["ISNOW"],
                          FACT=tp["FACT"], params=P, options=OPT)
        sw = snow_water(SNEQV=pc["SNEQV"], SNOWH=pc["SNOWH"], ISNOW=sn["ISNOW"], SNICE=pc["SNICE"],
                        SNLIQ=pc["SNLIQ"], TSNO=pc["TSNO"], DZSNO=sn["DZSNO"], FICEOLD=fice0, SH2O=pc["SH2O"],
                        SMC=pc["SMC"], QSNOW=qs * one, QRAIN=qr * one, BDFALL=bd * one,
                        QVAP=jnp.maximum(edir, 0.0) * one, QDEW=jnp.maximum(-edir, 0.0) * one, TG=tg * one,
                        SFCTMP=ta * one, SFCPRS=ps * one, params=P, options=OPT, IMELT_SNOW=pc["IMELT"][0],
                        PONDING=pc["PONDING"])
        sn2 = {k: sw[k] for k in ("SNEQV", "SNOWH", "ISNOW", "SNICE", "SNLIQ", "TSNO", "DZSNO")}
        return (pc["STC"], sn2), (pc["STC"][:, 0], sw["SNEQV"][0], sw["ISNOW"][0], sw["QSNBOT"][0], pc["QMELT"][0])

    z = jnp.zeros((1,))
    sn0 = {"SNEQV": z + d.SNEQV[0], "SNOWH": z + d.SNOWH[0], "ISNOW": z, "SNICE": z, "SNLIQ": z,
           "TSNO": z + TFRZ, "DZSNO": z}
    xs = tuple(jnp.asarray(a) for a in (M[:-1], W[:-1], d.GRDFLX.values[1:], d.QSNOW.values[1:],
                                        d.QRAIN.values[1:], d.EDIR.values[1:], d.TG.values[1:],
                                        d.FORCTLSM.values[1:], d.FORCPLSM.values[1:], np.asarray(f["BDFALL"])))
    _, out = jax.jit(lambda c0, x: jax.lax.scan(step, c0, x))((jnp.asarray(Tref[0])[:, None], sn0), xs)
    T, swe, isnow, qsnbot, qmelt = (np.asarray(o) for o in out)
    swe_rmse = np.sqrt(((swe - d.SNEQV.values[1:]) ** 2).mean())
    t_rmse = np.sqrt(((T - Tref[1:]) ** 2).mean(0))
    # measured: SWE RMSE 0.009 mm (max 0.22 mm), layers in 111 steps like the reference,
    # soil T RMSE [0.029, 0.014, 0.003, 0.002] K, melt 32.77 mm vs ACSNOM 32.76 mm
    assert swe_rmse < 0.1, swe_rmse
    assert abs(int((isnow < 0).sum()) - int((d.ISNOW.values[1:] < 0).sum())) <= 5
    assert np.all(t_rmse < 0.1), t_rmse
    acsnom = d.ACSNOM.values[-1] - d.ACSNOM.values[0]
    assert abs(qmelt.sum() * DT - acsnom) < 0.5
    assert abs(qsnbot.sum() * DT - d.QSNBOT.values[1:].sum() * DT) < 0.5
