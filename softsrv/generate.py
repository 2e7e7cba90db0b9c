"""Sample new examples from a trained SoftSRV generator: x_new ~ H(P_theta(E(x_i))), i cycling over the train set.

Generation feeds the frozen H the layout it was trained on, `[P_theta(z_i)] [BOS]`, and samples until EOS (or the
token budget). Item j uses training example i = j mod n as its context, as in the paper. Work is split by process
(`datasynth.sharding.shard_for_process`): each process writes its own JSON Lines shard
`samples-<process>-of-<count>.jsonl` under a temporary name and renames it when complete, so concatenating the shards
in process order gives items 0..N-1 and a crash never leaves a shard that looks whole.
"""
from __future__ import annotations

import os

import jax
import ml_collections
import numpy as np

from datasynth import sharding, training
from datasynth.data import write_jsonl
from datasynth.models.loaders import LoadedModel
from datasynth.sampling import sample_text
from softsrv import train as train_lib


def shard_path(out_dir: str, process_index: int, process_count: int) -> str:
  return os.path.join(out_dir, f"samples-{process_index:05d}-of-{process_count:05d}.jsonl")


def generate(config: ml_collections.ConfigDict, workdir: str, out_dir: str | None = None, *,
             model: LoadedModel | None = None, context_model: LoadedModel | None = None,
             process_index: int | None = None, process_count: int | None = None) -> str:
  """Generate this process's block of `config.generate.num_samples` items; returns the shard's path."""
  workdir = os.path.abspath(workdir)
  run = train_lib.prepare(config, workdir, model=model, context_model=context_model)
  ckpt = training.Checkpointer(workdir, run.identity, save_every=config.checkpoint.save_every,
                               keep=config.checkpoint.keep)
  if ckpt.latest_step() is None:
    raise FileNotFoundError(f"No trained SoftSRV checkpoint in {workdir}; train first with "
                            "`python launch/train.py --config=... --workdir=<the same dir>`.")
  state = ckpt.restore(run.init_state())
  ckpt.close()

  g = config.generate
  pi = jax.process_index() if process_index is None else process_index
  pc = jax.process_count() if process_count is None else process_count
  items = sharding.shard_for_process(g.num_samples, pi, pc)
  n_train = len(run.train["z"])
  prompt_fn = jax.jit(lambda theta, z: run.module.apply({"params": theta}, z))
  config_hash = training.config_hash(run.identity)
  rows = []
  for lo in range(items.start, items.stop, g.chunk):
    block = range(lo, min(lo + g.chunk, items.stop))
    source = np.array([j % n_train for j in block])
    prefixes = np.asarray(prompt_fn(state.params, run.train["z"][source]))  # P_theta(E(x_i)): [chunk, t, d].
    if getattr(run.module, "context_free", False):  # SS_NP: one prompt for all, prefilled once per batch.
      prefixes = prefixes[0]
    texts = sample_text(run.model, [""] * len(block), prefixes=prefixes, add_bos=True, batch_size=g.batch_size,
                        max_new_tokens=g.max_new_tokens, temperature=g.temperature, top_k=g.top_k, top_p=g.top_p,
                        seed=config.seed * 1_000_003 + lo, progress=config.show_progress)
    rows += [dict(text=text, item=j, source_index=int(i), method=f"softsrv-{config.soft_prompt.variant}",
                  task=config.task, config_hash=config_hash, step=int(state.step), seed=config.seed)
             for j, i, text in zip(block, source, texts)]
  out_dir = out_dir or os.path.join(workdir, "generated")
  path = shard_path(out_dir, pi, pc)
  write_jsonl(path, rows)
  return path
