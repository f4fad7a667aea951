"""Unit checks of the stomatal resistance (Ball-Berry, Jarvis) and of MOST exchange,
against scalar re-computations written straight from the Noah-MP equations."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffland.physics import aerodynamics as aero
from diffland.physics import stomata

pytestmark = pytest.mark.usefixtures("x64_module")  # float64 for this module only

BB = dict(VCMX25=80.0, MP=9.0, BP=2.0e3, QE25=0.06, KC25=30.0, KO25=3.0e4, AKC=2.1, AKO=1.2,
          AVCMX=2.4, C3PSN=1.0, FOLNMX=1.5, CO2=395.0e-6, O2=0.209)
JV = dict(RS=40.0, RSMAX=5000.0, RGL=100.0, TOPT=298.0, HS=36.25)


def _arr(x, n=1):
    return jnp.full((n,), x, dtype=jnp.float64)


def ball_berry_scalar(par, tv, estv, eah, p, t, rb, btran, igs, fveg, prm):
    """Straight scalar transcription of the Ball-Berry equations (C3)."""
    cf = p / (8.314 * t) * 1e6
    apar = par / max(fveg, 1e-6)
    if apar <= 0:
        return 1.0 / prm["BP"] * cf, 0.0
    tc = tv - 273.16
    f1 = lambda ab, bc: ab ** ((bc - 25.0) / 10.0)  # noqa: E731
    f2 = 1.0 + math.exp((-2.2e5 + 710.0 * (tc + 273.16)) / (8.314 * (tc + 273.16)))
    kc = prm["KC25"] * f1(prm["AKC"], tc)
    ko = prm["KO25"] * f1(prm["AKO"], tc)
    o2, co2 = prm["O2"] * p, prm["CO2"] * p
    awc = kc * (1 + o2 / ko)
    cp = 0.5 * kc / ko * o2 * 0.21
    vcmx = prm["VCMX25"] / f2 * min(1.0 / prm["FOLNMX"], 1.0) * btran * f1(prm["AVCMX"], tc)
    j = 4.6 * apar * prm["QE25"]
    ci = 0.7 * co2
    rlb = rb / cf
    cea = max(0.25 * estv, min(eah, estv))
    for _ in range(3):
        wj = max(ci - cp, 0) * j / (ci + 2 * cp)
        wc = max(ci - cp, 0) * vcmx / (ci + awc)
        we = 0.5 * vcmx
        a_n = min(wj, wc, we) * igs
        cs = max(co2 - 1.37 * rlb * p * a_n, 1e-6)
        aa = prm["MP"] * a_n * p * cea / (cs * estv) + prm["BP"]
        bb = (prm["MP"] * a_n * p / cs + prm["BP"]) * rlb - 1.0
        cc = -rlb
        # larger root of aa r^2 + bb r + cc = 0
        r = (-bb + math.sqrt(bb * bb - 4 * aa * cc)) / (2 * aa)
        ci = max(cs - a_n * p * 1.65 * r, 0.0)
    return r * cf, a_n


@pytest.mark.parametrize("par,tv,btran", [(0.0, 295.0, 0.8), (30.0, 298.0, 1.0),
                                          (80.0, 303.0, 0.5), (5.0, 280.0, 0.2)])
def test_ball_berry_matches_scalar(par, tv, btran):
    p, t, rb, eah, fveg = 99300.0, 297.0, 20.0, 1800.0, 0.96
    tc = min(50.0, max(-50.0, tv - 273.16))
    from diffland.physics.energy_flux import esat_noahmp
    estv = float(esat_noahmp(jnp.asarray(tc))[0])
    prm = {k: _arr(v) for k, v in BB.items()}
    rs, psn = stomata.ball_berry(par=_arr(par), tv=_arr(tv), estv=_arr(estv), eah=_arr(eah),
                                 sfcprs=_arr(p), sfctmp=_arr(t), rb=_arr(rb),
                                 btran=_arr(btran), igs=_arr(1.0), fveg=_arr(fveg), params=prm)
    rs_ref, psn_ref = ball_berry_scalar(par, tv, estv, eah, p, t, rb, btran, 1.0, fveg, BB)
    np.testing.assert_allclose(float(rs[0]), rs_ref, rtol=1e-10)
    np.testing.assert_allclose(float(psn[0]), psn_ref, rtol=1e-10, atol=1e-12)
    if par == 0.0:  # dark: minimum conductance, rs = CF / BP
        np.testing.assert_allclose(float(rs[0]), p / (8.314 * t) * 1e6 / 2.0e3, rtol=1e-12)
    else:
        assert psn_ref > 0 and 50.0 < rs_ref < 5.0e4


def test_ball_berry_grad_finite_and_sign():
    prm = {k: _arr(v) for k, v in BB.items()}

    def rs_of(v):
        q = dict(prm)
        q["VCMX25"] = v
        return stomata.ball_berry(par=_arr(40.0), tv=_arr(298.0), estv=_arr(3100.0),
                                  eah=_arr(2000.0), sfcprs=_arr(99300.0), sfctmp=_arr(297.0),
                                  rb=_arr(20.0), btran=_arr(0.7), igs=_arr(1.0),
                                  fveg=_arr(0.96), params=q)[0].sum()

    g = jax.grad(rs_of)(_arr(80.0))
    assert np.isfinite(np.asarray(g)).all()
    assert float(g[0]) <= 0.0  # more carboxylation capacity -> lower resistance


def test_jarvis_matches_hand():
    tv, eah, p, par, btran, fveg = 300.0, 1500.0, 1.0e5, 50.0, 0.8, 0.9
    prm = {k: _arr(v) for k, v in JV.items()}
    rs, psn = stomata.jarvis(par=_arr(par), tv=_arr(tv), eah=_arr(eah), sfcprs=_arr(p),
                             btran=_arr(btran), fveg=_arr(fveg), params=prm)
    # hand computation
    q = 0.622 * eah / (p - 0.378 * eah)
    w = q / (1 - q)
    es = 0.611 * math.exp(2.501e6 / 461.0 * (1 / 273.15 - 1 / tv))
    wsat = 0.622 * es / (p * 1e-3 - es)
    ff = 2 * (par / fveg) / 100.0
    rcs = max((ff + 40.0 / 5000.0) / (1 + ff), 1e-4)
    rct = max(1 - 0.0016 * (298.0 - tv) ** 2, 1e-4)
    rcq = max(1 / (1 + 36.25 * max(0.0, wsat - w)), 0.01)
    np.testing.assert_allclose(float(rs[0]), 40.0 / (rcs * rct * rcq * btran), rtol=1e-12)
    assert float(psn[0]) == pytest.approx(-999.99)


def _most(first, **kw):
    base = dict(zlvl=_arr(11.3), zpd=_arr(1.3), z0m=_arr(0.15), z0h=_arr(0.15), ur=_arr(4.0),
                tair=_arr(295.0), qair=_arr(0.01), rhoair=_arr(1.15), sh_prev=_arr(0.0),
                fv_prev=_arr(0.1), moz_prev=_arr(0.0), fm_prev=_arr(0.0), fh_prev=_arr(0.0),
                nsign=_arr(0.0))
    base.update(kw)
    return aero.most_exchange(first=first, **base)


def test_most_neutral_first_iteration():
    m = _most(True)
    ln = math.log((11.3 - 1.3) / 0.15)
    cm = 0.16 / ln ** 2
    np.testing.assert_allclose(float(m["CM"][0]), cm, rtol=1e-12)
    np.testing.assert_allclose(float(m["CH"][0]), cm, rtol=1e-12)
    np.testing.assert_allclose(float(m["FV"][0]), 4.0 * math.sqrt(cm), rtol=1e-12)
    np.testing.assert_allclose(float(m["RAH"][0]), 1.0 / (cm * 4.0), rtol=1e-12)
    assert float(m["MOZ"][0]) == 0.0


def test_most_unstable_second_iteration_by_hand():
    sh, fv = 200.0, 0.35
    m = _most(False, sh_prev=_arr(sh), fv_prev=_arr(fv))
    tvir = (1 + 0.61 * 0.01) * 295.0
    tmp1 = 0.4 * (9.80616 / tvir) * sh / (1.15 * 1004.64)
    mol = -fv ** 3 / tmp1
    zeta = min(10.0 / mol, 1.0)
    x = (1 - 16 * zeta) ** 0.25
    psim = 2 * math.log((1 + x) / 2) + math.log((1 + x * x) / 2) - 2 * math.atan(x) + 1.5707963
    psih = 2 * math.log((1 + x * x) / 2)
    fm, fh = 0.5 * psim, 0.5 * psih  # averaged with the previous (zero) correction
    ln = math.log(10.0 / 0.15)
    fm, fh = min(fm, 0.9 * ln), min(fh, 0.9 * ln)
    np.testing.assert_allclose(float(m["MOZ"][0]), zeta, rtol=1e-12)
    np.testing.assert_allclose(float(m["CM"][0]), 0.16 / (ln - fm) ** 2, rtol=1e-12)
    np.testing.assert_allclose(float(m["CH"][0]), 0.16 / ((ln - fm) * (ln - fh)), rtol=1e-12)
    assert float(m["CH"][0]) > 0.16 / ln ** 2  # unstable -> enhanced exchange


def test_most_stable_and_sign_change_reset():
    # stable: psi = -5 zeta, averaged with previous value
    m = _most(False, sh_prev=_arr(-30.0), fv_prev=_arr(0.2), fm_prev=_arr(-0.4),
              fh_prev=_arr(-0.4), moz_prev=_arr(0.05))
    zeta = float(m["MOZ"][0])
    assert 0 < zeta <= 1.0
    np.testing.assert_allclose(float(m["FM"][0]), 0.5 * (-0.4 - 5 * zeta), rtol=1e-12)
    # a second sign change resets to neutral
    m2 = _most(False, sh_prev=_arr(-30.0), fv_prev=_arr(0.2), moz_prev=_arr(-0.3),
               nsign=_arr(1.0), fm_prev=_arr(0.7), fh_prev=_arr(0.9))
    assert float(m2["NSIGN"][0]) == 2.0
    assert float(m2["MOZ"][0]) == 0.0 and float(m2["FM"][0]) == 0.0
    ln = math.log(10.0 / 0.15)
    np.testing.assert_allclose(float(m2["CM"][0]), 0.16 / ln ** 2, rtol=1e-12)


def test_leaf_to_ground_neutral_by_hand():
    vai, h, zpd, z0g, z0, fv, uc, cw, dl = 2.3, 2.0, 1.3, 0.002, 0.15, 0.3, 1.5, 1.67, 0.04
    g = aero.leaf_to_ground(first=True, vai=_arr(vai), hcan=_arr(h), zpd=_arr(zpd),
                            z0mg=_arr(z0g), z0hg=_arr(z0g), z0h=_arr(z0), fv=_arr(fv),
                            uc=_arr(uc), tah=_arr(295.0), rhoair=_arr(1.15),
                            shg_prev=_arr(0.0), fhg_prev=_arr(0.0), cwpvt=_arr(cw),
                            dleaf=_arr(dl))
    kc = math.sqrt(cw * vai * h * 1.0)
    rah = h * math.exp(kc) / kc * (math.exp(-kc * z0g / h) - math.exp(-kc * (z0 + zpd) / h))
    rah /= 0.4 * fv * (h - zpd)
    rb = min(max(kc * 50 / (1 - math.exp(-kc / 2)) * math.sqrt(dl / uc), 5.0), 50.0)
    np.testing.assert_allclose(float(g["RAHG"][0]), rah, rtol=1e-12)
    np.testing.assert_allclose(float(g["RB"][0]), rb, rtol=1e-12)
