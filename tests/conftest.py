"""Shared fixtures: where the real data lives, and a Bondville case loader."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BONDVILLE_DAT = SHARED / "hrldas_single_point" / "single_point" / "bondville_1998.dat"
REFERENCE = SHARED / "noahmp_reference"


def need(path: Path):
    if not path.exists():
        pytest.skip(f"real data not found at {path} (../shared/data is absent)")
    return path


@pytest.fixture(scope="session")
def bondville():
    """The Bondville 1998 case: (time, forcing (time,1), site, initial, params-builder)."""
    need(BONDVILLE_DAT)
    from diffland.runner import load_case

    time, f, site, initial, soil_dz = load_case(BONDVILLE_DAT)
    return {"time": time, "forcing": f, "site": site, "initial": initial, "soil_dz": soil_dz}


def bondville_params(site, ncell=1, dtype=np.float64, **kw):
    from diffland.parameters import build_params, default_table

    return build_params(soil_class=np.full(ncell, site["soil_class"]), veg_class=np.full(ncell, site["veg_class"]),
                        table=default_table(), shdmax=np.full(ncell, float(site["SHDMAX"])),
                        tbot=np.full(ncell, float(site["TBOT"])), dtype=dtype, **kw)


@pytest.fixture(scope="module")
def x64_module():
    """Enable float64 for one test module and restore the previous setting afterwards."""
    import jax

    old = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


def _session_cache_dir(factory) -> Path:
    """One directory for the whole test session, shared by the pytest-xdist workers (their base
    temporary directories are ``popen-gwN`` inside the controller's)."""
    base = factory.getbasetemp()
    return (base.parent if base.name.startswith("popen-gw") else base) / "jax-cache"


@pytest.fixture(scope="session", autouse=True)
def jax_cache_dir(tmp_path_factory):
    """JAX's persistent compilation cache (``persistent_compile_cache``), shared by all tests of this
    session and no other run.

    A program compiled in one test (or by the other worker) is loaded from disk by the next that
    compiles it: mostly the training programs, which every ``api.train`` call compiles anew (the
    learning tests, the CONUS and paper runs). Programs that took under 2 s to compile are not
    written. Each worker records its hits in ``stats-<pid>.json``, summed in the terminal summary.
    """
    import json
    import os

    from diffland.compile_cache import persistent_compile_cache

    path = _session_cache_dir(tmp_path_factory)
    path.mkdir(parents=True, exist_ok=True)
    with persistent_compile_cache(path, min_compile_seconds=2.0) as use:  # a JAX_COMPILATION_CACHE_DIR wins
        yield use.path
    (path / f"stats-{os.getpid()}.json").write_text(json.dumps({"hits": use.hits, "saved_s": use.saved_s}))


def pytest_terminal_summary(terminalreporter, config):
    """How much compile time the session's shared compilation cache saved."""
    import json

    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        return
    path = _session_cache_dir(factory)
    files = list(path.glob("stats-*.json")) if path.exists() else []
    if files:
        st = [json.loads(f.read_text()) for f in files]
        terminalreporter.write_line(f"JAX compilation cache (this session): {sum(s['hits'] for s in st)} programs "
                                    f"loaded instead of compiled, {sum(s['saved_s'] for s in st):.0f} s saved")


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module.

    A pytest-xdist worker runs many modules in one process; XLA's CPU JIT keeps memory mappings
    for every program it has compiled. A worker had about 30 000 mappings half-way through the
    suite, and two full-suite runs had a worker abort inside XLA compilation, consistent with
    reaching the kernel's vm.max_map_count (65 530). Clearing the caches between modules
    keeps a worker's footprint to one module's programs.
    """
    yield
    import gc

    import jax

    jax.clear_caches()
    gc.collect()


# Test modules measured slowest (seconds of test time, full suite on 2 cores, 2026-12-07 14:42), slowest first.
# pytest-xdist (--dist loadfile) hands modules to workers in collection order, two at a time, and the next
# one to whichever worker frees up first; starting with the longest modules (longest-processing-time-first)
# keeps one worker from running a long module alone at the end while the other idles. pytest-xdist 3.x
# reorders the modules by their number of tests unless --no-loadscope-reorder is given (the Makefile gives
# it): without it the paper experiment (one test, ~390 s) was handed out last, at 98 % of the suite.
SLOW_MODULES = ("test_experiment_paper.py", "test_model_run.py", "test_parallel.py", "test_gradients.py",
                "test_learning_conus.py", "test_bondville_calibration.py", "test_energy_flux.py",
                "test_compaction.py", "test_conservation.py", "test_learning_sharded.py",
                "test_learning_variants.py", "test_bench.py", "test_learning_resume.py")


def pytest_collection_modifyitems(config, items):
    """Run the slowest modules first (stable: the order within a module and of the others is unchanged)."""
    rank = {name: i for i, name in enumerate(SLOW_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_MODULES)))
