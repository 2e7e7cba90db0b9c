"""datasynth.jobs.compiled: releasing compiled programs gives their memory maps back; the persistent cache is scoped."""
import sys

import jax
import jax.numpy as jnp
import pytest

from datasynth.jobs import compiled


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="memory maps are read from /proc")
def test_release_gives_back_the_memory_maps_of_compiled_programs():
  compiled.release()
  start = compiled.memory_maps()
  fns = [jax.jit(lambda x, i=i: jnp.sin(x) * i + jnp.cos(x).sum()) for i in range(60)]
  for i, f in enumerate(fns):
    f(jnp.ones((i % 5 + 2, 3))).block_until_ready()
  grown = compiled.memory_maps()
  assert grown - start > 200, (start, grown)  # Each executable holds maps of its own: what piles up to the cap.
  compiled.release()
  released = compiled.memory_maps()
  assert released - start < (grown - start) / 4, (start, grown, released)
  # The jitted functions still work (they recompile), with the same result.
  assert float(fns[3](jnp.ones((2, 3))).sum()) == pytest.approx(float((jnp.sin(1.0) * 3 + jnp.cos(1.0) * 6) * 6),
                                                                rel=1e-5)


def test_the_persistent_cache_is_the_jobs_only_while_it_runs(tmp_path):
  before = jax.config.jax_compilation_cache_dir
  with compiled.persistent_cache(str(tmp_path / "jax_cache")):
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "jax_cache")
  assert jax.config.jax_compilation_cache_dir == before
  with compiled.persistent_cache(None):  # compilation_cache=False: nothing is touched.
    assert jax.config.jax_compilation_cache_dir == before
