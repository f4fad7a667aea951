"""Thermal conductivity and heat capacity of the snow + soil column.

Noah-MP routines: ``GroundThermalPropertyMod`` (``GroundThermalProperty``), ``SoilThermalPropertyMod``
(Johansen/Peters-Lidard soil conductivity, volumetric heat capacity) and
``SnowThermalPropertyMod`` (snow thermal conductivity option 1, Stieglitz/Yen 1965).

Column layout used by the diffland snow/soil heat code (see ``diffland.physics.snow``):
row 0 is the (single, optional) snow layer, rows 1..nsoil are the soil layers, so every
per-layer output here has shape ``(1 + nsoil, cells)``. Where there is no snow layer
(``ISNOW == 0``) the snow row is zero (as Noah-MP zeroes unused layers) and snow thinner
than a layer lives thermally inside soil layer 1 through the conductivity blend
``DF1 = (DF1*DZ1 + 0.35*SNOWH)/(SNOWH + DZ1)``.

Params keys read: ``SMCMAX`` (nsoil, cells) [m3/m3], ``QUARTZ`` (nsoil, cells) [-],
``CSOIL`` (cells,) [J m-3 K-1] (soil solids volumetric heat capacity).
Options read: ``soil_dz`` (layer thicknesses), ``dt`` (phase-change factor).
Snow thermal conductivity is option 1 only (the reference namelist's choice).
"""
from __future__ import annotations

import jax.numpy as jnp

from diffland.physics.constants import (CICE, CPAIR, CWAT, DENH2O, DENICE, TKICE, TKOTH,
                                        TKQTZ, TKWAT)


def soil_thermal_properties(*, SMC, SH2O, params):
    """Soil layer conductivity DF [W m-1 K-1] and heat capacity HCPCT [J m-3 K-1].

    ``SMC`` / ``SH2O``: total / liquid volumetric water [m3/m3], shape (nsoil, cells).
    Mirrors ``SoilThermalProperty`` (including its use of the dry-air *specific* heat
    CPAIR for the air-filled pore volume).
    """
    smcmax = params["SMCMAX"]
    qz = params["QUARTZ"]
    csoil = params["CSOIL"]
    sice = SMC - SH2O
    hcpct = SH2O * CWAT + (1.0 - smcmax) * csoil + (smcmax - SMC) * CPAIR + sice * CICE

    satratio = SMC / smcmax
    tksolid = (TKQTZ ** qz) * (TKOTH ** (1.0 - qz))
    pos = SMC > 0.0
    xunfroz = jnp.where(pos, SH2O / jnp.where(pos, SMC, 1.0), 1.0)
    xu = xunfroz * smcmax
    tksat = tksolid ** (1.0 - smcmax) * TKICE ** (smcmax - xu) * TKWAT ** xu
    gammd = (1.0 - smcmax) * 2700.0
    thkdry = (0.135 * gammd + 64.7) / (2700.0 - 0.947 * gammd)

    frozen = (SH2O + 0.0005) < SMC
    big = satratio > 0.1
    ake_unfrozen = jnp.where(big, jnp.log10(jnp.where(big, satratio, 1.0)) + 1.0, 0.0)
    ake = jnp.where(frozen, satratio, ake_unfrozen)
    df = ake * (tksat - thkdry) + thkdry
    return df, hcpct


def snow_thermal_properties(*, SNICE, SNLIQ, DZSNO, ISNOW):
    """Snow layer conductivity (option 1) and heat capacity, shape (cells,).

    ``SNICE``/``SNLIQ`` [mm], ``DZSNO`` [m]; where ``ISNOW == 0`` both are 0.
    Returns (DF_snow [W/m/K], HCPCT_snow [J/m3/K], SNICEV, SNLIQV, EPORE).
    """
    has = ISNOW < 0
    dz = jnp.where(has, DZSNO, 1.0)
    snicev = jnp.minimum(1.0, SNICE / (dz * DENICE))
    epore = 1.0 - snicev
    snliqv = jnp.minimum(epore, SNLIQ / (dz * DENH2O))
    bdsnoi = (SNICE + SNLIQ) / dz
    cvsno = CICE * snicev + CWAT * snliqv
    tksno = 3.2217e-6 * bdsnoi ** 2
    zero = jnp.zeros_like(cvsno)
    return (jnp.where(has, tksno, zero), jnp.where(has, cvsno, zero),
            jnp.where(has, snicev, zero), jnp.where(has, snliqv, zero), jnp.where(has, epore, zero))


