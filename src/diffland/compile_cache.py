"""JAX's persistent compilation cache for long jobs that compile the same programs more than once.

A training program of the differentiable physics takes 50-100 s to compile on a 2-core CPU. The
experiment matrix trains several runs whose programs are identical up to their inputs (the loss kind
is an input, see :func:`diffland.learning.losses.compute_loss_switch`); with the persistent cache the
later runs load the compiled program from disk instead of compiling it again. The cache is keyed by
JAX on the program text, the compile options and the devices, so a hit is the same program.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

__all__ = ["CacheUse", "default_cache_dir", "persistent_compile_cache"]


def default_cache_dir() -> Path:
    """``jax`` in diffland's cache (``$DIFFLAND_CACHE``, else ``~/.cache/diffland``)."""
    from diffland.learning.conus import cache_dir

    return cache_dir() / "jax"


class CacheUse:
    """Where the cache is, how many compilations in the block were served from it (``hits``) and the
    compile time that saved (``saved_s``, JAX's figure: the recorded compile time less the load time)."""

    def __init__(self, path: Path):
        self.path, self.hits, self.saved_s = path, 0, 0.0

    def _listen(self, event: str, **kwargs) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            self.hits += 1

    def _listen_duration(self, event: str, duration: float, **kwargs) -> None:
        if event == "/jax/compilation_cache/compile_time_saved_sec":
            self.saved_s += float(duration)


@contextlib.contextmanager
def persistent_compile_cache(path=None, min_compile_seconds: float = 10.0):
    """Within the block, compiled programs that took at least ``min_compile_seconds`` are written to
    ``path`` (default :func:`default_cache_dir`) and read back from there by later compilations.

    A cache directory the user configured already (``JAX_COMPILATION_CACHE_DIR`` or
    ``jax.config.update("jax_compilation_cache_dir", ...)``) is used as it is. The previous settings are
    restored on exit. Yields a :class:`CacheUse` (``path``, ``hits``).
    """
    import jax
    import jax.monitoring
    from jax.experimental.compilation_cache import compilation_cache as cc

    configured = jax.config.jax_compilation_cache_dir
    use = CacheUse(Path(configured) if configured else Path(path) if path is not None else default_cache_dir())
    jax.monitoring.register_event_listener(use._listen)
    jax.monitoring.register_event_duration_secs_listener(use._listen_duration)
    old_min = jax.config.jax_persistent_cache_min_compile_time_secs
    if not configured:
        use.path.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(use.path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds))
        cc.reset_cache()  # JAX decides once per process whether the cache is used; decide again now
    try:
        yield use
    finally:
        jax.monitoring.unregister_event_listener(use._listen)
        jax.monitoring.unregister_event_duration_listener(use._listen_duration)
        if not configured:
            jax.config.update("jax_compilation_cache_dir", None)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", old_min)
            cc.reset_cache()
