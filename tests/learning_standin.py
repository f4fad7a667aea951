"""A tiny differentiable stand-in for ``diffland.physics.model`` (same interface), and a data-set builder.

The stand-in is a 4-layer bucket / Richards-like column: Clapp-Hornberger conductivity and suction
(BEXP, SMCMAX, DKSAT, PSISAT), Schaake-like infiltration (REFKDT), free drainage (SLOPE), soil evaporation
with a RSURF_EXP-shaped moisture limitation, transpiration limited between SMCWLT and SMCREF (VCMX25, MP,
LAI, HVT), interception (CWPVT).  Explicit, 4 sub-steps per model step, fluxes clipped to what the layers can
give / take.  Not Noah-MP: only the interface matters here.

``init_state(initial, params, options) -> state`` and
``run(state0, forcing, params, options, lat, checkpoint) -> (final_state, outputs)`` with outputs
SMC / SH2O / STC (time, nsoil, cells) and SNEQV, LH, HFX, RUNSF, RUNSB (time, cells).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

NSUB = 4
THETA_R = 0.02


def init_state(initial, params, options):
    smcmax = params["SMCMAX"]
    smc = jnp.clip(jnp.asarray(initial["SMC"]), THETA_R, smcmax)
    stc = jnp.asarray(initial["STC"])
    return {"SMC": smc.astype(smcmax.dtype), "STC": stc.astype(smcmax.dtype),
            "TSK": jnp.asarray(initial["TSK"]).astype(smcmax.dtype),
            "SNEQV": jnp.asarray(initial["SNEQV"]).astype(smcmax.dtype),
            "CANWAT": jnp.asarray(initial["CANWAT"]).astype(smcmax.dtype)}


def _step(params, options, state, f):
    dz = jnp.asarray(options.soil_dz, params["SMCMAX"].dtype)[:, None]
    dt = options.dt
    h = dt / NSUB
    b, ts, ks, ps = params["BEXP"], params["SMCMAX"], params["DKSAT"], params["PSISAT"]
    wlt, ref = params["SMCWLT"], params["SMCREF"]
    lai = jnp.mean(params["LAIM"], 0) * (0.5 + 0.5 * params["HVT"] / (params["HVT"] + 10.0))
    fveg = 1.0 - jnp.exp(-0.5 * lai)
    rain = f["RAINRATE"] * h / 1000.0                                   # m per sub-step
    fint = 0.15 * jnp.tanh(params["CWPVT"] / 0.18) * fveg
    p_in = rain * (1.0 - fint)
    rn = jnp.maximum(0.7 * f["SWDOWN"] + 0.2 * (f["LWDOWN"] - 5.67e-8 * f["T2D"] ** 4), 0.0)
    pet = rn / 2.45e6 * h / 1000.0                                      # m per sub-step
    def sub(carry, _):
        smc, runsf, runsb, evap = carry
        avail = (smc - THETA_R) * dz
        room = (ts - smc) * dz
        # infiltration (Schaake-like)
        kdt = params["REFKDT"] * ks[0] / 2.0e-6
        dmax = (room[0] + 0.5 * room[1]) * (1.0 - jnp.exp(-kdt * h / 86400.0))
        inf = p_in * dmax / (p_in + dmax + 1e-12)
        runsf = runsf + (p_in - inf)
        # evaporation and transpiration
        s1 = smc[0] / ts[0]
        es = pet * (1.0 - fveg) * s1 ** params["RSURF_EXP"]
        es = jnp.minimum(es, 0.5 * avail[0])
        beta = jnp.clip((smc[1] - wlt[1]) / (ref[1] - wlt[1]), 0.0, 1.0)
        et = pet * fveg * (params["VCMX25"] / 50.0) * (params["MP"] / 9.0) * beta
        et = jnp.minimum(et, 0.5 * avail[1])
        # vertical fluxes (downward positive), from the upper layer's K and the suction difference
        s = jnp.clip(smc / ts, 0.01, 1.0)
        k = ks * s ** (2.0 * b + 3.0)
        psi = -ps * s ** (-b)
        zc = jnp.cumsum(dz, 0) - 0.5 * dz
        dlt = zc[1:] - zc[:-1]
        q = k[:-1] * ((psi[:-1] - psi[1:]) / dlt + 1.0) * h               # m per sub-step
        q = jnp.clip(q, -0.5 * avail[1:], jnp.minimum(0.5 * avail[:-1], 0.9 * room[1:]))
        drain = jnp.minimum(params["SLOPE"] * k[-1] * h, 0.5 * avail[-1])
        w = smc * dz
        w = w.at[0].add(inf - es).at[1].add(-et)
        w = w.at[:-1].add(-q).at[1:].add(q)
        w = w.at[-1].add(-drain)
        runsb = runsb + drain
        excess = jnp.maximum(w - ts * dz, 0.0)
        runsf = runsf + excess.sum(0)
        smc = jnp.clip((w - excess) / dz, THETA_R, ts)
        return (smc, runsf, runsb, evap + es + et), None

    z = jnp.zeros_like(rain)
    (smc, runsf, runsb, evap), _ = jax.lax.scan(sub, (state["SMC"], z, z, z), None, length=NSUB)
    stc = state["STC"] + (f["T2D"] - state["STC"]) * jnp.asarray([0.3, 0.1, 0.03, 0.01], smc.dtype)[:, None]
    lh = evap * 1000.0 / dt * 2.45e6
    new = {"SMC": smc, "STC": stc, "TSK": f["T2D"], "SNEQV": state["SNEQV"], "CANWAT": state["CANWAT"]}
    out = {"SMC": smc, "SH2O": smc, "STC": stc, "SNEQV": state["SNEQV"], "LH": lh, "HFX": rn - lh,
           "RUNSF": runsf * 1000.0, "RUNSB": runsb * 1000.0}
    return new, out


def run(state0, forcing, params, options, lat, checkpoint=False):
    keys = ("T2D", "Q2D", "U2D", "V2D", "PSFC", "SWDOWN", "LWDOWN", "RAINRATE", "COSZ")
    xs = {k: forcing[k] for k in keys}
    xs["JULIAN"] = forcing["JULIAN"]

    def body(state, f):
        return _step(params, options, state, f)

    if checkpoint:
        body = jax.checkpoint(body)
    return jax.lax.scan(body, state0, xs)


# ------------------------------------------------------------------------------------------------
def derive(bexp, smcmax, dksat, psisat):
    wlt = 0.5 * smcmax * (200.0 / psisat) ** (-1.0 / bexp)
    th = smcmax * (5.79e-9 / dksat) ** (1.0 / (2 * bexp + 3))
    return {"DWSAT": bexp * dksat * psisat / smcmax, "SMCWLT": wlt, "SMCDRY": wlt, "SMCREF": th + (smcmax - th) / 3}


def default_params(ncell, nsoil=4):
    soil = {"BEXP": 5.0, "SMCMAX": 0.42, "DKSAT": 5e-6, "PSISAT": 0.2, "QUARTZ": 0.5}
    p = {k: np.full((nsoil, ncell), v) for k, v in soil.items()}
    p.update({k: np.broadcast_to(v, (nsoil, ncell)).copy() for k, v in
              derive(p["BEXP"], p["SMCMAX"], p["DKSAT"], p["PSISAT"]).items()})
    p.update({"RSURF_EXP": np.full(ncell, 5.0), "REFKDT": np.full(ncell, 3.0), "SLOPE": np.full(ncell, 0.1),
              "VCMX25": np.full(ncell, 50.0), "MP": np.full(ncell, 9.0), "CWPVT": np.full(ncell, 0.18),
              "HVT": np.full(ncell, 10.0), "LAIM": np.full((12, ncell), 2.0)})
    return p


def true_params(attrs: dict, defaults: dict) -> dict:
    """Synthetic 'true' parameters: smooth functions of the attributes."""
    p = {k: np.array(v, copy=True) for k, v in defaults.items()}
    sand, clay = attrs["sand"], attrs["clay"]
    nsoil = p["BEXP"].shape[0]
    p["SMCMAX"] = np.broadcast_to(0.33 + 0.2 * clay, (nsoil, len(sand))).copy()
    p["BEXP"] = np.broadcast_to(3.5 + 6.0 * clay, (nsoil, len(sand))).copy()
    p["DKSAT"] = np.broadcast_to(np.exp(np.log(1e-6) + 2.5 * sand), (nsoil, len(sand))).copy()
    p.update({k: v for k, v in derive(p["BEXP"], p["SMCMAX"], p["DKSAT"], p["PSISAT"]).items()})
    p["RSURF_EXP"] = 2.0 + 3.0 * sand
    return p


def make_dataset(ncell=12, ndays=120, dt=21600.0, seed=0, start="2015-04-01", missing=0.4, spinup_days=20,
                 window_days=20, nan_at=None, truth=True):
    """Synthetic data set in the learning layout, observations from the stand-in run with true parameters.

    ``nan_at=(cell_index, step)`` puts a NaN into RAINRATE there (for NaN-guard tests).
    """
    from diffland.learning.trainer import Runner, sample_obs
    from diffland.learning.data import initial_conditions, time_inputs
    from diffland.physics.options import Options

    rng = np.random.default_rng(seed)
    spd = int(86400 // dt)
    T = ndays * spd
    t0 = np.datetime64(start, "s")
    time = t0 + (np.arange(T) + 1) * np.timedelta64(int(dt), "s")
    lat = rng.uniform(30, 45, ncell)
    lon = rng.uniform(-120, -75, ncell)
    hours = ((np.arange(T) + 1) * dt / 3600.0) % 24
    doy = (np.arange(T) + 1) * dt / 86400.0
    diurnal = np.maximum(np.sin((hours[:, None] + lon[None, :] / 15.0 - 6.0) / 24 * 2 * np.pi), 0.0)
    T2D = 288 + 8 * np.sin(2 * np.pi * doy / 365)[:, None] + 6 * diurnal + rng.normal(0, 1, (T, ncell))
    sw = 900 * diurnal * (0.6 + 0.4 * rng.uniform(size=(ndays, ncell)).repeat(spd, 0))
    wet = rng.uniform(size=(ndays, ncell)) < 0.3
    amount = rng.exponential(9.0, (ndays, ncell)) * wet                # mm/day
    rain = (amount / 86400.0).repeat(spd, 0)
    if nan_at is not None:
        rain[nan_at[1], nan_at[0]] = np.nan
    forcing = {"T2D": T2D, "Q2D": np.full((T, ncell), 0.008), "U2D": np.full((T, ncell), 2.0),
               "V2D": np.full((T, ncell), 1.0), "PSFC": np.full((T, ncell), 95000.0), "SWDOWN": sw,
               "LWDOWN": 300 + 0.5 * (T2D - 288), "RAINRATE": rain}
    attrs = {"sand": rng.uniform(0, 1, ncell), "clay": rng.uniform(0, 1, ncell), "ndvi": rng.uniform(0.1, 0.8, ncell)}
    defaults = default_params(ncell)
    obs_time = (t0.astype("datetime64[D]") + np.arange(ndays)).astype("datetime64[ns]")
    ds = xr.Dataset(coords={"cell": np.arange(100, 100 + ncell), "time": time.astype("datetime64[ns]"),
                            "obs_time": obs_time, "lat": ("cell", lat), "lon": ("cell", lon)})
    for k, v in forcing.items():
        ds[k] = (("time", "cell"), v.astype(np.float32))
    for k, v in attrs.items():
        ds[k] = ("cell", v)
    for k, v in defaults.items():
        dim0 = "soil_layer" if v.shape[0] == 4 else "month"
        ds[f"param_{k}"] = ((dim0, "cell") if v.ndim == 2 else ("cell",), v)
    ds["aridity_class"] = ("cell", (np.arange(ncell) % 4).astype(np.int32))
    ds["SMAP_AM"] = (("obs_time", "cell"), np.full((ndays, ncell), np.nan, np.float32))
    if truth:
        from diffland.learning.data import overpass_indices

        opts = Options(dt=float(dt))
        tp = true_params(attrs, defaults)
        f = {k: np.nan_to_num(v).astype(np.float32) for k, v in forcing.items()}
        f.update({k: np.asarray(v, np.float32) for k, v in time_inputs(time, lat, lon).items()})
        init = initial_conditions(ds, defaults, opts, f["T2D"])
        r = Runner(__import__(__name__), opts)
        pj = {k: jnp.asarray(v, jnp.float32) for k, v in tp.items()}
        st = r.initial_state({k: jnp.asarray(v, jnp.float32) for k, v in init.items()}, pj)
        W = window_days * spd
        st = r.spinup(st, f, pj, jnp.asarray(lat, jnp.float32), W, min(spinup_days * spd, T) // W * W, 1)
        top = r.top_series(st, f, pj, jnp.asarray(lat, jnp.float32), W)
        obs = sample_obs(top, overpass_indices(time, obs_time, lon))
        obs = obs + rng.normal(0, 0.005, obs.shape)
        obs[rng.uniform(size=obs.shape) < missing] = np.nan
        ds["SMAP_AM"] = (("obs_time", "cell"), obs.astype(np.float32))
        ds.attrs["true_SMCMAX"] = tp["SMCMAX"][0].tolist()
        ds.attrs["true_BEXP"] = tp["BEXP"][0].tolist()
    return ds
