"""From an xarray data set to the NumPy arrays the trainer uses.

Expected data set layout (what ``train``/``apply``/``transfer_check`` accept):

- dims ``cell`` and ``time`` (model steps, UTC stamps of the END of each step, HRLDAS convention), and
  ``obs_time`` (daily dates of the observations);
- forcing variables ``T2D`` [K], ``Q2D`` [kg/kg], ``U2D``, ``V2D`` [m/s], ``PSFC`` [Pa], ``SWDOWN``,
  ``LWDOWN`` [W/m2], ``RAINRATE`` [mm/s], dims (time, cell), at the model step; optional ``COSZ`` (time, cell),
  ``JULIAN``, ``YEARLEN`` (time,) (else computed from the time stamps);
- the observation variable (default ``SMAP_AM``) [m3/m3], dims (obs_time, cell), NaN = missing; optionally
  precomputed overpass step indices ``SMAP_AM_index`` (obs_time, cell) into ``time`` (else the step closest
  to ``overpass_hour`` local solar time, UTC + lon/15 h, see :func:`overpass_indices`);
- coords / variables ``lat``, ``lon`` (cell,) [degrees];
- static attributes: numeric variables with dim ``cell`` only (the names in ``RESERVED_CELL_VARS`` are not
  network inputs);
- optional per-cell aridity class ``aridity_class`` (cell,) int 0 arid, 1 semi-arid, 2 sub-humid, 3 humid,
  or ``aridity_index`` (P/PET) from which it is derived (:func:`aridity_classes`);
- default parameters: variables ``param_<NAME>`` with dims (cell,) or (soil_layer, cell) (used as-is), or
  ``soil_class``/``veg_class`` (cell,) for ``diffland.parameters.build.build_params``;
- optional initial state ``init_SMC`` (soil_layer, cell), ``init_STC``, ``init_TSK``, ``init_SNEQV``,
  ``init_SNOWH``, ``init_CANWAT``.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Mapping, Optional

import numpy as np
import xarray as xr

__all__ = [
    "FORCING_NAMES", "RESERVED_CELL_VARS", "REGIME_NAMES", "register_loader", "load_dataset",
    "overpass_indices", "aridity_classes", "default_params_from_dataset", "initial_conditions",
    "time_inputs", "Normaliser", "Prepared", "prepare", "select_period", "split_cells",
]

FORCING_NAMES = ("T2D", "Q2D", "U2D", "V2D", "PSFC", "SWDOWN", "LWDOWN", "RAINRATE")
REGIME_NAMES = ("arid", "semi-arid", "sub-humid", "humid")
RESERVED_CELL_VARS = {"lat", "lon", "cell", "aridity_class", "aridity_index", "soil_class", "veg_class",
                      "regime", "cell_id"}

# ------------------------------------------------------------------------------------------------
_LOADERS: Dict[str, Callable[[str], xr.Dataset]] = {}


def register_loader(kind: str, fn: Callable[[str], xr.Dataset]) -> None:
    """Register ``fn(path) -> xr.Dataset`` for ``data.source: KIND:PATH``."""
    _LOADERS[kind] = fn


register_loader("nc", xr.open_dataset)
register_loader("netcdf", xr.open_dataset)


def load_dataset(source: str) -> xr.Dataset:
    """Open ``KIND:PATH``: a registered loader, else ``diffland.data.load_dataset(KIND, PATH)`` if present."""
    if ":" not in source:
        raise ValueError(f"data.source must be KIND:PATH, got {source!r} (kinds: {sorted(_LOADERS)})")
    kind, path = source.split(":", 1)
    if kind in _LOADERS:
        return _LOADERS[kind](path)
    try:
        from diffland import data as _data  # the data layer, when it provides a loader
        fn = getattr(_data, "load_dataset")
    except (ImportError, AttributeError):
        raise ValueError(f"no loader for data kind {kind!r}; known: {sorted(_LOADERS)} "
                         "(register one with diffland.learning.data.register_loader)") from None
    return fn(kind, path)


# ------------------------------------------------------------------------------------------------
def overpass_indices(time, obs_time, lon, hour: float = 6.0) -> np.ndarray:
    """Model step index closest to ``hour`` local solar time (UTC + lon/15 h) of each obs day and cell.

    Args:
        time: (T,) datetime64 step stamps (end of step).
        obs_time: (D,) datetime64 dates (the local day of the observation).
        lon: (C,) degrees east.
    Returns:
        (D, C) int64 indices into ``time``; clipped to [0, T-1] (days outside the run are masked by callers
        via :func:`index_in_range`).
    """
    t = np.asarray(time, "datetime64[s]").astype(np.int64)
    day = np.asarray(obs_time, "datetime64[D]").astype("datetime64[s]").astype(np.int64)
    target = day[:, None] + int(hour * 3600) - (np.asarray(lon, float)[None, :] / 15.0 * 3600.0)
    pos = np.searchsorted(t, target)
    lo = np.clip(pos - 1, 0, len(t) - 1)
    hi = np.clip(pos, 0, len(t) - 1)
    pick_hi = np.abs(t[hi] - target) < np.abs(t[lo] - target)
    return np.where(pick_hi, hi, lo).astype(np.int64)


def aridity_classes(ai) -> np.ndarray:
    """Classes from the aridity index P/PET: 0 arid (< 0.2), 1 semi-arid (< 0.5), 2 sub-humid (< 0.65), 3 humid."""
    ai = np.asarray(ai, float)
    return np.digitize(ai, [0.2, 0.5, 0.65]).astype(np.int32)


def time_inputs(time, lat, lon) -> dict:
    """COSZ (T, C) [-], JULIAN (T,) [day], YEARLEN (T,) [day]: ``diffland.physics.solar`` when available,
    else a simple local equivalent (declination + hour angle; adequate for learning)."""
    try:
        from diffland.physics import solar
        jd = solar.julian_day(np.asarray(time))
        cosz = solar.cos_zenith(np.asarray(time), np.asarray(lat, float), np.asarray(lon, float))
        return {"COSZ": np.asarray(cosz, float).reshape(len(time), -1), "JULIAN": np.asarray(jd["JULIAN"], float),
                "YEARLEN": np.asarray(jd["YEARLEN"], float)}
    except (ImportError, AttributeError, KeyError, TypeError):  # pragma: no cover - solar module absent
        pass
    t = np.asarray(time, "datetime64[s]")
    year = t.astype("datetime64[Y]")
    yearlen = ((year + 1).astype("datetime64[D]") - year.astype("datetime64[D]")).astype(float)
    julian = (t - year.astype("datetime64[s]")).astype(float) / 86400.0
    dec = np.deg2rad(23.44) * np.sin(2 * np.pi * (julian - 80.0) / yearlen)
    hour = (t - t.astype("datetime64[D]").astype("datetime64[s]")).astype(float) / 3600.0
    ha = np.deg2rad((hour[:, None] + np.asarray(lon)[None, :] / 15.0 - 12.0) * 15.0)
    la = np.deg2rad(np.asarray(lat))[None, :]
    cosz = np.sin(la) * np.sin(dec)[:, None] + np.cos(la) * np.cos(dec)[:, None] * np.cos(ha)
    return {"COSZ": np.clip(cosz, 0.0, 1.0), "JULIAN": julian, "YEARLEN": yearlen}


def _cell_dim_vars(ds: xr.Dataset):
    return [v for v in ds.data_vars if ds[v].dims == ("cell",)]


def default_params_from_dataset(ds: xr.Dataset, options=None, table=None) -> dict:
    """Per-cell default parameters: ``param_<NAME>`` variables, else ``build_params(soil_class, veg_class)``."""
    pv = [v for v in ds.data_vars if v.startswith("param_")]
    if pv:
        out = {}
        for v in pv:
            da = ds[v]
            da = da.transpose(*[d for d in da.dims if d != "cell"], "cell")
            out[v[len("param_"):]] = np.asarray(da.values, np.float64)
        return out
    if "soil_class" not in ds or "veg_class" not in ds:
        raise ValueError("the data set has neither param_<NAME> variables nor soil_class/veg_class to build "
                         "default parameters from")
    from diffland.parameters.build import build_params  # the parameters layer

    if table is None:  # the default v5 table (DIFFLAND_TABLE or ../shared/data/...), clear error if absent
        from diffland.parameters import default_table

        table = default_table()
    kw = dict(soil_class=np.asarray(ds["soil_class"].values), veg_class=np.asarray(ds["veg_class"].values),
              table=table, nsoil=options.nsoil if options is not None else 4)
    for name, key in (("shdmax", "shdmax"), ("SHDMAX", "shdmax"), ("tbot", "tbot"), ("TBOT", "tbot")):
        if name in ds and key not in kw:
            kw[key] = np.asarray(ds[name].values)
    p = build_params(**kw)
    return {k: np.asarray(v) for k, v in p.items()}


def initial_conditions(ds: xr.Dataset, defaults: Mapping, options, forcing_T2D) -> dict:
    """Initial state inputs for ``model.init_state``: ``init_<NAME>`` variables when present, else
    SMC = 0.75 SMCMAX per layer [m3/m3], STC = mean T2D of the first 30 days [K] in every layer,
    TSK = first T2D [K], SNEQV = SNOWH = CANWAT = 0."""
    nsoil = options.nsoil
    T = np.asarray(forcing_T2D)
    ncell = T.shape[1]
    smcmax = np.asarray(defaults["SMCMAX"]) if "SMCMAX" in defaults else np.full((nsoil, ncell), 0.45)
    if smcmax.ndim == 1:
        smcmax = np.broadcast_to(smcmax, (nsoil, ncell))
    tmean = T[: max(1, min(len(T), int(30 * 86400 / options.dt)))].mean(0)
    out = {"SMC": 0.75 * smcmax, "STC": np.broadcast_to(tmean, (nsoil, ncell)).copy(), "TSK": T[0].copy(),
           "SNEQV": np.zeros(ncell), "SNOWH": np.zeros(ncell), "CANWAT": np.zeros(ncell)}
    for k in list(out):
        v = f"init_{k}"
        if v in ds:
            da = ds[v]
            da = da.transpose(*[d for d in da.dims if d != "cell"], "cell")
            out[k] = np.asarray(da.values, np.float64)
    return {k: np.asarray(v, np.float64) for k, v in out.items()}


# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Normaliser:
    """Statistics computed on the training cells and period, stored in the run directory."""

    attributes: list
    attr_mean: list
    attr_std: list
    forcing_mean: list
    forcing_std: list
    obs_mean: float
    obs_std: float

    @classmethod
    def fit(cls, ds: xr.Dataset, attributes: Optional[list], obs_var: str,
            forcing_cells: Optional[int] = None) -> "Normaliser":
        """``forcing_cells``: compute the forcing statistics (used by gZ only) on the first ``forcing_cells``
        cells (one contiguous block, so a chunked store reads few chunks; streaming: the forcing is not read
        in full)."""
        if attributes is None:
            attributes = [v for v in _cell_dim_vars(ds) if v not in RESERVED_CELL_VARS
                          and not v.startswith(("param_", "init_")) and np.issubdtype(ds[v].dtype, np.number)]
        missing = [a for a in attributes if a not in ds]
        if missing:
            raise ValueError(f"static attributes {missing} are not in the data set")
        A = np.stack([np.asarray(ds[a].values, float) for a in attributes], 1) if attributes else np.zeros(
            (ds.sizes["cell"], 0))
        am, asd = np.nanmean(A, 0), np.nanstd(A, 0)
        fm, fs = [], []
        fds = ds
        if forcing_cells is not None:
            fds = ds.isel(cell=slice(0, forcing_cells))[list(FORCING_NAMES)].compute()
        for f in FORCING_NAMES:
            x = np.asarray(fds[f].values, float)
            fm.append(float(np.nanmean(x)))
            fs.append(float(np.nanstd(x)))
        o = np.asarray(ds[obs_var].values, float)
        return cls(list(attributes), [float(x) for x in am], [float(x) if x > 0 else 1.0 for x in asd],
                   fm, [x if x > 0 else 1.0 for x in fs], float(np.nanmean(o)), float(max(np.nanstd(o), 1e-6)))

    def attrs(self, ds: xr.Dataset) -> np.ndarray:
        if not self.attributes:
            return np.zeros((ds.sizes["cell"], 1), np.float32)
        missing = [a for a in self.attributes if a not in ds]
        if missing:
            raise ValueError(f"the data set lacks the static attributes the network was trained on: {missing}")
        A = np.stack([np.asarray(ds[a].values, float) for a in self.attributes], 1)
        A = (A - np.asarray(self.attr_mean)) / np.asarray(self.attr_std)
        return np.nan_to_num(A, nan=0.0).astype(np.float32)

    def sequence(self, ds: xr.Dataset, obs_var: str, steps_per_day: int, use_obs: bool,
                 history_days: Optional[int]) -> np.ndarray:
        """Daily-mean normalised forcing (+ obs, obs-present flag): (days, cells, n_seq) float32."""
        chans = []
        for i, f in enumerate(FORCING_NAMES):
            x = np.asarray(ds[f].transpose("time", "cell").values, float)
            nd = x.shape[0] // steps_per_day
            x = x[: nd * steps_per_day].reshape(nd, steps_per_day, -1).mean(1)
            chans.append((x - self.forcing_mean[i]) / self.forcing_std[i])
        nd = chans[0].shape[0]
        if use_obs:
            o = np.asarray(ds[obs_var].transpose("obs_time", "cell").values, float)[:nd]
            o = np.pad(o, ((0, nd - o.shape[0]), (0, 0)), constant_values=np.nan)
            chans.append(np.nan_to_num((o - self.obs_mean) / self.obs_std, nan=0.0))
            chans.append(np.isfinite(o).astype(float))
        seq = np.stack(chans, -1)
        if history_days is not None:
            seq = seq[-int(history_days):]
        return np.nan_to_num(seq, nan=0.0).astype(np.float32)

    def n_seq(self, use_obs: bool) -> int:
        return len(FORCING_NAMES) + (2 if use_obs else 0)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ------------------------------------------------------------------------------------------------
def select_period(ds: xr.Dataset, start, end) -> xr.Dataset:
    """Steps with stamps in [start, end + 1 day) and observation days in [start, end]."""
    s = np.datetime64(str(start), "D")
    e = np.datetime64(str(end), "D")
    t = ds["time"].values.astype("datetime64[s]")
    tm = (t > s.astype("datetime64[s]")) & (t <= (e + 1).astype("datetime64[s]"))
    out = ds.isel(time=np.nonzero(tm)[0])
    if "obs_time" in ds.dims:
        ot = ds["obs_time"].values.astype("datetime64[D]")
        out = out.isel(obs_time=np.nonzero((ot >= s) & (ot <= e))[0])
    if out.sizes["time"] == 0:
        raise ValueError(f"no model steps between {start} and {end} in the data set "
                         f"({ds['time'].values[0]} .. {ds['time'].values[-1]})")
    return out


def split_cells(n: int, holdout_fraction: float, seed: int) -> tuple:
    """(train_idx, holdout_idx) with round(fraction * n) held-out cells drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    nh = int(round(holdout_fraction * n))
    return np.sort(perm[nh:]), np.sort(perm[:nh])


