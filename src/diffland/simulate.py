"""High-level entry point: ``diffland.simulate``.

Wraps the pure physics (``diffland.physics.model``) with the work a user should not
have to do: computing solar geometry and Julian days from time stamps, casting to the
requested precision, building the initial state as Noah-MP's initialisation does, and
returning named outputs as NumPy arrays.
"""
from __future__ import annotations

import contextlib
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from .physics.options import Options

FORCING_NAMES = ("T2D", "Q2D", "U2D", "V2D", "PSFC", "SWDOWN", "LWDOWN", "RAINRATE")

# Outputs written by `diffland simulate`, in this order (HRLDAS names).
OUTPUT_NAMES = (
    [f"SOIL_M{k}" for k in range(1, 5)]
    + [f"SH2O{k}" for k in range(1, 5)]
    + [f"SOIL_T{k}" for k in range(1, 5)]
    + ["SNEQV", "LH", "HFX", "ECAN", "ETRAN", "EDIR", "RUNSF", "RUNSB"]
)


@contextlib.contextmanager
def precision_mode(precision: str):
    """Context manager enabling float64 (``jax_enable_x64``) for ``precision='float64'``."""
    if precision not in ("float32", "float64"):
        raise ValueError(f"precision must be 'float32' or 'float64', got {precision!r}")
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", precision == "float64")
    try:
        yield np.float64 if precision == "float64" else np.float32
    finally:
        jax.config.update("jax_enable_x64", old)


def time_inputs(time: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> dict:
    """Per-step solar geometry and calendar inputs for the physics, computed in NumPy.

    Args:
        time: (time,) datetime64 UTC stamps of the END of each step (HRLDAS convention).
        lat, lon: (cells,) degrees north / east.
    Returns:
        dict with COSZ (time, cells) [-], JULIAN (time,) fractional day of year [days],
        YEARLEN (time,) days in the year.
    """
    from .physics import solar

    cosz = solar.cos_zenith(time, np.asarray(lat, float), np.asarray(lon, float))
    jd = solar.julian_day(time)
    cosz = np.asarray(cosz).reshape(len(time), -1)
    return {"COSZ": cosz, "JULIAN": np.asarray(jd["JULIAN"]), "YEARLEN": np.asarray(jd["YEARLEN"])}


def simulate(
    forcing: Mapping[str, np.ndarray],
    params: Mapping[str, np.ndarray],
    options: Options | None = None,
    initial_state: Mapping[str, np.ndarray] | None = None,
    *,
    time: np.ndarray,
    lat,
    lon,
    precision: str = "float32",
    checkpoint: bool = True,
    return_state: bool = False,
):
    """Run the differentiable Noah-MP column model over a forcing series.

    Args:
        forcing: LDASIN names -> arrays (time, cells) in SI units: T2D [K], Q2D [kg/kg],
            U2D, V2D [m/s], PSFC [Pa], SWDOWN, LWDOWN [W/m2], RAINRATE [kg m-2 s-1 = mm/s].
            Row k is the forcing of the step that ENDS at ``time[k]``.
        params: per-cell parameter dict from ``diffland.parameters.build_params``.
        options: physics switches (defaults = the HRLDAS default namelist).
        initial_state: SMC (nsoil, cells) [m3/m3], STC (nsoil, cells) [K], TSK (cells,) [K],
            SNEQV [mm], SNOWH [m], CANWAT [mm]; initialised as NoahmpInitMain does.
        time: (time,) datetime64 UTC stamps of the end of each step.
        lat, lon: cell coordinates [degrees].
        precision: 'float32' (training) or 'float64' (reference mode).
        checkpoint: rematerialise each step in the backward pass (memory ~ O(time) states only).
        return_state: also return the final model state.
    Returns:
        dict name -> NumPy array (time, cells) (soil variables split into SOIL_M1.. etc.),
        and the final state if ``return_state``.
    """
    from .physics import model
    from .io.validate import validate_forcing

    options = options or Options()
    time = np.asarray(time).astype("datetime64[s]")
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    forc = {k: np.asarray(forcing[k], dtype=float) for k in FORCING_NAMES if k in forcing}
    missing = [k for k in FORCING_NAMES if k not in forcing]
    if missing:
        raise ValueError(f"forcing is missing {missing}; give all of {list(FORCING_NAMES)} in SI units")
    forc = {k: v[:, None] if v.ndim == 1 else v for k, v in forc.items()}
    validate_forcing(time, forc, source="simulate(forcing=...)")
    if initial_state is None:
        raise ValueError("initial_state is required (SMC, STC, TSK, SNEQV, SNOWH, CANWAT)")
    tin = time_inputs(time, lat, lon)
    with precision_mode(precision) as dtype:
        f = {k: jnp.asarray(v, dtype) for k, v in forc.items()}
        f["COSZ"] = jnp.asarray(np.broadcast_to(tin["COSZ"], f["T2D"].shape), dtype)
        f["JULIAN"] = jnp.asarray(tin["JULIAN"], dtype)
        f["YEARLEN"] = jnp.asarray(tin["YEARLEN"], dtype)
        p = {k: jnp.asarray(v, dtype) for k, v in params.items()}
        lat_j = jnp.asarray(lat, dtype)
        s0 = model.init_state({k: jnp.asarray(v, dtype) for k, v in initial_state.items()}, p, options)
        final, out = model.run_jit(s0, f, p, options, lat_j, checkpoint)
        result = {k: np.asarray(v) for k, v in model.flatten_outputs(out).items()}
        if return_state:
            return result, jax.tree_util.tree_map(np.asarray, final)
        return result
