"""Data parallelism over the cell axis with ``jax.sharding``.

Noah-MP columns are independent, so the cell axis (the last axis of every per-cell array)
can be split across devices with no communication inside the physics. ``cell_mesh`` builds
a 1-D mesh over the available devices (GPUs, or CPU "devices" made with
``XLA_FLAGS=--xla_force_host_platform_device_count=N``); ``shard_cells`` places a pytree so
that its last axis is split over the mesh and every other axis is replicated. Jitted
functions of sharded inputs then run in parallel (GSPMD); reductions over cells (losses)
become cross-device all-reduces automatically.

Several processes (hosts): :func:`init_distributed` (``jax.distributed.initialize``) first, in every
process; ``jax.devices()`` then lists the devices of all of them and the same code shards over all.
Every process holds the same host copy of a minibatch and places only its own devices' blocks
(:func:`put_global`); results spread over processes come back with :func:`to_host`; only the first
process writes files (:func:`is_main_process`).
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

AXIS = "cells"


def cell_mesh(devices=None) -> Mesh:
    """A 1-D mesh named ``cells`` over ``devices`` (default: all devices)."""
    devs = np.asarray(devices if devices is not None else jax.devices())
    return Mesh(devs.reshape(-1), (AXIS,))


def cell_sharding(ndim: int, mesh: Mesh) -> NamedSharding:
    """Sharding that splits the last of ``ndim`` axes over the mesh (scalars replicated)."""
    if ndim == 0:
        return NamedSharding(mesh, P())
    return NamedSharding(mesh, P(*([None] * (ndim - 1) + [AXIS])))


def put_global(a, sharding: NamedSharding):
    """``a`` placed with ``sharding``, also when the mesh spans several processes (hosts).

    With ``jax.distributed`` every process holds the same host copy of the data (the same minibatch,
    drawn from the same seed) and supplies only its own devices' blocks of it
    (``jax.make_array_from_callback``): nothing is sent between processes. ``jax.device_put`` would
    instead compare the whole array across processes first, and fails on data holding NaN (masked
    observations), since NaN differs from itself. Arrays already spread over several processes are
    resharded with ``jax.device_put``.
    """
    if jax.process_count() == 1 or (isinstance(a, jax.Array) and not a.is_fully_addressable):
        return jax.device_put(a, sharding)
    host = np.asarray(a)
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])


def init_distributed(coordinator: str | None = None, num_processes: int | None = None,
                     process_id: int | None = None) -> None:
    """Join a multi-process (multi-host) run: ``jax.distributed.initialize``, before any other JAX call.

    On a cluster JAX detects the three values itself (SLURM, Open MPI, ...); give them to start the
    processes by hand, e.g. two processes on one machine::

        diffland train --config c.yaml --coordinator localhost:12345 --num-processes 2 --process-id 0 &
        diffland train --config c.yaml --coordinator localhost:12345 --num-processes 2 --process-id 1

    Afterwards ``jax.devices()`` lists the devices of every process, ``cell_mesh()`` spans them all,
    and each process feeds its own devices' cells (:func:`put_global`).
    """
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id)


def is_main_process() -> bool:
    """True on the process that writes a run's files (the first one; the only one without
    ``jax.distributed``). The other processes compute the same steps and write nothing."""
    return jax.process_index() == 0


def to_host(a) -> np.ndarray:
    """``a`` as a NumPy array on this process, gathered from every process when it is spread over
    several (``jax.distributed``). Every process must make the same calls in the same order (a gather
    is a collective operation), as they do when they all run the same training script."""
    if isinstance(a, jax.Array) and not a.is_fully_addressable and not a.is_fully_replicated:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(a, tiled=True))
    return np.asarray(a)


def shard_cells(tree, mesh: Mesh, ncells: int | None = None):
    """Place every array of ``tree`` with its last axis split over ``mesh``.

    Arrays whose last axis is not the cell axis (e.g. per-step scalars such as JULIAN of
    shape (time,)) are replicated when ``ncells`` is given and does not match.
    The number of cells must be divisible by the number of devices.
    """
    n = mesh.devices.size

    def put(a):
        a = jax.numpy.asarray(a)
        is_cell = a.ndim > 0 and (ncells is None or a.shape[-1] == ncells)
        if is_cell and a.shape[-1] % n:
            raise ValueError(f"{a.shape[-1]} cells cannot be split evenly over {n} devices; "
                             "pad the cell axis to a multiple of the device count")
        return put_global(a, cell_sharding(a.ndim if is_cell else 0, mesh) if is_cell
                          else NamedSharding(mesh, P()))

    return jax.tree_util.tree_map(put, tree)


def _shard_map():
    f = getattr(jax, "shard_map", None)
    if f is None:  # JAX < 0.6
        from jax.experimental.shard_map import shard_map as f
    return f


def map_cells(fn, mesh: Mesh, ncells: int, per_step: tuple = ()):
    """``fn`` run on each device's own block of cells (``shard_map``), with no communication.

    ``fn(*args)`` must treat cells independently. In ``args``, arrays whose last axis has
    ``ncells`` entries are split over ``mesh`` along it; every other array (per-step scalars such
    as JULIAN) is replicated. Every output must have the cell axis last; it comes back split.

    Under plain ``jax.jit`` of sharded inputs (GSPMD) the early-exit tests of the iterative
    solvers (``jnp.all(done)`` before each canopy iteration and Richards sub-step) are reductions
    over all cells, so every device waits for the others at each test. Inside ``map_cells`` each
    device tests and skips its own cells' idle iterations. The values are the same; the forward
    pass of 10 000 cells on 2 CPU devices runs about 1.4x faster (``BENCHMARKS.md``).

    Like :func:`shard_cells`, the cell axis is recognised by its length. ``per_step`` lists the
    positions of time-major arguments (a forcing dict of (time, cells) arrays and per-step
    (time,) arrays such as JULIAN): their 1-d arrays are always replicated, so a window with as
    many steps as there are cells is not split by mistake.
    """
    def spec(a, time_major=False):
        ndim = jax.numpy.ndim(a)
        cell = ndim > 0 and a.shape[-1] == ncells and not (time_major and ndim == 1)
        return cell_sharding(ndim if cell else 0, mesh).spec

    def wrapped(*args):
        in_specs = tuple(jax.tree_util.tree_map(lambda a, tm=(i in per_step): spec(a, tm), arg)
                         for i, arg in enumerate(args))
        out_shapes = jax.eval_shape(fn, *args)
        for leaf in jax.tree_util.tree_leaves(out_shapes):
            if leaf.ndim == 0 or leaf.shape[-1] != ncells:
                raise ValueError(f"map_cells: every output of {getattr(fn, '__name__', fn)} must have the "
                                 f"cell axis ({ncells}) last; got an output of shape {leaf.shape}")
        out_specs = jax.tree_util.tree_map(spec, out_shapes)
        return _shard_map()(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs)(*args)

    return wrapped