@dataclasses.dataclass
class Prepared:
    """Arrays for one set of cells and one period (cells last; time / days first)."""

    cell_ids: np.ndarray          # (C,) the data set's cell labels
    lat: np.ndarray               # (C,)
    lon: np.ndarray               # (C,)
    time: np.ndarray              # (T,) datetime64
    forcing: dict                 # name -> (T, C) float32, JULIAN/YEARLEN (T,)
    attrs: np.ndarray             # (C, n_attr) float32, normalised
    seq: Optional[np.ndarray]     # (days, C, n_seq) float32 or None
    obs: np.ndarray               # (D, C) float32, NaN missing
    obs_time: np.ndarray          # (D,)
    obs_idx: np.ndarray           # (D, C) int, into time
    defaults: dict                # name -> (C,) / (nsoil, C) float32
    initial: dict                 # name -> (C,) / (nsoil, C) float32
    regime: Optional[np.ndarray]  # (C,) int32 or None

    @property
    def ncell(self) -> int:
        return len(self.cell_ids)

    def subset(self, idx) -> "Prepared":
        idx = np.asarray(idx)
        f = {k: (v[:, idx] if v.ndim == 2 else v) for k, v in self.forcing.items()}
        return Prepared(self.cell_ids[idx], self.lat[idx], self.lon[idx], self.time, f, self.attrs[idx],
                        None if self.seq is None else self.seq[:, idx], self.obs[:, idx], self.obs_time,
                        self.obs_idx[:, idx], {k: v[..., idx] for k, v in self.defaults.items()},
                        {k: v[..., idx] for k, v in self.initial.items()},
                        None if self.regime is None else self.regime[idx])


