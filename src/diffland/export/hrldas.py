"""Spatially varying soil properties for HRLDAS / Noah-MP with ``SOIL_DATA_OPTION = 4``.

With soil option 4 the HRLDAS driver (``module_NoahMP_hrldas_driver.F``) calls
``READ_3D_SOIL(SPATIAL_FILENAME, ...)`` (``IO_code/module_hrldas_netcdf_io.F``), which
fills ``BEXP_3D, SMCDRY_3D, SMCWLT_3D, SMCREF_3D, SMCMAX_3D, DKSAT_3D, DWSAT_3D,
PSISAT_3D, QUARTZ_3D`` (Fortran ``(x, nsoil, y)``) from NetCDF variables named
**in lower case** ``bexp smcdry smcwlt smcref smcmax dksat dwsat psisat quartz`` read as
Fortran ``xdum(x, y, nsoil)`` with ``start=(xstart, ystart, 1)``. In NetCDF (C order)
that is::

    bexp(Time=1, soil_layers_stag, south_north, west_east)      # layer 1 = top

and the same routine also requires (and stops without) the 2-D fields ``refdk refkdt
IRR_FRAC IRR_HAR IRR_LAI IRR_MAD FILOSS SPRIR_RATE MICIR_RATE FIRTFAC IR_RAIN BVIC AXAJ
BXAJ XXAJ BDVIC GDVIC BBVIC KLAT_FAC TDSMC_FAC TD_DC TD_DCOEF TD_DDRAIN TD_RADI
TD_SPAC`` as ``(Time=1, south_north, west_east)``. Netcdf-Fortran fills the start/count
of dimensions the caller leaves out with 1, so the leading ``Time`` dimension of length
1 (the convention of HRLDAS setup files, e.g. ``SMOIS``) reads the same as no ``Time``;
``include_time=False`` drops it. The file named by ``SPATIAL_FILENAME`` in
``namelist.hrldas`` may be this file alone.

Cells map to the grid as ``cell = j * nx + i`` (row-major over ``(south_north,
west_east)``); with no grid shape given all cells lie along ``west_east`` with
``south_north = 1``. Values are stored as float32 (Noah-MP reads real*4).

Units (Noah-MP): bexp [-], smc* [m3 m-3], dksat [m s-1], dwsat [m2 s-1], psisat [m],
quartz [-], refdk [m s-1], refkdt [-]; the 2-D defaults are the NoahmpTable.TBL (v5)
values, per-class ones for soil class 6 (loam) unless ``soil_class`` and ``table_path``
are given.
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import xarray as xr

__all__ = [
    "SOIL_3D_FIELDS",
    "FIELDS_2D",
    "DEFAULT_2D",
    "write_hrldas_soil_properties",
    "read_hrldas_setup",
]

#: diffland parameter name -> NetCDF variable read by READ_3D_SOIL (-> NoahmpIO field name_3D).
SOIL_3D_FIELDS: dict[str, str] = {
    "BEXP": "bexp",
    "SMCDRY": "smcdry",
    "SMCWLT": "smcwlt",
    "SMCREF": "smcref",
    "SMCMAX": "smcmax",
    "DKSAT": "dksat",
    "DWSAT": "dwsat",
    "PSISAT": "psisat",
    "QUARTZ": "quartz",
}
_UNITS_3D = {"BEXP": "1", "SMCDRY": "m3 m-3", "SMCWLT": "m3 m-3", "SMCREF": "m3 m-3", "SMCMAX": "m3 m-3",
             "DKSAT": "m s-1", "DWSAT": "m2 s-1", "PSISAT": "m", "QUARTZ": "1"}

#: 2-D fields READ_3D_SOIL requires: diffland name -> NetCDF variable name.
FIELDS_2D: dict[str, str] = {
    "REFDK": "refdk", "REFKDT": "refkdt",
    "IRR_FRAC": "IRR_FRAC", "IRR_HAR": "IRR_HAR", "IRR_LAI": "IRR_LAI", "IRR_MAD": "IRR_MAD",
    "FILOSS": "FILOSS", "SPRIR_RATE": "SPRIR_RATE", "MICIR_RATE": "MICIR_RATE", "FIRTFAC": "FIRTFAC",
    "IR_RAIN": "IR_RAIN",
    "BVIC": "BVIC", "AXAJ": "AXAJ", "BXAJ": "BXAJ", "XXAJ": "XXAJ", "BDVIC": "BDVIC", "GDVIC": "GDVIC",
    "BBVIC": "BBVIC",
    "KLAT_FAC": "KLAT_FAC", "TDSMC_FAC": "TDSMC_FAC", "TD_DC": "TD_DC", "TD_DCOEF": "TD_DCOEF",
    "TD_DDRAIN": "TD_DDRAIN", "TD_RADI": "TD_RADI", "TD_SPAC": "TD_SPAC",
}

#: Defaults of the 2-D fields: NoahmpTable.TBL v5 (REFDK_DATA/REFKDT_DATA, irrigation
#: scalars; soil-class ones for class 6, loam).
DEFAULT_2D: dict[str, float] = {
    "REFDK": 2.0e-6, "REFKDT": 3.0,
    "IRR_FRAC": 0.10, "IRR_HAR": 20.0, "IRR_LAI": 0.10, "IRR_MAD": 0.60, "FILOSS": 0.50,
    "SPRIR_RATE": 6.40, "MICIR_RATE": 1.38, "FIRTFAC": 1.20, "IR_RAIN": 1.00,
    "BVIC": 0.180, "AXAJ": 0.013, "BXAJ": 0.180, "XXAJ": 0.180, "BDVIC": 0.180, "GDVIC": 0.110, "BBVIC": 1.000,
    "KLAT_FAC": 2.50, "TDSMC_FAC": 1.25, "TD_DC": 20.0, "TD_DCOEF": 0.07, "TD_DDRAIN": 1.20, "TD_RADI": 0.07,
    "TD_SPAC": 30.0,
}
# 2-D fields that vary with soil class in the table: (namelist section, table name).
_CLASS_2D_SOURCES = {
    "BVIC": ("noahmp_soil_stas_parameters", "BVIC"), "AXAJ": ("noahmp_soil_stas_parameters", "AXAJ"),
    "BXAJ": ("noahmp_soil_stas_parameters", "BXAJ"), "XXAJ": ("noahmp_soil_stas_parameters", "XXAJ"),
    "BDVIC": ("noahmp_soil_stas_parameters", "BDVIC"), "GDVIC": ("noahmp_soil_stas_parameters", "GDVIC"),
    "BBVIC": ("noahmp_soil_stas_parameters", "BBVIC"),
    "KLAT_FAC": ("noahmp_tiledrain_parameters", "KLAT_FAC"), "TDSMC_FAC": ("noahmp_tiledrain_parameters", "TDSMC_FAC"),
    "TD_DC": ("noahmp_tiledrain_parameters", "TD_DC"), "TD_DCOEF": ("noahmp_tiledrain_parameters", "TD_DCOEF"),
    "TD_DDRAIN": ("noahmp_tiledrain_parameters", "TD_DDRAIN"), "TD_RADI": ("noahmp_tiledrain_parameters", "TD_RADI"),
    "TD_SPAC": ("noahmp_tiledrain_parameters", "TD_SPAC"),
}


def _key(name: str) -> str:
    k = name.upper()
    return k[:-3] if k.endswith("_3D") else (k[:-3] if k.endswith("_2D") else k)


def _grid(ncell: int, grid_shape):
    if grid_shape is None:
        return 1, ncell
    ny, nx = (int(v) for v in grid_shape)
    if ny * nx != ncell:
        raise ValueError(f"grid_shape {grid_shape} holds {ny * nx} cells, parameters have {ncell}")
    return ny, nx


def write_hrldas_soil_properties(path, params: Mapping[str, object], *, nsoil: int | None = None,
                                 grid_shape: Sequence[int] | None = None, fields_2d: Mapping[str, object] | None = None,
                                 soil_class=None, table_path=None, lat=None, lon=None, include_time: bool = True,
                                 history: str | None = None) -> Path:
    """Write the soil-option-4 file (``SPATIAL_FILENAME``) that HRLDAS' READ_3D_SOIL reads.

    Args:
        path: output NetCDF file.
        params: diffland names (``BEXP``, ``SMCMAX``, ..., or ``BEXP_3D`` ...) -> values:
            ``(nsoil, cells)``, ``(cells,)`` (same in every layer) or scalars; all nine of
            :data:`SOIL_3D_FIELDS` are required (derive SMCREF/SMCWLT/SMCDRY/DWSAT with
            ``diffland.parameters`` identities first if you learned only BEXP/SMCMAX/
            DKSAT/PSISAT). Units: see the module docstring.
        nsoil: number of soil layers (default: from the 2-D arrays, else 4).
        grid_shape: ``(south_north, west_east)``; default ``(1, cells)``.
        fields_2d: overrides of the required 2-D fields (:data:`FIELDS_2D`), per cell or scalar.
        soil_class: (cells,) 1-based STAS soil class, with ``table_path`` (a NoahmpTable.TBL):
            per-class 2-D fields (BVIC..., KLAT_FAC, TD_*) are taken from the table.
        lat, lon: optional (cells,) degrees, written as ``XLAT``/``XLONG``.
        include_time: leading ``Time`` dimension of length 1 (see module docstring).
    Returns:
        the path written.
    """
    given = {_key(k): v for k, v in params.items()}
    missing = [k for k in SOIL_3D_FIELDS if k not in given]
    if missing:
        raise KeyError(f"HRLDAS soil option 4 needs all of {list(SOIL_3D_FIELDS)}; missing {missing}")
    arrays = {k: np.asarray(given[k], dtype=np.float64) for k in SOIL_3D_FIELDS}
    ncell = None
    for k, a in arrays.items():
        if a.ndim >= 1:
            n = a.shape[-1]
            if ncell is not None and n != ncell:
                raise ValueError(f"{k} has {n} cells, other parameters have {ncell}")
            ncell = n
            if a.ndim == 2:
                if nsoil is not None and a.shape[0] != nsoil:
                    raise ValueError(f"{k} has {a.shape[0]} soil layers, expected {nsoil}")
                nsoil = a.shape[0]
    if ncell is None:
        ncell = 1 if lat is None else int(np.size(lat))
    nsoil = 4 if nsoil is None else int(nsoil)
    ny, nx = _grid(ncell, grid_shape)
    lead = ("Time",) if include_time else ()
    data_vars = {}
    for k, var in SOIL_3D_FIELDS.items():
        a = np.broadcast_to(arrays[k] if arrays[k].ndim == 2 else arrays[k][None], (nsoil, ncell))
        if not np.all(np.isfinite(a)):
            bad = np.argwhere(~np.isfinite(a))[0]
            raise ValueError(f"{k} is not finite at soil layer {bad[0] + 1}, cell {bad[1]}")
        grid = a.reshape(nsoil, ny, nx).astype(np.float32)
        if include_time:
            grid = grid[None]
        data_vars[var] = (lead + ("soil_layers_stag", "south_north", "west_east"), grid,
                          {"units": _UNITS_3D[k], "description": f"{k} for NoahmpIO%{k}_3D (SOIL_DATA_OPTION=4)"})
    values_2d = {k: np.full(ncell, DEFAULT_2D[k]) for k in FIELDS_2D}
    if soil_class is not None:
        if table_path is None:
            raise ValueError("soil_class needs table_path (a NoahmpTable.TBL) to look up the per-class 2-D fields")
        from .table import read_table_values

        text = Path(table_path).read_text()
        cls = np.asarray(soil_class, dtype=int).ravel()
        if cls.size != ncell:
            raise ValueError(f"soil_class has {cls.size} cells, parameters have {ncell}")
        for k, (section, name) in _CLASS_2D_SOURCES.items():
            table = np.asarray(read_table_values(text, section, name), dtype=float)
            if cls.min() < 1 or cls.max() > table.size:
                raise ValueError(f"soil_class must lie in 1..{table.size} for {name}; got {cls.min()}..{cls.max()}")
            values_2d[k] = table[cls - 1]
    for k, v in (fields_2d or {}).items():
        kk = _key(k)
        if kk not in FIELDS_2D:
            raise KeyError(f"unknown 2-D field {k!r}; READ_3D_SOIL reads {list(FIELDS_2D)}")
        values_2d[kk] = np.broadcast_to(np.asarray(v, dtype=np.float64), (ncell,))
    for k, var in FIELDS_2D.items():
        grid = np.asarray(values_2d[k], dtype=np.float32).reshape(ny, nx)
        if include_time:
            grid = grid[None]
        data_vars[var] = (lead + ("south_north", "west_east"), grid)
    if lat is not None and lon is not None:
        for name, v, units in (("XLAT", lat, "degree_north"), ("XLONG", lon, "degree_east")):
            g = np.asarray(v, dtype=np.float32).reshape(ny, nx)
            data_vars[name] = (lead + ("south_north", "west_east"), g[None] if include_time else g, {"units": units})
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    ds = xr.Dataset(data_vars, attrs={
        "title": "Noah-MP spatially varying soil properties (SOIL_DATA_OPTION = 4, SPATIAL_FILENAME)",
        "source": "diffland.export.hrldas",
        "history": f"{now}: written by diffland" + (f"; {history}" if history else ""),
        "cell_order": "cell = j * west_east + i (row-major over south_north, west_east)",
    })
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(path, format="NETCDF4_CLASSIC", encoding={v: {"_FillValue": None} for v in ds.data_vars})
    return path


def read_hrldas_setup(path, *, flatten: bool = True) -> dict[str, np.ndarray]:
    """Read the soil-option-4 fields back from a file written by
    :func:`write_hrldas_soil_properties` (or any HRLDAS file holding them).

    Returns:
        dict with the diffland names: the nine soil fields (``BEXP``...) as ``(nsoil, cells)``
        and the 2-D fields present (``REFDK``...) as ``(cells,)`` when ``flatten`` (cells
        row-major over ``(south_north, west_east)``), else ``(nsoil, ny, nx)`` / ``(ny, nx)``.
        The first time record is used. Values are float32 as stored.
    """
    out: dict[str, np.ndarray] = {}
    with xr.open_dataset(path, decode_cf=False, decode_times=False) as ds:
        def grab(var):
            da = ds[var]
            if "Time" in da.dims:
                da = da.isel(Time=0)
            return np.asarray(da.values)

        missing = [v for v in SOIL_3D_FIELDS.values() if v not in ds]
        if missing:
            raise KeyError(f"{path}: missing soil-option-4 variables {missing}")
        for k, var in SOIL_3D_FIELDS.items():
            a = grab(var)
            if a.ndim != 3:
                raise ValueError(f"{path}: {var} has dims {ds[var].dims}; expected (soil_layers_stag, south_north, west_east)")
            out[k] = a.reshape(a.shape[0], -1) if flatten else a
        for k, var in FIELDS_2D.items():
            if var in ds:
                a = grab(var)
                out[k] = a.reshape(-1) if flatten else a
    return out
