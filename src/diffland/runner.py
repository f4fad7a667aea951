"""Implementation of ``diffland simulate``: read forcing and setup, run, write outputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .physics.options import Options
from .simulate import FORCING_NAMES, OUTPUT_NAMES, simulate

UNITS = {
    "SOIL_M": "m3 m-3", "SH2O": "m3 m-3", "SOIL_T": "K", "SNEQV": "mm", "LH": "W m-2", "HFX": "W m-2",
    "ECAN": "mm s-1", "ETRAN": "mm s-1", "EDIR": "mm s-1", "RUNSF": "mm s-1", "RUNSB": "mm s-1",
    "T2D": "K", "Q2D": "kg kg-1", "U2D": "m s-1", "V2D": "m s-1", "PSFC": "Pa", "SWDOWN": "W m-2",
    "LWDOWN": "W m-2", "RAINRATE": "kg m-2 s-1",
}


def _units(name: str) -> str:
    for k, u in UNITS.items():
        if name == k or (name.startswith(k) and name[len(k):].isdigit()):
            return u
    return ""


def load_case(forcing: Path, *, lat=None, lon=None, veg_class=None, soil_class=None):
    """Read a forcing file into (time, forcing (time, cells), site dict, initial dict (arrays per cell)).

    HRLDAS single-point text (``.dat``): site and initial state come from its header; its
    first record is the initial time and is not used by any step (as in HRLDAS).
    CSV/NetCDF tables: every row is a step ending at ``time``; the site must be given
    (lat, lon, veg_class, soil_class) and the initial state is the documented default:
    SMC 0.30 m3/m3 (capped at SMCMAX), soil and skin temperature = mean T2D of the first
    day, no snow, dry canopy.
    """
    forcing = Path(forcing)
    if not forcing.exists():
        raise FileNotFoundError(f"--forcing {forcing}: file not found")
    if forcing.suffix.lower() == ".dat":
        from .io.hrldas_point import read_hrldas_point

        pf = read_hrldas_point(forcing)
        site = dict(pf.site)
        f = {k: np.asarray(v)[1:, None] for k, v in pf.forcing.items()}
        time = np.asarray(pf.time)[1:]
        ini = pf.initial
        initial = {"SMC": np.asarray(ini["SMC"], float)[:, None], "STC": np.asarray(ini["STC"], float)[:, None],
                   "TSK": np.array([ini["TSK"]], float), "SNEQV": np.array([ini["SNEQV"]], float),
                   "SNOWH": np.array([ini["SNOWH"]], float), "CANWAT": np.array([ini["CANWAT"]], float)}
        soil_dz = tuple(float(x) for x in ini.get("soil_dz", (0.1, 0.3, 0.6, 1.0)))
        return time, f, site, initial, soil_dz
    from .io.forcing_table import read_forcing_table

    time, f = read_forcing_table(forcing)
    missing = [n for n, v in (("--lat", lat), ("--lon", lon), ("--veg-class", veg_class),
                              ("--soil-class", soil_class)) if v is None]
    if missing:
        raise ValueError(f"--forcing {forcing} is a table without site information: give {', '.join(missing)}")
    f = {k: (v[:, None] if v.ndim == 1 else v) for k, v in f.items()}
    ncell = f["T2D"].shape[1]
    steps_per_day = max(1, int(round(86400 / max(float((time[1] - time[0]) / np.timedelta64(1, "s")), 1.0))))
    t_first = f["T2D"][:steps_per_day].mean(axis=0)
    site = {"lat": lat, "lon": lon, "veg_class": veg_class, "soil_class": soil_class, "TBOT": None,
            "SHDMAX": None}
    initial = {"SMC": np.full((4, ncell), 0.30), "STC": np.tile(t_first, (4, 1)), "TSK": t_first,
               "SNEQV": np.zeros(ncell), "SNOWH": np.zeros(ncell), "CANWAT": np.zeros(ncell)}
    return time, f, site, initial, (0.1, 0.3, 0.6, 1.0)


def run_simulate_command(*, forcing: Path, out: Path, namelist=None, table=None, overrides=None,
                         precision="float32", lat=None, lon=None, veg_class=None, soil_class=None) -> int:
    """Run one case end to end and write ``out`` (.csv or .nc). Returns the number of steps."""
    import dataclasses

    from .parameters import build_params, check_params, default_table, read_noahmp_table

    out = Path(out)
    if out.suffix.lower() not in (".csv", ".nc"):
        raise ValueError(f"--out {out}: use a .csv or .nc file name")
    time, f, site, initial, soil_dz = load_case(forcing, lat=lat, lon=lon, veg_class=veg_class,
                                                soil_class=soil_class)
    if namelist is not None:
        from .io.namelist import read_hrldas_namelist

        options, info = read_hrldas_namelist(namelist)
        dt_file = float((time[1] - time[0]) / np.timedelta64(1, "s"))
        if abs(dt_file - options.dt) > 1e-6:
            raise ValueError(f"--namelist {namelist}: NOAH_TIMESTEP={options.dt:g} s but the forcing step is "
                             f"{dt_file:g} s; make them equal")
    else:
        dt_file = float((time[1] - time[0]) / np.timedelta64(1, "s"))
        options = Options(dt=dt_file, soil_dz=soil_dz)
    tbl = read_noahmp_table(table) if table is not None else default_table()
    ncell = f["T2D"].shape[1]
    kw = {}
    if site.get("SHDMAX") is not None:
        kw["shdmax"] = np.full(ncell, float(site["SHDMAX"]))
    else:
        kw["shdmax"] = np.full(ncell, 70.0)
    kw["tbot"] = np.full(ncell, float(site["TBOT"]) if site.get("TBOT") is not None else 285.0)
    dtype = np.float64 if precision == "float64" else np.float32
    params = build_params(soil_class=np.full(ncell, int(site["soil_class"])),
                          veg_class=np.full(ncell, int(site["veg_class"])), table=tbl,
                          overrides=overrides or None, dtype=dtype, **kw)
    check_params(params)
    res = simulate(f, params, options, initial, time=time, lat=np.full(ncell, float(site["lat"])),
                   lon=np.full(ncell, float(site["lon"])), precision=precision)
    write_outputs(out, time, res, f)
    return len(time)


def write_outputs(out: Path, time, res: dict, forcing: dict) -> None:
    """Write outputs (HRLDAS names, mm/s fluxes) then the forcing used, as CSV or NetCDF."""
    import pandas as pd

    names = [n for n in OUTPUT_NAMES if n in res]
    ncell = res[names[0]].shape[1]
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        frames = []
        for c in range(ncell):
            d = {"time": pd.to_datetime(time).strftime("%Y-%m-%dT%H:%M:%SZ")}
            if ncell > 1:
                d["cell"] = c
            for n in names:
                d[n] = res[n][:, c]
            for n in FORCING_NAMES:
                d[n] = forcing[n][:, c]
            frames.append(pd.DataFrame(d))
        pd.concat(frames).to_csv(out, index=False, float_format="%.9g")
    else:
        import xarray as xr

        ds = xr.Dataset(coords={"time": np.asarray(time, dtype="datetime64[ns]"), "cell": np.arange(ncell)})
        for n in names:
            ds[n] = (("time", "cell"), np.asarray(res[n]), {"units": _units(n)})
        for n in FORCING_NAMES:
            ds[n] = (("time", "cell"), np.asarray(forcing[n]), {"units": _units(n), "long_name": f"forcing {n} used"})
        ds.attrs["source"] = "diffland simulate (differentiable Noah-MP v5 port)"
        ds.attrs["time_convention"] = "stamp = end of the model step (HRLDAS)"
        ds.to_netcdf(out)
