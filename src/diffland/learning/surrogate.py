"""LSTM surrogate of Noah-MP top-layer soil moisture: the seed paper's route (Ahmad et al. 2025).

1. :func:`make_ensemble`: a perturbed-parameter ensemble, Latin hypercube over the learned parameters (their
   unit ranges, as :class:`~diffland.learning.networks.OutputLayout` maps them), ``n_members`` per cell; member
   0 of every cell is the parameter network's starting point (the table default through the same map).
2. :func:`simulate_ensemble`: the physics (float32) run for every ensemble column, with the same spin-up and
   observation operator as the trainer: one top-layer value per day at the overpass step.
3. :func:`train_surrogate`: an Equinox LSTM learns that daily value from daily forcing features and the
   column's parameters (static features appended to every day).
4. The trained :class:`Surrogate` has the physics module's interface (``init_state`` / ``run``), so the trainer
   learns parameters *through the frozen surrogate* with the same losses, a/b switch and checkpoints as the
   direct route, and :func:`diffland.learning.api.transfer_check` can score it.

Units: forcing as in :mod:`diffland.learning.data` (T2D K, Q2D kg/kg, PSFC Pa, SWDOWN/LWDOWN W m-2, U2D/V2D
m s-1, RAINRATE mm s-1); output ``SMC`` m3 m-3 (only the top layer, shape (T, 1, C)).
"""
from __future__ import annotations

import io
import json
import math
import time as _time
from pathlib import Path
from typing import Optional, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .networks import OutputLayout
from .trainer import atomic_write_bytes, default_model, get_runner, sample_obs

__all__ = ["Surrogate", "daily_features", "latin_hypercube", "make_ensemble", "simulate_ensemble",
           "train_surrogate", "surrogate_accuracy", "save_surrogate", "load_surrogate", "DEFAULT_FEATURE_KEYS",
           "N_DAILY"]

#: parameter features (layer 1 of soil parameters; ``LAIM``: the annual maximum)
DEFAULT_FEATURE_KEYS = ("BEXP", "SMCMAX", "DKSAT", "PSISAT", "RSURF_EXP", "REFKDT", "SLOPE", "VCMX25", "MP",
                        "CWPVT", "HVT", "SMCWLT", "SMCREF", "LAIM")
_LOG_KEYS = ("DKSAT", "PSISAT", "DWSAT")
#: daily forcing features: T2D, Q2D, PSFC, SWDOWN, LWDOWN, wind speed, log1p(precipitation mm/day), sin, cos(doy)
N_DAILY = 9


def daily_features(forcing: dict, dt: float):
    """Daily forcing features (D, C, 9) from step forcing (T, C); T must be whole days of ``dt`` [s] steps."""
    spd = int(round(86400.0 / dt))
    T = forcing["T2D"].shape[0]
    if T % spd:
        raise ValueError(f"the surrogate runs on whole days: {T} steps is not a multiple of {spd} steps per day")
    D = T // spd

    def dmean(x):
        return jnp.mean(jnp.reshape(x, (D, spd) + x.shape[1:]), axis=1)

    wind = jnp.sqrt(forcing["U2D"] ** 2 + forcing["V2D"] ** 2)
    rain = jnp.sum(jnp.reshape(forcing["RAINRATE"], (D, spd, -1)), axis=1) * dt  # mm/day
    C = forcing["T2D"].shape[1]
    jul = jnp.reshape(jnp.asarray(forcing["JULIAN"]), (D, spd))[:, 0]
    yl = jnp.reshape(jnp.asarray(forcing["YEARLEN"]), (D, spd))[:, 0]
    ang = 2.0 * math.pi * jul / yl
    s = jnp.broadcast_to(jnp.sin(ang)[:, None], (D, C))
    c = jnp.broadcast_to(jnp.cos(ang)[:, None], (D, C))
    feats = [dmean(forcing["T2D"]), dmean(forcing["Q2D"]) * 1000.0, dmean(forcing["PSFC"]) / 1000.0,
             dmean(forcing["SWDOWN"]), dmean(forcing["LWDOWN"]), dmean(wind), jnp.log1p(jnp.maximum(rain, 0.0)),
             s.astype(rain.dtype), c.astype(rain.dtype)]
    return jnp.stack(feats, axis=-1)


