"""Tests of the Noah-MP surface energy balance (diffland.physics.energy_flux).

The reference test feeds the Bondville 1998 golden run's own states into
``surface_energy`` one step at a time (vectorised: the time axis is used as the cell
axis) and compares the fluxes. Inputs the CSV lacks are rebuilt simply:

* SAV/SAG: FSA split by Beer's law, SAV = FVEG * FSA * (1 - exp(-0.5/cosZ * (LAI+SAI))).
* PARSUN/PARSHA/LAISUN/LAISHA: visible half of SW (70 % direct), 85 % absorbed on the
  same Beer's-law fraction, sunlit LAI = (1 - exp(-k LAI))/k.
* DF1: Johansen conductivity of soil layer 1 blended with the snow depth as
  GroundThermalProperty does without snow layers (steps with snow layers are only
  approximate).
* BTRAN: Noah (btr=1) from the previous step's SOIL_W.
* EAH: a first pass uses the air vapour pressure; the second pass uses the first pass's
  EAH of the previous step.
* No precipitation heat advection (the CSV has no drip/throughfall split).
"""
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffland.physics.energy_flux import (derived_forcing, esat_select,
                                          ground_evap_resistance, precipitation_heat_advect,
                                          surface_energy)
from diffland.physics.options import Options

pytestmark = pytest.mark.usefixtures("x64_module")  # float64 for this module only

REF = Path(__file__).resolve().parents[2] / "shared" / "data"
CSV = REF / "noahmp_reference" / "bondville_default.csv.gz"


# ---------------------------------------------------------------------------- builders
def params_for(n, dtype=np.float64):
    s = dict(HVT=2.0, Z0MVT=0.15, CWPVT=1.67, DLEAF=0.04, CBIOM=0.001, TMIN=273.0,
             VCMX25=80.0, MP=9.0, BP=2.0e3, QE25=0.06, KC25=30.0, KO25=3.0e4, AKC=2.1,
             AKO=1.2, AVCMX=2.4, C3PSN=1.0, FOLNMX=1.5, CO2=395.0e-6, O2=0.209, RS=40.0,
             RSMAX=5000.0, RGL=100.0, TOPT=298.0, HS=36.25, RSURF_EXP=5.0, RSURF_SNOW=50.0,
             Z0SOIL=0.002, Z0SNO=0.002, EG=0.97, SNOW_EMIS=0.95)
    soil = dict(BEXP=8.72, SMCMAX=0.464, SMCREF=0.387, SMCWLT=0.120, PSISAT=0.617,
                QUARTZ=0.10)
    p = {k: jnp.full((n,), v, dtype) for k, v in s.items()}
    p.update({k: jnp.full((4, n), v, dtype) for k, v in soil.items()})
    return p


def _btran(sh2o, p, dz=(0.1, 0.3, 0.6, 1.0), nroot=3):
    ztot = sum(dz[:nroot])
    tot = 0.0
    for k in range(nroot):
        g = jnp.clip((sh2o[k] - p["SMCWLT"][k]) / (p["SMCREF"][k] - p["SMCWLT"][k]), 0.0, 1.0)
        tot = tot + jnp.maximum(dz[k] / ztot * g, 1e-6)
    return jnp.maximum(1e-6, tot)


def _df1(smc1, sh2o1, snowh, p):
    smcmax, qz = p["SMCMAX"][0], p["QUARTZ"][0]
    sat = smc1 / smcmax
    tks = 7.7 ** qz * 2.0 ** (1 - qz)
    xu = jnp.where(smc1 > 0, sh2o1 / smc1, 1.0) * smcmax
    tksat = tks ** (1 - smcmax) * 2.2 ** (smcmax - xu) * 0.57 ** xu
    gd = (1 - smcmax) * 2700.0
    tkdry = (0.135 * gd + 64.7) / (2700.0 - 0.947 * gd)
    ke = jnp.where(sh2o1 + 0.0005 < smc1, sat,
                   jnp.where(sat > 0.1, jnp.log10(jnp.maximum(sat, 1e-3)) + 1.0, 0.0))
    df = ke * (tksat - tkdry) + tkdry
    return (df * 0.1 + 0.35 * snowh) / (snowh + 0.1)


