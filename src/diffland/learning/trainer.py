"""Training loop: parameter network -> physics (``model.run``) -> observation operator -> loss -> Optax.

Design (see also ``diffland.learning.api``):

- **Minibatches** are ``batch_cells`` cells (a fresh permutation of the training cells each epoch, seeded by
  ``(seed, epoch)``; the last batch is padded with repeated cells that are masked out of the loss, so every
  step has the same shapes and compiles once) times consecutive **windows** of ``window_days`` days.
- **Spin-up without gradient**: for each cell batch the model is first run forward (a separate jitted forward
  pass, no gradient) from the initial conditions over the first ``spinup_days`` of the training period
  (rounded down to whole windows), ``spinup_cycles`` times, with the current parameters.
- **State carried between windows**: the windows then run in order from the start of the training period;
  the final state of window w (computed with the parameters of step w) is the initial state of window w+1.
  Back-propagation is truncated at window boundaries (the carried state is an input, not differentiated).
  Steps after the last whole window are not trained on.
- ``checkpoint`` (``model.checkpoint`` in the config) is passed to ``model.run`` (``jax.checkpoint`` inside the
  physics scan) in the gradient pass.
- **Several devices** (``model.shard_cells``): every minibatch's cells are split over the devices. The physics
  (training windows, spin-up, validation runs) runs under ``diffland.parallel.map_cells``: each device runs its
  own cells, so ``model.run`` must treat cells independently and return every array with the cell axis last.
  The parameter network and the loss are plain ``jax.jit`` of sharded arrays (GSPMD): the loss and the
  gradient of the network's weights reduce across devices. With several processes (``jax.distributed``,
  ``diffland.parallel.init_distributed``) the mesh spans all of their devices: every process draws the same
  minibatch and places its own devices' cells (``put_global``), results come back with ``to_host`` (a
  collective: all processes make the same calls), and only process 0 writes checkpoints and metrics.
  With streaming (``optim.stream``) each process reads only its own devices' cells of a minibatch.
- **Observation operator**: top-layer soil moisture ``outputs['SMC'][:, 0, :]`` sampled at per-cell step
  indices ``obs_idx`` (days, cells); a day belongs to the window holding its median index; days whose index
  falls outside the window for a cell are masked.
- **Optimiser**: Adam (default) or Adadelta (paper setting), after global-norm clipping.
- **NaN guard**: when the loss or any gradient is non-finite, :class:`NonFiniteError` names the cell and step
  (first non-finite model output, else the cell with a non-finite parameter gradient and the first
  observation whose inclusion makes it non-finite).
- **Validation / early stopping**: ``val_split="cells"``: ``val_fraction`` of the training cells (drawn with
  ``seed``) are not trained on; after each epoch they are run over the training period (same spin-up) and
  scored with the training loss (``val_loss``, a/b included when the network produces them) and the per-cell
  RMSE without a/b (``val_rmse``).  ``val_split="time"``: the last ``val_fraction`` of the training windows
  are not trained on and the training cells are scored on their observations.  Training stops after
  ``patience`` epochs without improvement of ``monitor``; the best network is kept.
- **Checkpoints** (``checkpoints/epoch_NNNN.eqx`` + ``.json``, then ``latest.json``, all written atomically)
  hold the network, optimiser state, best network, epoch, seed / RNG key, early-stopping counters and the
  metrics history; ``resume=True`` continues bit-identically.
"""
from __future__ import annotations

import contextlib
import csv
import importlib
import inspect
import json
import os
import time as _time
from pathlib import Path
from typing import Callable, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..parallel import is_main_process, to_host
from .data import Prepared, is_lazy, materialise
from .losses import LOSS_KINDS, bound_penalty_params, bound_penalty_raw, compute_loss_switch, per_cell_metric
from .networks import Learner, OutputLayout, make_network

__all__ = ["NonFiniteError", "Trainer", "Runner", "get_runner", "atomic_write_bytes", "atomic_write_text", "default_model",
           "build_layout"]


class NonFiniteError(FloatingPointError):
    """A non-finite loss / gradient / output; ``cell``, ``cell_index``, ``step``, ``time``, ``variable``."""

    def __init__(self, msg, *, cell=None, cell_index=None, step=None, time=None, variable=None, epoch=None):
        super().__init__(msg)
        self.cell, self.cell_index, self.step, self.time = cell, cell_index, step, time
        self.variable, self.epoch = variable, epoch


def default_model():
    """The real physics module, ``diffland.physics.model``."""
    return importlib.import_module("diffland.physics.model")


# ------------------------------------------------------------------------------------------------
def atomic_write_bytes(path, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def _serialise(tree) -> bytes:
    import io

    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, tree)
    return buf.getvalue()


def _deserialise(data: bytes, like):
    import io

    return eqx.tree_deserialise_leaves(io.BytesIO(data), like)


# ------------------------------------------------------------------------------------------------
def build_layout(cfg, nsoil: int) -> OutputLayout:
    return OutputLayout([p.to_spec() for p in cfg.params.learned], nsoil, derived=cfg.params.derived_consistency,
                        learn_initial_sm=cfg.params.learn_initial_sm, init_sm_range=cfg.params.init_sm_range,
                        ab_factors=cfg.loss.ab_factors, ab_mode=cfg.loss.ab_mode, a_range=cfg.loss.a_range,
                        b_range=cfg.loss.b_range, start_at_default=cfg.params.start_at_default)