def static_features(params: dict, lat, keys: Sequence[str]):
    """Raw static features (C, len(keys) + 1): parameter values (layer 1 / annual max), logs where positive
    scale parameters, and latitude [deg]."""
    cols = []
    for k in keys:
        v = jnp.asarray(params[k])
        if v.ndim == 2:
            v = jnp.max(v, axis=0) if k in ("LAIM", "SAIM") else v[0]
        if k in _LOG_KEYS:
            v = jnp.log(jnp.maximum(v, 1e-30))
        cols.append(v)
    cols.append(jnp.asarray(lat, cols[0].dtype))
    return jnp.stack(cols, axis=-1)


class Surrogate(eqx.Module):
    """Daily LSTM emulator of the top-layer soil moisture, with the physics module's interface."""

    cell: eqx.nn.LSTMCell
    head: eqx.nn.Linear
    f_mean: jnp.ndarray
    f_std: jnp.ndarray
    s_mean: jnp.ndarray
    s_std: jnp.ndarray
    y_mean: jnp.ndarray
    y_std: jnp.ndarray
    keys: tuple = eqx.field(static=True)
    hidden: int = eqx.field(static=True)

    def __init__(self, keys: Sequence[str] = DEFAULT_FEATURE_KEYS, hidden: int = 64, *, key, stats=None):
        self.keys = tuple(keys)
        self.hidden = int(hidden)
        n_static = len(self.keys) + 1
        k1, k2 = jax.random.split(key)
        self.cell = eqx.nn.LSTMCell(N_DAILY + n_static, self.hidden, key=k1)
        self.head = eqx.nn.Linear(self.hidden, 1, key=k2)
        st = stats or {}
        self.f_mean = jnp.asarray(st.get("f_mean", np.zeros(N_DAILY)), jnp.float32)
        self.f_std = jnp.asarray(st.get("f_std", np.ones(N_DAILY)), jnp.float32)
        self.s_mean = jnp.asarray(st.get("s_mean", np.zeros(n_static)), jnp.float32)
        self.s_std = jnp.asarray(st.get("s_std", np.ones(n_static)), jnp.float32)
        self.y_mean = jnp.asarray(st.get("y_mean", 0.0), jnp.float32)
        self.y_std = jnp.asarray(st.get("y_std", 1.0), jnp.float32)

    # ---- core -------------------------------------------------------------------------------------
    def daily(self, xf, xs, h, c):
        """xf (D, C, 9) raw daily features, xs (C, n_static) raw static features -> (y (D, C), h, c)."""
        xf = (jnp.asarray(xf, jnp.float32) - self.f_mean) / self.f_std
        xs = (jnp.asarray(xs, jnp.float32) - self.s_mean) / self.s_std

        def step(carry, x):
            hh, cc = carry
            inp = jnp.concatenate([x, xs], axis=-1)
            hh, cc = jax.vmap(self.cell)(inp, (hh, cc))
            y = jax.vmap(self.head)(hh)[:, 0]
            return (hh, cc), y

        (h, c), ys = jax.lax.scan(step, (jnp.asarray(h, jnp.float32), jnp.asarray(c, jnp.float32)), xf)
        return ys * self.y_std + self.y_mean, h, c

    # ---- physics-module interface ---------------------------------------------------------------------
    def init_state(self, initial, params, options):
        C = jnp.asarray(params["SMCMAX"]).shape[-1]
        z = jnp.zeros((C, self.hidden), jnp.float32)
        return {"h": z, "c": z}

    def run(self, state0, forcing, params, options, lat, checkpoint=False, first_step=True, outputs=None):
        """(final_state, {"SMC": (T, 1, C)}): the daily prediction repeated over the steps of each day."""
        spd = int(round(86400.0 / options.dt))
        dtype = jnp.asarray(params["SMCMAX"]).dtype
        xf = daily_features(forcing, options.dt)
        xs = static_features(params, lat, self.keys)
        y, h, c = self.daily(xf, xs, state0["h"], state0["c"])
        smc = jnp.repeat(y, spd, axis=0)[:, None, :].astype(dtype)
        return {"h": h, "c": c}, {"SMC": smc}