def build(d, dtype=np.float64, eah_prev=None):
    cur = d.iloc[1:].reset_index(drop=True)
    prv = d.iloc[:-1].reset_index(drop=True)
    n = len(cur)
    A = lambda x: jnp.asarray(np.asarray(x, dtype))  # noqa: E731
    p = params_for(n, dtype)
    forcing = dict(SFCTMP=A(cur.FORCTLSM), Q2=A(cur.FORCQLSM), UU=A(cur.FORCWLSM),
                   VV=A(0 * cur.FORCWLSM), SFCPRS=A(cur.FORCPLSM), LWDN=A(cur.LWFORC))
    sh2o = jnp.stack([A(prv[f"SOIL_W{k}"]) for k in range(1, 5)])
    smc = jnp.stack([A(prv[f"SOIL_M{k}"]) for k in range(1, 5)])
    q2, pr = np.asarray(cur.FORCQLSM), np.asarray(cur.FORCPLSM)
    eah = A(q2 * pr / (0.622 + 0.378 * q2)) if eah_prev is None else A(eah_prev)
    state = dict(TV=A(prv.TV), TG=A(prv.TG), TAH=A(prv.TAH), EAH=eah, CANLIQ=A(prv.CANLIQ),
                 CANICE=A(prv.CANICE), FWET=A(cur.FWET), SNOWH=A(prv.SNOWH), FSNO=A(cur.FSNO),
                 SH2O=sh2o, SNEQV=A(prv.SNEQV), CM=A(prv.CM), CH=A(prv.CH))
    lai, sai, fveg = np.asarray(cur.LAI), np.asarray(cur.SAI), np.asarray(cur.FVEG)
    vai = lai + sai
    k = 0.5 / np.maximum(np.asarray(cur.COSZ), 0.05)
    fsa = np.asarray(cur.FSA)
    fabs = 1.0 - np.exp(-k * vai)
    sav = fsa * fabs * fveg
    sw = np.where(np.asarray(cur.COSZ) > 0, np.asarray(cur.SWFORC), 0.0)
    laisun = np.where(lai > 0, (1 - np.exp(-k * lai)) / k, 0.0)
    laisha = np.maximum(lai - laisun, 0.0)
    lai_f = np.where(vai > 0, lai / np.maximum(vai, 1e-6), 0.0)
    vdir = 0.5 * 0.7 * sw * 0.85 * fabs * fveg
    vdif = 0.5 * 0.3 * sw * 0.85 * fabs * fveg
    fsun = np.where(lai > 0, laisun / np.maximum(lai, 1e-6), 0.0)
    parsun = np.where(laisun > 0, (vdir + fsun * vdif) * lai_f / np.maximum(laisun, 1e-6), 0.0)
    parsha = np.where(laisha > 0, (1 - fsun) * vdif * lai_f / np.maximum(laisha, 1e-6), 0.0)
    rad = dict(SAV=A(sav), SAG=A(fsa - sav), PARSUN=A(parsun), PARSHA=A(parsha),
               LAISUN=A(laisun), LAISHA=A(laisha))
    pheno = dict(ELAI=A(lai), ESAI=A(sai), FVEG=A(fveg))
    thermal = dict(DF1=_df1(smc[0], sh2o[0], state["SNOWH"], p),
                   DZ1=jnp.full((n,), 0.1, dtype), STC1=A(prv.SOIL_T1))
    return dict(forcing=forcing, state=state, rad=rad, pheno=pheno, thermal=thermal,
                BTRAN=_btran(sh2o, p), params=p), cur


_JIT = {}


def _run(inp, options, first_step=False):
    if options not in _JIT:
        _JIT[options] = jax.jit(
            lambda i, fs: surface_energy(**i, options=options, first_step=fs))
    return _JIT[options](inp, jnp.asarray(first_step))


@pytest.fixture(scope="module")
def reference_run():
    if not CSV.exists():
        pytest.skip("reference data not available")
    import pandas as pd
    d = pd.read_csv(CSV)
    opt = Options()
    inp, cur = build(d)
    out = _run(inp, opt)
    eah = np.concatenate([[2000.0], np.asarray(out["EAH"])[:-1]])
    inp, cur = build(d, eah_prev=eah)
    out = _run(inp, opt)
    return inp, cur, {k: np.asarray(v) for k, v in out.items()}


# ---------------------------------------------------------------------------- tests
def _rmse(a, b, m=None):
    e = np.asarray(a) - np.asarray(b)
    if m is not None:
        e = e[m]
    return float(np.sqrt(np.mean(e ** 2)))


