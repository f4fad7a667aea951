"""Data layer: readers, the common ``Dataset`` layout, zarr cache, classes, disaggregation,
observation operator and synthetic data.

Layout (see :mod:`diffland.data.dataset`): dims ``cell``/``time`` (forcing ``(time, cell)`` under
HRLDAS LDASIN names, SI units), observations on ``obs_time``, static attributes on ``cell``,
``lat``/``lon`` coordinates, a JSON ``report`` attribute that counts every missing, masked or
fallback value.
"""
from ._common import (DataError, FORCING_UNITS, FORCING_VARS, pressure_from_elevation, qsat,
                      rh_to_q)
from .classes import (igbp_to_modis, soil_classes_from_texture, texture_to_stas,
                      usda_texture_class, veg_classes_from_landcover)
from .dataset import KINDS, inspect, open_dataset, parse_source, prepare, to_dataset
from .disaggregate import cos_zenith, daily_means, disaggregate, disaggregate_arrays
from .gridded import read_ldasin, read_nldas2
from .hydrodl import read_hydrodl
from .ismn import read_ismn, read_stm
from .noahpoint import read_noah_point
from .obsop import (ObsOperator, build_obs_operator, masked_rmse, proxy_frozen_snow,
                    smap_mask_report)
from .smap import (ease2_latlon_to_rowcol, ease2_rowcol_to_latlon, read_smap_l3, read_smap_ts,
                   select_granules)
from .synthetic import make_synthetic

__all__ = [
    "DataError", "FORCING_UNITS", "FORCING_VARS", "pressure_from_elevation", "qsat", "rh_to_q",
    "igbp_to_modis", "soil_classes_from_texture", "texture_to_stas", "usda_texture_class",
    "veg_classes_from_landcover", "KINDS", "inspect", "open_dataset", "parse_source", "prepare",
    "to_dataset", "cos_zenith", "daily_means", "disaggregate", "disaggregate_arrays",
    "read_ldasin", "read_nldas2", "read_hydrodl", "read_ismn", "read_stm", "read_noah_point",
    "ObsOperator", "build_obs_operator", "masked_rmse", "proxy_frozen_snow", "smap_mask_report",
    "ease2_latlon_to_rowcol", "ease2_rowcol_to_latlon", "read_smap_l3", "read_smap_ts",
    "select_granules", "make_synthetic",
]
