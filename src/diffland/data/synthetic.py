"""Synthetic data in the :func:`~diffland.data.to_dataset` layout, with hidden "true" parameters.

Cells are drawn uniformly over the CONUS box (26-49 N, 124-68 W). A humidity index ``h`` in [0, 1]
(dry west, wet east, plus a wet Pacific North-West) drives the climate and the attributes:

- attributes: sand ``65 - 35 h``, clay ``10 + 20 h`` (+ noise, silt the rest) [%]; NDVI
  ``0.1 + 0.55 h``; IGBP land cover from ``h`` and latitude (open shrub / barren, grassland,
  cropland / mosaic, deciduous / mixed / evergreen needleleaf forest); elevation (Rocky Mountain
  bump) -> PSFC.
- hidden parameters (functions of the attributes, Cosby et al. 1984 pedotransfer functions, plus 5 %
  log-normal noise): ``true_BEXP = 3.10 + 0.157 clay - 0.003 sand``, ``true_SMCMAX = (50.5 - 0.142 sand
  - 0.037 clay) / 100`` [m3/m3], ``true_PSISAT = 10^(1.54 - 0.0095 sand + 0.0063 silt) / 100`` [m],
  ``true_DKSAT = 10^(-0.60 + 0.0126 sand - 0.0064 clay) * 0.0254 / 3600`` [m/s], and
  ``true_VCMX25 = 30 + 50 NDVI`` [umol CO2 m-2 s-1].
- daily weather (per cell block, seed ``(seed, block)``): seasonal temperature (annual mean falls
  with latitude and elevation, amplitude grows with latitude and dryness, peak at day 200) + AR(1)
  anomalies (sd 3 K); Markov-chain wet days (wet-day frequency ``0.10 + 0.35 h``), gamma amounts
  (annual total ``250 + 1250 h`` mm); shortwave = transmissivity x top-of-atmosphere daily insolation
  (lower on wet days); longwave from Brutsaert clear-sky emissivity with cloud enhancement; relative
  humidity ``0.35 + 0.4 h`` (+0.2 on wet days) -> specific humidity; winds N(1, 2) / N(0.5, 2) m/s.
  Then :func:`~diffland.data.disaggregate.disaggregate_arrays` to ``dt`` (means preserved exactly).

Observation hook: ``simulate_fn(ds) -> (time, cell)`` top-layer soil moisture fills ``SMAP_AM``
(overpass 06:00 local solar time, nearest model step), adds Gaussian noise (``obs_noise``, 0.03
m3/m3), removes ``missing_fraction`` (55 %) of the slots at random and clips to SMAP's valid range
0.02-0.5 (clipped values counted). Without it ``SMAP_AM`` is all NaN and ``attrs["SMAP_AM_status"]``
says so.

Size: blocks of ``block_size`` cells (default 256) are generated independently with seed
``(seed, block)``: the same ``(n_cells, n_days, seed, block_size)`` always gives the same data
(changing ``n_cells`` or ``block_size`` gives a different draw). Above ``lazy_threshold`` elements per forcing variable the forcing is a dask array
generated block by block, so 50 000 cells x 5 years x 48 steps is never materialised at once
(one block of 256 cells x 5 years at 30 min needs about 1.5 GB of temporaries).
"""
from __future__ import annotations

import json

import numpy as np
import xarray as xr

from ._common import FORCING_LONG, FORCING_UNITS, FORCING_VARS, DataError, pressure_from_elevation, qsat
from .classes import soil_classes_from_texture, veg_classes_from_landcover
from .disaggregate import disaggregate_arrays, solar_declination

__all__ = ["make_synthetic"]

_SIGMA = 5.670374419e-8