def test_reference_fluxes(reference_run):
    _, cur, out = reference_run
    rm = {k: _rmse(out[k2], cur[k]) for k, k2 in
          [("LH", "LH"), ("HFX", "HFX"), ("FIRA", "FIRA"), ("GRDFLX", "SSOIL"),
           ("TRAD", "TRAD"), ("TG", "TG")]}
    print("RMSE vs Noah-MP (whole year, approximate SW split):", rm)
    # measured (float64): LH 6.4, HFX 12.9, FIRA 1.8, GRDFLX 10.9 W/m2, TRAD 0.38, TG 0.60 K
    assert rm["LH"] < 10.0
    assert rm["HFX"] < 15.0
    assert rm["FIRA"] < 4.0
    assert rm["GRDFLX"] < 15.0
    assert rm["TRAD"] < 1.0
    assert abs(float(np.mean(out["LH"] - cur.LH.values))) < 3.0


def test_reference_night_exact(reference_run):
    """At night the SW split plays no role: with a full canopy and no snow, TV, TG and
    the fluxes must match Noah-MP to (nearly) single-precision level."""
    _, cur, out = reference_run
    m = (cur.FSA.values == 0) & (cur.ISNOW.values == 0) & (cur.LAI.values >= 2.0)
    m &= cur.PRECIP_mm_s.values == 0  # no advected heat in this test
    assert m.sum() > 1000
    tv, tg = _rmse(out["TV"], cur.TV, m), _rmse(out["TG"], cur.TG, m)
    lh, hfx = _rmse(out["LH"], cur.LH, m), _rmse(out["HFX"], cur.HFX, m)
    print(f"night full canopy: TV {tv:.4f} K, TG {tg:.4f} K, LH {lh:.3f}, HFX {hfx:.3f} W/m2")
    assert tv < 0.05 and tg < 0.05
    assert lh < 1.0 and hfx < 1.0
    # Noah-MP's canopy loop: at least 6 iterations (flag at >= 5, exit one later), <= 20
    assert out["NITER"][m].min() >= 6 and out["NITER"].max() <= 20


def test_energy_closure(reference_run):
    """Grid energy balance as Noah-MP's BalanceEnergyCheck (no irrigation):
    SAV + SAG + PAH = FIRA + HFX + LH + SSOIL + CANHS."""
    inp, _, out = reference_run
    fsa = np.asarray(inp["rad"]["SAV"] + inp["rad"]["SAG"])
    res = fsa + out["PAH"] - (out["FIRA"] + out["HFX"] + out["LH"] + out["SSOIL"]
                              + out["CANHS"])
    assert np.max(np.abs(res)) < 1e-6
    # radiative temperature consistent with the emitted long-wave
    lwdn = np.asarray(inp["forcing"]["LWDN"])
    lwup = lwdn + out["FIRA"]
    em = out["EMISSI"]
    np.testing.assert_allclose(out["TRAD"], ((lwup - (1 - em) * lwdn) / (em * 5.67e-8)) ** 0.25,
                               rtol=1e-12)
    # water fluxes derived from the latent heats
    np.testing.assert_allclose(out["EDIR_NET"] * out["LATHEAG"], out["FGEV"], rtol=1e-10,
                               atol=1e-10)
    assert (out["ETRAN"] >= 0).all() and (out["QVAP"] >= 0).all() and (out["QDEW"] >= 0).all()


def _subset(inp, idx):
    return jax.tree_util.tree_map(lambda x: x[..., idx] if jnp.ndim(x) else x, inp)


def test_gradients_finite(reference_run):
    inp, _, _ = reference_run
    idx = np.r_[0:24, 300:320, 7990:8030, 12560:12580]
    sub = _subset(inp, idx)
    pv = sub["pheno"]
    pv["ELAI"] = pv["ELAI"].at[:3].set(0.0)  # non-vegetated cells
    pv["ESAI"] = pv["ESAI"].at[:3].set(0.0)
    pv["FVEG"] = pv["FVEG"].at[3:5].set(0.0)  # VAI > 0 but FVEG = 0
    keys = ["VCMX25", "MP", "CWPVT", "HVT", "RSURF_EXP", "BEXP", "SMCMAX", "PSISAT"]
    opt = Options()

    def loss(pp):
        p = dict(sub["params"])
        p.update(pp)
        o = surface_energy(forcing=sub["forcing"], state=sub["state"], rad=sub["rad"],
                           pheno=sub["pheno"], thermal=sub["thermal"], BTRAN=sub["BTRAN"],
                           params=p, options=opt)
        return jnp.sum(o["LH"])

    pp = {k: sub["params"][k] for k in keys}
    val, g = jax.jit(jax.value_and_grad(loss))(pp)
    loss = jax.jit(loss)
    assert np.isfinite(float(val))
    for k in keys:
        gk = np.asarray(g[k])
        assert np.isfinite(gk).all(), k
        assert np.abs(gk).sum() > 0.0, k
    # central finite difference on a uniform shift of SMCMAX and VCMX25
    for k in ("SMCMAX", "VCMX25"):
        h = 1e-6 * float(np.mean(np.asarray(pp[k])))
        up, dn = dict(pp), dict(pp)
        up[k], dn[k] = pp[k] + h, pp[k] - h
        fd = (float(loss(up)) - float(loss(dn))) / (2 * h)
        np.testing.assert_allclose(float(np.sum(g[k])), fd, rtol=1e-4)