def thermal_properties(*, SMC, SH2O, STC, TSNO, SNOWH, SNICE, SNLIQ, DZSNO, ISNOW, params, options,
                       dt=None):
    """Column thermal properties (Noah-MP ``GroundThermalProperty``), snow row first.

    Args:
        SMC, SH2O: total / liquid soil moisture [m3/m3], (nsoil, cells).
        STC: soil temperature [K], (nsoil, cells).
        TSNO: snow layer temperature [K], (cells,) (ignored where ISNOW == 0).
        SNOWH: snow depth [m], (cells,).
        SNICE, SNLIQ: snow layer ice / liquid [mm], (cells,).
        DZSNO: snow layer thickness [m], (cells,).
        ISNOW: minus the number of snow layers (0. or -1.), (cells,).
        params: ``SMCMAX``, ``QUARTZ``, ``CSOIL``.
        options: ``Options`` (``soil_dz``, ``dt``).
        dt: time step [s] for FACT; default ``options.dt``.

    Returns dict:
        DF: conductivity [W m-1 K-1], (1+nsoil, cells); DF[k] is used for the interface
            below layer k; DF[1] carries Noah-MP's snow blend.
        HCPCT: volumetric heat capacity [J m-3 K-1], (1+nsoil, cells) (0 in an absent snow row).
        DZSNSO: layer thickness [m], (1+nsoil, cells) (snow row = DZSNO or 0).
        FACT: dt/(HCPCT*DZSNSO) [K m2 J-1 s... i.e. K per (W m-2)], (1+nsoil, cells), 0 for an
            absent snow row (Noah-MP ``PhaseChgFacSoilSnow``).
        DF1, DZ1, STC1: conductivity [W/m/K], thickness [m] and temperature [K] of the top
            layer (snow layer if present, else soil layer 1) for G = 2*DF1/DZ1*(TG-STC1).
        DF_SOIL: soil conductivity before the snow blend, (nsoil, cells).
        SNICEV, SNLIQV, EPORE: snow partial volumes [m3/m3], (cells,).
    """
    dt = options.dt if dt is None else dt
    dzs = jnp.asarray(options.soil_dz, dtype=SMC.dtype)[:, None] * jnp.ones_like(SMC)
    df_soil, hc_soil = soil_thermal_properties(SMC=SMC, SH2O=SH2O, params=params)
    df_sno, hc_sno, snicev, snliqv, epore = snow_thermal_properties(
        SNICE=SNICE, SNLIQ=SNLIQ, DZSNO=DZSNO, ISNOW=ISNOW)
    has = ISNOW < 0
    dzsno = jnp.where(has, DZSNO, 0.0)
    dz1 = dzs[0]
    df1_thin = (df_soil[0] * dz1 + 0.35 * SNOWH) / (SNOWH + dz1)
    df1_layer = (df_soil[0] * dz1 + df_sno * dzsno) / (dzsno + dz1)
    df1 = jnp.where(has, df1_layer, df1_thin)
    df = jnp.concatenate([df_sno[None], df1[None], df_soil[1:]], axis=0)
    hcpct = jnp.concatenate([hc_sno[None], hc_soil], axis=0)
    dzsnso = jnp.concatenate([dzsno[None], dzs], axis=0)
    cdz = hcpct * dzsnso
    okrow = cdz > 0.0
    fact = jnp.where(okrow, dt / jnp.where(okrow, cdz, 1.0), 0.0)
    top_df = jnp.where(has, df_sno, df1)
    top_dz = jnp.where(has, dzsno, dz1)
    top_t = jnp.where(has, TSNO, STC[0])
    return {"DF": df, "HCPCT": hcpct, "DZSNSO": dzsnso, "FACT": fact,
            "DF1": top_df, "DZ1": top_dz, "STC1": top_t, "DF_SOIL": df_soil,
            "SNICEV": snicev, "SNLIQV": snliqv, "EPORE": epore}