def _statics(n_cells: int, seed: int) -> dict:
    rng = np.random.default_rng([seed, 0])
    lat = rng.uniform(26.0, 49.0, n_cells)
    lon = rng.uniform(-124.0, -68.0, n_cells)
    h = 1.0 / (1.0 + np.exp(-(lon + 100.0) / 5.0)) * 0.85 + 0.1
    h += 0.6 * np.exp(-((lon + 123.0) / 3.0) ** 2) * (lat > 41)
    h = np.clip(h + rng.normal(0, 0.05, n_cells), 0.0, 1.0)
    sand = np.clip(65 - 35 * h + rng.normal(0, 8, n_cells), 5, 90)
    clay = np.clip(10 + 20 * h + rng.normal(0, 6, n_cells), 3, 60)
    tot = sand + clay
    f = np.where(tot > 95, 95 / tot, 1.0)
    sand, clay = sand * f, clay * f
    silt = 100 - sand - clay
    ndvi = np.clip(0.1 + 0.55 * h + rng.normal(0, 0.05, n_cells), 0.03, 0.85)
    lc = np.where(h < 0.15, 16, np.where(h < 0.3, 7, np.where(h < 0.45, 10, np.where(
        h < 0.6, np.where(rng.random(n_cells) < 0.6, 12, 14),
        np.where(lat > 44, 1, np.where(rng.random(n_cells) < 0.5, 4, 5))))))
    elev = np.clip(1800 * np.exp(-((lon + 110) / 7) ** 2) + rng.normal(0, 150, n_cells), 0, 3500)
    noise = np.exp(rng.normal(0, 0.05, (5, n_cells)))
    true = {
        "BEXP": (3.10 + 0.157 * clay - 0.003 * sand) * noise[0],
        "SMCMAX": np.clip((50.5 - 0.142 * sand - 0.037 * clay) / 100 * noise[1], 0.25, 0.6),
        "PSISAT": 10 ** (1.54 - 0.0095 * sand + 0.0063 * silt) / 100 * noise[2],
        "DKSAT": 10 ** (-0.60 + 0.0126 * sand - 0.0064 * clay) * 0.0254 / 3600 * noise[3],
        "VCMX25": (30 + 50 * ndvi) * noise[4],
    }
    return {"lat": lat, "lon": lon, "h": h, "sand": sand, "silt": silt, "clay": clay,
            "NDVI": ndvi, "landcover": lc, "elevation": elev, "true": true}


def _daily(st: dict, sl: slice, days: np.ndarray, seed: int, block: int) -> dict:
    rng = np.random.default_rng([seed, 1, block])
    lat, h, elev = st["lat"][sl], st["h"][sl], st["elevation"][sl]
    nd, nc = days.size, lat.size
    doy = (days - days.astype("datetime64[Y]")).astype(np.int64) + 1.0
    # temperature
    t_ann = 297.0 - 0.75 * (lat - 25) - 0.0065 * elev
    amp = 5.0 + 0.3 * (lat - 25) + 3.0 * (1 - h)
    seas = t_ann[None, :] + amp[None, :] * np.cos(2 * np.pi * (doy[:, None] - 200) / 365.25)
    anom = np.zeros((nd, nc))
    eps = rng.normal(0, 3.0 * np.sqrt(1 - 0.7 ** 2), (nd, nc))
    a = rng.normal(0, 3.0, nc)
    for i in range(nd):
        a = 0.7 * a + eps[i]
        anom[i] = a
    # wet days (Markov chain with stationary frequency pw)
    pw = 0.10 + 0.35 * h
    p11 = np.minimum(pw + 0.3, 0.9)
    p01 = pw * (1 - p11) / (1 - pw)
    wet = np.zeros((nd, nc), bool)
    u = rng.random((nd, nc))
    w = u[0] < pw
    for i in range(nd):
        w = np.where(w, u[i] < p11, u[i] < p01)
        wet[i] = w
    p_ann = 250 + 1250 * h
    mean_int = p_ann / (365.0 * pw)
    amount = rng.gamma(0.8, (mean_int / 0.8)[None, :], (nd, nc)) * wet
    t2 = seas + anom - 1.5 * wet
    # shortwave: TOA daily insolation x transmissivity
    dec = solar_declination(doy + 0.5)[:, None]
    phi = np.deg2rad(lat)[None, :]
    ws = np.arccos(np.clip(-np.tan(phi) * np.tan(dec), -1, 1))
    q0 = 1361.0 / np.pi * (1 + 0.033 * np.cos(2 * np.pi * doy / 365.0))[:, None] * (
        ws * np.sin(phi) * np.sin(dec) + np.cos(phi) * np.cos(dec) * np.sin(ws))
    tau = np.where(wet, 0.35, 0.72 - 0.1 * h[None, :]) + rng.normal(0, 0.04, (nd, nc))
    sw = np.clip(tau, 0.1, 0.8) * q0
    # humidity and longwave
    ps = pressure_from_elevation(elev)[None, :] * np.ones((nd, 1))
    rh = np.clip(0.35 + 0.4 * h[None, :] + 0.2 * wet + rng.normal(0, 0.05, (nd, nc)), 0.1, 0.98)
    q = rh * qsat(t2, ps)
    e_hpa = q * ps / (0.622 + 0.378 * q) / 100.0
    eps_clear = 1.24 * (e_hpa / t2) ** (1 / 7)
    c = np.where(wet, 0.8, 0.25)
    lw = (eps_clear * (1 - c) + c) * _SIGMA * t2 ** 4
    return {"T2D": t2, "Q2D": q, "U2D": rng.normal(1.0, 2.0, (nd, nc)),
            "V2D": rng.normal(0.5, 2.0, (nd, nc)), "PSFC": ps, "SWDOWN": sw, "LWDOWN": lw,
            "RAINRATE": amount / 86400.0}


