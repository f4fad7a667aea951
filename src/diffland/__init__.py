"""diffland: differentiable Noah-MP in JAX and parameter learning from satellite soil moisture.

Main entry points:
    diffland.simulate(forcing, params, options, initial_state, *, time, lat, lon, precision)
    diffland.physics.model.init_state / step / run   (pure, jit- and grad-compatible)
    diffland.parameters.build_params                 (Noah-MP table -> per-cell parameters)
    diffland.learning.train / apply / transfer_check (parameter learning)
"""
from .heap import trim_after_compiles
from .physics.options import Options
from .simulate import simulate

__version__ = "0.1.0"

# return the C heap XLA frees after a compile to the OS (diffland.heap; DIFFLAND_NO_MALLOC_TRIM=1 turns it off)
trim_after_compiles()
__all__ = ["simulate", "Options", "__version__"]
