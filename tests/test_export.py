"""Export: CF NetCDF parameter maps, HRLDAS soil-option-4 fields, NoahmpTable.TBL edits."""
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from diffland.export import hrldas, netcdf, table

TABLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "noahmp_tables" / "v5" / "NoahmpTable.TBL"


def _soil_params(ncell, nsoil=4, seed=0):
    rng = np.random.default_rng(seed)
    smcmax = rng.uniform(0.35, 0.5, (nsoil, ncell))
    return {
        "BEXP": rng.uniform(3, 11, (nsoil, ncell)),
        "SMCMAX": smcmax,
        "SMCREF": smcmax * 0.75,
        "SMCWLT": smcmax * 0.2,
        "SMCDRY": smcmax * 0.2,
        "DKSAT": 10 ** rng.uniform(-6.5, -4.5, (nsoil, ncell)),
        "DWSAT": 10 ** rng.uniform(-5.5, -4.5, (nsoil, ncell)),
        "PSISAT": rng.uniform(0.03, 0.8, (nsoil, ncell)),
        "QUARTZ": rng.uniform(0.1, 0.9, ncell),  # (cell,) -> same in every layer
    }


# ---------------------------------------------------------------- NetCDF
def test_netcdf_roundtrip_and_cf_attributes(tmp_path):
    p = _soil_params(5)
    p["VCMX25"] = np.linspace(40, 80, 5)
    lat, lon = np.linspace(30, 40, 5), np.linspace(-100, -90, 5)
    path = netcdf.write_parameters_netcdf(tmp_path / "params.nc", p, lat, lon, history="test run")
    back, lat2, lon2 = netcdf.read_parameters_netcdf(path)
    for k, v in p.items():
        np.testing.assert_array_equal(back[k], np.asarray(v, np.float32))
    np.testing.assert_array_equal(lat2, lat)
    with netCDF4.Dataset(path) as nc:
        assert nc.Conventions == "CF-1.8"
        assert "test run" in nc.history and nc.source.startswith("diffland")
        assert nc["lat"].units == "degrees_north" and nc["lat"].standard_name == "latitude"
        assert nc["lon"].units == "degrees_east" and nc["lon"].standard_name == "longitude"
        assert nc["BEXP"].dimensions == ("soil_layer", "cell")
        assert nc["VCMX25"].dimensions == ("cell",)
        assert nc["DKSAT"].units == "m s-1" and nc["DKSAT"].long_name
        assert set(nc["BEXP"].coordinates.split()) == {"lat", "lon"}
    # float64 storage is exact
    path64 = netcdf.write_parameters_netcdf(tmp_path / "p64.nc", p, lat, lon, dtype=np.float64)
    back64, _, _ = netcdf.read_parameters_netcdf(path64)
    np.testing.assert_array_equal(back64["DKSAT"], p["DKSAT"])


def test_netcdf_errors(tmp_path):
    with pytest.raises(ValueError, match="metadata"):
        netcdf.write_parameters_netcdf(tmp_path / "x.nc", {"FOO": np.ones(2)}, [0, 1], [0, 1])
    netcdf.write_parameters_netcdf(tmp_path / "x.nc", {"FOO": np.ones(2)}, [0, 1], [0, 1],
                                   metadata={"FOO": {"units": "1", "long_name": "foo"}})
    with pytest.raises(ValueError, match="cells"):
        netcdf.write_parameters_netcdf(tmp_path / "y.nc", {"BEXP": np.ones(3)}, [0, 1], [0, 1])


# ---------------------------------------------------------------- HRLDAS
def test_hrldas_layout_and_roundtrip(tmp_path):
    p = _soil_params(6)
    path = hrldas.write_hrldas_soil_properties(tmp_path / "soil.nc", p, lat=np.arange(6.0), lon=np.arange(6.0))
    with netCDF4.Dataset(path) as nc:
        # as READ_3D_SOIL reads them: lower-case names, Fortran xdum(x, y, nsoil) == C (soil, y, x)
        for name in hrldas.SOIL_3D_FIELDS.values():
            assert nc[name].dimensions == ("Time", "soil_layers_stag", "south_north", "west_east")
            assert nc[name].dtype == np.float32
        for name in hrldas.FIELDS_2D.values():
            assert nc[name].dimensions == ("Time", "south_north", "west_east")
        assert nc.dimensions["west_east"].size == 6 and nc.dimensions["south_north"].size == 1
        assert nc.dimensions["soil_layers_stag"].size == 4
        # cell 3, layer 2 (1-based) of BEXP sits at soil_layers_stag=1, west_east=3
        assert nc["bexp"][0, 1, 0, 3] == np.float32(p["BEXP"][1, 3])
        assert nc["refkdt"][0, 0, 0] == np.float32(3.0)
    back = hrldas.read_hrldas_setup(path)
    for k in hrldas.SOIL_3D_FIELDS:
        expect = np.broadcast_to(np.asarray(p[k], np.float32), (4, 6))
        np.testing.assert_array_equal(back[k], expect)
    assert back["REFDK"].shape == (6,)


