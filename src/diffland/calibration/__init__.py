"""Classic derivative-free calibration baselines (per cell), for comparison with
parameter learning.

* :func:`dds` - Dynamically Dimensioned Search (Tolson & Shoemaker 2007), one objective.
* :func:`dds_cells` - DDS for N independent cells at once: the objective maps an
  ``(N, d)`` array of parameter sets to ``(N,)`` losses, so one batched model run
  simulates every cell (diffland's ``simulate`` is vectorised over cells).
* :func:`sceua` - Shuffled Complex Evolution (Duan et al. 1993), one objective.

All minimise over box bounds with a fixed budget of objective evaluations (used exactly),
are deterministic for a given ``seed``, and return a :class:`CalibrationResult` with the
best parameters, the best loss and the history (evaluation count vs best loss so far).
"""
from .dds import CalibrationResult, dds, dds_cells
from .sceua import sceua

__all__ = ["CalibrationResult", "dds", "dds_cells", "sceua", "calibrate"]


def calibrate(objective, lower, upper, budget: int, *, method: str = "dds", seed: int = 0, **kwargs):
    """Dispatch to :func:`dds` or :func:`sceua` by name (``method="dds" | "sceua"``)."""
    if method == "dds":
        return dds(objective, lower, upper, budget, seed=seed, **kwargs)
    if method == "sceua":
        return sceua(objective, lower, upper, budget, seed=seed, **kwargs)
    raise ValueError(f"unknown calibration method {method!r}; use 'dds' or 'sceua'")
