"""Hand the C heap's free pages back to the operating system after XLA builds a program.

Compiling a program with XLA, or loading one from JAX's persistent compilation cache, allocates
and frees a large amount of C heap. glibc's allocator keeps the freed pages mapped, so the
process stays as large as it was at the height of the compile: loading the gradient program of
412 cells x 2190 steps (chunk 47) left 1 460 MB resident, of which ``malloc_trim(0)`` returned
510 MB; the two gradient evaluations that followed peaked at 1 022 MB instead of 1 525 MB
(BENCHMARKS.md, "Process memory after a compile").

``trim_after_compiles()`` registers a JAX monitoring listener that calls ``malloc_trim(0)`` when
XLA finishes a compile or a cache load that took at least ``min_seconds`` (small programs do not
leave much behind, and a trim walks the whole heap). ``import diffland`` registers it once; set
``DIFFLAND_NO_MALLOC_TRIM=1`` to leave the allocator alone. Where the C library is not glibc
(macOS, musl) nothing happens.
"""
from __future__ import annotations

import ctypes
import os

BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"  # compile or cache load

_registered = False
_trim = None


def _malloc_trim():
    """glibc's ``malloc_trim`` or None where the C library has none (``libc.so.6`` is glibc's name)."""
    global _trim
    if _trim is None:
        try:
            libc = ctypes.CDLL("libc.so.6")
            fn = libc.malloc_trim
            fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
            _trim = fn
        except (OSError, AttributeError):
            _trim = False
    return _trim or None


def release_free_heap() -> bool:
    """Return the C heap's free pages to the operating system (glibc ``malloc_trim(0)``).

    Returns:
        True if glibc released memory, False if there was none to release or the C library has
        no ``malloc_trim``.
    """
    fn = _malloc_trim()
    return bool(fn(0)) if fn is not None else False


def trim_after_compiles(min_seconds: float = 1.0) -> bool:
    """Call ``release_free_heap`` after every XLA compile or cache load of ``min_seconds`` or more.

    Idempotent; returns whether the listener is registered (False when disabled by
    ``DIFFLAND_NO_MALLOC_TRIM=1`` or without glibc).
    """
    global _registered
    if _registered:
        return True
    if os.environ.get("DIFFLAND_NO_MALLOC_TRIM", "") not in ("", "0") or _malloc_trim() is None:
        return False
    import jax.monitoring

    def listener(event: str, duration_secs: float, **kwargs) -> None:
        if event == BACKEND_COMPILE_EVENT and duration_secs >= min_seconds:
            release_free_heap()

    jax.monitoring.register_event_duration_secs_listener(listener)
    _registered = True
    return True
