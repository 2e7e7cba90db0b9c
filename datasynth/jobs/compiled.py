"""The process's compiled XLA programs: a persistent cache scoped to one job, and releasing them between jobs.

Why release: every executable XLA:CPU compiles keeps its own memory maps (code and constants, times the host devices
it is loaded on), and Linux caps a process at `vm.max_map_count` maps (65,530 by default). A long process that
compiles without end, a multi-stage pipeline or the test suite, reaches the cap and then dies inside
`backend_compile_and_load` with a segfault or an abort, not a Python error; the test suite, run without releases,
reaches the cap part-way (benchmarks/README.md has the counts). `jax.clear_caches()` drops every jit cache (the
jitted functions stay usable and recompile on their next call), which unmaps those programs.
"""
from __future__ import annotations

import contextlib
import gc
import sys


def release() -> None:
  """Drop every compiled program of this process (a no-op before JAX is imported)."""
  jax = sys.modules.get("jax")
  if jax is None:
    return
  jax.clear_caches()
  gc.collect()


def memory_maps() -> int:
  """How many memory maps this process holds (Linux; -1 elsewhere): what `vm.max_map_count` caps."""
  try:
    with open("/proc/self/maps") as f:
      return sum(1 for _ in f)
  except OSError:
    return -1


@contextlib.contextmanager
def persistent_cache(folder: str | None):
  """JAX's persistent compilation cache in `folder` while the job runs (a job that rebuilds the same programs then
  loads them from disk); afterwards the process's previous setting is back (and the cache object is reset), so a
  later job in the same process (a notebook, the tests) does not keep writing into this job's folder. None: nothing
  is touched."""
  if folder is None:
    yield
    return
  import jax
  from jax.experimental.compilation_cache import compilation_cache as cache_lib
  previous = jax.config.jax_compilation_cache_dir
  jax.config.update("jax_compilation_cache_dir", folder)
  try:
    yield
  finally:
    jax.config.update("jax_compilation_cache_dir", previous)
    cache_lib.reset_cache()