def make_learner(cfg, layout: OutputLayout, n_attr: int, n_seq: int, n_train: int, key) -> Learner:
    net = make_network(cfg.network.kind, n_attr, layout.n_out, hidden=cfg.network.hidden, n_seq=n_seq,
                       pool=cfg.network.pool, key=key)
    ab = None
    if cfg.loss.ab_factors and cfg.loss.ab_mode == "free":
        ab = jnp.zeros((n_train, 2), jnp.float32)
    return Learner(net, ab)


def _tree_cast(tree, dtype):
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype) if jnp.issubdtype(jnp.asarray(x).dtype,
                                                                                  jnp.floating) else x, tree)


class Runner:
    """Forward runs of the physics in windows (jitted once per shape), with the observation operator.

    Args:
        model: module / object with ``init_state(initial, params, options)`` and
            ``run(state0, forcing, params, options, lat, checkpoint)``.
        options: physics options (static).
        mesh: a cell mesh (``diffland.parallel.cell_mesh``) of several devices: each device runs its
            own block of cells (``diffland.parallel.map_cells``); the number of cells must be a
            multiple of the device count. None: one program over whatever devices the inputs are on.
    """

    def __init__(self, model, options, mesh=None):
        self.model, self.options = model, options
        self.mesh = mesh if (mesh is not None and mesh.devices.size > 1) else None

        def _chunk(state, forcing, params, lat, first):
            final, out = model.run(state, forcing, params, options, lat, False,
                                   **run_kwargs(model, first, ("SMC",)))
            return final, out["SMC"][:, 0, :]

        def _full(state, forcing, params, lat, first):
            return model.run(state, forcing, params, options, lat, False, **run_kwargs(model, first, None))

        # ``first`` is an input (a bool scalar), not a static argument: the spin-up's first window and
        # every later window run one compiled program
        self._jit_chunk = jax.jit(self._cellwise(_chunk))
        self._jit_full = jax.jit(self._cellwise(_full))
        self.init = jax.jit(lambda initial, params: model.init_state(initial, params, options))

    def chunk(self, state, forcing, params, lat, first):
        """(final state, top-layer SMC (time, cells)) of one window; ``first``: the model's first step."""
        return self._jit_chunk(state, forcing, params, lat, np.bool_(first))

    def full(self, state, forcing, params, lat, first):
        """(final state, every output) of one window; ``first``: the model's first step."""
        return self._jit_full(state, forcing, params, lat, np.bool_(first))

    def _cellwise(self, fn):
        """``fn(state, forcing, params, lat, first)`` run per device on its own cells (with a mesh)."""
        if self.mesh is None:
            return fn
        mesh = self.mesh

        def wrapped(state, forcing, params, lat, first):
            return per_device(lambda s, f, p, la: fn(s, f, p, la, first), mesh)(state, forcing, params, lat)

        return wrapped

    def initial_state(self, initial, params, init_sm_frac=None):
        initial = dict(initial)
        if init_sm_frac is not None:
            smcmax = params["SMCMAX"]
            smcmax = jnp.broadcast_to(smcmax, init_sm_frac.shape) if smcmax.ndim == 1 else smcmax
            initial["SMC"] = init_sm_frac * smcmax
        return self.init(initial, params)

    def spinup(self, state, forcing, params, lat, W: int, spin_steps: int, cycles: int, first: bool = True):
        """Run ``cycles`` times over the first ``spin_steps`` (multiple of W) steps of ``forcing``.

        ``first``: the state comes straight from ``init_state`` (the model's first step follows)."""
        nwin = spin_steps // W
        for _ in range(cycles if nwin else 0):
            for w in range(nwin):
                fw = _slice_forcing(forcing, w * W, (w + 1) * W)
                state, _ = self.chunk(state, fw, params, lat, first=first)
                first = False
        return state

    def top_series(self, state, forcing, params, lat, W: int, first: bool = False) -> np.ndarray:
        """Top-layer SMC (T, C) over all of ``forcing`` (last chunk padded with the last step)."""
        T = forcing["T2D"].shape[0]
        n = -(-T // W)
        tops = []
        for w in range(n):
            fw = _slice_forcing(forcing, w * W, (w + 1) * W, pad_to=W)
            state, top = self.chunk(state, fw, params, lat, first=first)
            first = False
            tops.append(to_host(top))
        return np.concatenate(tops, 0)[:T]


def per_device(fn, mesh):
    """``fn(state, forcing, params, lat)`` of the physics run by each device of ``mesh`` on its own cells
    (``diffland.parallel.map_cells``; ``forcing`` is time-major, the cell count is ``lat``'s length);
    ``fn`` itself when ``mesh`` is None."""
    if mesh is None:
        return fn
    from diffland.parallel import map_cells

    def wrapped(state, forcing, params, lat):
        return map_cells(fn, mesh, lat.shape[-1], per_step=(1,))(state, forcing, params, lat)

    return wrapped


_RUNNERS: dict = {}


def get_runner(model, options) -> Runner:
    """A shared :class:`Runner` per (model, options), so that repeated transfer checks in one process (e.g. the
    experiment matrix) reuse the compiled forward passes instead of compiling them again."""
    key = (id(model), options)
    hit = _RUNNERS.get(key)
    if hit is None or hit[0] is not model:
        if len(_RUNNERS) > 16:
            _RUNNERS.clear()
        hit = _RUNNERS[key] = (model, Runner(model, options))
    return hit[1]


def run_kwargs(model, first, outputs) -> dict:
    """Optional keyword arguments of ``model.run`` beyond the promised six, when it accepts them:
    ``first_step`` (this window starts right after ``init_state``; False when a state is carried; a
    Python bool or, from :class:`Runner`, a traced bool scalar) and ``outputs`` (the output names to
    keep, to save memory)."""
    try:
        names = inspect.signature(model.run).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return {}
    kw = {}
    if "first_step" in names:
        kw["first_step"] = first if isinstance(first, jax.Array) else bool(first)
    if outputs is not None and "outputs" in names:
        kw["outputs"] = tuple(outputs)
    return kw


def _slice_forcing(forcing, a, b, pad_to=None):
    out = {}
    for k, v in forcing.items():
        x = v[a:b]
        if pad_to is not None and x.shape[0] < pad_to:
            reps = pad_to - x.shape[0]
            x = np.concatenate([x, np.repeat(x[-1:], reps, 0)], 0) if isinstance(x, np.ndarray) else \
                jnp.concatenate([x, jnp.repeat(x[-1:], reps, 0)], 0)
        out[k] = x
    return out


def sample_obs(top: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Observation operator: top-layer series (T, C) at step indices (D, C) -> (D, C)."""
    T = top.shape[0]
    ok = (idx >= 0) & (idx < T)
    v = np.take_along_axis(top, np.clip(idx, 0, T - 1), 0)
    return np.where(ok, v, np.nan)


# ------------------------------------------------------------------------------------------------
class Trainer:
    """Trains a :class:`Learner` on prepared training data (see the module docstring).

    Args:
        cfg: ``diffland.config.TrainConfig``.
        train: prepared data of the training cells over the training period (validation cells excluded).
        val: prepared validation cells over the training period (``val_split="cells"``) or None.
        options: physics options.
        model: physics module (default ``diffland.physics.model``).
        obs_stats: (mu, sd) of the training observations for ``global_rmse_z``.
        run_dir: where checkpoints and metrics go.
    """

    def __init__(self, cfg, train: Prepared, val: Optional[Prepared], options, model=None, *, obs_stats=(0.0, 1.0),
                 run_dir=None, n_attr=None, n_seq=0, nan_policy: str = "raise"):
        if nan_policy not in ("raise", "skip"):
            raise ValueError(f"nan_policy must be 'raise' or 'skip', got {nan_policy!r}")
        self.nan_policy = nan_policy
        self.cfg, self.train, self.val, self.options = cfg, train, val, options
        self.model = model if model is not None else default_model()
        self.layout = build_layout(cfg, options.nsoil)
        self.mu, self.sd = float(obs_stats[0]), float(obs_stats[1])
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.spd = int(round(86400 / options.dt))
        self.W = cfg.optim.window_days * self.spd
        T = train.forcing["T2D"].shape[0]
        self.n_win_all = T // self.W
        if self.n_win_all < 1:
            raise ValueError(f"the training period ({T} steps) is shorter than one window "
                             f"({cfg.optim.window_days} days = {self.W} steps); lower optim.window_days")
        self.n_win = self.n_win_all
        if cfg.optim.val_split == "time" and cfg.optim.val_fraction > 0:
            self.n_win = max(1, int(np.floor(self.n_win_all * (1 - cfg.optim.val_fraction))))
            if self.n_win == self.n_win_all:
                self.n_win = self.n_win_all - 1 if self.n_win_all > 1 else self.n_win_all
        self.spin_steps = min(cfg.optim.spinup_days * self.spd, T) // self.W * self.W
        self.B = min(cfg.optim.batch_cells, train.ncell)
        self.n_attr = train.attrs.shape[1] if n_attr is None else n_attr
        self.n_seq = n_seq
        self.n_classes = cfg.loss.n_regimes
        if cfg.loss.kind == "regime_balanced" and train.regime is None:
            raise ValueError("loss.kind 'regime_balanced' needs per-cell aridity classes in the data set "
                             "(variable 'aridity_class' or 'aridity_index')")
        # every loss kind the data allows, chosen at run time (compute_loss_switch): runs that differ only
        # in loss.kind compile the same programs
        self.loss_kinds = tuple(k for k in LOSS_KINDS if k != "regime_balanced" or train.regime is not None)
        self.loss_index = np.int32(self.loss_kinds.index(cfg.loss.kind))
        self._win_days = self._assign_days(train.obs_idx)
        # observation days per window: at most one a day, so ``window_days`` unless the data hold more; a
        # size that does not depend on the data keeps the compiled program the same across periods
        self.Dw = max([len(d) for d in self._win_days] + [cfg.optim.window_days])
        self._optim = self._make_optimizer()
        self.mesh = None
        if cfg.model.shard_cells and len(jax.devices()) > 1:
            from diffland.parallel import cell_mesh

            self.mesh = cell_mesh()
            nd = self.mesh.devices.size
            if self.B % nd:
                raise ValueError(f"model.shard_cells: the minibatch of {self.B} cells (optim.batch_cells) cannot be "
                                 f"split evenly over {nd} devices; use a multiple of {nd}")
        # with a mesh, each device runs the physics of its own cells (map_cells): no cross-device
        # reductions inside the iterative solvers, and the canopy loop's compaction stays on its device
        self.runner = Runner(self.model, options, self.mesh)
        self.n_devices = 1 if self.mesh is None else int(self.mesh.devices.size)
        self._build_steps()

    def _local_positions(self):
        """Positions in a minibatch (of ``B`` cells) that this process's devices hold, with a mesh
        spanning several processes (``jax.distributed``); None otherwise (this process holds all).
        A streamed minibatch reads only these cells' forcing."""
        if self.mesh is None or jax.process_count() == 1:
            return None
        from jax.sharding import NamedSharding, PartitionSpec as P

        from diffland.parallel import AXIS

        blocks = NamedSharding(self.mesh, P(AXIS)).addressable_devices_indices_map((self.B,)).values()
        return np.unique(np.concatenate([np.arange(self.B)[i] for i in blocks]))

    def _put(self, tree, name: str = ""):
        """Place a batch / window / state on the devices: cell axis split over the mesh (``model.shard_cells``),
        per-step arrays (``JULIAN``, ``YEARLEN``) and scalars replicated.  No-op on one device."""
        if self.mesh is None:
            return tree
        from jax.sharding import NamedSharding, PartitionSpec as P

        from diffland.parallel import AXIS, put_global

        if isinstance(tree, dict):
            return {k: self._put(v, k) for k, v in tree.items()}
        a = tree
        if name == "attrs":
            spec = P(AXIS, None)
        elif name == "seq":
            spec = P(None, AXIS, None)
        elif getattr(a, "ndim", 0) == 0 or name in ("JULIAN", "YEARLEN"):
            spec = P()
        else:
            spec = P(*([None] * (a.ndim - 1)), AXIS)
        return put_global(a, NamedSharding(self.mesh, spec))

    # ---- set-up ---------------------------------------------------------------------------------
    def _make_optimizer(self):
        o = self.cfg.optim
        base = optax.adam(o.lr) if o.name == "adam" else optax.adadelta(o.lr)
        return optax.chain(optax.clip_by_global_norm(o.clip_norm), base) if o.clip_norm else base

    def _assign_days(self, obs_idx) -> list:
        med = np.median(obs_idx, axis=1)
        return [np.nonzero((med >= w * self.W) & (med < (w + 1) * self.W))[0] for w in range(self.n_win_all)]

    def init_learner(self, key) -> Learner:
        return make_learner(self.cfg, self.layout, self.n_attr, self.n_seq, self.train.ncell, key)

    def _filter(self, learner):
        return eqx.filter(learner, eqx.is_inexact_array)

    def _build_steps(self):
        layout, cfg, model, options, runner = self.layout, self.cfg, self.model, self.options, self.runner
        # the same physics, set up for reverse mode (Options.for_gradient); other models keep their options
        goptions = options.for_gradient() if hasattr(options, "for_gradient") else options
        lc = cfg.loss
        ckpt = bool(cfg.model.checkpoint)

        def physical(learner, b):
            raw = learner.raw(b["attrs"], b.get("seq"))
            abf = learner.ab_free[b["pos"]] if learner.ab_free is not None else None
            params, extra = layout.to_physical(raw, b["defaults"], abf)
            return raw, params, extra

        def loss_from_sim(sim, obs, b, raw, extra, params_only=False):
            # the kind is an input of the program (b["loss_kind"], an index into self.loss_kinds)
            # the observation statistics are inputs too (not constants of the program), so runs on other
            # periods or cells with the same shapes share one compiled program
            mu, sd = (jnp.asarray(b[k]).astype(sim.dtype) for k in ("obs_mu", "obs_sd"))
            data = compute_loss_switch(b["loss_kind"], self.loss_kinds, sim, obs, cell_mask=b["cmask"],
                                       a=extra["a"], b=extra["b"], mu=mu, sd=sd, classes=b.get("regime"),
                                       n_classes=self.n_classes, regime_base=lc.regime_base,
                                       min_obs=lc.min_obs, eps=lc.eps)
            if lc.bound_penalty == "raw":
                pen = bound_penalty_raw(raw, lc.raw_threshold)
            elif lc.bound_penalty == "params" and extra["unit"]:
                pen = bound_penalty_params(jnp.stack(list(extra["unit"].values()), 1), lc.param_margin)
            else:
                pen = jnp.zeros((), sim.dtype)
            return data + lc.bound_weight * pen, data, pen

        mesh = self.mesh

        def run_top(state0, forcing, params, lat, first):
            """The window's physics under reverse mode: (final state, top-layer SMC (time, cells)); with a
            mesh, each device runs its own cells (map_cells) and only the loss reduces across devices."""
            def fn(s, f, p, la):
                final, out = model.run(s, f, p, goptions, la, ckpt, **run_kwargs(model, first, ("SMC",)))
                return final, out["SMC"][:, 0, :]

            return per_device(fn, mesh)(state0, forcing, params, lat)

        def window_loss(learner, state0, b, win, use_initial, first):
            raw, params, extra = physical(learner, b)
            if use_initial:
                state0 = runner.initial_state(b["initial"], params, extra["init_sm_frac"])
            final, top = run_top(state0, win["forcing"], params, b["lat"], first)
            sim = jnp.take_along_axis(top, win["idx"], axis=0)
            total, data, pen = loss_from_sim(sim, win["obs"], b, raw, extra)
            return total, (final, data, pen)

        optim = self._optim

        @eqx.filter_jit
        def train_step(learner, opt_state, state0, b, win, use_initial, first):
            (loss, (final, data, pen)), grads = eqx.filter_value_and_grad(window_loss, has_aux=True)(
                learner, state0, b, win, use_initial, first)
            leaves = jax.tree_util.tree_leaves(eqx.filter(grads, eqx.is_inexact_array))
            finite = jnp.isfinite(loss) & jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in leaves]))
            gnorm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in leaves))
            updates, opt_state2 = optim.update(eqx.filter(grads, eqx.is_inexact_array), opt_state,
                                               eqx.filter(learner, eqx.is_inexact_array))
            return eqx.apply_updates(learner, updates), opt_state2, final, loss, data, pen, gnorm, finite

        @eqx.filter_jit
        def params_of(learner, b):
            return physical(learner, b)

        @eqx.filter_jit
        def val_loss(sim, obs, b, raw, extra):
            return loss_from_sim(sim, obs, b, raw, extra)[1]

        def loss_given_params(params, state0, b, win, extra, raw, obs, first):
            _, top = run_top(state0, win["forcing"], params, b["lat"], first)
            sim = jnp.take_along_axis(top, win["idx"], axis=0)
            return loss_from_sim(sim, obs, b, raw, extra)[1]

        self._train_step = train_step
        self._params_of = params_of
        self._val_loss = val_loss
        self._grad_params = eqx.filter_jit(jax.grad(loss_given_params))

    # ---- batches ----------------------------------------------------------------------------------
    def _loss_inputs(self) -> dict:
        """The loss's run-time inputs: the kind (index into ``loss_kinds``) and the training observations'
        mean and standard deviation (``global_rmse_z``)."""
        return {"loss_kind": self.loss_index, "obs_mu": np.float64(self.mu), "obs_sd": np.float64(self.sd)}

    def _batch(self, data: Prepared, cells, pos=None, cmask=None):
        b = {"attrs": data.attrs[cells], "defaults": {k: v[..., cells] for k, v in data.defaults.items()},
             "initial": {k: v[..., cells] for k, v in data.initial.items()}, "lat": data.lat[cells].astype(np.float32),
             "cmask": np.ones(len(cells), bool) if cmask is None else cmask,
             "pos": to_host(cells if pos is None else pos), **self._loss_inputs()}
        if data.seq is not None:
            b["seq"] = data.seq[:, cells]
        if data.regime is not None:
            b["regime"] = data.regime[cells]
        return b

    def _window(self, data: Prepared, cells, w: int):
        a, e = w * self.W, (w + 1) * self.W
        f = {k: (v[a:e][:, cells] if v.ndim == 2 else v[a:e]) for k, v in data.forcing.items()}
        days = self._win_days[w]
        D = self.Dw
        idx = np.zeros((D, len(cells)), np.int64)
        obs = np.full((D, len(cells)), np.nan, np.float32)
        if len(days):
            li = data.obs_idx[days][:, cells] - a
            ob = data.obs[days][:, cells].copy()
            ok = (li >= 0) & (li < self.W)
            ob[~ok] = np.nan
            idx[: len(days)] = np.clip(li, 0, self.W - 1)
            obs[: len(days)] = ob
        return {"forcing": f, "idx": idx, "obs": obs}, days

    def _cell_batches(self, epoch: int):
        n = self.train.ncell
        rng = np.random.default_rng([self.cfg.seed, epoch])
        if self.cfg.optim.stream:
            # contiguous blocks of cells in shuffled order: each minibatch reads few (cell-)chunks of the store
            starts = rng.permutation(np.arange(0, n, self.B))
            perm = np.concatenate([np.arange(s, min(s + self.B, n)) for s in starts])
        else:
            perm = rng.permutation(n)
        out = []
        for s in range(0, n, self.B):
            cells = perm[s:s + self.B]
            cmask = np.ones(self.B, bool)
            if len(cells) < self.B:
                pad = perm[: self.B - len(cells)]
                cmask[len(cells):] = False
                cells = np.concatenate([cells, pad])
            out.append((cells, cmask))
        if self.cfg.optim.max_batches_per_epoch is not None:
            out = out[: self.cfg.optim.max_batches_per_epoch]
        return out

    # ---- forward evaluation --------------------------------------------------------------------------
    def simulate_obs(self, learner, data: Prepared):
        """Simulated top-layer SMC at the obs indices (D, C), plus the loss and per-cell arrays needed."""
        C = data.ncell
        sims, raws, extras = [], [], []
        for s in range(0, C, self.B):
            cells = np.arange(s, min(s + self.B, C))
            n = len(cells)
            if n < self.B:
                cells = np.concatenate([cells, np.full(self.B - n, cells[-1])])
            pos = np.zeros(self.B, np.int64) if learner.ab_free is not None and data is not self.train else cells
            full, full_cells = data, cells
            if is_lazy(data):
                data = materialise(full, cells, self.options, read=self._local_positions())
                cells = np.arange(len(cells))
            b = self._put(self._batch(data, cells, pos=pos))
            raw, params, extra = self._params_of(learner, b)
            state = self.runner.initial_state(b["initial"], params, extra["init_sm_frac"])
            forcing = self._put({k: (v[:, cells] if v.ndim == 2 else v) for k, v in data.forcing.items()})
            state = self.runner.spinup(state, forcing, params, b["lat"], self.W, self.spin_steps,
                                       self.cfg.optim.spinup_cycles)
            top = self.runner.top_series(state, forcing, params, b["lat"], self.W, first=self.spin_steps == 0)
            sims.append(sample_obs(top, data.obs_idx[:, cells])[:, :n])
            data, cells = full, full_cells
            raws.append(to_host(raw)[:n])
            extras.append({k: (None if extra[k] is None else to_host(extra[k])[..., :n]) for k in ("a", "b")})
        sim = np.concatenate(sims, 1)
        raw = np.concatenate(raws, 0)
        ab = None
        if extras[0]["a"] is not None:
            ab = (np.concatenate([e["a"] for e in extras]), np.concatenate([e["b"] for e in extras]))
        return sim, raw, ab

    def validate(self, learner) -> dict:
        if self.cfg.optim.val_fraction <= 0:
            return {}
        if self.cfg.optim.val_split == "cells":
            if self.val is None or self.val.ncell == 0:
                return {}
            data, day_sel = self.val, slice(None)
            use_ab = self.layout.ab_factors and self.layout.ab_mode == "network"
        else:
            data = self.train
            first = self.n_win * self.W
            med = np.median(data.obs_idx, 1)
            day_sel = med >= first
            use_ab = self.layout.ab_factors
        sim, raw, ab = self.simulate_obs(learner, data)
        obs = data.obs[day_sel]
        sim = sim[day_sel]
        b = {"cmask": np.ones(data.ncell, bool), **self._loss_inputs()}
        if data.regime is not None:
            b["regime"] = data.regime
        extra = {"a": jnp.asarray(ab[0]) if (use_ab and ab) else None,
                 "b": jnp.asarray(ab[1]) if (use_ab and ab) else None, "unit": {}}
        vloss = float(self._val_loss(jnp.asarray(sim), jnp.asarray(obs), b, jnp.asarray(raw), extra))
        v, valid = per_cell_metric(jnp.asarray(sim), jnp.asarray(obs), "rmse", min_obs=self.cfg.loss.min_obs)
        v, valid = to_host(v), to_host(valid)
        vrmse = float(v[valid].mean()) if valid.any() else float("nan")
        return {"val_loss": vloss, "val_rmse": vrmse}

    # ---- NaN guard -------------------------------------------------------------------------------------
    def _diagnose(self, learner, state0, b, win, w, cells, epoch, use_initial, first):
        data = self.train
        raw, params, extra = self._params_of(learner, b)
        step0 = w * self.W
        ids = data.cell_ids

        def _err(msg, ci, step, var):
            t = str(data.time[step]) if step is not None and step < len(data.time) else None
            cid = ids[ci] if ci is not None else None
            cid = cid.item() if hasattr(cid, "item") else cid
            raise NonFiniteError(f"non-finite {msg}: cell {cid!r} (index {ci}), step {step} (time {t}), epoch "
                                 f"{epoch}, window {w}", cell=cid, cell_index=ci, step=step, time=t, variable=var,
                                 epoch=epoch)

        rawn = to_host(raw)
        if not np.all(np.isfinite(rawn)):
            c = int(np.nonzero(~np.isfinite(rawn).all(1))[0][0])
            _err("network output", int(cells[c]), step0, "network")
        for k, v in params.items():
            vv = to_host(v)
            if not np.all(np.isfinite(vv)):
                c = int(np.nonzero(~np.isfinite(vv.reshape(-1, vv.shape[-1])).all(0))[0][0])
                _err(f"parameter {k}", int(cells[c]), step0, k)
        if use_initial:
            state0 = self.runner.initial_state(b["initial"], params, extra["init_sm_frac"])
        _, out = self.runner.full(state0, win["forcing"], params, b["lat"], first=first)
        best = None
        for k in sorted(out):
            x = to_host(out[k])
            if x.ndim < 2 or x.shape[0] != self.W:
                continue
            bad = ~np.isfinite(x.reshape(x.shape[0], -1, x.shape[-1]))
            bad = bad.any(1) & b["cmask"][None, :]
            if bad.any():
                t = int(np.nonzero(bad.any(1))[0][0])
                c = int(np.nonzero(bad[t])[0][0])
                if best is None or t < best[0]:
                    best = (t, c, k)
        if best is not None:
            t, c, k = best
            _err(f"model output {k}", int(cells[c]), step0 + t, k)
        # outputs finite: the gradient is at fault; find the cell via parameter gradients
        g = self._grad_params(params, state0, b, win, extra, raw, win["obs"], first)
        badc = np.zeros(self.B, bool)
        for v in jax.tree_util.tree_leaves(g):
            vv = to_host(v)
            if vv.ndim >= 1 and vv.shape[-1] == self.B:
                badc |= ~np.isfinite(vv.reshape(-1, self.B)).all(0)
        badc &= b["cmask"]
        if not badc.any():
            _err("loss or gradient (outside the physics parameters)", None, step0, "loss")
        c = int(np.nonzero(badc)[0][0])
        # first observation whose inclusion makes the gradient non-finite (bisection on the obs prefix)
        obs = to_host(win["obs"])
        days = np.nonzero(np.isfinite(obs[:, c]))[0]

        def bad_upto(j):
            o = np.full_like(obs, np.nan)
            o[: days[j] + 1, c] = obs[: days[j] + 1, c]
            gg = self._grad_params(params, state0, b, win, extra, raw, o, first)
            return any(not np.all(np.isfinite(to_host(v)[..., c])) for v in jax.tree_util.tree_leaves(gg)
                       if np.ndim(v) >= 1 and np.shape(v)[-1] == self.B)

        step = step0
        if len(days):
            lo, hi = 0, len(days) - 1
            if bad_upto(hi):
                while lo < hi:
                    mid = (lo + hi) // 2
                    if bad_upto(mid):
                        hi = mid
                    else:
                        lo = mid + 1
                step = step0 + int(to_host(win["idx"])[days[lo], c])
        _err("gradient", int(cells[c]), step, "gradient")

    # ---- NaN policy "skip" ------------------------------------------------------------------------------
    def _can_skip(self, loss, st2) -> bool:
        """With ``nan_policy="skip"``: a step whose loss and carried state are finite but whose gradient is not
        is skipped (no update; recorded with its cells in the checkpoint state ``nan_skips`` and the metrics
        column ``skipped_steps``); anything else still raises through the NaN guard."""
        if self.nan_policy != "skip" or not np.isfinite(float(loss)):
            return False
        return all(bool(np.all(np.isfinite(to_host(x)))) for x in jax.tree_util.tree_leaves(st2)
                   if np.issubdtype(to_host(x).dtype, np.floating))

    def _bad_cells(self, learner, state0, b, win, first) -> list:
        """Batch positions of the cells whose parameter gradients are non-finite (one extra gradient pass)."""
        raw, params, extra = self._params_of(learner, b)
        g = self._grad_params(params, state0, b, win, extra, raw, win["obs"], first)
        badc = np.zeros(self.B, bool)
        for v in jax.tree_util.tree_leaves(g):
            vv = to_host(v)
            if vv.ndim >= 1 and vv.shape[-1] == self.B:
                badc |= ~np.isfinite(vv.reshape(-1, self.B)).all(0)
        return [int(c) for c in np.nonzero(badc & to_host(b["cmask"]))[0]]

    # ---- the loop ------------------------------------------------------------------------------------
    def fit(self, *, resume: bool = False, on_epoch_end: Optional[Callable] = None):
        """Train; returns (final learner, history). The final learner is the best one when validating."""
        cfg = self.cfg
        key = jax.random.PRNGKey(cfg.seed)
        k_init, _ = jax.random.split(key)
        learner = self.init_learner(k_init)
        opt_state = self._optim.init(self._filter(learner))
        best = learner
        state = {"epoch": -1, "history": [], "best_epoch": None, "best_value": None, "bad_epochs": 0,
                 "stopped": False, "seed": cfg.seed, "key": to_host(jax.random.key_data(key)).tolist()
                 if hasattr(jax.random, "key_data") else to_host(key).tolist()}
        ckdir = self.run_dir / "checkpoints" if self.run_dir is not None else None
        if ckdir is not None:
            ckdir.mkdir(parents=True, exist_ok=True)
        if resume and ckdir is not None and (ckdir / "latest.json").exists():
            latest = json.loads((ckdir / "latest.json").read_text())
            state = json.loads((ckdir / latest["meta"]).read_text())
            learner, opt_state, best = _deserialise((ckdir / latest["file"]).read_bytes(),
                                                    (learner, opt_state, best))
        history = state["history"]
        validating = cfg.optim.val_fraction > 0 and cfg.optim.patience is not None
        start = state["epoch"] + 1
        if state["stopped"]:
            start = cfg.optim.epochs
        if jax.process_count() > 1:  # every process must resume from the same checkpoint
            from jax.experimental import multihost_utils

            starts = np.asarray(multihost_utils.process_allgather(np.int32(start))).ravel().tolist()
            if len(set(starts)) > 1:
                raise ValueError(f"resume: the processes found different checkpoints (next epoch per process: "
                                 f"{starts}) in {ckdir}; put output_dir on a file system all processes share")
        batches_per_epoch = len(self._cell_batches(0))
        total = max(0, cfg.optim.epochs - start) * batches_per_epoch * self.n_win
        with _progress(cfg.optim.progress and is_main_process(), total) as advance:
            for epoch in range(start, cfg.optim.epochs):
                t0 = _time.time()
                losses, datas, pens, gnorms, skips = [], [], [], [], []
                for cells, cmask in self._cell_batches(epoch):
                    src, cl = self.train, cells
                    if is_lazy(self.train):  # streaming: read this minibatch's forcing only
                        src = materialise(self.train, cells, self.options, read=self._local_positions())
                        cl = np.arange(len(cells))
                    b = self._put(self._batch(src, cl, pos=cells, cmask=cmask))
                    use_init = self.layout.learn_initial_sm
                    if not use_init:
                        _, params, extra = self._params_of(learner, b)
                        st = self.runner.initial_state(b["initial"], params, None)
                        forcing = self._put({k: (v[:, cl] if v.ndim == 2 else v)
                                             for k, v in src.forcing.items()})
                        st = self.runner.spinup(st, forcing, params, b["lat"], self.W, self.spin_steps,
                                                cfg.optim.spinup_cycles)
                    else:
                        st = None
                    for w in range(self.n_win):
                        win, _ = self._window(src, cl, w)
                        win = self._put(win)
                        use_i = use_init and w == 0
                        # the model's first step follows init_state only without spin-up, in window 0
                        first = w == 0 and (use_init or self.spin_steps == 0)
                        new = self._train_step(learner, opt_state, st, b, win, use_i, first)
                        learner2, opt_state2, st2, loss, data, pen, gnorm, finite = new
                        if not bool(finite):
                            if self._can_skip(loss, st2):
                                bad = self._bad_cells(learner, st, b, win, first)
                                skips.append({"epoch": epoch, "window": w, "step": int(w * self.W),
                                              "cells": [_json_default(self.train.cell_ids[cells[c]])
                                                        for c in bad]})
                                learner2, opt_state2 = learner, opt_state  # update skipped, state carried
                            else:
                                self._diagnose(learner, st, b, win, w, cells, epoch, use_i, first)
                        learner, opt_state, st = learner2, opt_state2, st2
                        losses.append(float(loss)), datas.append(float(data)), pens.append(float(pen))
                        if np.isfinite(float(gnorm)):
                            gnorms.append(float(gnorm))
                        advance()
                rec = {"epoch": epoch, "train_loss": float(np.mean(losses)), "train_data_loss": float(np.mean(datas)),
                       "train_penalty": float(np.mean(pens)), "grad_norm": float(np.mean(gnorms)),
                       "n_steps": len(losses), "skipped_steps": len(skips)}
                if skips:
                    state.setdefault("nan_skips", []).extend(skips)
                rec.update(self.validate(learner))
                improved = False
                if validating and cfg.optim.monitor in rec:
                    val = rec[cfg.optim.monitor]
                    if state["best_value"] is None or (np.isfinite(val) and val < state["best_value"] - cfg.optim.min_delta):
                        state["best_value"], state["best_epoch"], state["bad_epochs"] = float(val), epoch, 0
                        best, improved = learner, True
                    else:
                        state["bad_epochs"] += 1
                    if state["bad_epochs"] >= cfg.optim.patience:
                        state["stopped"] = True
                else:
                    best = learner
                    state["best_epoch"] = epoch
                rec["best"] = bool(improved) if validating else True
                rec["seconds"] = round(_time.time() - t0, 3)
                history.append(rec)
                state["epoch"] = epoch
                state["history"] = history
                if ckdir is not None and is_main_process():
                    self._save(ckdir, epoch, learner, opt_state, best, state)
                    self._write_metrics(history)
                if on_epoch_end is not None:
                    on_epoch_end(epoch, rec)
                if state["stopped"]:
                    break
        self.state = state
        return (best if validating else learner), history

    def _save(self, ckdir: Path, epoch, learner, opt_state, best, state):
        name = f"epoch_{epoch:04d}"
        atomic_write_bytes(ckdir / f"{name}.eqx", _serialise((learner, opt_state, best)))
        atomic_write_text(ckdir / f"{name}.json", json.dumps(state, indent=1, default=_json_default))
        atomic_write_text(ckdir / "latest.json", json.dumps({"epoch": epoch, "file": f"{name}.eqx",
                                                             "meta": f"{name}.json"}))
        keep = self.cfg.optim.keep_checkpoints
        olds = sorted(ckdir.glob("epoch_*.eqx"))[:-keep]
        for p in olds:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                p.with_suffix(".json").unlink()

    def _write_metrics(self, history):
        cols = ["epoch", "train_loss", "train_data_loss", "train_penalty", "val_loss", "val_rmse", "grad_norm",
                "n_steps", "skipped_steps", "best", "seconds"]
        import io

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in history:
            w.writerow({c: r.get(c, "") for c in cols})
        atomic_write_text(self.run_dir / "metrics.csv", buf.getvalue())


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


@contextlib.contextmanager
def _progress(enabled: bool, total: int):
    if not enabled or total <= 0:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as prog:
        task = prog.add_task("train", total=total)
        yield lambda: prog.advance(task)
