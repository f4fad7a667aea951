"""Atmospheric forcing pre-processing (Noah-MP ``AtmosForcingMod::ProcessAtmosForcing``).

Turns the raw HRLDAS/LDASIN forcing of one time step into the quantities the column
physics uses: vapour pressure and air density, the wind-speed floor, the fixed 10/90
convective/large-scale split of precipitation with the wetted area fraction, the rain/snow
partition and the density of fresh snow.

As in the HRLDAS driver, all precipitation arrives as non-convective (``RAINRATE``), so
with ``snf`` in 1..3 the split is always 10 % convective / 90 % large scale and the
precipitating area fraction is ``1/1.9`` whenever it precipitates.

Params keys read: ``SNOWDEN_MAX`` (maximum fresh snow density, kg m-3; table 120).
Options read: ``snf`` (1 Jordan 1991, 2 BATS, 3 simple 0 degC threshold).
"""
from __future__ import annotations

import jax.numpy as jnp

from diffland.physics.constants import RAIR, TFRZ


def frozen_precip_fraction(T, snf: int = 1):
    """Frozen fraction of precipitation FPICE [-] from air temperature ``T`` [K].

    snf=1 (Jordan 1991): 1 below TFRZ+0.5, linear 1-(-54.632+0.2T) up to TFRZ+2,
    0.6 up to TFRZ+2.5, 0 above. snf=2 (BATS): 1 below TFRZ+2.2. snf=3: 1 below TFRZ.
    """
    if snf == 1:
        lin = 1.0 - (-54.632 + 0.2 * T)
        f = jnp.where(T <= TFRZ + 0.5, 1.0, jnp.where(T <= TFRZ + 2.0, lin, 0.6))
        return jnp.where(T > TFRZ + 2.5, 0.0, f)
    if snf == 2:
        return jnp.where(T >= TFRZ + 2.2, 0.0, 1.0) * jnp.ones_like(T)
    if snf == 3:
        return jnp.where(T >= TFRZ, 0.0, 1.0) * jnp.ones_like(T)
    raise NotImplementedError(f"snf={snf} is not supported (use 1, 2 or 3)")


def process_forcing(*, T2D, Q2D, U2D, V2D, PSFC, LWDOWN, SWDOWN, RAINRATE, options, params,
                    COSZ=None):
    """Process one step of forcing, vectorised over cells (all inputs shape (cells,)).

    Args:
        T2D: air temperature at the reference height [K].
        Q2D: specific humidity [kg kg-1].
        U2D, V2D: eastward / northward wind [m s-1].
        PSFC: surface air pressure [Pa].
        LWDOWN: downward long-wave radiation [W m-2].
        SWDOWN: downward short-wave radiation [W m-2].
        RAINRATE: total precipitation rate [mm s-1] (all treated as non-convective).
        options: ``Options`` (reads ``snf``).
        params: dict with ``SNOWDEN_MAX`` [kg m-3].
        COSZ: optional cosine of the solar zenith angle; where ``COSZ <= 0`` the
            short-wave is set to 0 (Noah-MP filter). ``None`` skips the filter.

    Returns:
        dict with SFCTMP [K], THAIR [K] (potential temperature; equals SFCTMP because
        Noah-MP uses P/P), Q2 [kg/kg], UU, VV [m/s], UR [m/s] (>= 1), SFCPRS [Pa],
        LWDN, SOLDN [W/m2], SOLAD, SOLAI [W/m2] shape (2, cells) (direct/diffuse, vis/nir:
        70 % direct, 50 % visible), EAIR [Pa], RHOAIR [kg/m3], PRCP [mm/s],
        QPRECC, QPRECL [mm/s] (convective / large-scale), FP [-] (precipitating area
        fraction), FPICE [-], RAIN, SNOW [mm/s] (liquid / frozen at reference height),
        BDFALL [kg/m3] (fresh snow density).
    """
    T = T2D
    P = PSFC
    q = Q2D
    eair = q * P / (0.622 + 0.378 * q)
    rho = (P - 0.378 * eair) / (RAIR * T)

    sw = SWDOWN
    if COSZ is not None:
        sw = jnp.where(COSZ <= 0.0, 0.0, sw)
    dirfrac, visfrac = 0.7, 0.5
    solad = jnp.stack([sw * dirfrac * visfrac, sw * dirfrac * (1.0 - visfrac)])
    solai = jnp.stack([sw * (1.0 - dirfrac) * visfrac, sw * (1.0 - dirfrac) * (1.0 - visfrac)])

    prcp = RAINRATE  # convective, shallow convective inputs are zero in HRLDAS
    qprecc = 0.10 * prcp
    qprecl = 0.90 * prcp
    has_p = (qprecc + qprecl) > 0.0
    denom = jnp.where(has_p, 10.0 * qprecc + qprecl, 1.0)  # double-where: no 0/0 in grad
    fp = jnp.where(has_p, (qprecc + qprecl) / denom, 0.0)

    fpice = frozen_precip_fraction(T, options.snf)
    bdfall = jnp.minimum(params["SNOWDEN_MAX"], 67.92 + 51.25 * jnp.exp((T - TFRZ) / 2.59))
    rain = prcp * (1.0 - fpice)
    snow = prcp * fpice

    # max(sqrt(s), 1) == sqrt(max(s, 1)); the latter has no NaN gradient at zero wind
    ur = jnp.sqrt(jnp.maximum(U2D ** 2 + V2D ** 2, 1.0))
    return {
        "SFCTMP": T, "THAIR": T, "Q2": q, "UU": U2D, "VV": V2D, "UR": ur, "SFCPRS": P,
        "LWDN": LWDOWN, "SOLDN": sw, "SOLAD": solad, "SOLAI": solai,
        "EAIR": eair, "RHOAIR": rho, "PRCP": prcp, "QPRECC": qprecc, "QPRECL": qprecl,
        "FP": fp, "FPICE": fpice, "RAIN": rain, "SNOW": snow, "BDFALL": bdfall,
    }
