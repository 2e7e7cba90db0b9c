"""What a SoftSRV work dir holds, read the same way by training and by generation.

A run of `launch/train.py` is pinned to its work dir: `run_config.json` (the identity: the config minus restart-safe
fields, plus the configs of H and E), `context/z-<key>.npy` (E's cached contexts z = E(x) of the examples),
`checkpoints/` (theta). Both `softsrv.train` (writes them) and `softsrv.generator` (reads them) build their inputs
with the functions here, so the data flow runs one way: train -> workdir <- generator.

- `load_texts`, `tokenize`: the examples x and H's token ids of `softsrv.layout.Layout` (`BOS x EOS`), right-padded.
- `load_examples`: x -> (ids, mask, z) for the train fold and the held-out tail; z from the cache (E runs once).
- `make_module`: P_theta from the config (SS_NP, SS_MPk, SS_MC); training passes its initialisers.
- `identity_json`: what a resume and a generator must match."""
from __future__ import annotations

import dataclasses
import json
import os

import jax.numpy as jnp
import ml_collections
import numpy as np

from datasynth.data.records import load_records_jsonl, load_task
from datasynth.models.loaders import LoadedModel
from datasynth.utils.errors import UserError
from softsrv import context as context_lib
from softsrv import embeddings
from softsrv.config import without_mutable_fields
from softsrv.layout import Layout

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def load_texts(config: ml_collections.ConfigDict) -> list[str]:
  """The x of every example: Record.prompt of the task split (or of `data.file`)."""
  if config.data.file:
    records = load_records_jsonl(config.data.file)
  else:
    records = load_task(config.task, config.data.split, config.data.data_dir or None)
  texts = [r.prompt for r in records]
  if config.data.limit:
    texts = texts[:config.data.limit]
  return texts


def tokenize(texts: list[str], tokenizer, *, max_len: int, too_long: str, layout: Layout
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """`layout.encode` (BOS x EOS) right-padded to max_len. Returns ids [N, L], mask [N, L] and the kept indices."""
  if too_long not in ("error", "skip", "truncate"):
    raise UserError(f"data.too_long={too_long!r}; expected error, skip or truncate.")
  seqs, kept = [], []
  for i, text in enumerate(texts):
    ids = layout.encode(tokenizer, text)
    if len(ids) > max_len:
      if too_long == "error":
        raise UserError(f"Example {i} has {len(ids)} tokens, more than data.max_len={max_len}; raise "
                        "--config.data.max_len or set --config.data.too_long=skip|truncate.")
      if too_long == "skip":
        continue
      ids = ids[:max_len]
    seqs.append(ids)
    kept.append(i)
  if len(seqs) < 2:
    raise UserError(f"Only {len(seqs)} of {len(texts)} examples fit data.max_len={max_len} tokens; raise "
                    "--config.data.max_len.")
  ids, mask = tokenizer.pad_batch(seqs, length=max_len)
  return ids, mask, np.asarray(kept)


@dataclasses.dataclass
class Examples:
  """The tokenised examples and their contexts: dicts of ids [N, L], mask [N, L], z [N, d_e]."""
  train: dict[str, np.ndarray]
  heldout: dict[str, np.ndarray]


def load_examples(config: ml_collections.ConfigDict, workdir: str, model: LoadedModel, context_model: LoadedModel,
                  texts: list[str] | None = None) -> Examples:
  """x (default `load_texts(config)`) -> H's ids and E's z (memoised under `context.cache_dir`, default
  `<workdir>/context`); the last `data.heldout` examples are held out."""
  texts = load_texts(config) if texts is None else texts
  ids, mask, kept = tokenize(texts, model.tokenizer, max_len=config.data.max_len, too_long=config.data.too_long,
                             layout=Layout.from_config(config))
  texts = [texts[i] for i in kept]
  c = config.context
  z = context_lib.cached_context(
      context_model, texts, c.cache_dir or os.path.join(workdir, "context"), show_progress=config.show_progress,
      layer=c.layer, max_len=c.max_len, batch_size=c.batch_size, projection_dim=c.projection_dim or None,
      projection_seed=config.seed, normalize=c.normalize)
  n_train = len(ids) - min(config.data.heldout, len(ids) // 2)
  return Examples(train=dict(ids=ids[:n_train], mask=mask[:n_train], z=z[:n_train]),
                  heldout=dict(ids=ids[n_train:], mask=mask[n_train:], z=z[n_train:]))


def make_module(config: ml_collections.ConfigDict, d: int, *, init_scale: float = 1.0, token_init=None):
  """P_theta for `soft_prompt.*` and H's width d. The initialisers matter to training only (a generator restores
  theta), so they default to neutral values."""
  sp = config.soft_prompt
  return embeddings.make_soft_prompt(
      sp.variant, t=sp.t, d=d, k=sp.k, hidden=sp.hidden, num_layers=sp.num_layers, init_scale=init_scale,
      token_init=token_init, **(dict(out_scale=sp.out_scale) if sp.variant == "mc" else {}))


def identity_json(config: ml_collections.ConfigDict, model: LoadedModel, context_model: LoadedModel) -> str:
  """What a resume (and a generator) must match: the config minus restart-safe fields, plus the models' configs."""
  d = without_mutable_fields(config.to_dict())
  d["_model_config"] = model.config.to_json()
  d["_context_model_config"] = context_model.config.to_json()
  return json.dumps(d, sort_keys=True, indent=1)
