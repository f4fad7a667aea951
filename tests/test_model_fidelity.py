"""Whole-year fidelity against the real Fortran Noah-MP (Bondville 1998), float64 reference mode.

Tolerances are those of issue 2; the measured values are printed and listed in the README.
"""
import numpy as np
import pytest

from conftest import REFERENCE, bondville_params, need
from diffland.evaluation.fidelity import fidelity_table, format_table, load_reference


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("case", ["default", "optrun1"])
def test_whole_year_matches_fortran_noahmp(bondville, case):
    from diffland.io.namelist import read_hrldas_namelist
    from diffland.simulate import simulate

    options, _ = read_hrldas_namelist(need(REFERENCE / f"namelist.hrldas.{case}"))
    ref = load_reference(need(REFERENCE / f"bondville_{case}.csv.gz"))
    b = bondville
    params = bondville_params(b["site"])
    out = simulate(b["forcing"], params, options, b["initial"], time=b["time"], lat=b["site"]["lat"],
                   lon=b["site"]["lon"], precision="float64")
    assert out["SOIL_M1"].dtype == np.float64
    assert len(out["SOIL_M1"]) == len(ref) == 17472
    recs = fidelity_table(out, ref)
    print(f"\n{case}\n" + format_table(recs))
    failed = [r for r in recs if r["tolerance"] is not None and not r["ok"]]
    assert not failed, failed
    # the yearly totals of the README (mm): ET, surface and underground runoff
    sim = next(r for r in recs if r["name"] == "totals_sim_mm")["value"]
    expect = {"default": (704.5, 143.3, 18.5), "optrun1": (905.5, 4.8, 0.5)}[case]
    np.testing.assert_allclose([sim["ET"], sim["RUNSF"], sim["RUNSB"]], expect, rtol=0.03, atol=0.05)
