"""Report of the paper experiment (issue 5): medians, findings in both directions, files written."""
import numpy as np
import pandas as pd
import pytest

from diffland.experiment.report import findings, summarise, write_report

REG = ["arid", "semi-arid", "sub-humid", "humid"]


def _cells(ab_gap=0.02, global_hurts_arid=True):
    rows = []
    for route in ("surrogate", "direct"):
        for ab in (True, False):
            for loss in ("global", "regime"):
                eid = f"{route}|{'ab' if ab else 'noab'}|{loss}"
                for period in ("train", "test"):
                    for c in range(12):
                        reg = REG[c % 4]
                        d = 0.10
                        t = 0.06
                        if loss == "global" and reg == "arid" and global_hurts_arid:
                            t = 0.11  # worse than default
                        m = t - (ab_gap if ab else 0.0)
                        rows.append({"experiment": eid, "route": route, "ab": ab, "loss": loss, "period": period,
                                     "cell": c, "lat": 30 + c, "lon": -100 + c,
                                     "group": "holdout" if c >= 10 else ("val" if c == 9 else "train"),
                                     "regime": reg, "rmse_default": d, "rmse_model": m, "rmse_transfer": t,
                                     "bias_default": 0.05, "bias_transfer": 0.0, "r_default": 0.7,
                                     "r_transfer": 0.8})
    return pd.DataFrame(rows)


def test_summarise_medians_and_changes():
    res = summarise(_cells())
    r = res[(res["experiment"] == "direct|noab|regime") & (res["period"] == "test") & (res["group"] == "train")
            & (res["regime"] == "all")].iloc[0]
    assert r["n_cells"] == 10 and r["rmse_default"] == pytest.approx(0.10)
    assert r["rmse_transfer"] == pytest.approx(0.06) and r["change_pct"] == pytest.approx(-40.0)
    a = res[(res["experiment"] == "direct|ab|global") & (res["period"] == "test") & (res["group"] == "all")
            & (res["regime"] == "arid")].iloc[0]
    assert a["rmse_transfer"] == pytest.approx(0.11) and a["change_pct"] == pytest.approx(10.0)
    assert a["transfer_gap"] == pytest.approx(0.02)
    assert set(res["group"]) == {"train", "holdout", "all"}


def test_findings_in_both_directions():
    f = findings(_cells(ab_gap=0.02, global_hurts_arid=True))
    assert f["ab_transfer_loss"]["reproduces"] and f["ab_transfer_loss"]["mean_gap_ab"] == pytest.approx(0.02)
    assert f["global_compromise"]["reproduces"]
    assert "arid" in f["global_compromise"]["routes"][0]["worse_global"]
    g = findings(_cells(ab_gap=0.0, global_hurts_arid=False))
    assert not g["ab_transfer_loss"]["reproduces"] and not g["global_compromise"]["reproduces"]
    assert "does not reproduce" in g["ab_transfer_loss"]["text"]
    assert g["paper_numbers"]["default_rmse"] == pytest.approx(0.10)
    assert g["direct_vs_surrogate"]["pairs"][0]["difference"] == pytest.approx(0.0)


def test_write_report_files(tmp_path):
    import xarray as xr

    cells = _cells()
    t = np.arange("2016-04-01", "2016-05-01", dtype="datetime64[D]")
    series = {"humid": {"cell": 3, "lat": 33.0, "lon": -97.0, "regime": "humid", "time": t,
                        "obs": np.where(np.arange(30) % 3 == 0, 0.3, np.nan), "default": np.full(30, 0.35),
                        "learned": {"surrogate|ab|global": np.full(30, 0.31)}}}  # no arid cell: skipped
    lds = xr.Dataset({"learned_BEXP": ("cell", np.linspace(3, 9, 12)), "learned_DKSAT": ("cell", np.full(12, 1e-6))},
                     coords={"cell": np.arange(12), "lat": ("cell", np.arange(12.0)),
                             "lon": ("cell", -np.arange(12.0) - 90)})
    learned = {e: lds for e in cells["experiment"].unique()}
    meta = {"data": "synthetic", "n_cells": 12, "quick": True, "train_period": ["a", "b"],
            "test_period": ["c", "d"], "wall_seconds": {"total": 5.0}, "command": "diffland experiment paper"}
    out = write_report(tmp_path, cells, series=series, learned=learned,
                       surrogate={"accuracy": {"test_rmse": 0.02}, "at_learned": {}, "ensemble": {"members": 3},
                                  "seconds": 1.0}, meta=meta)
    for k in ("report_md", "report_html", "results_csv"):
        assert out[k].is_file()
    names = {p.name for p in out["figures"]}
    assert "timeseries_humid.png" in names and "timeseries_arid.png" not in names
    assert {"box_regime_change.png", "cdf_rmse_test.png", "transfer_gap.png", "map_learned_BEXP.png"} <= names
    md = out["report_md"].read_text()
    assert "0.092" in md and "0.10" in md and "surrogate\\|ab\\|global" in md
    assert "<table>" in out["report_html"].read_text()
    assert len(pd.read_csv(out["results_csv"])) > 8
