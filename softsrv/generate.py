"""SoftSRV generation at scale: N items from a trained generator, in resumable chunks, split over processes.

`generate(config, workdir)` loads the trained generator (`softsrv.generator.Generator`: theta, E's cached z, H) and
runs it over items 0..N-1 (N = `generate.num_samples`; the paper generates 100K) with `datasynth.jobs.chunked.run`:
chunks of `generate.chunk` items, each one JSON Lines file `chunk-XXXXX.jsonl` written atomically when complete, under
`<workdir>/generated/` with a manifest pinned to the generator's fingerprint. So a run killed at any point (kill -9)
and restarted with the same command makes only the absent chunks: no item is duplicated or lost, host memory holds one
chunk, and as item j's sample depends only on (seed, j), the files are byte-identical to an uninterrupted run's,
whatever the batch size or number of processes (process p of P makes the chunks c with c % P == p). Read the output
back with `datasynth.jobs.chunked.read_rows(out_dir)`.
"""
from __future__ import annotations

import os

import jax
import ml_collections

from datasynth.jobs import chunked
from datasynth.utils import lock
from datasynth.models.loaders import LoadedModel
from softsrv.generator import Generator


def default_out_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), "generated")


def generate(config: ml_collections.ConfigDict, workdir: str, out_dir: str | None = None, *,
             model: LoadedModel | None = None, context_model: LoadedModel | None = None,
             process_index: int | None = None, process_count: int | None = None) -> chunked.Stats:
  """Make this process's absent chunks of `generate.num_samples` items; returns the stats (`Stats.line()`).

  The output folder is locked before the models load, so a second process on it is refused at once."""
  pi = jax.process_index() if process_index is None else process_index
  pc = jax.process_count() if process_count is None else process_count
  out_dir = out_dir or default_out_dir(workdir)
  with lock.hold(out_dir, process_index=pi, process_count=pc):
    gen = Generator.load(config, workdir, model=model, context_model=context_model)
    plan = chunked.Plan(config.generate.num_samples, config.generate.chunk, gen.fingerprint())
    return chunked.run(out_dir, plan, gen.make_rows, process_index=pi, process_count=pc,
                       progress=config.show_progress, desc=f"softsrv-{gen.variant} generate")