# ------------------------------------------------------------------------------------------------
def latin_hypercube(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """(n, d) Latin-hypercube sample of [0, 1]^d: every column hits each of the n strata exactly once."""
    u = np.empty((n, d))
    for j in range(d):
        u[:, j] = (rng.permutation(n) + rng.random(n)) / n
    return u


def _logit(u):
    u = np.clip(u, 1e-6, 1 - 1e-6)
    return np.log(u) - np.log1p(-u)


def make_ensemble(prep, layout: OutputLayout, n_members: int, seed: int, *, around=None, spread: float = 0.15):
    """Perturbed-parameter ensemble: ``n_members`` LHS parameter sets per cell of ``prep``.

    Args:
        prep: :class:`~diffland.learning.data.Prepared` (its ``defaults``).
        layout: the learned parameters and their ranges (``a/b`` and initial-state outputs are not sampled).
        around: optional (C, n_specs) unit-space centres: sample in ``[centre - spread, centre + spread]``
            (outer iterations of the surrogate route).
    Returns:
        dict: ``params`` name -> array with the cell axis last of size C*K (column j = cell j // K, member
        j % K), ``unit`` (C*K, n_specs), ``cell_index`` (C*K,), ``member`` (C*K,).  Member 0 of every cell is
        the starting point of the parameter network (raw output 0, the table default through the map).
    """
    C, K, S = prep.ncell, int(n_members), layout.n_params
    rng = np.random.default_rng(seed)
    u = latin_hypercube(C * K, S, rng)
    cell_index = np.repeat(np.arange(C), K)
    member = np.tile(np.arange(K), C)
    if around is None:
        u = 0.001 + 0.998 * u
    else:
        ctr = np.asarray(around, np.float64)[cell_index]
        lo, hi = np.clip(ctr - spread, 0.001, 0.999), np.clip(ctr + spread, 0.001, 0.999)
        u = lo + (hi - lo) * u
    defaults = {k: jnp.asarray(v) for k, v in prep.defaults.items()}
    u0 = layout.unit_outputs(jnp.zeros((C, layout.n_out), jnp.float32), defaults)
    u_def = np.stack([np.asarray(u0[s.name], np.float64) for s in layout.specs], 1)
    if around is None:
        u[member == 0] = u_def
    plain = OutputLayout(layout.specs, layout.nsoil, derived=layout.derived, start_at_default=False)
    raw = np.zeros((C * K, plain.n_out), np.float32)
    raw[:, :S] = _logit(u)
    drep = {k: jnp.asarray(np.asarray(v)[..., cell_index]) for k, v in prep.defaults.items()}
    params, _ = plain.to_physical(jnp.asarray(raw), drep)
    return {"params": {k: np.asarray(v) for k, v in params.items()}, "unit": u, "cell_index": cell_index,
            "member": member}


def simulate_ensemble(prep, ens: dict, options, *, model=None, spinup_days: int = 60, window_days: int = 30,
                      batch: int = 512, precision: str = "float32") -> np.ndarray:
    """Physics top-layer soil moisture at the daily overpass step (D, C*K) for every ensemble column.

    Same protocol as the trainer and the transfer check: initial state, spin-up without gradient over the first
    ``spinup_days`` (whole windows), then a continuous run from the first step of ``prep``'s period."""
    model = model if model is not None else default_model()
    runner = get_runner(model, options)
    spd = int(round(86400.0 / options.dt))
    W = window_days * spd
    T = prep.forcing["T2D"].shape[0]
    spin = min(spinup_days * spd, T) // W * W
    dtype = np.float64 if precision == "float64" else np.float32
    ci_all = np.asarray(ens["cell_index"])
    N = len(ci_all)
    B = min(batch, N)
    out = np.full((prep.obs_idx.shape[0], N), np.nan)
    for a in range(0, N, B):
        cols = np.arange(a, min(a + B, N))
        n = len(cols)
        if n < B:
            cols = np.concatenate([cols, np.full(B - n, cols[-1])])
        ci = ci_all[cols]
        f = {k: jnp.asarray(v[:, ci] if v.ndim == 2 else v, dtype) for k, v in prep.forcing.items()}
        p = {k: jnp.asarray(np.asarray(v)[..., cols], dtype) for k, v in ens["params"].items()}
        init = {k: jnp.asarray(np.asarray(v)[..., ci], dtype) for k, v in prep.initial.items()}
        lat = jnp.asarray(prep.lat[ci], dtype)
        st = runner.initial_state(init, p)
        st = runner.spinup(st, f, p, lat, W, spin, 1)
        top = runner.top_series(st, f, p, lat, W, first=spin == 0)
        out[:, cols[:n]] = sample_obs(np.asarray(top, np.float64), prep.obs_idx[:, ci])[:, :n]
    return out


def _columns_inputs(prep, ens, dt, keys):
    xf = np.asarray(daily_features({k: jnp.asarray(v) for k, v in prep.forcing.items()}, dt), np.float32)
    ci = np.asarray(ens["cell_index"])
    xs = np.asarray(static_features({k: jnp.asarray(v) for k, v in ens["params"].items() if k in keys},
                                    prep.lat[ci], keys), np.float32)
    return xf, xs, ci


def train_surrogate(prep, ens: dict, targets: np.ndarray, *, options, hidden: int = 64, epochs: int = 60,
                    lr: float = 3e-3, batch: int = 128, seed: int = 0, train_days=None, warmup_days: int = 30,
                    val_fraction: float = 0.2, keys: Sequence[str] = DEFAULT_FEATURE_KEYS, log=None):
    """Fit a :class:`Surrogate` to the ensemble's physics targets (D, C*K) on ``train_days``.

    Loss: MSE of the standardised daily value on days >= ``warmup_days`` inside ``train_days`` (None: all).
    ``val_fraction`` of the members (never member 0) are held out and scored.  Returns (surrogate, metrics)
    with ``train_rmse``, ``val_rmse``, ``val_r``, ``val_bias`` [m3/m3], ``epochs``, ``seconds``."""
    t0 = _time.time()
    keys = tuple(k for k in keys if k in ens["params"])
    xf, xs, ci = _columns_inputs(prep, ens, options.dt, keys)
    D = xf.shape[0]
    y = np.asarray(targets, np.float32)
    days = np.ones(D, bool) if train_days is None else np.asarray(train_days, bool)
    mask_d = days & (np.arange(D) >= warmup_days)
    last = int(np.nonzero(mask_d)[0].max()) + 1 if mask_d.any() else D
    member = np.asarray(ens["member"])
    K = int(member.max()) + 1
    rng = np.random.default_rng(seed)
    nval = int(round(val_fraction * (K - 1))) if K > 2 else 0
    val_members = set(rng.permutation(np.arange(1, K))[:nval].tolist()) if nval else set()
    is_val = np.isin(member, list(val_members))
    tr_cols = np.nonzero(~is_val)[0]
    va_cols = np.nonzero(is_val)[0]
    sel = (mask_d[:, None] & np.isfinite(y))[:, tr_cols]
    stats = {"f_mean": xf[mask_d].reshape(-1, N_DAILY).mean(0), "f_std": xf[mask_d].reshape(-1, N_DAILY).std(0),
             "s_mean": xs[tr_cols].mean(0), "s_std": xs[tr_cols].std(0),
             "y_mean": float(np.nanmean(y[:, tr_cols][sel])), "y_std": float(max(np.nanstd(y[:, tr_cols][sel]), 1e-4))}
    stats["f_std"] = np.where(stats["f_std"] > 1e-6, stats["f_std"], 1.0)
    stats["s_std"] = np.where(stats["s_std"] > 1e-6, stats["s_std"], 1.0)
    sur = Surrogate(keys, hidden, key=jax.random.PRNGKey(seed), stats=stats)
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr))
    xf_tr = jnp.asarray(xf[:last])
    w_all = (mask_d[:last, None] & np.isfinite(y[:last])).astype(np.float32)
    y0 = np.nan_to_num(y[:last])

    def loss_fn(model, cols_ci, xs_b, y_b, w_b):
        h = jnp.zeros((xs_b.shape[0], model.hidden), jnp.float32)
        pred, _, _ = model.daily(xf_tr[:, cols_ci], xs_b, h, h)
        z = (pred - y_b) / model.y_std
        return jnp.sum(w_b * z * z) / jnp.maximum(jnp.sum(w_b), 1.0)

    # only the network weights are trained; the normalisation statistics stay fixed
    frozen_spec = jax.tree_util.tree_map(lambda _: True, sur)
    frozen_spec = eqx.tree_at(lambda m: (m.f_mean, m.f_std, m.s_mean, m.s_std, m.y_mean, m.y_std), frozen_spec,
                              (False,) * 6)

    @eqx.filter_jit
    def step(model, opt_state, cols_ci, xs_b, y_b, w_b):
        diff, static = eqx.partition(model, frozen_spec)
        diff = eqx.filter(diff, eqx.is_inexact_array)

        def lf(d):
            return loss_fn(eqx.combine(d, static), cols_ci, xs_b, y_b, w_b)

        loss, g = jax.value_and_grad(lf)(diff)
        upd, opt_state = opt.update(g, opt_state, diff)
        return eqx.combine(eqx.apply_updates(diff, upd), static), opt_state, loss

    opt_state = opt.init(eqx.filter(eqx.partition(sur, frozen_spec)[0], eqx.is_inexact_array))
    B = min(batch, len(tr_cols))
    for ep in range(epochs):
        perm = rng.permutation(tr_cols)
        losses = []
        for a in range(0, len(perm), B):
            cols = perm[a:a + B]
            if len(cols) < B:
                cols = np.concatenate([cols, perm[: B - len(cols)]])
            sur, opt_state, loss = step(sur, opt_state, jnp.asarray(ci[cols]), jnp.asarray(xs[cols]),
                                        jnp.asarray(y0[:, cols]), jnp.asarray(w_all[:, cols]))
            losses.append(float(loss))
        if log is not None and (ep % 10 == 0 or ep == epochs - 1):
            log(f"    surrogate epoch {ep}: loss {np.mean(losses):.4f}")
    metrics = {"epochs": int(epochs), "seconds": round(_time.time() - t0, 1), "columns_train": int(len(tr_cols)),
               "columns_val": int(len(va_cols))}
    days_eval = days
    tr_acc = surrogate_accuracy(sur, prep, ens, targets, options, days=days_eval, warmup_days=warmup_days,
                                columns=tr_cols)
    metrics["train_rmse"] = tr_acc["rmse"]
    if len(va_cols):
        va = surrogate_accuracy(sur, prep, ens, targets, options, days=days_eval, warmup_days=warmup_days,
                                columns=va_cols)
        metrics.update(val_rmse=va["rmse"], val_r=va["r"], val_bias=va["bias"])
    return sur, metrics


