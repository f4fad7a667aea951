"""Observation operator: model top-layer soil moisture -> SMAP-like observations, with masks.

Two stages, so that it can sit inside a jitted loss:

1. :func:`build_obs_operator` (numpy, outside jit): for every observation slot ``(obs_time, cell)``
   find the model step whose state time is nearest the overpass, and the *static* mask (observation
   present, retrieval recommended, overpass inside the model period). Overpass time = the exact time
   when given (``SMAP_AM_time``), else nominal ``day + overpass_hour - lon/15 h`` UTC (mean local
   solar time, the same definition as :mod:`.disaggregate`; 6 h for SMAP AM, 18 h for PM).
2. :meth:`ObsOperator.apply` (jnp, jit-safe): gather the model's top layer at those steps, apply the
   depth option and the *dynamic* masks computed from the model state at the same steps:

   - frozen: top-layer soil temperature ``< 273.15 K`` or top-layer ice ``SMC - SH2O > ice_threshold``;
   - snow: ``SNEQV > snow_threshold`` [mm] (default 1 mm).

Depth option (``depth=``):

- ``"layer1"``: the model's first layer (0-10 cm in Noah-MP) is compared with SMAP (0-5 cm) as it is;
- ``"linear_0_5cm"``: soil moisture varies linearly with depth between the centres of layers 1 and 2
  (``z1 = dz1/2``, ``z2 = dz1 + dz2/2``); the 0-5 cm mean of a linear profile is its value at 2.5 cm:
  ``theta = theta1 + (theta1 - theta2) (z1 - 0.025) / (z2 - z1)`` (``+0.125 (theta1 - theta2)`` for
  Noah-MP's 0.1/0.3 m layers), floored at 0. Needs the second layer.

Counts: the static counts (total slots, missing, flagged, outside the model period, available) are
in ``ObsOperator.counts``; ``apply`` returns the dynamic ones (``frozen``, ``snow``, ``used``) as jnp
scalars. Every slot is attributed to the first reason that removes it, in the order missing ->
outside_model_period -> flagged -> frozen -> snow, so the counts add up to the total.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ._common import DataError

__all__ = ["ObsOperator", "build_obs_operator", "masked_rmse", "proxy_frozen_snow",
           "smap_mask_report"]


@dataclasses.dataclass
class ObsOperator:
    """Sampling plan (numpy arrays, ``(n_obs_time, cell)``) built by :func:`build_obs_operator`."""

    step_idx: np.ndarray      # int32 index into the model time axis
    obs: np.ndarray           # float32 observations, 0 where not available
    available: np.ndarray     # bool: present, recommended, inside the model period
    counts: dict
    overpass_time: np.ndarray  # datetime64[ns] used for each slot

    def apply(self, sm_top, *, sm_layer2=None, t_top=None, ice_top=None, sneqv=None,
              depth: str = "layer1", dz=(0.1, 0.3), frozen_t: float = 273.15,
              ice_threshold: float = 0.0, snow_threshold: float = 1.0):
        """Model values at the observation slots, and the final mask (jit-safe).

        Args:
            sm_top: ``(time, cell)`` top-layer volumetric soil moisture [m3/m3] (jnp or numpy).
            sm_layer2: ``(time, cell)`` second layer [m3/m3], needed for ``depth="linear_0_5cm"``.
            t_top: ``(time, cell)`` top-layer soil temperature [K] (frozen mask) or None.
            ice_top: ``(time, cell)`` top-layer ice content ``SMC - SH2O`` [m3/m3] or None.
            sneqv: ``(time, cell)`` snow water equivalent [mm] or None.
            depth: ``"layer1"`` or ``"linear_0_5cm"`` (module docstring).
            dz: thicknesses of layers 1 and 2 [m].

        Returns:
            ``(pred, obs, mask, counts)``: ``pred``/``obs`` ``(n_obs_time, cell)``, ``mask`` bool
            (use only where True), ``counts`` dict of jnp int scalars ``frozen``, ``snow``, ``used``.
        """
        import jax.numpy as jnp

        idx = jnp.asarray(self.step_idx)
        cell = jnp.arange(idx.shape[1])[None, :]

        def g(a):
            return jnp.asarray(a)[idx, cell]

        p1 = g(sm_top)
        if depth == "layer1":
            pred = p1
        elif depth == "linear_0_5cm":
            if sm_layer2 is None:
                raise DataError("obs operator", "sm_layer2", "depth='linear_0_5cm' needs layer 2",
                                fix="pass sm_layer2=(time, cell) or use depth='layer1'")
            z1 = dz[0] / 2.0
            z2 = dz[0] + dz[1] / 2.0
            w = (z1 - 0.025) / (z2 - z1)
            pred = jnp.maximum(p1 + (p1 - g(sm_layer2)) * w, 0.0)
        else:
            raise DataError("obs operator", "depth", f"unknown option {depth!r}",
                            fix="use 'layer1' or 'linear_0_5cm'")
        avail = jnp.asarray(self.available)
        frozen = jnp.zeros_like(avail)
        if t_top is not None:
            frozen = frozen | (g(t_top) < frozen_t)
        if ice_top is not None:
            frozen = frozen | (g(ice_top) > ice_threshold)
        snow = g(sneqv) > snow_threshold if sneqv is not None else jnp.zeros_like(avail)
        fz = avail & frozen
        sn = avail & ~frozen & snow
        mask = avail & ~frozen & ~snow
        counts = {"frozen": fz.sum(), "snow": sn.sum(), "used": mask.sum()}
        return pred, jnp.asarray(self.obs), mask, counts


def build_obs_operator(model_times, lon, obs, obs_time=None, *, overpass_hour: float = 6.0,
                       overpass_times=None, qc=None, tolerance_s: float | None = None
                       ) -> ObsOperator:
    """Plan the sampling of model states at satellite overpasses (numpy, outside jit).

    Args:
        model_times: ``(time,)`` UTC datetime64 at which the model state is valid (end of steps).
        lon: ``(cell,)`` longitude [deg E].
        obs: ``(n_obs_time, cell)`` observations, NaN = missing.
        obs_time: ``(n_obs_time,)`` UTC dates of the observations (needed unless ``overpass_times``).
        overpass_hour: local solar hour of the pass (6 AM, 18 PM).
        overpass_times: ``(n_obs_time, cell)`` exact overpass times (NaT -> nominal).
        qc: ``(n_obs_time, cell)`` bool, True = retrieval usable; None = all usable.
        tolerance_s: largest allowed distance to the nearest model time [s]; default half the
            model step plus 1 s.
    """
    mt = np.asarray(model_times).astype("datetime64[ns]")
    if mt.size < 1:
        raise DataError("obs operator", "model_times", "empty", fix="pass the model's state times")
    if mt.size > 1 and np.any(np.diff(mt.astype(np.int64)) <= 0):
        raise DataError("obs operator", "model_times", "not strictly increasing",
                        fix="pass sorted, unique model times")
    obs = np.asarray(obs, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64).ravel()
    if obs.ndim != 2 or obs.shape[1] != lon.size:
        raise DataError("obs operator", "obs", f"shape {obs.shape} is not (obs_time, {lon.size})",
                        fix="observations must be (obs_time, cell) on the model's cells")
    nom = None
    if obs_time is not None:
        d = np.asarray(obs_time).astype("datetime64[D]").astype("datetime64[ns]")
        if d.size != obs.shape[0]:
            raise DataError("obs operator", "obs_time", f"{d.size} times for {obs.shape[0]} rows",
                            fix="one obs_time per observation row")
        off = ((overpass_hour - lon / 15.0) * 3600e9).astype("timedelta64[ns]")
        nom = d[:, None] + off[None, :]
    if overpass_times is not None:
        ot = np.asarray(overpass_times).astype("datetime64[ns]")
        if nom is not None:
            ot = np.where(np.isnat(ot), nom, ot)
    elif nom is not None:
        ot = nom
    else:
        raise DataError("obs operator", "obs_time", "neither obs_time nor overpass_times given",
                        fix="pass obs_time (dates) or the exact overpass times")
    dtm = float(np.median(np.diff(mt.astype(np.int64)))) / 1e9 if mt.size > 1 else 0.0
    tol = (dtm / 2.0 + 1.0) if tolerance_s is None else float(tolerance_s)
    ti = ot.astype(np.int64)
    nat = np.isnat(ot)
    j = np.clip(np.searchsorted(mt.astype(np.int64), ti), 1, max(mt.size - 1, 1))
    jm = j - 1
    lo_d = np.abs(ti - mt.astype(np.int64)[jm])
    hi_d = np.abs(mt.astype(np.int64)[np.minimum(j, mt.size - 1)] - ti)
    best = np.where(hi_d < lo_d, np.minimum(j, mt.size - 1), jm)
    dist = np.minimum(lo_d, hi_d) / 1e9
    inside = ~nat & (dist <= tol)
    present = np.isfinite(obs)
    good = np.ones_like(present) if qc is None else np.asarray(qc, bool)
    missing = ~present
    outside = present & ~inside
    flagged = present & inside & ~good
    avail = present & inside & good
    counts = {"total": int(obs.size), "missing": int(missing.sum()),
              "outside_model_period": int(outside.sum()), "flagged": int(flagged.sum()),
              "available": int(avail.sum()), "tolerance_s": tol}
    return ObsOperator(step_idx=best.astype(np.int32),
                       obs=np.where(avail, obs, 0.0).astype(np.float32),
                       available=avail, counts=counts, overpass_time=ot)


def masked_rmse(pred, obs, mask):
    """RMSE over ``mask`` (jnp; 0 when the mask is empty)."""
    import jax.numpy as jnp
    m = jnp.asarray(mask, dtype=jnp.asarray(pred).dtype)
    n = jnp.maximum(m.sum(), 1.0)
    return jnp.sqrt(jnp.sum(m * (pred - obs) ** 2) / n)


def proxy_frozen_snow(t2d_daily, rain_daily, *, t_freeze: float = 273.15, ddf: float = 3.0):
    """Model-free proxies for frozen soil and snow from daily forcing (used when no model is run).

    frozen: daily-mean air temperature below ``t_freeze``. snow: a degree-day snow pack, all
    precipitation on days below ``t_freeze`` accumulates, melt ``ddf`` mm/K/day above it;
    returns ``(frozen, swe_mm)`` ``(day, cell)``.

    Args:
        t2d_daily: ``(day, cell)`` [K]; rain_daily: ``(day, cell)`` mean rate [mm/s].
    """
    t = np.asarray(t2d_daily, dtype=np.float64)
    p = np.asarray(rain_daily, dtype=np.float64) * 86400.0
    swe = np.zeros_like(t)
    s = np.zeros(t.shape[1])
    for i in range(t.shape[0]):
        cold = t[i] < t_freeze
        s = s + np.where(cold, p[i], 0.0)
        s = np.maximum(s - np.where(cold, 0.0, ddf * (t[i] - t_freeze)), 0.0)
        swe[i] = s
    return t < t_freeze, swe


def smap_mask_report(ds, *, snow_threshold: float = 1.0) -> dict:
    """Counts of the SMAP_AM screening on a daily dataset (e.g. conus_smap) without a model:
    missing, flagged (``SMAP_AM_qc`` if present, else none: the hydroDL database carries no
    per-retrieval flag), and the frozen / snow **proxies** of :func:`proxy_frozen_snow`, applied
    on the observation day. Returns a dict of ints (exclusive, in operator order)."""
    sm = ds["SMAP_AM"].values
    present = np.isfinite(sm)
    qc = ds["SMAP_AM_qc"].values if "SMAP_AM_qc" in ds else np.ones_like(present)
    day_idx = np.searchsorted(ds["time"].values, ds["obs_time"].values)
    frozen, swe = proxy_frozen_snow(ds["T2D"].values, ds["RAINRATE"].values)
    fz = frozen[np.clip(day_idx, 0, frozen.shape[0] - 1)]
    sn = swe[np.clip(day_idx, 0, swe.shape[0] - 1)] > snow_threshold
    flagged = present & ~qc
    avail = present & qc
    return {"total": int(sm.size), "missing": int((~present).sum()), "flagged": int(flagged.sum()),
            "frozen_proxy": int((avail & fz).sum()),
            "snow_proxy": int((avail & ~fz & sn).sum()),
            "used": int((avail & ~fz & ~sn).sum()),
            "note": "frozen = daily-mean T2D < 273.15 K; snow = degree-day SWE (3 mm/K/day) > "
                    f"{snow_threshold} mm; proxies because no model was run; no per-retrieval "
                    "quality flag in the hydroDL database"}
