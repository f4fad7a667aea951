"""``diffland export`` round trip: learned parameters -> netcdf / hrldas / table -> read back -> simulate.

A fake run directory holds ``learned_params.nc`` in the layout of ``diffland.learning.api`` for
three cells (soil classes 8, 8, 6; MODIS classes 12, 12, 10) with perturbed BEXP, SMCMAX, DKSAT,
PSISAT (+ the derived columns) and RSURF_EXP. Each export is read back with the package's readers
and 96 steps of the Bondville 1998 forcing are simulated with the original and the read-back
parameters: identical outputs (float32, exact). For the table, the expected parameters are the
per-class medians rounded to float32.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer
import xarray as xr
from typer.testing import CliRunner

from conftest import BONDVILLE_DAT, need

SOIL = np.array([8, 8, 6])
VEG = np.array([12, 12, 10])
CELLS = np.array([10, 11, 12])
LEARNED_SOIL = ("BEXP", "SMCMAX", "DKSAT", "PSISAT", "DWSAT", "SMCWLT", "SMCDRY", "SMCREF")
TABLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "noahmp_tables" / "v5" / "NoahmpTable.TBL"


def _app():
    from diffland.cli_export import export_cmd

    app = typer.Typer()
    app.command("export")(export_cmd)
    app.command("noop")(lambda: None)  # keep "export" a sub-command
    return app


def _learned() -> dict:
    from diffland.parameters import build_params, default_table, derive_soil_params

    base = build_params(soil_class=SOIL, veg_class=VEG, table=default_table(), dtype=np.float64)
    f = np.array([1.15, 0.9, 1.3])
    v = {"BEXP": base["BEXP"] * f, "SMCMAX": base["SMCMAX"] * np.array([1.05, 0.95, 1.1]),
         "DKSAT": base["DKSAT"] * np.array([2.0, 0.5, 3.0]), "PSISAT": base["PSISAT"] * np.array([0.8, 1.2, 0.7])}
    v = {k: np.asarray(a, np.float32) for k, a in v.items()}
    d = derive_soil_params(*(v[k].astype(np.float64) for k in ("BEXP", "SMCMAX", "DKSAT", "PSISAT")))
    v.update({k: np.asarray(a, np.float32) for k, a in d.items()})
    v["RSURF_EXP"] = np.array([3.0, 4.5, 2.25], np.float32)
    return v


def _write_run(run: Path, learned: dict, with_classes: bool = False):
    run.mkdir()
    ds = xr.Dataset(coords={"cell": CELLS, "lat": ("cell", [40.01, 40.02, 40.03]),
                            "lon": ("cell", [-88.37, -88.36, -88.35]), "soil_layer": [1, 2, 3, 4]})
    for k, a in learned.items():
        ds[k] = (("soil_layer", "cell") if a.ndim == 2 else ("cell",), a, {"units": "1"})
    ds["learned_BEXP"] = ("cell", learned["BEXP"][0])          # network output: not a parameter
    ds["ab_a"] = ("cell", np.ones(3, np.float32))               # loss factor: not a parameter
    if with_classes:
        ds["soil_class"] = ("cell", SOIL.astype(np.int32))
        ds["veg_class"] = ("cell", VEG.astype(np.int32))
    ds.to_netcdf(run / "learned_params.nc")


@pytest.fixture(scope="module")
def case():
    need(BONDVILLE_DAT)
    from diffland.physics.options import Options
    from diffland.runner import load_case

    time, f, site, initial, dz = load_case(BONDVILLE_DAT)
    n = 96
    return {"time": time[:n], "forcing": {k: np.repeat(v[:n], 3, axis=1) for k, v in f.items()},
            "initial": {k: np.repeat(v, 3, axis=-1) for k, v in initial.items()},
            "options": Options(dt=1800.0, soil_dz=dz), "site": site}


def _params(overrides: dict | None = None, table=None):
    from diffland.parameters import build_params, default_table, read_noahmp_table

    tbl = default_table() if table is None else read_noahmp_table(table)
    return build_params(soil_class=SOIL, veg_class=VEG, table=tbl, shdmax=np.full(3, 96.0), tbot=np.full(3, 285.0),
                        overrides=overrides, dtype=np.float32)


def _sim(case, params):
    from diffland.simulate import simulate

    return simulate(case["forcing"], params, case["options"], case["initial"], time=case["time"],
                    lat=np.full(3, 40.01), lon=np.full(3, -88.37), precision="float32", checkpoint=False)


def _same(a: dict, b: dict):
    for k in ("SOIL_M1", "SOIL_M2", "SH2O1", "SOIL_T1", "LH", "HFX", "RUNSF", "RUNSB"):
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        assert np.all(np.isfinite(a[k]))


def test_export_netcdf_roundtrip(tmp_path, case):
    from diffland.export.netcdf import read_parameters_netcdf

    learned = _learned()
    _write_run(tmp_path / "run", learned)
    out = tmp_path / "params.nc"
    r = CliRunner().invoke(_app(), ["export", str(tmp_path / "run"), "--format", "netcdf", "--out", str(out)])
    assert r.exit_code == 0, r.output
    back, lat, lon = read_parameters_netcdf(out)
    assert set(back) == set(learned)                      # learned_*/ab_* left out
    np.testing.assert_allclose(lat, [40.01, 40.02, 40.03])
    with xr.open_dataset(out) as ds:
        assert ds.attrs["Conventions"] == "CF-1.8" and ds["lat"].attrs["standard_name"] == "latitude"
    for k in learned:
        np.testing.assert_array_equal(back[k], learned[k])
    _same(_sim(case, _params(learned)), _sim(case, _params(back)))


def test_export_hrldas_roundtrip(tmp_path, case):
    from diffland.export.hrldas import SOIL_3D_FIELDS, read_hrldas_setup

    learned = _learned()
    _write_run(tmp_path / "run", learned)
    cls = tmp_path / "classes.nc"
    xr.Dataset({"soil_class": ("cell", SOIL), "veg_class": ("cell", VEG)}, coords={"cell": CELLS}).to_netcdf(cls)
    out = tmp_path / "soil_props.nc"
    r = CliRunner().invoke(_app(), ["export", str(tmp_path / "run"), "--format", "hrldas", "--out", str(out),
                                    "--classes", str(cls)])
    assert r.exit_code == 0, r.output
    back = read_hrldas_setup(out)
    with xr.open_dataset(out) as ds:
        assert ds["bexp"].dims == ("Time", "soil_layers_stag", "south_north", "west_east")
    soil = {k: learned[k] for k in SOIL_3D_FIELDS if k in learned}
    orig = _params(soil)
    for k in SOIL_3D_FIELDS:                          # QUARTZ comes from the table for the cell's class
        np.testing.assert_array_equal(back[k], orig[k], err_msg=k)
    for k in ("REFDK", "REFKDT", "BVIC"):
        np.testing.assert_array_equal(back[k], orig[k] if orig[k].ndim == 1 else orig[k][0], err_msg=k)
    _same(_sim(case, orig), _sim(case, _params({k: back[k] for k in SOIL_3D_FIELDS})))


def test_export_table_roundtrip(tmp_path, case):
    need(TABLE)
    from diffland.cli_export import TABLE_NAMES
    from diffland.export.table import class_values_from_cells

    learned = _learned()
    _write_run(tmp_path / "run", learned, with_classes=True)
    out = tmp_path / "NoahmpTable.TBL"
    r = CliRunner().invoke(_app(), ["export", str(tmp_path / "run"), "--format", "table", "--out", str(out),
                                    "--table", str(TABLE)])
    assert r.exit_code == 0, r.output
    assert "RSURF_EXP" in r.output                   # a global scalar in the table: reported as not written
    expected = {}
    for k in LEARNED_SOIL:
        med = class_values_from_cells(learned[k][0], SOIL)
        assert TABLE_NAMES[k][2] == "soil"
        expected[k] = np.broadcast_to(np.array([np.float32(med[c]) for c in SOIL], np.float32), (4, 3))
    back = _params(table=out)
    for k, v in expected.items():
        np.testing.assert_array_equal(back[k], v, err_msg=k)
    # cells 0 and 1 share class 8: the table carries their median, not the per-cell values
    assert back["BEXP"][0, 0] == back["BEXP"][0, 1] != learned["BEXP"][0, 0]
    np.testing.assert_array_equal(back["BEXP"][:, 2], learned["BEXP"][:, 2])  # single-cell class: exact
    # everything else is the original table, byte for byte outside the replaced tokens
    default = _params()
    for k in ("QUARTZ", "VCMX25", "RSURF_EXP", "REFKDT", "LAIM"):
        np.testing.assert_array_equal(back[k], default[k], err_msg=k)
    _same(_sim(case, _params(expected)), _sim(case, back))


def test_export_table_needs_classes(tmp_path):
    _write_run(tmp_path / "run", _learned())
    r = CliRunner().invoke(_app(), ["export", str(tmp_path / "run"), "--format", "table",
                                    "--out", str(tmp_path / "t.TBL")])
    assert r.exit_code == 2
    assert "--classes" in r.output


def test_export_missing_run(tmp_path):
    r = CliRunner().invoke(_app(), ["export", str(tmp_path / "nope"), "--format", "netcdf",
                                    "--out", str(tmp_path / "x.nc")])
    assert r.exit_code == 2 and "learned_params.nc" in r.output
