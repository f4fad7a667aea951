"""Soil-moisture stress factor for stomata and root-uptake weights (Noah-MP ``SoilWaterTranspirationMod``).

For root layers k <= NROOT (NROOT per cell, a float; the mask is built by comparison):

* btr=1 (Noah):  g_k = (SH2O_k - SMCWLT_k) / (SMCREF_k - SMCWLT_k)
* btr=2 (CLM):   PSI_k = max(PSIWLT, -PSISAT_k * max(0.01,SH2O_k)/SMCMAX_k ** -BEXP_k),
                 g_k = (1 - PSI_k/PSIWLT) / (1 + PSISAT_k/PSIWLT)
* btr=3 (SSiB):  g_k = 1 - exp(-5.8 * log(PSIWLT / PSI_k))

then g_k = clip(g_k, 0, 1), v_k = max(1e-6, dz_k / |z_NROOT| * g_k),
BTRAN = max(1e-6, sum_k v_k) and BTRANI_k = v_k / BTRAN (zero below the root zone).

BTRANI are the weights Noah-MP uses to split transpiration over layers:
ETRANI_k [m s-1] = ETRAN [mm s-1] * BTRANI_k * 1e-3 (``WaterMain``).

Note (Noah-MP quirk kept): the clip of (SH2O-SMCWLT)/(SMCREF-SMCWLT) to [0, 1] gives zero
gradient outside [SMCWLT, SMCREF]; forward is exact, no surrogate is used here.

params keys read: SMCWLT, SMCREF (nsoil, cells), NROOT (cells,); for btr 2/3 also
PSISAT, SMCMAX, BEXP (nsoil, cells) and PSIWLT (cells,).
"""
from __future__ import annotations

import jax.numpy as jnp

from diffland.physics.options import Options

_MINTHR = 1.0e-6


def soil_moisture_factor(*, SH2O, params, options: Options):
    """Soil-moisture factor BTRAN and normalised root-uptake weights BTRANI.

    Args:
        SH2O: liquid soil moisture (nsoil, cells) [m3 m-3] at the start of the step.
        params: dict, see module docstring.
        options: Options (static): btr, soil_dz.
    Returns:
        dict BTRAN (cells,) [-] and BTRANI (nsoil, cells) [-] (sum to 1 over the root zone).
    """
    nsoil = options.nsoil
    dz = options.soil_dz
    nroot = jnp.asarray(params["NROOT"], dtype=SH2O.dtype)
    # depth of the bottom of the root zone, |z_NROOT| (sum of dz of root layers)
    zroot = jnp.zeros_like(nroot)
    masks = []
    for k in range(nsoil):
        m = (k + 1.0) <= nroot  # layer k+1 (1-based) is a root layer
        masks.append(m)
        zroot = zroot + jnp.where(m, dz[k], 0.0)
    zroot_safe = jnp.where(zroot > 0.0, zroot, 1.0)

    v = []
    for k in range(nsoil):
        sh2o = SH2O[k]
        if options.btr == 1:
            wlt = params["SMCWLT"][k]
            ref = params["SMCREF"][k]
            g = (sh2o - wlt) / (ref - wlt)
        elif options.btr in (2, 3):
            psiwlt = params["PSIWLT"]
            psisat = params["PSISAT"][k]
            s = jnp.maximum(0.01, sh2o) / params["SMCMAX"][k]
            psi = jnp.maximum(psiwlt, -psisat * jnp.exp(-params["BEXP"][k] * jnp.log(s)))
            if options.btr == 2:
                g = (1.0 - psi / psiwlt) / (1.0 + psisat / psiwlt)
            else:
                g = 1.0 - jnp.exp(-5.8 * jnp.log(psiwlt / psi))
        else:
            raise ValueError(f"btr={options.btr} not supported")
        g = jnp.minimum(1.0, jnp.maximum(0.0, g))
        vk = jnp.maximum(_MINTHR, dz[k] / zroot_safe * g)
        v.append(jnp.where(masks[k], vk, 0.0))
    v = jnp.stack(v)
    btran = jnp.maximum(_MINTHR, jnp.sum(v, axis=0))
    return {"BTRAN": btran, "BTRANI": v / btran}
