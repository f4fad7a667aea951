"""Single-site calibration at Bondville 1998 against the in-situ 5 cm soil moisture (small budget).

The full figure (budget 144) comes from ``diffland calibrate --method dds --site bondville
--budget 144 --out DIR``; here a budget of 32 parameter sets (2 batched runs of 16 cells) keeps
the test short.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from conftest import BONDVILLE_DAT, SHARED, need

OBS = SHARED / "bondville_1998" / "forcing98_with_validation.dat"


def test_dds_batched_budget_and_progress():
    from diffland.calibration.pointcal import dds_batched

    calls = []

    def f(x):
        calls.append(len(x))
        return np.sum((x - 0.3) ** 2, axis=1)

    res = dds_batched(f, np.zeros(3), np.ones(3), 50, batch=8, seed=1, x0=np.full(3, 0.9))
    assert sum(calls) == res.n_evals == 50 and calls == [8] * 6 + [2] and res.info["model_runs"] == 7
    assert np.all(np.diff(res.history) <= 0) and res.history[0] == pytest.approx(3 * 0.36)
    assert res.f < 0.05 and np.all((res.x >= 0) & (res.x <= 1))


def test_observations_aligned_to_model_steps():
    need(BONDVILLE_DAT), need(OBS)
    from diffland.calibration.pointcal import BondvilleProblem
    from diffland.data import read_noah_point

    prob = BondvilleProblem()
    ds = read_noah_point(OBS)
    # local standard time 1998-01-01 18:30 (period end) = 1998-01-02 00:30 UTC = the first model step
    assert prob.time[0] == np.datetime64("1998-01-02T00:30:00")
    k = int(np.flatnonzero(ds["obs_time"].values == np.datetime64("1998-01-02T00:30:00"))[0])
    assert prob.obs[0] == pytest.approx(float(ds["SM_5cm"].values[k, 0]))
    assert prob.train.sum() > 8000 and prob.test.sum() > 8000 and not np.any(prob.train & prob.test)


def test_bondville_calibration_cli(tmp_path):
    need(BONDVILLE_DAT), need(OBS)
    from diffland.cli_export import calibrate_cmd

    app = typer.Typer()
    app.command("calibrate")(calibrate_cmd)
    app.command("noop")(lambda: None)
    r = CliRunner().invoke(app, ["calibrate", "--method", "dds", "--site", "bondville", "--budget", "32",
                                 "--batch", "16", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "calibration.json").read_text())
    rm = res["rmse"]
    vals = [rm[a][b] for a in ("default", "calibrated") for b in ("train", "test")]
    assert all(np.isfinite(vals)) and all(0 < v < 0.3 for v in vals)
    assert rm["calibrated"]["train"] < rm["default"]["train"]
    assert res["budget"] == 32 and len(res["best_loss_history"]) == 32 and res["model_runs"] == 2
    assert all(np.isfinite(list(res["params"].values())))
    assert (tmp_path / "calibrated_params.nc").exists() and (tmp_path / "summary.txt").exists()


def test_per_cell_dds_on_synthetic_cells():
    """calibrate_cells: one model run per DDS step for all cells; held-out cells keep the defaults."""
    from diffland.calibration.cells import calibrate_cells
    from diffland.data.synthetic import make_synthetic
    from diffland.learning.data import default_params_from_dataset, initial_conditions, overpass_indices
    from diffland.parameters import derive_soil_params
    from diffland.physics.options import Options
    from diffland.simulate import simulate

    ds = make_synthetic(3, 16, dt=3600, seed=3)
    ds["soil_class"] = ds["ISLTYP"]
    ds["veg_class"] = ds["IVGTYP"]
    ds["shdmax"] = ("cell", np.full(3, 70.0))
    ds["tbot"] = ("cell", np.full(3, 288.0))
    opt = Options(dt=3600.0)
    p = default_params_from_dataset(ds, opt)
    truth = {k: np.array(v, float) for k, v in p.items()}
    truth["SMCMAX"] = np.clip(truth["SMCMAX"] * 1.12, 0.3, 0.55)
    truth["BEXP"] = np.clip(truth["BEXP"] * 0.7, 3, 11)
    truth.update(derive_soil_params(truth["BEXP"], truth["SMCMAX"], truth["DKSAT"], truth["PSISAT"]))
    forcing = {k: np.asarray(ds[k].values, float) for k in ("T2D", "Q2D", "U2D", "V2D", "PSFC", "SWDOWN",
                                                              "LWDOWN", "RAINRATE")}
    ini = initial_conditions(ds, p, opt, forcing["T2D"])
    sm = simulate(forcing, truth, opt, ini, time=ds["time"].values, lat=ds["lat"].values, lon=ds["lon"].values,
                  checkpoint=False)["SOIL_M1"]
    idx = overpass_indices(ds["time"].values, ds["obs_time"].values, ds["lon"].values)
    ds["SMAP_AM"] = (("obs_time", "cell"), sm[idx, np.arange(3)[None, :]].astype(np.float32))
    r = calibrate_cells(ds, train_period=("2015-04-01", "2015-04-08"), test_period=("2015-04-09", "2015-04-16"),
                        budget=10, holdout=[2], options=opt)
    d, c = np.array(r["rmse"]["default"]["train"]), np.array(r["rmse"]["dds"]["train"])
    assert np.all(np.isfinite(d)) and np.all(np.isfinite(c)) and r["budget_model_runs"] == 10
    assert np.all(c[:2] < d[:2])                                  # calibrated cells improve
    np.testing.assert_allclose(r["rmse"]["dds"]["test"][2], r["rmse"]["default"]["test"][2], rtol=0, atol=2e-3)
    assert r["held_out"] == [False, False, True]