def test_jarvis_float32_first_step(reference_run):
    inp, _, _ = reference_run
    idx = np.r_[7990:8010, 300:310]
    sub = _subset(inp, idx)
    sub32 = jax.tree_util.tree_map(lambda x: x.astype(jnp.float32), sub)
    out = _run(sub32, Options(crs=2), first_step=True)
    for k, v in out.items():
        if jnp.issubdtype(v.dtype, jnp.floating):
            assert v.dtype == jnp.float32, k
            assert np.isfinite(np.asarray(v)).all(), k
    # the first step re-guesses EAH from the forcing (and CM = CH = 0.1): identical to a
    # normal step started from EAH = e_air
    df = derived_forcing(SFCTMP=sub32["forcing"]["SFCTMP"], Q2=sub32["forcing"]["Q2"],
                         SFCPRS=sub32["forcing"]["SFCPRS"], UU=sub32["forcing"]["UU"],
                         VV=sub32["forcing"]["VV"])
    np.testing.assert_allclose(np.asarray(out["CM_IN"]), 0.1)
    outb = _run({**sub32, "state": {**sub32["state"], "EAH": df["EAIR"]}}, Options(crs=2))
    np.testing.assert_allclose(np.asarray(out["LH"]), np.asarray(outb["LH"]), rtol=1e-6)
    assert np.abs(np.asarray(out["LH"]) - np.asarray(_run(sub32, Options(crs=2))["LH"])).max() > 0


def test_small_pieces_by_hand():
    a = lambda x: jnp.asarray([x], dtype=jnp.float64)  # noqa: E731
    # saturation vapour pressure: Noah-MP polynomial ~ 611 Pa at 0 degC, 3169 Pa at 25 degC
    e0, _ = esat_select(a(273.16 + 25.0))
    assert abs(float(e0[0]) - 3169.0) < 5.0
    # rsf=4 surface resistance and surface humidity
    p = dict(SMCMAX=a(0.464), SMCWLT=a(0.12), BEXP=a(8.72), PSISAT=a(0.617),
             RSURF_EXP=a(5.0), RSURF_SNOW=a(50.0))
    rs, rh = ground_evap_resistance(SH2O1=a(0.3), FSNO=a(0.2), SNOWH=a(0.01), TG=a(280.0),
                                    params=p, rsf=4)
    import math
    L = 0.1 * (math.exp((1 - 0.3 / 0.464) ** 5) - 1) / (2.71828 - 1)
    D = 2.2e-5 * 0.464 ** 2 * (1 - 0.12 / 0.464) ** (2 + 3 / 8.72)
    rsz = L / D
    np.testing.assert_allclose(float(rs[0]), 1 / (0.2 / 50.0 + 0.8 / rsz), rtol=1e-12)
    psi = -0.617 * (0.3 / 0.464) ** (-8.72)
    rh_hand = 0.2 + 0.8 * math.exp(psi * 9.80616 / (461.269 * 280.0))
    np.testing.assert_allclose(float(rh[0]), rh_hand, rtol=1e-12)
    rs1, _ = ground_evap_resistance(SH2O1=a(0.005), FSNO=a(0.0), SNOWH=a(0.0), TG=a(280.0),
                                    params=p, rsf=1)
    assert float(rs1[0]) == 1.0e6
    # precipitation heat advection, clipped at +-20 W/m2
    pv, pg, pb = precipitation_heat_advect(SFCTMP=a(280.0), TV=a(279.0), TG=a(278.0),
                                           FVEG=a(0.5), RAIN=a(1e-3), SNOW=a(0.0),
                                           QDRIPR=a(2e-4), QTHROR=a(5e-4), QDRIPS=a(0.0),
                                           QTHROS=a(0.0))
    cw = 4.188e3
    np.testing.assert_allclose(float(pv[0]), 0.5 * 1e-3 * cw * 1.0 - 2e-4 * cw * 1.0, rtol=1e-12)
    np.testing.assert_allclose(float(pg[0]), 2e-4 * cw / 0.5, rtol=1e-12)
    np.testing.assert_allclose(float(pb[0]), 5e-4 * cw * 2.0 / 0.5, rtol=1e-12)
