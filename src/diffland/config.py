"""Typed run configuration (pydantic v2): YAML in, resolved YAML echoed out.

Every section forbids unknown keys (``extra="forbid"``): a typo such as ``optim.lrate`` is an error that
names the key and lists the allowed ones.  See :func:`load_config`, :func:`dump_config` and
``TrainConfig.model_json_schema()``.

Example (all keys optional except ``data.source`` and ``data.train_period``)::

    data:
      source: nc:/path/to/dataset.nc      # KIND:PATH (see diffland.learning.data.register_loader)
      train_period: [2015-04-01, 2016-03-31]
      test_period: [2016-04-01, 2017-03-31]
      holdout_fraction: 0.2               # cells held out entirely (never trained on)
      holdout_seed: 0
      dt: 3600                            # model step [s]; must match the data time step
    model:
      options: {runsrf: 3}                # diffland.physics.options.Options fields
      checkpoint: true                    # jax.checkpoint inside the physics scan
    params:
      learned:                            # default: the 11 of diffland.learning.networks.DEFAULT_SPECS
        - {name: BEXP, lo: 3, hi: 11}
        - {name: DKSAT, lo: 5.0e-7, hi: 3.0e-5, log: true}
        - {name: VCMX25, lo: 0.6, hi: 1.4, mode: multiplier}
      derived_consistency: true
      learn_initial_sm: false
    network: {kind: gA, hidden: [64, 64]}
    loss: {kind: cell_rmse, ab_factors: false, bound_penalty: raw, bound_weight: 0.01}
    optim: {name: adam, lr: 0.003, clip_norm: 1.0, epochs: 30, batch_cells: 64, window_days: 30,
            spinup_days: 365, patience: 5, val_fraction: 0.1, val_split: cells}
    seed: 0
    output_dir: runs/conus
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Tuple

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = ["ConfigError", "DataConfig", "ModelConfig", "LearnedParam", "ParamsConfig", "NetworkConfig",
           "LossConfig", "OptimConfig", "TrainConfig", "load_config", "dump_config", "parse_config"]


class ConfigError(ValueError):
    """Invalid configuration; the message names the offending key(s)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


Period = Tuple[_dt.date, _dt.date]


class DataConfig(_Strict):
    source: Optional[str] = Field(None, description="KIND:PATH of the data set (None: passed in code)")
    train_period: Period
    test_period: Optional[Period] = None
    holdout_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="fraction of cells held out entirely")
    holdout_seed: int = 0
    dt: Optional[float] = Field(None, gt=0, description="model time step [s] (default: the data's step)")
    attributes: Optional[List[str]] = Field(None, description="static attributes fed to the network "
                                                              "(default: all numeric per-cell variables)")
    obs_var: str = "SMAP_AM"
    overpass_hour: float = Field(6.0, description="local solar time of the observation [h]")
    table: Optional[str] = Field(None, description="Noah-MP table for default parameters")

    @model_validator(mode="after")
    def _periods(self):
        for name in ("train_period", "test_period"):
            p = getattr(self, name)
            if p is not None and p[1] < p[0]:
                raise ValueError(f"data.{name}: end {p[1]} is before start {p[0]}")
        return self


class ModelConfig(_Strict):
    options: Dict[str, Any] = Field(default_factory=dict, description="physics Options overrides")
    checkpoint: bool = True
    shard_cells: bool = Field(False, description="split every minibatch's cells over all devices "
                                                 "(jax.sharding data parallelism, each device running the "
                                                 "physics of its own cells; batch_cells must be a "
                                                 "multiple of the device count)")

    @field_validator("options")
    @classmethod
    def _known_options(cls, v):
        try:
            from diffland.physics.options import Options
        except ImportError:  # pragma: no cover
            return v
        names = {f.name for f in dataclasses.fields(Options)}
        bad = sorted(set(v) - names)
        if bad:
            raise ValueError(f"unknown physics option(s) {bad}; allowed: {sorted(names)}")
        if "soil_dz" in v:
            v = dict(v, soil_dz=tuple(float(x) for x in v["soil_dz"]))
        return v


class LearnedParam(_Strict):
    name: str
    lo: float
    hi: float
    log: bool = False
    mode: Literal["absolute", "multiplier"] = "absolute"
    target: Optional[str] = None
    units: str = "1"

    @model_validator(mode="after")
    def _bounds(self):
        if not self.hi > self.lo:
            raise ValueError(f"learned parameter {self.name}: hi ({self.hi}) must exceed lo ({self.lo})")
        if self.log and self.lo <= 0:
            raise ValueError(f"learned parameter {self.name}: log=true needs lo > 0")
        return self

    def to_spec(self):
        from diffland.learning.networks import ParamSpec

        return ParamSpec(self.name, self.lo, self.hi, self.log, self.mode, self.target, self.units)


def _default_learned():
    from diffland.learning.networks import DEFAULT_SPECS

    return [LearnedParam(name=s.name, lo=s.lo, hi=s.hi, log=s.log, mode=s.mode, target=s.target, units=s.units)
            for s in DEFAULT_SPECS]


