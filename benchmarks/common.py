"""Shared benchmark helpers: the machine's measured matmul peak and bandwidth, the PyTorch reference model, peak
memory, and table printing."""
from __future__ import annotations

import os
import resource
import threading
import time

import numpy as np

from datasynth.models.loaders import resolve


def matmul_peak_flops(sizes: tuple[int, ...] = (512, 1024, 2048), repeats: int = 7) -> float:
  """The machine's float32 matmul FLOP/s: the best n x n matmul rate over a few sizes, of numpy (BLAS) and of XLA
  (jitted jnp.dot). On a shared VM single timings vary by 2x; the best of many is the stable 'peak' denominator.
  """
  import jax
  import jax.numpy as jnp
  xla_dot = jax.jit(jnp.dot)
  best = 0.0
  for n in sizes:
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    xa, xb = jnp.asarray(a), jnp.asarray(b)
    xla_dot(xa, xb).block_until_ready()
    a @ b
    sec = min(best_time(lambda: a @ b, repeats), best_time(lambda: xla_dot(xa, xb).block_until_ready(), repeats))
    best = max(best, 2 * n ** 3 / sec)
  return best


def on_gpu() -> bool:
  """Whether JAX runs on a GPU: then PyTorch's side runs on it too (`torch_device`) and the ceilings are the GPU's."""
  import jax
  return jax.devices()[0].platform == "gpu"


def gpu_matmul_peak_flops(dtype: str, n: int = 8192, repeats: int = 10) -> float:
  """The GPU's measured dense matmul FLOP/s in `dtype` (XLA, n x n x n, random data): the MFU denominator there."""
  import jax
  import jax.numpy as jnp
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.dtype(dtype))
  b = jax.random.normal(jax.random.key(1), (n, n), jnp.dtype(dtype))
  dot = jax.jit(jnp.dot)
  dot(a, b).block_until_ready()
  return 2 * n ** 3 / best_time(lambda: dot(a, b).block_until_ready(), repeats)


def copy_bandwidth(mb: int = 256, repeats: int = 5) -> float:
  """Bytes/s moved by a large copy (read + write): the denominator of 'fraction of bandwidth'. On a GPU, a 2 GiB
  device-to-device copy under XLA; else a numpy copy."""
  if on_gpu():
    import jax
    import jax.numpy as jnp
    x = jnp.ones(2 ** 29, jnp.float32)
    copy = jax.jit(lambda v: v + 1)
    copy(x).block_until_ready()
    return 2 * x.nbytes / best_time(lambda: copy(x).block_until_ready(), repeats)
  src = np.ones(mb * 2 ** 20 // 4, np.float32)
  dst = np.empty_like(src)
  np.copyto(dst, src)
  return 2 * src.nbytes / best_time(lambda: np.copyto(dst, src), repeats)


def machine_header(threads: int, dtype: str = "float32") -> float:
  """Set torch's thread count, measure the matmul peak, print one line about the machine; returns the peak: on a
  CPU the float32 peak whatever `dtype`, on a GPU the `dtype` one (there XLA's default precision runs "float32"
  matmuls as TF32; the H200's figures are in benchmarks/README.md)."""
  import jax
  import torch
  torch.set_num_threads(threads)
  if on_gpu():
    peak = gpu_matmul_peak_flops(dtype)
    print(f"machine: {jax.devices()[0].device_kind}, {dtype} matmul peak {peak / 1e12:.1f} TFLOP/s (XLA, 8192^3); "
          f"jax {jax.__version__}; torch {torch.__version__} on {torch_device()}", flush=True)
    return peak
  peak = matmul_peak_flops()
  print(f"machine: float32 matmul peak {peak / 1e9:.1f} GFLOP/s (best of numpy and XLA), {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}; jax {jax.__version__} on {jax.devices()[0].platform}; "
        f"torch {torch.__version__} with {threads} threads", flush=True)
  return peak


def load_torch_reference(name: str, dtype: str = "float32"):
  """The `transformers` PyTorch model (eval mode, in `dtype`) loaded from the same GGUF file as our preset `name`."""
  import torch
  from transformers import AutoModelForCausalLM

  path = resolve(name)
  model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path),
                                               dtype=torch.float32)
  return model.to(device=torch_device(), dtype=getattr(torch, dtype)).eval()


def torch_device() -> str:
  """PyTorch's side runs where JAX's does: "cuda" when JAX is on a GPU (and torch sees one), else "cpu"."""
  import torch
  return "cuda" if on_gpu() and torch.cuda.is_available() else "cpu"


def torch_sync() -> None:
  """Wait for PyTorch's queued GPU work (timers around CUDA calls must), a no-op on CPU."""
  import torch
  if torch_device() == "cuda":
    torch.cuda.synchronize()


def peak_rss_gb() -> float:
  """Peak resident memory of this process so far, in GB (Linux reports KB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


class PeakRSS:
  """Peak resident set size (bytes) of this process while the context is open (polled every 10 ms); `delta` is the
  peak above the RSS at entry (memory the block added, as the OS sees it, numpy and native buffers included)."""

  def __enter__(self):
    self.start = self.peak = _rss()
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._poll, daemon=True)
    self._thread.start()
    return self

  def _poll(self):
    while not self._stop.wait(0.01):
      self.peak = max(self.peak, _rss())

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()
    self.peak = max(self.peak, _rss())

  @property
  def delta(self) -> int:
    return self.peak - self.start


def _rss() -> int:
  with open("/proc/self/statm") as f:
    return int(f.read().split()[1]) * resource.getpagesize()


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