def _block_forcing(st, sl, days, seed, block, dt, precipitation):
    d = _daily(st, sl, days, seed, block)
    _, out, _ = disaggregate_arrays(days, st["lat"][sl], st["lon"][sl], d, dt,
                                    precipitation=precipitation)
    return {k: v.astype(np.float32) for k, v in out.items()}


def make_synthetic(n_cells: int, n_days: int, seed: int = 0, dt: int = 1800,
                   start: str = "2015-04-01", *, simulate_fn=None, obs_noise: float = 0.03,
                   missing_fraction: float = 0.55, block_size: int = 256,
                   lazy_threshold: int = 20_000_000, precipitation: str = "uniform"
                   ) -> xr.Dataset:
    """Synthetic forcing, attributes, hidden parameters and (optionally) SMAP-like observations.

    Args:
        n_cells: number of cells (3 to 50 000+). n_days: days. seed: master seed (deterministic).
        dt: model step [s], divisor of 86400. start: first UTC day.
        simulate_fn: ``f(ds) -> (time, cell)`` top-layer soil moisture [m3/m3] at the model steps
            (state at the end of each step); None leaves ``SMAP_AM`` all NaN.
        obs_noise: sd of the observation error [m3/m3] (SMAP-like 0.02-0.04).
        missing_fraction: fraction of observation slots removed at random.
        block_size: cells per generation block (each with its own seed ``(seed, block)``).
        lazy_threshold: above ``n_cells * steps`` elements the forcing is dask-backed.
        precipitation: disaggregation rule for rain (``"uniform"`` or ``"window"``).

    Returns:
        Dataset in the :func:`~diffland.data.to_dataset` layout (forcing ``(time, cell)``, SI,
        ``time`` = interval ends), statics, ``ISLTYP``/``IVGTYP``, ``true_*``, ``SMAP_AM``.
    """
    if n_cells < 1 or n_days < 1:
        raise DataError("make_synthetic", "n_cells/n_days", "must be positive",
                        fix="ask for at least one cell and one day")
    if 86400 % int(dt):
        raise DataError("make_synthetic", "dt", f"{dt} s does not divide a day",
                        fix="use a divisor of 86400")
    st = _statics(n_cells, seed)
    days = np.datetime64(start, "D") + np.arange(n_days)
    n = 86400 // int(dt)
    nt = n_days * n
    t_end = (days.astype("datetime64[s]")[:, None]
             + (np.arange(1, n + 1) * int(dt)).astype("timedelta64[s]")[None, :]).ravel()
    blocks = [slice(b, min(b + block_size, n_cells)) for b in range(0, n_cells, block_size)]
    lazy = n_cells * nt > lazy_threshold
    if lazy:
        import dask
        import dask.array as da
        gens = [dask.delayed(_block_forcing)(st, sl, days, seed, i, int(dt), precipitation)
                for i, sl in enumerate(blocks)]
        forcing = {k: da.concatenate(
            [da.from_delayed(dask.delayed(lambda g, k=k: g[k])(g), (nt, sl.stop - sl.start),
                             np.float32) for g, sl in zip(gens, blocks)], axis=1)
            for k in FORCING_VARS}
    else:
        parts = [_block_forcing(st, sl, days, seed, i, int(dt), precipitation)
                 for i, sl in enumerate(blocks)]
        forcing = {k: np.concatenate([p[k] for p in parts], axis=1) for k in FORCING_VARS}
    ds = xr.Dataset(coords={"cell": np.arange(n_cells), "time": t_end.astype("datetime64[ns]"),
                            "obs_time": days.astype("datetime64[ns]"),
                            "lat": ("cell", st["lat"], {"units": "degrees_north"}),
                            "lon": ("cell", st["lon"], {"units": "degrees_east"})})
    for k in FORCING_VARS:
        ds[k] = (("time", "cell"), forcing[k], {"units": FORCING_UNITS[k],
                                                "long_name": FORCING_LONG[k]})
    for k, u in (("sand", "%"), ("silt", "%"), ("clay", "%"), ("NDVI", "1"), ("elevation", "m")):
        ds[k] = ("cell", st[k], {"units": u})
    ds["landcover"] = ("cell", st["landcover"].astype(np.int32), {"long_name": "IGBP class"})
    ds["humidity_index"] = ("cell", st["h"], {"long_name": "synthetic climate humidity index"})
    soil, srep = soil_classes_from_texture(st["sand"], st["silt"], st["clay"])
    veg, vrep = veg_classes_from_landcover(st["landcover"])
    ds["ISLTYP"] = ("cell", soil, {"long_name": "STAS soil class"})
    ds["IVGTYP"] = ("cell", veg, {"long_name": "MODIS vegetation class"})
    units = {"BEXP": "1", "SMCMAX": "m3 m-3", "PSISAT": "m", "DKSAT": "m s-1",
             "VCMX25": "umol m-2 s-1"}
    for k, v in st["true"].items():
        ds[f"true_{k}"] = ("cell", v, {"units": units[k], "long_name": f"hidden true {k}"})
    nominal = (days.astype("datetime64[ns]")[:, None]
               + ((6.0 - st["lon"] / 15.0) * 3600e9).astype("timedelta64[ns]")[None, :])
    ds["SMAP_AM_time"] = (("obs_time", "cell"), nominal,
                          {"long_name": "nominal overpass time (06:00 local solar time), UTC"})
    rep = {"soil_class": {k: srep[k] for k in ("n_fallback", "n_renormalised")},
           "veg_class": {"n_fallback": vrep["n_fallback"]}}
    if simulate_fn is None:
        ds["SMAP_AM"] = (("obs_time", "cell"), np.full((n_days, n_cells), np.nan, np.float32),
                         {"units": "m3 m-3"})
        ds.attrs["SMAP_AM_status"] = ("empty: no simulate_fn given; call make_synthetic(..., "
                                      "simulate_fn=f) with f(ds) -> (time, cell) top-layer soil "
                                      "moisture to fill it")
    else:
        from .obsop import build_obs_operator
        sm = np.asarray(simulate_fn(ds))
        if sm.shape != (nt, n_cells):
            raise DataError("make_synthetic", "simulate_fn", f"returned shape {sm.shape}, expected "
                            f"(time, cell) = {(nt, n_cells)}",
                            fix="return the top-layer soil moisture at every model step")
        obs = np.full((n_days, n_cells), np.nan, np.float32)
        n_clip = 0
        for i, sl in enumerate(blocks):
            op = build_obs_operator(ds["time"].values, st["lon"][sl],
                                    np.zeros((n_days, sl.stop - sl.start)), days)
            truth = sm[:, sl][op.step_idx, np.arange(sl.stop - sl.start)[None, :]]
            rng = np.random.default_rng([seed, 2, i])
            y = truth + rng.normal(0, obs_noise, truth.shape)
            n_clip += int(((y < 0.02) | (y > 0.5)).sum())
            y = np.clip(y, 0.02, 0.5)
            gap = rng.random(truth.shape) < missing_fraction
            y = np.where(gap | ~op.available, np.nan, y)
            obs[:, sl] = y
        ds["SMAP_AM"] = (("obs_time", "cell"), obs, {"units": "m3 m-3",
                                                     "long_name": "synthetic SMAP AM"})
        ds.attrs["SMAP_AM_status"] = (f"simulated: noise sd {obs_noise}, {missing_fraction:.0%} "
                                      f"removed at random, {n_clip} values clipped to 0.02-0.5")
        rep["SMAP_AM"] = {"missing": int(np.isnan(obs).sum()), "clipped": n_clip}
    ds.attrs.update({"source": f"synthetic:{n_cells},{n_days},{seed}", "time_convention":
                     "interval_end", "dt_seconds": int(dt), "report": json.dumps(rep),
                     "synthetic": json.dumps({"seed": seed, "block_size": block_size,
                                              "lazy": bool(lazy), "start": str(start),
                                              "precipitation": precipitation})})
    return ds