def is_lazy(data: Prepared) -> bool:
    """True when ``data`` came from ``prepare(..., lazy=True)`` (forcing not in memory)."""
    return "COSZ" not in data.forcing or not isinstance(data.forcing["T2D"], np.ndarray)


def materialise(data: Prepared, cells, options, read=None) -> Prepared:
    """The minibatch ``cells`` of a lazy :class:`Prepared` with its forcing read into memory (float32),
    ``COSZ`` computed and the default initial state filled in (explicit ``init_*`` values kept).

    ``read``: positions in ``cells`` whose forcing is read; the others' forcing is left at zero and must
    not be used (with several processes each reads only the cells its own devices hold).
    """
    cells = np.asarray(cells)
    sub = data.subset(cells)
    lazy_keys = [k for k, v in sub.forcing.items() if hasattr(v, "dask")]
    if lazy_keys:  # one compute for all variables: a generator/zarr chunk is read once, not once per variable
        import dask

        if read is None:
            vals = dask.compute(*[sub.forcing[k] for k in lazy_keys])
        else:
            read = np.asarray(read)
            part = dask.compute(*[sub.forcing[k][:, read] for k in lazy_keys])
            vals = []
            for k, v in zip(lazy_keys, part):
                full = np.zeros(sub.forcing[k].shape, np.float32)
                full[:, read] = v
                vals.append(full)
        sub.forcing = {**sub.forcing, **dict(zip(lazy_keys, vals))}
    f = {k: (np.asarray(v, np.float32) if getattr(v, "ndim", 1) == 2 else np.asarray(v))
         for k, v in sub.forcing.items()}
    if "COSZ" not in f:
        f["COSZ"] = np.asarray(time_inputs(sub.time, sub.lat, sub.lon)["COSZ"], np.float32)
    init = {k: np.asarray(v, np.float32)
            for k, v in initial_conditions(xr.Dataset(), sub.defaults, options, f["T2D"]).items()}
    init.update(sub.initial)
    sub.forcing, sub.initial = f, init
    return sub


