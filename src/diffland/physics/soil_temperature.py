"""Snow + soil heat diffusion (Noah-MP ``SoilSnowTemperatureMain``).

Noah-MP routines: ``SoilSnowTemperatureMainMod``, ``SoilSnowThermalDiffusionMod`` (matrix
set-up), ``SoilSnowTemperatureSolverMod`` and ``MatrixSolverTriDiagonalMod`` (Thomas
algorithm). Options reproduced: tbot=2 (temperature ``TBOT`` prescribed at depth ``ZBOT``
below the *snow* surface, explicit bottom flux), stc=1/3 (fully implicit diffusion; the
stc=3 snow-cover weighting of the skin temperature lives in the energy balance, not here).
Solar penetration into snow/soil is zero (it is only non-zero with SNICAR albedo, alb=3).

Column layout: row 0 = optional snow layer (present where ``ISNOW < 0``), rows 1..nsoil = soil
(see ``diffland.physics.snow``). With no snow layer the snow row is an identity row that
leaves ``TSNO`` unchanged and is decoupled from the soil.

Params keys read: ``ZBOT`` (cells,) [m, negative] (optional, default -8.0 as in the table).
Options read: ``soil_dz``, ``dt``, ``tbot`` (1 zero flux, 2 TBOT at ZBOT), ``stc`` (1 or 3).

Energy identity (exact up to round-off): sum_k HCPCT_k*DZ_k*(T_new-T_old)_k = (SSOIL + BOTFLX)*dt.
"""
from __future__ import annotations

import jax.numpy as jnp


def tridiagonal_solve(a, b, c, d):
    """Thomas algorithm, unrolled over the leading (layer) axis.

    Row k reads a_k x_{k-1} + b_k x_k + c_k x_{k+1} = d_k (a_0 and c_{n-1} ignored).
    All arguments have shape (n, cells). Returns x with the same shape.
    """
    n = a.shape[0]
    cp = [None] * n
    dp = [None] * n
    cp[0] = c[0] / b[0]
    dp[0] = d[0] / b[0]
    for k in range(1, n):
        den = b[k] - a[k] * cp[k - 1]
        cp[k] = c[k] / den
        dp[k] = (d[k] - a[k] * dp[k - 1]) / den
    x = [None] * n
    x[n - 1] = dp[n - 1]
    for k in range(n - 2, -1, -1):
        x[k] = dp[k] - cp[k] * x[k + 1]
    return jnp.stack(x)


