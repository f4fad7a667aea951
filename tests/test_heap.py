"""diffland.heap: the C heap is trimmed after long XLA compiles (and only then)."""
import sys

import jax.monitoring
import pytest

import diffland  # noqa: F401  (registers the listener)
from diffland import heap

glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or heap._malloc_trim() is None,
                           reason="needs glibc's malloc_trim")


@glibc
def test_listener_trims_after_long_compiles_only(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "release_free_heap", lambda: calls.append(1) or True)
    assert heap.trim_after_compiles()  # already registered by ``import diffland``: idempotent
    jax.monitoring.record_event_duration_secs(heap.BACKEND_COMPILE_EVENT, 0.05)
    assert calls == []  # a small program: no trim
    jax.monitoring.record_event_duration_secs("/jax/some/other_event", 30.0)
    assert calls == []  # not a compile
    jax.monitoring.record_event_duration_secs(heap.BACKEND_COMPILE_EVENT, 2.5)
    assert calls == [1]  # exactly one listener, called once


@glibc
def test_release_free_heap_returns_freed_pages():
    blocks = [bytearray(1 << 16) for _ in range(2000)]  # 128 MB of 64 kB heap blocks
    del blocks[::2]  # free every other one: holes the allocator cannot give back by itself
    assert heap.release_free_heap() is True  # glibc reports that it released memory
    assert len(blocks) == 1000


def test_opt_out(monkeypatch):
    monkeypatch.setenv("DIFFLAND_NO_MALLOC_TRIM", "1")
    monkeypatch.setattr(heap, "_registered", False)
    assert heap.trim_after_compiles() is False