def steps_per_day(ds: xr.Dataset) -> int:
    t = ds["time"].values.astype("datetime64[s]").astype(np.int64)
    if len(t) < 2:
        raise ValueError("the data set needs at least two time steps")
    dt = int(np.median(np.diff(t)))
    if 86400 % dt:
        raise ValueError(f"model step {dt} s does not divide a day")
    return 86400 // dt


def prepare(ds: xr.Dataset, norm: Normaliser, options, *, obs_var="SMAP_AM", overpass_hour=6.0,
            network_kind="gA", use_obs_history=False, history_days=None, default_params_fn=None,
            table=None, initial_from: Optional[xr.Dataset] = None, lazy: bool = False) -> Prepared:
    """Arrays for the whole of ``ds`` (already cut to cells / period).

    ``initial_from``: data set whose first steps define the default initial state (defaults to ``ds``).
    ``lazy``: larger-than-memory data: the forcing stays as the data set's (Dask/zarr) arrays, ``COSZ`` is not
    precomputed and ``initial`` holds only explicit ``init_*`` variables; :func:`materialise` fills a
    minibatch of cells (the streaming trainer calls it per minibatch).
    """
    spd = steps_per_day(ds)
    dt = 86400 / spd
    if abs(dt - options.dt) > 1e-6:
        raise ValueError(f"the data time step ({dt} s) differs from the model step options.dt ({options.dt} s); "
                         "set data.dt / model.options.dt to match the data")
    missing = [f for f in FORCING_NAMES if f not in ds]
    if missing:
        raise ValueError(f"forcing variables {missing} are missing from the data set")
    lat = np.asarray(ds["lat"].values, float)
    lon = np.asarray(ds["lon"].values, float)
    time = ds["time"].values
    if lazy:
        forcing = {f: ds[f].transpose("time", "cell").data for f in FORCING_NAMES}
        ti1 = time_inputs(time, lat[:1], lon[:1])
        forcing.update({k: np.asarray(ti1[k], np.float32).reshape(len(time), -1)[:, 0]
                        for k in ("JULIAN", "YEARLEN")})
    else:
        forcing = {f: np.asarray(ds[f].transpose("time", "cell").values, np.float32) for f in FORCING_NAMES}
    if lazy:
        ti = {}  # COSZ per minibatch (materialise)
    elif all(k in ds for k in ("COSZ", "JULIAN", "YEARLEN")):
        ti = {"COSZ": ds["COSZ"].transpose("time", "cell").values, "JULIAN": ds["JULIAN"].values,
              "YEARLEN": ds["YEARLEN"].values}
    else:
        ti = time_inputs(time, lat, lon)
    forcing.update({k: np.asarray(v, np.float32) for k, v in ti.items()})
    if obs_var not in ds:  # e.g. applying a trained network to a data set without observations
        obs = np.zeros((0, ds.sizes["cell"]), np.float32)
        obs_time = np.zeros((0,), "datetime64[D]")
        idx = np.zeros((0, ds.sizes["cell"]), np.int64)
    else:
        obs = np.asarray(ds[obs_var].transpose("obs_time", "cell").values, np.float32)
        obs_time = ds["obs_time"].values
    if obs_var not in ds:
        pass
    elif f"{obs_var}_index" in ds:
        idx = np.asarray(ds[f"{obs_var}_index"].transpose("obs_time", "cell").values, np.int64)
    else:
        idx = overpass_indices(time, obs_time, lon, overpass_hour)
    fn = default_params_fn or default_params_from_dataset
    defaults = {k: np.asarray(v, np.float32) for k, v in fn(ds, options, table).items()}
    src = ds if initial_from is None else initial_from
    if lazy:
        initial = {}
        for k in ("SMC", "STC", "TSK", "SNEQV", "SNOWH", "CANWAT"):
            if f"init_{k}" in src:
                da = src[f"init_{k}"]
                initial[k] = np.asarray(da.transpose(*[d for d in da.dims if d != "cell"], "cell").values,
                                        np.float32)
    else:
        initial = {k: np.asarray(v, np.float32)
                   for k, v in initial_conditions(src, defaults, options, forcing["T2D"]).items()}
    regime = None
    if "aridity_class" in ds:
        regime = np.asarray(ds["aridity_class"].values, np.int32)
    elif "aridity_index" in ds:
        regime = aridity_classes(ds["aridity_index"].values)
    seq = None
    if network_kind == "gZ":
        seq = norm.sequence(ds, obs_var, spd, use_obs_history, history_days)
    cid = ds["cell"].values if "cell" in ds.coords else np.arange(ds.sizes["cell"])
    return Prepared(np.asarray(cid), lat, lon, time, forcing, norm.attrs(ds), seq, obs, obs_time, idx,
                    defaults, initial, regime)
