"""Soil texture -> STAS and IGBP -> MODIS class mapping, with reported fallbacks."""
from pathlib import Path

import numpy as np
import pytest

from diffland.data import (igbp_to_modis, read_hydrodl, soil_classes_from_texture, texture_to_stas,
                           usda_texture_class, veg_classes_from_landcover)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

CASES = [  # sand, silt, clay, USDA class, STAS
    (92, 4, 4, "sand", 1), (80, 12, 8, "loamy sand", 2), (65, 25, 10, "sandy loam", 3),
    (20, 60, 20, "silt loam", 4), (10, 85, 5, "silt", 5), (40, 40, 20, "loam", 6),
    (60, 10, 30, "sandy clay loam", 7), (10, 55, 35, "silty clay loam", 8),
    (30, 35, 35, "clay loam", 9), (50, 5, 45, "sandy clay", 10), (5, 45, 50, "silty clay", 11),
    (20, 20, 60, "clay", 12),
]


@pytest.mark.parametrize("sand,silt,clay,name,stas", CASES)
def test_usda_examples(sand, silt, clay, name, stas):
    assert usda_texture_class(sand, silt, clay) == name
    assert texture_to_stas(sand, silt, clay) == stas


def test_whole_triangle_is_classified():
    s, c = np.meshgrid(np.arange(0, 101, 1.0), np.arange(0, 101, 1.0))
    ok = s + c <= 100
    cls, rep = soil_classes_from_texture(s[ok], 100 - s[ok] - c[ok], c[ok])
    assert rep["n_fallback"] == 0
    assert set(np.unique(cls)) == set(range(1, 13))


def test_fallback_reported_not_silent():
    cls, rep = soil_classes_from_texture([40, np.nan, -9999], [40, 30, 30], [20, 30, 30],
                                         cell_names=["a", "b", "c"])
    assert cls.tolist() == [6, 6, 6]
    assert rep["n_fallback"] == 2 and rep["fallback_cells"] == ["b", "c"]
    with pytest.raises(ValueError, match="invalid sand/silt/clay"):
        texture_to_stas(np.nan, 30, 30)


def test_renormalises_low_sums():
    cls, rep = soil_classes_from_texture([36.0], [21.5], [13.7])  # sums to 71 %, like conus cell 36
    assert rep["n_renormalised"] == 1 and rep["n_fallback"] == 0
    assert cls[0] == texture_to_stas(36.0 / 0.712, 21.5 / 0.712, 13.7 / 0.712)


def test_igbp_to_modis():
    assert igbp_to_modis(np.arange(1, 17)).tolist() == list(range(1, 17))
    assert igbp_to_modis(0) == 17 and igbp_to_modis(17) == 17
    with pytest.raises(ValueError, match="not an IGBP class"):
        igbp_to_modis([5, 254])
    veg, rep = veg_classes_from_landcover([10, 10, 12, 254, np.nan, 0])
    assert veg.tolist() == [10, 10, 12, 10, 10, 17]
    assert rep["n_fallback"] == 2 and rep["fallback_class"] == 10 and rep["n_water"] == 1


def test_conus_smap_classes():
    root = SHARED / "conus_smap"
    if not root.exists():
        pytest.skip(f"shared data not found: {root}")
    ds = read_hydrodl(root)
    import json
    rep = json.loads(ds.attrs["report"])
    assert rep["soil_class"]["fallback_cells"] == [38]          # the one -9999 cell
    assert int(ds.ISLTYP[38]) == 6 and rep["soil_class"]["fallback_class"] == 6
    assert rep["veg_class"]["n_fallback"] == 0
    assert set(np.unique(ds.IVGTYP.values)) <= set(range(1, 18))
    # loam is also the most common class, so the fallback is the mode
    assert np.bincount(ds.ISLTYP.values).argmax() == 6
