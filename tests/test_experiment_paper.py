"""``diffland experiment paper --quick`` on the real CONUS SMAP data (issue 5): the whole matrix runs end to
end and writes the report; scores are consistent between the training model and the transfer physics.
Skipped when ../shared/data is absent."""
import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from conftest import SHARED, need

CONUS = SHARED / "conus_smap"


def test_paper_experiment_quick(tmp_path, monkeypatch, jax_cache_dir):
    need(CONUS)
    monkeypatch.setenv("DIFFLAND_CACHE", str(tmp_path / "cache"))
    from diffland.cli import app
    from diffland.experiment.paper import EXPERIMENTS, experiment_id

    out = tmp_path / "paper"
    r = CliRunner().invoke(app, ["experiment", "paper", "--data", f"hydrodl:{CONUS}", "--out", str(out), "--quick"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    for f in ("report.md", "report.html", "results.csv", "cells.csv", "meta.json"):
        assert (out / f).is_file(), f
    assert len(list(out.glob("**/*.png"))) >= 4

    cells = pd.read_csv(out / "cells.csv")
    ids = {experiment_id(*e) for e in EXPERIMENTS}
    assert set(cells["experiment"]) == ids
    assert set(cells["period"]) == {"train", "test"}
    n = cells.groupby(["experiment", "period"]).size()
    assert (n == n.iloc[0]).all() and n.iloc[0] == 8  # 8 cells in quick mode
    for col in ("rmse_default", "rmse_model", "rmse_transfer"):
        assert np.isfinite(cells[col]).mean() > 0.9, col
    # default scores are the same physics run for every experiment
    d = cells.groupby(["period", "cell"])["rmse_default"].nunique()
    assert (d == 1).all()
    # direct route without a/b: the training model is the same physics in float32, so its skill equals the
    # float64 transfer skill up to float32 round-off
    dn = cells[(cells["route"] == "direct") & (~cells["ab"].astype(bool))]
    gap = np.nanmax(np.abs(dn["rmse_model"] - dn["rmse_transfer"]))
    assert gap < 2e-3, gap

    res = pd.read_csv(out / "results.csv")
    assert set(res["experiment"]) == ids
    md = (out / "report.md").read_text()
    assert "0.092" in md and "0.10" in md
    meta = json.loads((out / "meta.json").read_text())
    assert meta["quick"] and meta["n_cells"] == 8 and meta["wall_seconds"]["total"] > 0
    # the loss kind is an input of the training program: each regime-balanced direct run loads the program
    # its global twin compiled from the persistent compilation cache (the test session's, see conftest)
    assert meta["compile_cache"]["path"] == str(jax_cache_dir)
    assert meta["compile_cache"]["hits"] >= 2, meta["compile_cache"]

    # a second call reuses the finished runs instead of training again
    r2 = CliRunner().invoke(app, ["experiment", "paper", "--data", f"hydrodl:{CONUS}", "--out", str(out), "--quick",
                                  "--only", "direct|noab|global"])
    assert r2.exit_code == 0, r2.output + repr(r2.exception)
    assert "reusing the finished run" in r2.output
