"""CF-1.8 NetCDF maps of per-cell parameters.

Layout written by :func:`write_parameters_netcdf`:

* dimensions ``cell`` and, for layered parameters, ``soil_layer``;
* coordinates ``cell`` (0-based index), ``lat(cell)`` / ``lon(cell)`` with CF
  ``standard_name``/``units``, ``soil_layer`` (1 = top);
* one variable per parameter, shaped ``(cell,)`` or ``(soil_layer, cell)`` (the diffland
  convention: cells on the last axis), with ``units``, ``long_name`` and
  ``coordinates = "lat lon"``;
* global attributes ``Conventions = "CF-1.8"``, ``title``, ``history``, ``source``,
  ``institution`` (optional), ``references``.

Units and long names of the Noah-MP parameters diffland learns are in
:data:`PARAMETER_METADATA`; pass ``metadata={"NAME": {"units": ..., "long_name": ...}}``
for any other parameter.
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Mapping

import numpy as np
import xarray as xr

__all__ = ["PARAMETER_METADATA", "parameters_to_dataset", "write_parameters_netcdf", "read_parameters_netcdf"]

#: name -> (units, long_name) for Noah-MP parameters (units as in Noah-MP; "1" = dimensionless).
PARAMETER_METADATA: dict[str, tuple[str, str]] = {
    "BEXP": ("1", "Clapp-Hornberger b exponent"),
    "SMCMAX": ("m3 m-3", "porosity (saturated volumetric soil moisture)"),
    "SMCREF": ("m3 m-3", "reference soil moisture (field capacity)"),
    "SMCWLT": ("m3 m-3", "wilting point soil moisture"),
    "SMCDRY": ("m3 m-3", "dry soil moisture threshold for direct evaporation"),
    "DKSAT": ("m s-1", "saturated soil hydraulic conductivity"),
    "DWSAT": ("m2 s-1", "saturated soil hydraulic diffusivity"),
    "PSISAT": ("m", "saturated soil matric potential (magnitude)"),
    "QUARTZ": ("1", "soil quartz content"),
    "REFDK": ("m s-1", "reference saturated hydraulic conductivity for surface runoff"),
    "REFKDT": ("1", "surface runoff infiltration parameter"),
    "SLOPE": ("1", "slope index for free drainage"),
    "CSOIL": ("J m-3 K-1", "volumetric heat capacity of soil solids"),
    "VCMX25": ("umol m-2 s-1", "maximum carboxylation rate at 25 degC"),
    "MP": ("1", "slope of the Ball-Berry conductance relationship"),
    "BP": ("umol m-2 s-1", "minimum leaf conductance (Ball-Berry intercept)"),
    "QE25": ("umol umol-1", "quantum efficiency at 25 degC"),
    "RGL": ("W m-2", "radiation stress parameter"),
    "RSMIN": ("s m-1", "minimum stomatal resistance"),
    "HS": ("1", "vapour pressure deficit parameter"),
    "TOPT": ("K", "optimum transpiration air temperature"),
    "RSMAX": ("s m-1", "maximum stomatal resistance"),
    "CH2OP": ("mm", "maximum intercepted water per unit LAI+SAI"),
    "Z0MVT": ("m", "momentum roughness length of vegetation"),
    "HVT": ("m", "top of canopy"),
    "HVB": ("m", "bottom of canopy"),
    "DLEAF": ("m", "characteristic leaf dimension"),
    "ROOTDEPTH": ("m", "rooting depth"),
    "NROOT": ("1", "number of soil layers with roots"),
    "LAI": ("m2 m-2", "leaf area index"),
    "SAI": ("m2 m-2", "stem area index"),
    "SHDFAC": ("1", "green vegetation fraction"),
    "BVIC": ("1", "VIC infiltration shape parameter"),
    "FFF": ("m-1", "runoff decay factor"),
    "RSURF_EXP": ("1", "exponent in the soil surface resistance"),
    "RSURF_SNOW": ("s m-1", "surface resistance for snow"),
    "FRZK": ("1", "frozen ground parameter"),
    "MFSNO": ("1", "snowmelt curve parameter"),
    "SCFFAC": ("m", "snow cover factor"),
    "Z0SNO": ("m", "snow surface roughness length"),
    "ALBEDO": ("1", "surface albedo"),
}


def _meta(name: str, metadata: Mapping | None):
    if metadata and name in metadata:
        m = metadata[name]
        if isinstance(m, Mapping):
            return str(m["units"]), str(m.get("long_name", name))
        return str(m[0]), str(m[1])
    key = name.upper()
    if key in PARAMETER_METADATA:
        return PARAMETER_METADATA[key]
    raise ValueError(
        f"no units known for parameter {name!r}; pass metadata={{{name!r}: {{'units': ..., 'long_name': ...}}}} "
        f"(known: {sorted(PARAMETER_METADATA)})"
    )


def parameters_to_dataset(params: Mapping[str, object], lat, lon, *, metadata: Mapping | None = None,
                          title: str = "diffland learned Noah-MP parameters", source: str | None = None,
                          history: str | None = None, extra_attrs: Mapping | None = None,
                          dtype=np.float32) -> xr.Dataset:
    """Build the CF Dataset written by :func:`write_parameters_netcdf`.

    Args:
        params: name -> array ``(cell,)`` or ``(soil_layer, cell)`` in the parameter's
            units (see :data:`PARAMETER_METADATA`).
        lat, lon: (cell,) degrees north / east.
        dtype: stored float type (float32 default, as Noah-MP reads real*4; float64 for
            exact double round trips).
    """
    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    if lat.shape != lon.shape:
        raise ValueError(f"lat and lon must have one value per cell; got {lat.size} and {lon.size}")
    ncell = lat.size
    nlayer = None
    data_vars = {}
    for name, value in params.items():
        a = np.asarray(value, dtype=dtype)
        if a.ndim == 1:
            dims = ("cell",)
        elif a.ndim == 2:
            dims = ("soil_layer", "cell")
            if nlayer is None:
                nlayer = a.shape[0]
            elif a.shape[0] != nlayer:
                raise ValueError(f"parameter {name!r} has {a.shape[0]} soil layers, others have {nlayer}")
        else:
            raise ValueError(f"parameter {name!r} must be (cell,) or (soil_layer, cell); got shape {a.shape}")
        if a.shape[-1] != ncell:
            raise ValueError(f"parameter {name!r} has {a.shape[-1]} cells on its last axis; lat/lon have {ncell}")
        units, long_name = _meta(name, metadata)
        data_vars[name] = xr.Variable(dims, a, attrs={"units": units, "long_name": long_name})
    coords = {
        "cell": ("cell", np.arange(ncell, dtype=np.int32), {"long_name": "cell index"}),
        "lat": ("cell", lat, {"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north"}),
        "lon": ("cell", lon, {"standard_name": "longitude", "long_name": "longitude", "units": "degrees_east"}),
    }
    if nlayer is not None:
        coords["soil_layer"] = ("soil_layer", np.arange(1, nlayer + 1, dtype=np.int32),
                                {"long_name": "soil layer index, 1 = top", "positive": "down"})
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    attrs = {
        "Conventions": "CF-1.8",
        "title": title,
        "source": source or f"diffland {_version()}",
        "history": f"{now}: written by diffland.export.netcdf" + (f"; {history}" if history else ""),
        "references": "Noah-MP parameter names and units as in NoahmpTable.TBL",
    }
    if extra_attrs:
        attrs.update({k: v for k, v in extra_attrs.items()})
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("diffland")
    except Exception:  # pragma: no cover
        return "(unknown version)"


def write_parameters_netcdf(path, params: Mapping[str, object], lat, lon, **kwargs) -> Path:
    """Write per-cell parameters to a CF-1.8 NetCDF4 file; returns the path.

    Keyword arguments go to :func:`parameters_to_dataset` (``metadata``, ``title``,
    ``source``, ``history``, ``extra_attrs``, ``dtype``).
    """
    ds = parameters_to_dataset(params, lat, lon, **kwargs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    encoding = {name: {"_FillValue": None} for name in list(ds.data_vars) + ["lat", "lon"]}
    ds.to_netcdf(path, format="NETCDF4", encoding=encoding)
    return path


def read_parameters_netcdf(path) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Read a file from :func:`write_parameters_netcdf`.

    Returns:
        (params, lat, lon): params name -> NumPy array ``(cell,)`` or ``(soil_layer, cell)``
        in the stored units; lat, lon (cell,) in degrees.
    """
    with xr.open_dataset(path, decode_cf=True, mask_and_scale=False) as ds:
        params = {}
        for name, var in ds.data_vars.items():
            dims = var.dims
            if dims == ("cell",) or dims == ("soil_layer", "cell"):
                params[name] = np.asarray(var.values)
            elif set(dims) == {"cell", "soil_layer"}:
                params[name] = np.asarray(var.transpose("soil_layer", "cell").values)
        return params, np.asarray(ds["lat"].values), np.asarray(ds["lon"].values)