class ParamsConfig(_Strict):
    learned: List[LearnedParam] = Field(default_factory=_default_learned)
    derived_consistency: bool = True
    learn_initial_sm: bool = False
    init_sm_range: Tuple[float, float] = (0.1, 1.0)
    start_at_default: bool = True

    @field_validator("learned")
    @classmethod
    def _unique(cls, v):
        names = [p.name for p in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"learned parameter(s) listed twice: {dup}")
        return v


class NetworkConfig(_Strict):
    kind: Literal["gA", "gZ"] = "gA"
    hidden: List[int] = Field(default_factory=lambda: [64, 64])
    pool: Literal["last", "mean"] = "last"
    use_obs_history: bool = False
    history_days: Optional[int] = Field(365, gt=0)


class LossConfig(_Strict):
    kind: Literal["global_rmse_z", "cell_rmse", "cell_nse", "cell_kge", "regime_balanced"] = "cell_rmse"
    regime_base: Literal["rmse", "nse", "kge"] = "rmse"
    n_regimes: int = 4
    ab_factors: bool = False
    ab_mode: Literal["network", "free"] = "network"
    a_range: Tuple[float, float] = (0.5, 1.5)
    b_range: Tuple[float, float] = (-0.15, 0.15)
    bound_penalty: Literal["none", "raw", "params"] = "raw"
    bound_weight: float = Field(0.01, ge=0)
    raw_threshold: float = 4.0
    param_margin: float = 0.02
    min_obs: int = 2
    eps: float = 1e-4


class OptimConfig(_Strict):
    name: Literal["adam", "adadelta"] = "adam"
    lr: float = Field(3e-3, gt=0)
    clip_norm: Optional[float] = Field(1.0, gt=0)
    epochs: int = Field(30, ge=1)
    batch_cells: int = Field(64, ge=1)
    window_days: int = Field(30, ge=1)
    spinup_days: int = Field(365, ge=0)
    spinup_cycles: int = Field(1, ge=1)
    patience: Optional[int] = Field(5, ge=1, description="early-stopping patience in epochs (None: off)")
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    val_split: Literal["cells", "time"] = "cells"
    monitor: Literal["val_loss", "val_rmse"] = "val_loss"
    min_delta: float = Field(0.0, ge=0, description="improvement needed to reset the patience counter")
    progress: bool = True
    keep_checkpoints: int = Field(2, ge=1)
    stream: bool = Field(False, description="larger-than-memory data: keep the forcing lazy (Dask/zarr) and read "
                                            "one minibatch of cells at a time; minibatches are contiguous cell "
                                            "blocks in shuffled order")
    max_batches_per_epoch: Optional[int] = Field(None, ge=1, description="use only the first N minibatches of "
                                                                         "each epoch (bounded demonstration runs)")


class TrainConfig(_Strict):
    data: DataConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    params: ParamsConfig = Field(default_factory=ParamsConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    seed: int = 0
    output_dir: str = "runs/run"

    @model_validator(mode="after")
    def _consistency(self):
        if self.params.learn_initial_sm and self.optim.spinup_days > 0:
            raise ValueError("params.learn_initial_sm replaces the spin-up: set optim.spinup_days: 0")
        if self.loss.kind == "regime_balanced" and self.loss.n_regimes < 1:
            raise ValueError("loss.n_regimes must be >= 1")
        return self


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        if e["type"] == "extra_forbidden":
            parent = e["loc"][:-1]
            allowed = _allowed_keys(parent)
            lines.append(f"unknown key '{loc}'" + (f" (allowed here: {', '.join(allowed)})" if allowed else ""))
        elif e["type"] == "missing":
            lines.append(f"missing required key '{loc}'")
        else:
            lines.append(f"'{loc}': {e['msg']}" if loc else e["msg"])
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _allowed_keys(parent) -> list:
    model: Any = TrainConfig
    for part in parent:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ()) or ()
        cand = [ann] + list(args)
        nxt = None
        for c in cand:
            if isinstance(c, type) and issubclass(c, BaseModel):
                nxt = c
            for cc in getattr(c, "__args__", ()) or ():
                if isinstance(cc, type) and issubclass(cc, BaseModel):
                    nxt = cc
        if nxt is None:
            return []
        model = nxt
    return sorted(model.model_fields)


def parse_config(data: dict) -> TrainConfig:
    """Validate a plain dict; raises :class:`ConfigError` with readable messages."""
    try:
        return TrainConfig.model_validate(data or {})
    except ValidationError as err:
        raise ConfigError(_format_errors(err)) from None


def load_config(path) -> TrainConfig:
    """Read a YAML file into a validated :class:`TrainConfig`."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return parse_config(data or {})


def config_to_dict(cfg: TrainConfig) -> dict:
    return cfg.model_dump(mode="json")


def dump_config(cfg: TrainConfig, path) -> None:
    """Write the resolved configuration (all defaults filled in) as YAML."""
    Path(path).write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
