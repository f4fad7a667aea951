"""Tests for diffland.parameters: table parser, build_params, derived identities, bounds."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from diffland.parameters.bounds import PARAM_BOUNDS, ParameterRangeError, check_params
from diffland.parameters.build import DERIVED_SOIL_KEYS, SOIL_KEYS, build_params
from diffland.parameters.derived import derive_soil_params
from diffland.parameters.table import (NamelistError, parse_namelist_text, read_namelist_file,
                                       read_noahmp_table)

REF = Path(__file__).resolve().parents[2] / "shared" / "data"
TBL = REF / "noahmp_tables" / "v5" / "NoahmpTable.TBL"
README = REF / "noahmp_reference" / "README.md"


@pytest.fixture(scope="module")
def table():
    if not TBL.exists():
        pytest.skip(f"reference data not available: {TBL}")
    return read_noahmp_table(TBL)


@pytest.fixture(scope="module")
def bondville(table):
    return build_params(soil_class=np.array([8]), veg_class=np.array([12]), table=table,
                        shdmax=96.0, tbot=285.0, soil_color=4, slope_type=1)


# ------------------------------------------------------------------------------------------
# namelist parser
# ------------------------------------------------------------------------------------------

def test_parser_syntax_features():
    text = """
    junk outside groups is ignored
    &grp  ! comment
     A = 1, 2,
         3            ! continuation
     B = 3*0.5, 1.E4, .5, 5., 2.0d-3
     C = .true.  D = .FALSE.
     S = 'it''s ! not a comment', "x/y"
     X(2) = 7.0
     X(4) = 9
     R(1:3) = 1, 2, 3
     N = 1,,3
    /
    &other
     Q = -1.5e-06 /
    """
    g = parse_namelist_text(text, "mem.nml")
    grp = g["grp"]
    assert grp["A"] == [1, 2, 3]
    assert grp["B"] == [0.5, 0.5, 0.5, 1.0e4, 0.5, 5.0, 2.0e-3]
    assert grp["C"] is True and grp["D"] is False
    assert grp["S"] == ["it's ! not a comment", "x/y"]
    assert grp["X"] == [None, 7.0, None, 9]
    assert grp["R"] == [1, 2, 3]
    assert grp["N"] == [1, None, 3]
    assert grp["__lines__"]["B"] == 6
    assert g["other"]["Q"] == -1.5e-06


@pytest.mark.parametrize("text, line, words", [
    ("&g\n A = 1\n B = 2\n", 1, ["never closed"]),
    ("&g\n A = 1\n&h\n B = 2\n/\n", 3, ["not closed", "&h"]),
    ("&g\n A = 1.2.3\n/\n", 2, ["cannot parse value", "A"]),
    ("&g\n 5.0, 6.0\n/\n", 2, ["before any"]),
    ("&g\n A = 'abc\n/\n", 2, ["unterminated string"]),
    ("&g\n = 3\n/\n", 2, ["without a variable name"]),
    ("&g\n A = 1\n/\n&g\n A = 2\n/\n", 4, ["appears twice"]),
])
def test_parser_errors_name_file_and_line(text, line, words):
    with pytest.raises(NamelistError) as exc:
        parse_namelist_text(text, "bad.nml")
    msg = str(exc.value)
    assert "bad.nml" in msg
    if line > 1:
        assert f"line {line}" in msg
    for w in words:
        assert w in msg


def test_read_table_errors(tmp_path):
    bad = tmp_path / "NoahmpTable.TBL"
    bad.write_text("&noahmp_modis_parameters\n CH2OP = 0.1, 0.1\n/\n")
    with pytest.raises(NamelistError, match="required namelist group"):
        read_noahmp_table(bad)
    with pytest.raises(FileNotFoundError, match="not found"):
        read_noahmp_table(tmp_path / "nope.TBL")


def test_read_table_wrong_class_count(tmp_path, table):
    text = TBL.read_text().replace(
        " CH2OP    =   0.1,    0.1,", " CH2OP    =   0.1,", 1)
    p = tmp_path / "short.TBL"
    p.write_text(text)
    with pytest.raises(NamelistError) as exc:
        read_noahmp_table(p)
    assert "CH2OP" in str(exc.value) and "NVEG = 20" in str(exc.value)
    assert re.search(r"line \d+", str(exc.value))


# ------------------------------------------------------------------------------------------
# table values == README values
# ------------------------------------------------------------------------------------------

def _readme_pairs(prefix: str) -> dict[str, str]:
    if not README.exists():
        pytest.skip("reference README not available")
    for line in README.read_text().splitlines():
        if line.startswith(prefix):
            body = line.split(":", 1)[1]
            pairs = {}
            for item in body.split(";"):
                if "=" in item:
                    k, v = item.split("=", 1)
                    pairs[k.strip()] = v.strip()
            return pairs
    raise AssertionError(f"README line starting with {prefix!r} not found")


def test_table_groups_and_sizes(table):
    assert table.nveg("modis") == 20
    assert table.nsoil_classes == 19
    assert table.soil_dataset == "STAS"
    assert table["noahmp_modis_parameters"]["VCMX25"].shape == (20,)
    assert table.soil_group()["BB"].shape == (19,)


def test_soil_class8_matches_readme(bondville):
    p = bondville
    expect = {"BEXP": 8.72, "SMCMAX": 0.464, "SMCREF": 0.387, "SMCWLT": 0.120, "SMCDRY": 0.120,
              "PSISAT": 0.617, "DKSAT": 2.03e-6, "DWSAT": 2.35e-5, "QUARTZ": 0.10, "BVIC": 0.22,
              "AXAJ": 0.015, "BXAJ": 0.22, "XXAJ": 0.22, "BDVIC": 0.22, "BBVIC": 1.035,
              "GDVIC": 0.35}
    for k, v in expect.items():
        assert p[k].shape == (4, 1), k
        np.testing.assert_allclose(p[k], v, rtol=1e-6, err_msg=k)


def test_general_params_match_readme(bondville):
    expect = {"SLOPE": 0.1, "CSOIL": 2.0e6, "REFDK": 2.0e-6, "REFKDT": 3.0, "FRZK": 0.15,
              "ZBOT": -8.0, "CZIL": 0.1}
    for k, v in expect.items():
        assert bondville[k].shape == (1,)
        np.testing.assert_allclose(bondville[k], v, rtol=1e-6, err_msg=k)


def test_modis12_veg_params_match_readme(table, bondville):
    pairs = _readme_pairs("- MODIS class 12 (Croplands) vegetation parameters")
    assert len(pairs) >= 89
    months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    checked = 0
    for k, v in pairs.items():
        val = float(v)
        if k in ("ISURBAN", "ISWATER", "ISBARREN", "ISICE", "ISCROP", "EBLFOREST", "NATURAL"):
            assert int(table.scalar("noahmp_modis_parameters", k)) == int(val), k
        elif k[:4] in ("LAI_", "SAI_"):
            arr = bondville["LAIM" if k.startswith("LAI") else "SAIM"]
            assert arr.shape == (12, 1)
            np.testing.assert_allclose(arr[months.index(k[4:]), 0], val, rtol=1e-6, err_msg=k)
        else:
            np.testing.assert_allclose(bondville[k][0], val, rtol=1e-6, err_msg=k)
        checked += 1
    assert checked == len(pairs)
    assert bondville["IS_CROP"][0] == 1.0 and bondville["IS_URBAN"][0] == 0.0
    assert bondville["NROOT"].dtype == np.float32 and bondville["NROOT"][0] == 3.0


def test_radiation_params_match_readme(table, bondville):
    pairs = _readme_pairs("- Radiation parameters")
    rad = table["noahmp_rad_parameters"]
    for k, v in pairs.items():
        vals = [float(x) for x in v.strip("[]").split(",")]
        np.testing.assert_allclose(rad[k], vals, rtol=1e-6, err_msg=k)
    # soil colour 4 is the 4th entry
    for k in ("ALBSAT_VIS", "ALBSAT_NIR", "ALBDRY_VIS", "ALBDRY_NIR"):
        vals = [float(x) for x in pairs[k].strip("[]").split(",")]
        np.testing.assert_allclose(bondville[k][0], vals[3], rtol=1e-6, err_msg=k)
    np.testing.assert_allclose(bondville["ALBSAT_VIS"][0], 0.09, rtol=1e-6)
    np.testing.assert_allclose(bondville["ALBDRY_NIR"][0], 0.36, rtol=1e-6)
    for k, v in {"ALBICE_VIS": 0.80, "ALBICE_NIR": 0.55, "ALBLAK_VIS": 0.60, "ALBLAK_NIR": 0.40,
                 "OMEGAS_VIS": 0.8, "OMEGAS_NIR": 0.4, "BETADS": 0.5, "BETAIS": 0.5,
                 "EG_SOIL": 0.97, "EG_LAKE": 0.98, "EICE": 0.98}.items():
        np.testing.assert_allclose(bondville[k][0], v, rtol=1e-6, err_msg=k)


def test_global_params_match_readme(bondville):
    pairs = _readme_pairs("- Global parameters")
    assert len(pairs) > 40
    for k, v in pairs.items():
        assert bondville[k].shape == (1,), k
        np.testing.assert_allclose(bondville[k][0], float(v), rtol=1e-6, err_msg=k)


def test_site_values(bondville):
    np.testing.assert_allclose(bondville["SHDMAX"], 0.96, rtol=1e-6)  # percent -> fraction
    np.testing.assert_allclose(bondville["TBOT"], 285.0)
    assert all(v.dtype == np.float32 for v in bondville.values())


# ------------------------------------------------------------------------------------------
# build_params behaviour
# ------------------------------------------------------------------------------------------

def test_vectorised_lookup(table):
    soil = np.array([1, 8, 12, 4, 19])
    veg = np.array([1, 12, 10, 5, 20])
    p = build_params(soil_class=soil, veg_class=veg, table=table, nsoil=3, dtype=np.float64,
                     soil_color=np.array([1, 4, 8, 2, 3]), slope_type=np.array([1, 2, 3, 4, 9]))
    bb = table.soil_group()["BB"]
    vc = table["noahmp_modis_parameters"]["VCMX25"]
    assert p["BEXP"].shape == (3, 5) and p["BEXP"].dtype == np.float64
    np.testing.assert_array_equal(p["BEXP"], np.broadcast_to(bb[soil - 1], (3, 5)))
    np.testing.assert_array_equal(p["VCMX25"], vc[veg - 1])
    np.testing.assert_array_equal(p["LAIM"][6], table["noahmp_modis_parameters"]["LAI_JUL"][veg - 1])
    np.testing.assert_allclose(p["ALBSAT_VIS"], [0.15, 0.09, 0.05, 0.11, 0.10])
    np.testing.assert_allclose(p["SLOPE"], [0.1, 0.6, 1.0, 0.35, 0.0])
    assert "SHDMAX" not in p and "TBOT" not in p
    for k, v in p.items():
        assert v.shape[-1] == 5, k
        if k in SOIL_KEYS:
            assert v.shape == (3, 5)
        elif k in ("LAIM", "SAIM"):
            assert v.shape == (12, 5)
        else:
            assert v.shape == (5,), k


def test_per_layer_soil_classes(table):
    soil = np.array([[8, 1], [8, 1], [4, 12], [4, 12]])
    p = build_params(soil_class=soil, veg_class=[12, 10], table=table)
    np.testing.assert_allclose(p["SMCMAX"][:, 0], [0.464, 0.464, 0.476, 0.476], rtol=1e-6)
    np.testing.assert_allclose(p["SMCMAX"][:, 1], [0.339, 0.339, 0.468, 0.468], rtol=1e-6)


def test_overrides(table):
    p = build_params(soil_class=[8, 8], veg_class=[12, 12], table=table, dtype=np.float64,
                     overrides={"REFKDT": 1.5, "VCMX25": [50.0, 60.0], "BEXP": [5.0, 6.0],
                                "DKSAT": np.full((4, 2), 1e-5), "SHDMAX": 0.5,
                                "refdk": 3e-6, "LAIM": np.arange(12.0)})
    np.testing.assert_allclose(p["REFKDT"], 1.5)
    np.testing.assert_allclose(p["VCMX25"], [50.0, 60.0])
    np.testing.assert_allclose(p["BEXP"], [[5.0, 6.0]] * 4)
    np.testing.assert_allclose(p["DKSAT"], 1e-5)
    np.testing.assert_allclose(p["SHDMAX"], 0.5)
    np.testing.assert_allclose(p["REFDK"], 3e-6)
    np.testing.assert_allclose(p["LAIM"][:, 1], np.arange(12.0))
    # not consistent: derived keys keep table values
    np.testing.assert_allclose(p["SMCREF"], 0.387)


def test_override_errors(table):
    with pytest.raises(ValueError) as exc:
        build_params(soil_class=[8], veg_class=[12], table=table, overrides={"BEXPP": 5.0})
    assert "BEXPP" in str(exc.value) and "BEXP" in str(exc.value)
    with pytest.raises(ValueError, match="VCMX25.*shape"):
        build_params(soil_class=[8, 8], veg_class=[12, 12], table=table,
                     overrides={"VCMX25": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="consistent=True"):
        build_params(soil_class=[8], veg_class=[12], table=table, consistent=True,
                     overrides={"SMCREF": 0.3})


@pytest.mark.parametrize("kwargs, words", [
    (dict(soil_class=[8, 20], veg_class=[12, 12]), ["soil_class", "20", "cell 1", "1..19"]),
    (dict(soil_class=[8, 8, 0], veg_class=[12, 12, 12]), ["soil_class", "cell 2", "1..19"]),
    (dict(soil_class=[8, 8], veg_class=[12, 21]), ["veg_class", "21", "cell 1", "1..20"]),
    (dict(soil_class=[8], veg_class=[12.5]), ["veg_class", "integer"]),
    (dict(soil_class=[8, 8], veg_class=[12]), ["soil_class", "2 cells"]),
    (dict(soil_class=[8], veg_class=[12], soil_color=9), ["soil_color", "1..8"]),
    (dict(soil_class=[8], veg_class=[12], slope_type=10), ["slope_type", "1..9"]),
    (dict(soil_class=[8], veg_class=[12], shdmax=150.0), ["shdmax", "percent"]),
    (dict(soil_class=[8], veg_class=[12], tbot=12.0), ["tbot", "Celsius"]),
])
def test_invalid_inputs(table, kwargs, words):
    with pytest.raises(ValueError) as exc:
        build_params(table=table, **kwargs)
    for w in words:
        assert w in str(exc.value), (w, str(exc.value))


def test_water_soil_and_urban(table):
    with pytest.warns(UserWarning, match="reset to 7"):
        p = build_params(soil_class=[14, 8, 8], veg_class=[12, 13, 55], table=table,
                         dtype=np.float64)
    np.testing.assert_allclose(p["BEXP"][:, 0], 6.77)  # class 7 values
    np.testing.assert_array_equal(p["IS_URBAN"], [0.0, 1.0, 1.0])
    # urban: hard-coded soil moisture limits and heat capacity, ISURBAN vegetation for LCZ 55
    np.testing.assert_allclose(p["SMCMAX"][:, 1:], 0.45)
    np.testing.assert_allclose(p["SMCREF"][:, 1:], 0.42)
    np.testing.assert_allclose(p["SMCWLT"][:, 1:], 0.40)
    np.testing.assert_allclose(p["CSOIL"], [2.0e6, 3.0e6, 3.0e6])
    np.testing.assert_allclose(p["HVT"][1:], 15.0)


# ------------------------------------------------------------------------------------------
# derived identities
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [1, 2, 4, 6, 9, 12])
def test_derived_reproduce_table(table, cls):
    sg = table.soil_group()
    i = cls - 1
    d = derive_soil_params(sg["BB"][i], sg["MAXSMC"][i], sg["SATDK"][i], sg["SATPSI"][i])
    # the table has 3 significant digits (DWSAT) / 3 decimals (SMC*)
    np.testing.assert_allclose(d["DWSAT"], sg["SATDW"][i], rtol=5e-3)
    np.testing.assert_allclose(d["SMCWLT"], sg["WLTSMC"][i], atol=6e-4)
    np.testing.assert_allclose(d["SMCDRY"], sg["DRYSMC"][i], atol=6e-4)
    np.testing.assert_allclose(d["SMCREF"], sg["REFSMC"][i], atol=6e-4)


def test_consistent_build(table):
    p = build_params(soil_class=[8, 4], veg_class=[12, 12], table=table, consistent=True,
                     dtype=np.float64)
    np.testing.assert_allclose(p["SMCREF"][0], [0.3869, 0.3604], atol=2e-4)
    np.testing.assert_allclose(p["SMCWLT"], p["SMCDRY"])
    p2 = build_params(soil_class=[8], veg_class=[12], table=table, consistent=True,
                      dtype=np.float64, overrides={"BEXP": 4.0})
    expect = derive_soil_params(4.0, 0.464, 2.03e-6, 0.617)
    for k in DERIVED_SOIL_KEYS:
        np.testing.assert_allclose(p2[k], expect[k], rtol=1e-12)
    assert p2["SMCWLT"][0, 0] < p["SMCWLT"][0, 0]  # smaller b -> drier wilting point


def test_derived_in_jax():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    def f(b):
        d = derive_soil_params(b, jnp.float32(0.464), jnp.float32(2.03e-6), jnp.float32(0.617))
        return d["SMCREF"] + d["SMCWLT"] + 1e4 * d["DWSAT"]

    b = jnp.asarray([8.72, 5.0], dtype=jnp.float32)
    out = jax.jit(f)(b)
    assert out.dtype == jnp.float32
    g = jax.grad(lambda x: jnp.sum(f(x)))(b)
    assert np.all(np.isfinite(np.asarray(g)))
    # finite-difference check of d(SMCREF)/dBEXP in float64 numpy
    h = 1e-5
    r = lambda x: derive_soil_params(x, 0.464, 2.03e-6, 0.617)["SMCREF"]  # noqa: E731
    gr = jax.grad(lambda x: derive_soil_params(x, 0.464, 2.03e-6, 0.617)["SMCREF"])(jnp.float32(8.72))
    np.testing.assert_allclose(float(gr), (r(8.72 + h) - r(8.72 - h)) / (2 * h), rtol=2e-2)


# ------------------------------------------------------------------------------------------
# bounds
# ------------------------------------------------------------------------------------------

def test_bounds_cover_table(table):
    required = {"BEXP", "SMCMAX", "DKSAT", "PSISAT", "QUARTZ", "RSURF_EXP", "REFKDT", "SLOPE",
                "VCMX25", "MP", "CWPVT", "HVT", "RGL", "TOPT", "CSOIL"}
    assert required <= set(PARAM_BOUNDS)
    for lo, hi, units in PARAM_BOUNDS.values():
        assert lo < hi and isinstance(units, str)
    soils = np.array([c for c in range(1, 20) if c != 14] * 2)  # 14 (water) is never a land soil
    vegs = np.arange(1, 21).repeat(2)[:soils.size]
    p = build_params(soil_class=soils, veg_class=vegs, table=table, shdmax=50.0, tbot=280.0,
                     slope_type=np.arange(1, 10).repeat(4)[:soils.size])
    check_params(p)  # every table value lies inside the bounds
    check_params(build_params(soil_class=soils, veg_class=vegs, table=table, consistent=True))


def test_check_params_messages(table):
    p = build_params(soil_class=[8, 8, 8], veg_class=[12, 12, 12], table=table, dtype=np.float64)
    p["BEXP"][2, 1] = 0.5
    with pytest.raises(ParameterRangeError) as exc:
        check_params(p)
    msg = str(exc.value)
    assert "BEXP" in msg and "cell 1" in msg and "0.5" in msg and "[1, 22]" in msg
    p = build_params(soil_class=[8, 8], veg_class=[12, 12], table=table, dtype=np.float64)
    p["SMCREF"][0, 0] = 0.5  # above SMCMAX 0.464
    with pytest.raises(ParameterRangeError, match=r"SMCREF < SMCMAX violated at layer/row 0, cell 0"):
        check_params(p)
    p = build_params(soil_class=[8], veg_class=[12], table=table, dtype=np.float64)
    p["TOPT"][0] = np.nan
    with pytest.raises(ParameterRangeError, match="TOPT at cell 0 = nan"):
        check_params(p)


def test_read_namelist_file_reference():
    nl = REF / "noahmp_reference" / "namelist.hrldas.default"
    if not nl.exists():
        pytest.skip("reference namelist not available")
    g = read_namelist_file(nl)["noahlsm_offline"]
    assert g["soil_thick_input"] == [0.1, 0.3, 0.6, 1.0]
    assert g["SKIP_FIRST_OUTPUT"] is False
