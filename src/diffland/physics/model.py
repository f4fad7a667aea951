"""The Noah-MP column: state, one time step, and the time loop.

One step follows Noah-MP v5 ``NoahmpMain`` for a soil point:

1. ``ProcessAtmosForcing`` (atmos.process_forcing): rain/snow partition, air properties.
2. ``PhenologyMain`` (phenology.phenology): table LAI/SAI, snow burial, FVEG.
3. ``CanopyWaterIntercept`` (canopy_water.canopy_intercept).
4. ``EnergyMain``: snow cover, thermal properties, snow age, albedo and two-stream
   radiation, soil-moisture factor, vegetated + bare energy balance
   (energy_flux.surface_energy), soil/snow temperature, phase change.
5. ``WaterMain``: canopy hydrology, snow water (with the snow/soil evaporation split),
   soil water (Richards solver, runoff, groundwater).

Everything is a pure function of (state, forcing at this step, params, options). The
state is a dict of arrays (a pytree); soil arrays are (nsoil, cells), the rest
(cells,). ``run`` scans ``step`` over time with ``jax.lax.scan``; with
``checkpoint=True`` each step is rematerialised in the backward pass
(``jax.checkpoint``), so reverse-mode memory is one state per step instead of every
intermediate of every step.

Units: SI inside; water fluxes in mm/s (kg m-2 s-1); soil moisture m3/m3.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from . import (atmos, canopy_water, energy_flux, phase_change, phenology, radiation, snow,
               soil_temperature, soil_water, thermal_properties, transpiration_factor)
from .constants import TFRZ
from .options import Options

STATE_KEYS = (
    "SMC", "SH2O", "STC",  # soil (nsoil, cells)
    "TV", "TG", "TAH", "EAH", "CM", "CH", "CANLIQ", "CANICE", "FWET",
    "SNEQV", "SNOWH", "ISNOW", "SNICE", "SNLIQ", "TSNO", "DZSNO", "FICEOLD",
    "TAUSS", "SNEQVO", "ZWT", "WA", "WT",
)

#: Per-step outputs (all (cells,) unless soil: (nsoil, cells)). Water fluxes mm/s.
OUTPUT_KEYS = (
    "SMC", "SH2O", "STC", "SNEQV", "SNOWH", "LH", "HFX", "FIRA", "FSA", "GRDFLX", "TRAD", "TG", "TV",
    "ECAN", "ETRAN", "EDIR", "RUNSF", "RUNSB", "CANLIQ", "CANICE", "ZWT", "WA", "FSNO", "ALBEDO",
    "LAI", "SAI", "FVEG", "QINSUR", "SNDISCARD", "CANDISCARD",
)


def default_initial(ncells: int, dtype=jnp.float32, nsoil: int = 4) -> dict:
    """A plausible mid-latitude initial state (for benchmarks and synthetic runs).

    SMC 0.30 m3/m3 in every layer, STC 285 K, TSK 285 K, no snow, dry canopy.
    """
    z = jnp.zeros((ncells,), dtype)
    return {
        "SMC": jnp.full((nsoil, ncells), 0.30, dtype),
        "STC": jnp.full((nsoil, ncells), 285.0, dtype),
        "TSK": z + 285.0,
        "SNEQV": z,
        "SNOWH": z,
        "CANWAT": z,
    }


def init_state(initial: dict, params: dict, options: Options) -> dict:
    """Model state at t0 from HRLDAS-style initial values (Noah-MP ``NoahmpInitMain``).

    Args:
        initial: SMC (nsoil, cells) [m3/m3]; STC (nsoil, cells) [K]; TSK (cells,) skin
            temperature [K]; SNEQV [mm]; SNOWH [m]; CANWAT [mm] (reset to 0 as Noah-MP does).
            Optional ZWT [m], WA [mm] (groundwater, default 2.5 m / 4900 mm).
        params: per-cell parameters (BEXP, SMCMAX, PSISAT for the frozen-soil liquid).
        options: physics options.
    Returns:
        state dict (keys ``STATE_KEYS``).
    """
    smcmax = params["SMCMAX"]
    smc = jnp.minimum(initial["SMC"], smcmax)
    stc = initial["STC"]
    sh2o = phase_change.initial_liquid(smc, stc, params)
    tsk = initial["TSK"]
    sneqv = jnp.maximum(initial.get("SNEQV", jnp.zeros_like(tsk)), 0.0)
    snowh = jnp.maximum(initial.get("SNOWH", jnp.zeros_like(tsk)), 0.0)
    # NoahmpInitMain: derive a missing depth or SWE with a density of 200 kg/m3
    snowh = jnp.where((sneqv > 0) & (snowh == 0), sneqv * 0.005, snowh)
    sneqv = jnp.where((snowh > 0) & (sneqv == 0), snowh / 0.005, sneqv)
    warm_snow = (sneqv > 0) & (tsk > 273.15)
    t_init = jnp.where(warm_snow, 273.15, tsk)
    z = jnp.zeros_like(tsk)
    # Snow layer at start (NoahmpSnowInit): one layer when the depth is >= 0.025 m.
    has_layer = snowh >= 0.025
    zsoil_bottom = -sum(options.soil_dz)
    zwt0 = initial.get("ZWT", None)
    wa0 = initial.get("WA", z + 4900.0)
    if zwt0 is None:
        zwt0 = (25.0 - zsoil_bottom) - wa0 / 1000.0 / 0.2
    return {
        "SMC": smc, "SH2O": sh2o, "STC": stc,
        "TV": t_init, "TG": t_init, "TAH": t_init, "EAH": z + 2000.0,
        "CM": z, "CH": z, "CANLIQ": z, "CANICE": z, "FWET": z,
        "SNEQV": sneqv, "SNOWH": snowh,
        "ISNOW": jnp.where(has_layer, -1.0, 0.0) + z,
        "SNICE": jnp.where(has_layer, sneqv, 0.0),
        "SNLIQ": z,
        "TSNO": jnp.minimum(stc[0], TFRZ) + z,
        "DZSNO": jnp.where(has_layer, snowh, 0.0),
        "FICEOLD": jnp.where(has_layer, 1.0, 0.0) + z,
        "TAUSS": z, "SNEQVO": z,
        "ZWT": zwt0 + z, "WA": wa0 + z, "WT": wa0 + z,
    }


def step(state: dict, ft: dict, params: dict, options: Options, lat):
    """Advance the column by one step ``options.dt``.

    Args:
        state: model state at the start of the step (see ``init_state``).
        ft: forcing for this step, (cells,) each: T2D [K], Q2D [kg/kg], U2D, V2D [m/s],
            PSFC [Pa], SWDOWN, LWDOWN [W/m2], RAINRATE [mm/s], COSZ [-]; scalars JULIAN
            [day of year, 0-based fractional], YEARLEN [days], FIRST (bool, first step).
        params: per-cell parameters.
        options: physics options (static).
        lat: (cells,) latitude [deg].
    Returns:
        (new_state, outputs) with outputs keyed as ``OUTPUT_KEYS``.
    """
    dt = options.dt
    s = state
    af = atmos.process_forcing(T2D=ft["T2D"], Q2D=ft["Q2D"], U2D=ft["U2D"], V2D=ft["V2D"],
                               PSFC=ft["PSFC"], LWDOWN=ft["LWDOWN"], SWDOWN=ft["SWDOWN"],
                               RAINRATE=ft["RAINRATE"], options=options, params=params, COSZ=ft["COSZ"])
    ph = phenology.phenology(julian=ft["JULIAN"], yearlen=ft["YEARLEN"], lat=lat, SNOWH=s["SNOWH"],
                             params=params, options=options)
    ci = canopy_water.canopy_intercept(RAIN=af["RAIN"], SNOW=af["SNOW"], UU=af["UU"], VV=af["VV"],
                                       TV=s["TV"], ELAI=ph["ELAI"], ESAI=ph["ESAI"], FVEG=ph["FVEG"],
                                       CANLIQ=s["CANLIQ"], CANICE=s["CANICE"], BDFALL=af["BDFALL"],
                                       params=params, dt=dt, FP=af["FP"])
    # ---------------- EnergyMain ----------------
    fsno = snow.snow_cover_fraction(SNOWH=s["SNOWH"], SNEQV=s["SNEQV"], params=params)
    th = thermal_properties.thermal_properties(SMC=s["SMC"], SH2O=s["SH2O"], STC=s["STC"], TSNO=s["TSNO"],
                                               SNOWH=s["SNOWH"], SNICE=s["SNICE"], SNLIQ=s["SNLIQ"],
                                               DZSNO=s["DZSNO"], ISNOW=s["ISNOW"], params=params,
                                               options=options, dt=dt)
    sa = radiation.snow_age(TAUSS=s["TAUSS"], SNEQV=s["SNEQV"], SNEQVO=s["SNEQVO"], TG=s["TG"], dt=dt,
                            params=params)
    rad = radiation.radiation(COSZ=ft["COSZ"], SWDOWN=af["SOLDN"], ELAI=ph["ELAI"], ESAI=ph["ESAI"],
                              FVEG=ph["FVEG"], FSNO=fsno, SMC1=s["SMC"][0], TG=s["TG"], TV=s["TV"],
                              FAGE=sa["FAGE"], FWET=ci["FWET"], params=params, options=options)
    bt = transpiration_factor.soil_moisture_factor(SH2O=s["SH2O"], params=params, options=options)
    eforc = dict(af)
    eforc.update({k: ci[k] for k in ("QDRIPR", "QTHROR", "QDRIPS", "QTHROS")})
    estate = {
        "TV": s["TV"], "TG": s["TG"], "TAH": s["TAH"], "EAH": s["EAH"], "CM": s["CM"], "CH": s["CH"],
        "CANLIQ": ci["CANLIQ"], "CANICE": ci["CANICE"], "FWET": ci["FWET"], "SNOWH": s["SNOWH"],
        "FSNO": fsno, "SH2O": s["SH2O"], "SMC": s["SMC"], "SICE": s["SMC"] - s["SH2O"], "STC": s["STC"],
        "SNEQV": s["SNEQV"],
    }
    en = energy_flux.surface_energy(forcing=eforc, state=estate, rad=rad, pheno=ph, thermal=th,
                                    BTRAN=bt["BTRAN"], params=params, options=options,
                                    first_step=ft["FIRST"])
    st = soil_temperature.soil_snow_temperature(STC=s["STC"], TSNO=s["TSNO"], SSOIL=en["SSOIL"], DF=th["DF"],
                                                HCPCT=th["HCPCT"], DZSNO=s["DZSNO"], ISNOW=s["ISNOW"],
                                                SNOWH=s["SNOWH"], TBOT=params["TBOT"], params=params,
                                                options=options, dt=dt)
    pc = phase_change.phase_change(STC=st["STC"], SMC=s["SMC"], SH2O=s["SH2O"], TSNO=st["TSNO"],
                                   SNICE=s["SNICE"], SNLIQ=s["SNLIQ"], SNEQV=s["SNEQV"], SNOWH=s["SNOWH"],
                                   ISNOW=s["ISNOW"], FACT=th["FACT"], params=params, options=options, dt=dt)
    # ---------------- WaterMain ----------------
    ch = canopy_water.canopy_hydrology(FCEV=en["FCEV"], FCTR=en["FCTR"], FROZEN_CANOPY=s["TV"] <= TFRZ,
                                       TV=en["TV"], ELAI=ph["ELAI"], ESAI=ph["ESAI"], FVEG=ph["FVEG"],
                                       CANLIQ=ci["CANLIQ"], CANICE=ci["CANICE"], BDFALL=af["BDFALL"],
                                       params=params, dt=dt)
    sneqvo = pc["SNEQV"]  # WaterMain saves SWE before the snow update (next step's snow age)
    sw = snow.snow_water(SNEQV=pc["SNEQV"], SNOWH=pc["SNOWH"], ISNOW=s["ISNOW"], SNICE=pc["SNICE"],
                         SNLIQ=pc["SNLIQ"], TSNO=pc["TSNO"], DZSNO=s["DZSNO"], FICEOLD=s["FICEOLD"],
                         SH2O=pc["SH2O"], SMC=pc["SMC"], QSNOW=ci["QSNOW"], QRAIN=ci["QRAIN"],
                         BDFALL=af["BDFALL"], QVAP=en["QVAP"], QDEW=en["QDEW"], TG=en["TG"],
                         SFCTMP=af["SFCTMP"], SFCPRS=af["SFCPRS"], params=params, options=options,
                         IMELT_SNOW=pc["IMELT"][0], PONDING=pc["PONDING"], dt=dt)
    etran = ch["ETRAN"]
    etrani = etran[None, :] * bt["BTRANI"] * 0.001  # m/s per layer
    so = soil_water.soil_water(SH2O=sw["SH2O"], SMC=sw["SMC"], QINSUR=sw["QINSUR"] * 0.001,
                               QSEVA=sw["QSEVA"] * 0.001, ETRANI=etrani, params=params, options=options,
                               dt=dt, ZWT=s["ZWT"], WA=s["WA"], WT=s["WT"], SICE=sw["SICE"])
    new = {
        "SMC": so["SMC"], "SH2O": so["SH2O"], "STC": pc["STC"],
        "TV": ch["TV"], "TG": en["TG"], "TAH": en["TAH"], "EAH": en["EAH"], "CM": en["CM"], "CH": en["CH"],
        "CANLIQ": ch["CANLIQ"], "CANICE": ch["CANICE"], "FWET": ch["FWET"],
        "SNEQV": sw["SNEQV"], "SNOWH": sw["SNOWH"], "ISNOW": sw["ISNOW"], "SNICE": sw["SNICE"],
        "SNLIQ": sw["SNLIQ"], "TSNO": sw["TSNO"], "DZSNO": sw["DZSNO"], "FICEOLD": sw["FICEOLD"],
        "TAUSS": sa["TAUSS"], "SNEQVO": sneqvo, "ZWT": so["ZWT"], "WA": so["WA"], "WT": so["WT"],
    }
    new = {k: jnp.asarray(v, dtype=state[k].dtype) for k, v in new.items()}
    out = {
        "SMC": so["SMC"], "SH2O": so["SH2O"], "STC": pc["STC"], "SNEQV": sw["SNEQV"], "SNOWH": sw["SNOWH"],
        "LH": en["LH"], "HFX": en["HFX"], "FIRA": en["FIRA"], "FSA": rad["FSA"], "GRDFLX": en["SSOIL"],
        "TRAD": en["TRAD"], "TG": en["TG"], "TV": ch["TV"],
        "ECAN": ch["ECAN"], "ETRAN": etran, "EDIR": en["QVAP"] - en["QDEW"],
        "RUNSF": so["RUNSRF"], "RUNSB": so["RUNSUB"], "CANLIQ": ch["CANLIQ"], "CANICE": ch["CANICE"],
        "ZWT": so["ZWT"], "WA": so["WA"], "FSNO": fsno, "ALBEDO": rad["ALBEDO"],
        "LAI": ph["LAI"], "SAI": ph["SAI"], "FVEG": ph["FVEG"], "QINSUR": sw["QINSUR"],
        "SNDISCARD": sw["SNDISCARD"],
        # Canopy water Noah-MP zeroes when it falls to <= 1e-6 mm (CanopyHydrology); like
        # SNDISCARD it leaves the column without a flux, so the water budget counts it [mm].
        "CANDISCARD": (ci["CANLIQ"] + ci["CANICE"]) - ch["ECAN"] * dt - (ch["CANLIQ"] + ch["CANICE"]),
        # diagnostic, not in OUTPUT_KEYS: iterations of the canopy energy loop (0 on bare cells)
        "NITER_CANOPY": en["NITER"],
    }
    return new, out


def run(state0: dict, forcing: dict, params: dict, options: Options, lat, checkpoint: bool = True,
        first_step: bool = True, outputs=OUTPUT_KEYS, chunk: int | None = None):
    """Scan ``step`` over the leading (time) axis of ``forcing``.

    Args:
        state0: initial state (``init_state``) or a state carried from a previous window.
        forcing: T2D, Q2D, U2D, V2D, PSFC, SWDOWN, LWDOWN, RAINRATE, COSZ: (time, cells);
            JULIAN, YEARLEN: (time,).
        params, options, lat: see ``step``.
        checkpoint: wrap the step in ``jax.checkpoint`` (recompute it in the backward pass), so
            reverse mode keeps one state per step instead of every intermediate of every step.
        first_step: treat the first step of this window as the model's first step
            (Noah-MP's first-step re-guess of EAH/TAH); False when continuing a run.
        outputs: which outputs to keep per step (fewer = less memory).
        chunk: with ``checkpoint``, two-level (nested) checkpointing: the time axis is cut into
            chunks of ``chunk`` steps, only chunk-boundary states are kept for the backward pass
            and each chunk is recomputed when its turn comes. Memory for states then grows as
            T/chunk + chunk (about 2*sqrt(T) for chunk = sqrt(T)) instead of T, for one more
            forward pass of compute. ``None``: one level.
    Returns:
        (final_state, outputs dict of arrays with a leading time axis).
    """
    nt = forcing["T2D"].shape[0]
    first = jnp.arange(nt) == 0
    first = first & jnp.asarray(first_step)
    xs = dict(forcing)
    xs["FIRST"] = first

    def body(s, ft):
        new, out = step(s, ft, params, options, lat)
        return new, {k: out[k] for k in outputs}

    if checkpoint:
        body = jax.checkpoint(body)
    if not (checkpoint and chunk and 1 < chunk < nt):
        return jax.lax.scan(body, state0, xs)

    n_chunks, rest = divmod(nt, chunk)
    step_body = body
    if rest:
        # A remainder would need a second copy of the step in the program (a scan over the tail),
        # which doubles the compile time. Instead the time axis is padded to whole chunks by
        # repeating the last step's forcing; a padded step leaves the state unchanged (its
        # outputs are dropped below), so the result is that of the nt real steps. Its forcing is
        # real, so its (discarded) arithmetic stays finite and its gradient contribution is zero.
        n_chunks += 1
        npad = n_chunks * chunk - nt
        xs = jax.tree_util.tree_map(lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], npad, axis=0)]), xs)
        xs["FIRST"] = jnp.concatenate([first, jnp.zeros(npad, bool)])
        xs["_REAL"] = jnp.arange(n_chunks * chunk) < nt

        def step_body(s, ft):
            ft = dict(ft)
            real = ft.pop("_REAL")
            new, out = body(s, ft)
            return jax.tree_util.tree_map(lambda a, b: jnp.where(real, a, b), new, s), out

    head = jax.tree_util.tree_map(lambda a: a.reshape((n_chunks, chunk) + a.shape[1:]), xs)

    @jax.checkpoint
    def chunk_body(s, xc):
        return jax.lax.scan(step_body, s, xc)

    s, out = jax.lax.scan(chunk_body, state0, head)
    out = jax.tree_util.tree_map(lambda a: a.reshape((n_chunks * chunk,) + a.shape[2:])[:nt], out)
    return s, out


@partial(jax.jit, static_argnames=("options", "checkpoint"))
def run_jit(state0, forcing, params, options, lat, checkpoint=True):
    """Jitted ``run`` (options static)."""
    return run(state0, forcing, params, options, lat, checkpoint)


def flatten_outputs(out: dict) -> dict:
    """Split soil outputs into HRLDAS per-layer names: SMC -> SOIL_M1.., SH2O -> SH2O1..,
    STC -> SOIL_T1..; other (time, cells) outputs keep their names."""
    flat = {}
    for k, v in out.items():
        if k in ("SMC", "SH2O", "STC"):
            name = {"SMC": "SOIL_M", "SH2O": "SH2O", "STC": "SOIL_T"}[k]
            for i in range(v.shape[1]):
                flat[f"{name}{i + 1}"] = v[:, i]
        else:
            flat[k] = v
    return flat
