"""The NaN guard names the cell and the step of the first non-finite output / gradient."""
import jax.numpy as jnp
import numpy as np
import pytest

import learning_standin as S
from diffland.learning import api
from diffland.learning.trainer import NonFiniteError


def _cfg(out):
    return {"data": {"train_period": ["2015-04-01", "2015-05-30"], "holdout_fraction": 0.0},
            "params": {"learned": [{"name": "SMCMAX", "lo": 0.3, "hi": 0.55}]},
            "network": {"hidden": [8]},
            "optim": {"epochs": 2, "batch_cells": 6, "window_days": 20, "spinup_days": 0, "lr": 0.01,
                      "val_fraction": 0.0, "progress": False},
            "output_dir": str(out)}


def test_nan_in_forcing_names_cell_and_step(tmp_path):
    ds = S.make_dataset(ncell=6, ndays=60, seed=4)
    step = 4 * 25 + 2  # day 25 (second window), 4 steps a day
    ds["RAINRATE"][step, 3] = np.nan
    with pytest.raises(NonFiniteError) as e:
        api.train(_cfg(tmp_path / "r"), ds, model=S)
    err = e.value
    assert err.cell == 103 and err.step == step and err.variable in ("SMC", "SH2O", "RUNSF", "LH", "HFX", "RUNSB")
    assert "cell 103" in str(err) and f"step {step}" in str(err)
    assert err.time == str(ds["time"].values[step])


class _BadGradModel:
    """Stand-in whose top-layer SMC gets a term with a finite value but a NaN gradient in one cell."""

    init_state = staticmethod(S.init_state)

    def __init__(self, cell):
        self.cell = cell

    def run(self, state0, forcing, params, options, lat, checkpoint=False):
        final, out = S.run(state0, forcing, params, options, lat, checkpoint)
        z = jnp.where(jnp.arange(params["SMCMAX"].shape[-1]) == self.cell, 0.0, 1.0) * params["SMCMAX"][0]
        smc = out["SMC"].at[:, 0, :].add(0.0 * jnp.sqrt(z))
        return final, dict(out, SMC=smc)


def test_nan_gradient_names_cell(tmp_path):
    ds = S.make_dataset(ncell=6, ndays=60, seed=4)
    cfg = _cfg(tmp_path / "g")
    cfg["optim"]["batch_cells"] = 6
    # the batch permutation puts some cell at position 2; the model breaks the gradient of that position
    with pytest.raises(NonFiniteError) as e:
        api.train(cfg, ds, model=_BadGradModel(2))
    err = e.value
    perm = np.random.default_rng([0, 0]).permutation(6)
    assert err.variable == "gradient"
    assert err.cell == 100 + perm[2]
    assert err.step is not None and 0 <= err.step < 20 * 4
    assert f"cell {100 + perm[2]}" in str(err)
