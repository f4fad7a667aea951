"""``diffland.compile_cache.persistent_compile_cache``: where it writes, that a second compilation of the
same program is loaded from disk, and that it restores JAX's settings."""
import jax
import jax.numpy as jnp
import pytest
from jax.experimental.compilation_cache import compilation_cache as cc

from diffland.compile_cache import persistent_compile_cache


@pytest.fixture
def no_configured_cache():
    """Unset the test session's shared cache (conftest) for one test, and restore it."""
    old = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", None)
    cc.reset_cache()
    yield
    jax.config.update("jax_compilation_cache_dir", old)
    cc.reset_cache()


def _program(x):
    return jnp.sin(x) * 3.0 + jnp.cumsum(x)


def test_default_dir_written_then_loaded_and_settings_restored(tmp_path, monkeypatch, no_configured_cache):
    monkeypatch.setenv("DIFFLAND_CACHE", str(tmp_path / "c"))
    old_min = jax.config.jax_persistent_cache_min_compile_time_secs
    x = jnp.arange(7.0)
    with persistent_compile_cache(min_compile_seconds=0) as use:
        assert use.path == tmp_path / "c" / "jax"
        assert jax.config.jax_compilation_cache_dir == str(use.path)
        jax.jit(_program)(x).block_until_ready()
        written = [p for p in use.path.rglob("*") if p.is_file()]
        assert written, "the compiled program was not written"
        assert use.hits == 0
        jax.clear_caches()  # drop the in-memory copy: the next call compiles again, from disk
        jax.jit(_program)(x).block_until_ready()
        assert use.hits == 1
    assert jax.config.jax_compilation_cache_dir is None
    assert jax.config.jax_persistent_cache_min_compile_time_secs == old_min


def test_a_configured_cache_is_used_as_it_is(tmp_path, monkeypatch, jax_cache_dir):
    monkeypatch.setenv("DIFFLAND_CACHE", str(tmp_path / "c"))
    with persistent_compile_cache() as use:
        assert use.path == jax_cache_dir
    assert jax.config.jax_compilation_cache_dir == str(jax_cache_dir)
    assert not (tmp_path / "c").exists()