def test_hrldas_grid_no_time_and_table_classes(tmp_path):
    p = {k + "_3D": v for k, v in _soil_params(6).items()}
    path = hrldas.write_hrldas_soil_properties(tmp_path / "g.nc", p, grid_shape=(2, 3), include_time=False,
                                               fields_2d={"REFKDT": 1.5})
    with netCDF4.Dataset(path) as nc:
        assert nc["bexp"].dimensions == ("soil_layers_stag", "south_north", "west_east")
        assert nc["bexp"].shape == (4, 2, 3)
        assert nc["bexp"][2, 1, 0] == np.float32(p["BEXP_3D"][2, 3])  # cell = j*nx + i = 3
    back = hrldas.read_hrldas_setup(path)
    np.testing.assert_array_equal(back["REFKDT"], np.full(6, 1.5, np.float32))
    grid = hrldas.read_hrldas_setup(path, flatten=False)
    assert grid["BEXP"].shape == (4, 2, 3)
    if TABLE.exists():
        path = hrldas.write_hrldas_soil_properties(tmp_path / "c.nc", p, soil_class=[1, 2, 3, 6, 12, 1],
                                                   table_path=TABLE)
        back = hrldas.read_hrldas_setup(path)
        np.testing.assert_allclose(back["BVIC"], [0.05, 0.08, 0.09, 0.18, 0.30, 0.05], rtol=1e-6)
        np.testing.assert_allclose(back["TD_SPAC"][3], 30.0)
    with pytest.raises(KeyError, match="DKSAT"):
        hrldas.write_hrldas_soil_properties(tmp_path / "bad.nc", {"BEXP": np.ones(2)})


# ---------------------------------------------------------------- NoahmpTable.TBL
SMALL = (
    "&noahmp_soil_stas_parameters\n"
    " ! BB: soil B parameter\n"
    " BB      =    2.790,    4.260,    4.740,  ! comment, 1.0\n"
    " SATDK   = 4.66E-05, 1.41E-05, 5.23E-06,\n"
    "/\n"
    "&noahmp_soil_stas_ruc_parameters\n"
    " BB      =    1.000,    2.000,    3.000,\n"
    "/\n"
)


def test_table_replace_small_text():
    out = table.replace_table_values(SMALL, "noahmp_soil_stas_parameters", "BB", {2: 5.5})
    assert out.splitlines()[2] == " BB      =    2.790,    5.500,    4.740,  ! comment, 1.0"
    assert table.read_table_values(out, "noahmp_soil_stas_ruc_parameters", "BB") == [1.0, 2.0, 3.0]
    # a value the original format cannot hold in float32: shortest float32 repr
    v = float(np.float32(4.123456))
    out = table.replace_table_values(out, "&noahmp_soil_stas_parameters", "BB", [np.nan, np.nan, v])
    assert np.float32(table.read_table_values(out, "noahmp_soil_stas_parameters", "BB")[2]) == np.float32(v)
    out = table.replace_table_values(out, "noahmp_soil_stas_parameters", "SATDK", {1: 3.3e-6})
    assert out.splitlines()[3] == " SATDK   = 3.30E-06, 1.41E-05, 5.23E-06,"
    with pytest.raises(IndexError):
        table.replace_table_values(SMALL, "noahmp_soil_stas_parameters", "BB", {4: 1.0})
    with pytest.raises(KeyError, match="XX"):
        table.replace_table_values(SMALL, "noahmp_soil_stas_parameters", "XX", {1: 1.0})


@pytest.mark.skipif(not TABLE.exists(), reason="needs ../shared/data/noahmp_tables/v5/NoahmpTable.TBL")
def test_write_noahmp_table_real_file(tmp_path):
    soil = "noahmp_soil_stas_parameters"
    updates = {
        soil: {"BB": {6: 5.8123}, "MAXSMC": {6: 0.45, 12: 0.5}, "SATDK": {6: 4.1e-6}, "SATPSI": {4: 0.5}},
        "noahmp_modis_parameters": {"VCMX25": {12: 71.25}, "MP": {10: 8.5}},
    }
    out = table.write_noahmp_table(TABLE, tmp_path / "NoahmpTable.TBL", updates)
    old_lines = TABLE.read_bytes().splitlines(keepends=True)
    new_lines = out.read_bytes().splitlines(keepends=True)
    assert len(old_lines) == len(new_lines)
    changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines)) if a != b]
    assert len(changed) == 6  # one line per replaced parameter, all else byte-identical
    text = out.read_text()
    for section, params in updates.items():
        for name, vals in params.items():
            got = table.read_table_values(text, section, name)
            orig = table.read_table_values(TABLE.read_text(), section, name)
            for k in range(len(orig)):
                want = vals.get(k + 1, orig[k])
                assert np.float32(got[k]) == np.float32(want), (name, k + 1)
    # the ruc section's BB (same name, other namelist) is untouched
    assert table.read_table_values(text, "noahmp_soil_stas_ruc_parameters", "BB") == \
        table.read_table_values(TABLE.read_text(), "noahmp_soil_stas_ruc_parameters", "BB")
    # cross-check with the project's full namelist parser when it is available
    try:
        from diffland.parameters.table import read_noahmp_table
    except ImportError:
        return
    t = read_noahmp_table(out)
    assert np.float32(t.get(soil, "BB")[5]) == np.float32(5.8123)
    assert np.float32(t.get("noahmp_modis_parameters", "VCMX25")[11]) == np.float32(71.25)
    assert np.float32(t.get(soil, "MAXSMC")[11]) == np.float32(0.5)


def test_class_values_from_cells():
    vals = table.class_values_from_cells([1.0, 2.0, 3.0, 10.0, np.nan], [6, 6, 6, 4, 2])
    assert vals == {4: 10.0, 6: 2.0}
