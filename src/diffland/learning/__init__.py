"""Parameter learning through the differentiable physics: networks, losses, trainer, transfer check.

Public API (see :mod:`diffland.learning.api` for the run-directory layout)::

    train(config, dataset=None, *, model=None, default_params_fn=None, resume=False, run_dir=None,
          on_epoch_end=None) -> Path
    apply(run_dir, dataset, *, period=None, default_params_fn=None) -> xr.Dataset
    transfer_check(run_dir_or_params, data, periods=None, *, model=None, ...) -> TransferResult
"""
from .api import apply, load_learner, make_options, train, transfer_check
from .data import (REGIME_NAMES, aridity_classes, load_dataset, overpass_indices, register_loader)
from .losses import (LOSS_KINDS, bound_penalty_params, bound_penalty_raw, cell_kge, cell_nse, cell_rmse,
                     compute_loss, global_rmse_z, regime_balanced)
from .networks import (DEFAULT_SPECS, GA, GZ, LAI_MULT_SPEC, Learner, OutputLayout, ParamSpec, default_specs,
                       make_network)
from .trainer import NonFiniteError, Runner, Trainer
from .transfer import TransferResult, cell_metrics, enable_x64
from . import conus  # noqa: F401  (registers the "hydrodl" loader: data.source hydrodl:PATH)
from .conus import load_conus

__all__ = [
    "train", "apply", "transfer_check", "load_learner", "make_options", "REGIME_NAMES", "aridity_classes",
    "load_dataset", "overpass_indices", "register_loader", "LOSS_KINDS", "bound_penalty_params",
    "bound_penalty_raw", "cell_kge", "cell_nse", "cell_rmse", "compute_loss", "global_rmse_z", "regime_balanced",
    "DEFAULT_SPECS", "GA", "GZ", "LAI_MULT_SPEC", "Learner", "OutputLayout", "ParamSpec", "default_specs",
    "make_network", "NonFiniteError", "Runner", "Trainer", "TransferResult", "cell_metrics", "enable_x64", "load_conus",
]
