"""Shared benchmark helpers: the machine's measured matmul peak, peak memory, and table printing."""
from __future__ import annotations

import resource
import time

import numpy as np


def matmul_peak_flops(n: int = 1024, repeats: int = 5) -> float:
  """Best float32 FLOP/s of an n x n numpy matmul on this machine (the denominator of 'fraction of peak')."""
  a = np.random.rand(n, n).astype(np.float32)
  b = np.random.rand(n, n).astype(np.float32)
  a @ b
  best = float("inf")
  for _ in range(repeats):
    t = time.perf_counter()
    a @ b
    best = min(best, time.perf_counter() - t)
  return 2 * n ** 3 / best


def peak_rss_gb() -> float:
  """Peak resident memory of this process so far, in GB (Linux reports KB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def best_time(fn, repeats: int) -> float:
  """Best wall time of `fn()` over `repeats` calls (after the caller's warm-up)."""
  best = float("inf")
  for _ in range(repeats):
    t = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - t)
  return best


def print_table(header: list[str], rows: list[list]) -> None:
  cells = [header] + [[f"{c:.3g}" if isinstance(c, float) else str(c) for c in r] for r in rows]
  widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
  for n, r in enumerate(cells):
    print(" | ".join(c.rjust(w) for c, w in zip(r, widths)))
    if n == 0:
      print("-+-".join("-" * w for w in widths))