def soil_snow_temperature(*, STC, TSNO, SSOIL, DF, HCPCT, DZSNO, ISNOW, SNOWH, TBOT, params,
                          options, dt=None):
    """One implicit step of snow/soil temperature.

    Args:
        STC: soil temperature [K], (nsoil, cells).
        TSNO: snow layer temperature [K], (cells,) (used only where ISNOW < 0).
        SSOIL: ground heat flux into the top layer [W m-2], positive downward (cells,).
        DF: conductivity [W m-1 K-1], (1+nsoil, cells), from ``thermal_properties``.
        HCPCT: heat capacity [J m-3 K-1], (1+nsoil, cells), from ``thermal_properties``.
        DZSNO: snow layer thickness [m], (cells,).
        ISNOW: 0. (no snow layer) or -1., (cells,).
        SNOWH: snow depth [m] at the time of the energy balance, (cells,) (sets the depth of
            the lower boundary below the snow surface, ZBOT - SNOWH, as Noah-MP does, also
            when the snow has no layer).
        TBOT: deep soil temperature [K] at ZBOT (cells,).
        params: optional ``ZBOT`` [m] (negative).
        options: ``Options``.
        dt: soil time step [s]; default ``options.dt``.

    Returns dict:
        STC: new soil temperature [K] (nsoil, cells); TSNO: new snow temperature [K] (cells,);
        BOTFLX: heat flux into the column through its bottom [W m-2] (Noah-MP
        ``HeatFromSoilBot`` per second, explicit in the old temperature);
        DT_COLUMN: temperature increments (1+nsoil, cells) [K].
    """
    dt = options.dt if dt is None else dt
    if options.stc not in (1, 3):
        raise NotImplementedError(f"stc={options.stc}: only 1 and 3 are implemented")
    dtype = STC.dtype
    nsoil = STC.shape[0]
    has = ISNOW < 0
    dzsno = jnp.where(has, DZSNO, 0.0)
    zsoil = jnp.asarray(options.zsoil, dtype=dtype)[:, None]
    # layer-bottom depths measured from the top surface (snow surface if a layer exists)
    z = jnp.concatenate([-dzsno[None], zsoil - dzsno[None]], axis=0)  # (1+nsoil, cells)
    zprev = jnp.concatenate([jnp.zeros_like(z[:1]), z[:-1]], axis=0)
    T = jnp.concatenate([TSNO[None], STC], axis=0)
    n = nsoil + 1

    hca = (zprev - z) * HCPCT  # heat capacity per area [J m-2 K-1]
    # safe divisors for the (absent) snow row
    hca_safe = jnp.where(hca > 0.0, hca, 1.0)

    # inverse node distances for interfaces k/k+1, k = 0..n-2
    dinv = 2.0 / (zprev[:-1] - z[1:])  # (n-1, cells)
    grad = (T[:-1] - T[1:]) * dinv  # downward temperature gradient at interfaces
    flux = DF[:-1] * grad  # downward conductive flux at interfaces [W m-2]
    # the interface between the snow row and soil 1 only exists with a snow layer
    link = jnp.concatenate([has[None], jnp.ones((n - 2,) + has.shape, dtype=bool)], axis=0)
    flux = jnp.where(link, flux, 0.0)
    kd = jnp.where(link, DF[:-1] * dinv, 0.0)  # conductance of each interface [W m-2 K-1]

    if options.tbot == 2:
        zbot = params.get("ZBOT", -8.0) if isinstance(params, dict) else -8.0
        zbot_snow = zbot - SNOWH
        gradb = (T[-1] - TBOT) / (0.5 * (z[-2] + z[-1]) - zbot_snow)
        botflx = -DF[-1] * gradb
    elif options.tbot == 1:
        botflx = jnp.zeros_like(SSOIL)
    else:
        raise NotImplementedError(f"tbot={options.tbot}")

    # flux entering each row from above / leaving below
    top_in0 = jnp.where(has, SSOIL, 0.0)
    top_in1 = jnp.where(has, flux[0], SSOIL)
    fin = jnp.concatenate([top_in0[None], top_in1[None], flux[1:]], axis=0)
    fout = jnp.concatenate([flux, -botflx[None]], axis=0)
    excess = fout - fin  # Noah-MP "EnergyExcess"

    # matrix in Noah-MP's form: (1 + dt*B) dT + dt*A dT_{k-1} + dt*C dT_{k+1} = dt*R
    zero = jnp.zeros_like(SSOIL)[None]
    A = jnp.concatenate([zero, -kd / hca_safe[1:]], axis=0)
    C = jnp.concatenate([-kd / hca_safe[:-1], zero], axis=0)
    B = -(A + C)
    R = excess / (-hca_safe)
    active = jnp.concatenate([has[None], jnp.ones((n - 1,) + has.shape, dtype=bool)], axis=0)
    a = jnp.where(active, A * dt, 0.0)
    c = jnp.where(active, C * dt, 0.0)
    b = jnp.where(active, 1.0 + B * dt, 1.0)
    d = jnp.where(active, R * dt, 0.0)
    dT = tridiagonal_solve(a, b, c, d)
    Tn = T + dT
    return {"STC": Tn[1:], "TSNO": jnp.where(has, Tn[0], TSNO), "BOTFLX": botflx, "DT_COLUMN": dT}
