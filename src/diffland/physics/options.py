"""Noah-MP physics options (the HRLDAS namelist switches), as a static, hashable object.

The defaults are those of ``../shared/data/noahmp_reference/namelist.hrldas.default``.
``Options`` is passed to jitted functions as a static argument, so every field must be
hashable (ints, floats, tuples).
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Options:
    """Physics switches, named after ``namelist.hrldas`` keys (lower case).

    Attributes:
        dveg: DYNAMIC_VEG_OPTION (4: table LAI/SAI, FVEG = SHDMAX).
        crs: CANOPY_STOMATAL_RESISTANCE_OPTION (1 Ball-Berry, 2 Jarvis).
        btr: BTR_OPTION (1 Noah soil-moisture factor).
        runsrf: SURFACE_RUNOFF_OPTION (3 Schaake free drainage, 1 TOPMODEL).
        runsub: SUBSURFACE_RUNOFF_OPTION (3 free drainage, 1 SIMGM groundwater).
        sfc: SURFACE_DRAG_OPTION (1 Monin-Obukhov).
        frz: SUPERCOOLED_WATER_OPTION (1 Niu-Yang 2006).
        inf: FROZEN_SOIL_OPTION (1 total-water permeability with impermeable fraction).
        rad: RADIATIVE_TRANSFER_OPTION (3 two-stream on vegetated fraction).
        alb: SNOW_ALBEDO_OPTION (1 BATS).
        snf: PCP_PARTITION_OPTION (1 Jordan 1991).
        tbot: TBOT_OPTION (2 TBOT at ZBOT).
        stc: TEMP_TIME_SCHEME_OPTION (3 semi-implicit with snow-cover weighting).
        rsf: SURFACE_RESISTANCE_OPTION (4 Sakaguchi-Zeng, snow RSURF_SNOW).
        sncov: SNOW_COVER_OPTION (1 Niu-Yang 2007).
        dt: main time step [s].
        soil_dz: soil layer thicknesses [m], top to bottom.
        zref: forcing reference height above the surface [m].
        skip_idle: not a physics switch (results are identical either way). True: skip the
            iterations of the canopy energy loop and the Richards sub-steps that are masked
            off in every cell (``lax.cond``), which makes the forward pass faster. Reverse-mode
            differentiation of those ``lax.cond`` is slower than running the masked iterations
            (1.5x slower gradient at 412 cells); ``for_gradient()`` turns it off.
        compact_loops: not a physics switch either (same values per cell). With ``skip_idle``,
            run the last canopy-loop iterations only on the cells still iterating, gathered into
            smaller buffers (``diffland.physics.compaction``), instead of at full width with
            the finished cells masked.
    """

    dveg: int = 4
    crs: int = 1
    btr: int = 1
    runsrf: int = 3
    runsub: int = 3
    sfc: int = 1
    frz: int = 1
    inf: int = 1
    rad: int = 3
    alb: int = 1
    snf: int = 1
    tbot: int = 2
    stc: int = 3
    rsf: int = 4
    sncov: int = 1
    dt: float = 1800.0
    soil_dz: tuple = (0.10, 0.30, 0.60, 1.00)
    zref: float = 10.0
    skip_idle: bool = True
    compact_loops: bool = True

    def for_gradient(self) -> "Options":
        """The same physics with ``skip_idle=False`` (faster under ``jax.grad``)."""
        return dataclasses.replace(self, skip_idle=False)

    @property
    def nsoil(self) -> int:
        return len(self.soil_dz)

    @property
    def zsoil(self) -> tuple:
        """Depth of each layer bottom, negative [m] (Noah-MP ``DepthSoilLayer``)."""
        out, z = [], 0.0
        for dz in self.soil_dz:
            z -= dz
            out.append(round(z, 10))
        return tuple(out)