def predict_columns(sur: Surrogate, prep, ens: dict, options, *, batch: int = 512, columns=None) -> np.ndarray:
    """Surrogate daily prediction (D, n) for ensemble columns (default: all)."""
    xf, xs, ci = _columns_inputs(prep, ens, options.dt, sur.keys)
    cols_all = np.arange(len(ci)) if columns is None else np.asarray(columns)
    f = eqx.filter_jit(lambda m, x, s: m.daily(x, s, jnp.zeros((s.shape[0], m.hidden)),
                                               jnp.zeros((s.shape[0], m.hidden)))[0])
    out = []
    for a in range(0, len(cols_all), batch):
        cols = cols_all[a:a + batch]
        out.append(np.asarray(f(sur, jnp.asarray(xf[:, ci[cols]]), jnp.asarray(xs[cols]))))
    return np.concatenate(out, 1)


def surrogate_accuracy(sur: Surrogate, prep, ens: dict, targets, options, days=None, warmup_days: int = 30,
                       columns=None) -> dict:
    """RMSE, bias, R pooled over columns and days (and the median per-column RMSE) of the surrogate against
    the physics targets, on ``days`` (boolean (D,), None = all) from ``warmup_days`` on."""
    pred = predict_columns(sur, prep, ens, options, columns=columns)
    y = np.asarray(targets, np.float64)
    if columns is not None:
        y = y[:, np.asarray(columns)]
    D = y.shape[0]
    dm = (np.ones(D, bool) if days is None else np.asarray(days, bool)) & (np.arange(D) >= warmup_days)
    m = dm[:, None] & np.isfinite(y) & np.isfinite(pred)
    d = (pred - y)[m]
    if d.size < 3:
        return {"rmse": float("nan"), "bias": float("nan"), "r": float("nan"), "rmse_col_median": float("nan"),
                "n": int(d.size)}
    r = float(np.corrcoef(pred[m], y[m])[0, 1])
    col = np.sqrt(np.nanmean(np.where(m, (pred - y) ** 2, np.nan), axis=0))
    return {"rmse": float(np.sqrt(np.mean(d * d))), "bias": float(np.mean(d)), "r": r,
            "rmse_col_median": float(np.nanmedian(col)), "n": int(d.size)}


def save_surrogate(path, sur: Surrogate) -> None:
    """Weights (Equinox leaves) + ``<path>.json`` with the static fields; atomic."""
    path = Path(path)
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, sur)
    atomic_write_bytes(path, buf.getvalue())
    atomic_write_bytes(path.with_suffix(path.suffix + ".json"),
                       json.dumps({"keys": list(sur.keys), "hidden": sur.hidden}).encode())


def load_surrogate(path) -> Surrogate:
    path = Path(path)
    meta = json.loads(path.with_suffix(path.suffix + ".json").read_text())
    like = Surrogate(meta["keys"], meta["hidden"], key=jax.random.PRNGKey(0))
    return eqx.tree_deserialise_leaves(io.BytesIO(path.read_bytes()), like)
