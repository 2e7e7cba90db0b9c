"""The SoftSRV sequence embedder E: z = E(x), a deliberately lossy summary of an example.

z is the mean over the example's tokens of a small decoder LM's representations (DeSalvo et al.'s lossy E): either
its input embeddings (`layer=0`) or the output of block `layer` (1..num_layers; -1 = last block), optionally
followed by a fixed random projection to d_e < width and a per-example RMS normalisation (so the trained MLPs see
inputs of unit scale whatever the layer). The BOS token the tokenizer may prepend is excluded from the mean (its
hidden states are the attention sink and would dominate it).

`embed_texts` runs E batched under jit with fixed shapes (one compile); `cached_context` stores the result per
data set (`datasynth.jobs.memo`: under the work dir, or a folder a sweep shares), keyed by everything that decides it.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from datasynth.decode.buckets import round_up
from datasynth.jobs import memo
from datasynth.models.decoder import Decoder
from datasynth.models.loaders import LoadedModel
from datasynth.utils import progress
from datasynth.utils.errors import UserError


def projection_matrix(width: int, dim: int, seed: int) -> np.ndarray:
  """A fixed Gaussian projection [width, dim] scaled by 1/sqrt(dim) (Johnson-Lindenstrauss style)."""
  rng = np.random.default_rng(seed)
  return (rng.standard_normal((width, dim)) / np.sqrt(dim)).astype(np.float32)


def context_dim(width: int, projection_dim: int | None) -> int:
  return projection_dim if projection_dim else width


def _resolve_layer(layer: int, num_layers: int) -> int:
  resolved = num_layers if layer == -1 else layer
  if not 0 <= resolved <= num_layers:
    raise UserError(f"context.layer={layer} is out of range for a model with {num_layers} layers; use 0 (input "
                    f"embeddings), 1..{num_layers} (block outputs) or -1 (last block).")
  return resolved


def make_embed_fn(model: LoadedModel, layer: int):
  """jit-compiled (ids [B, L], mask [B, L]) -> masked mean of layer `layer`'s representation [B, width]."""
  cfg = model.config
  layer = _resolve_layer(layer, cfg.num_layers)
  dec = Decoder(cfg)

  @jax.jit
  def embed(params, ids, mask):
    if layer == 0:
      h = dec.apply({"params": params}, ids, method=Decoder.embed)
    else:
      # Truncate the stack: only the first `layer` blocks run (the scan is over stacked parameters).
      sub = dict(params, layers=jax.tree.map(lambda a: a[:layer], params["layers"]))
      sub_dec = Decoder(cfg.replace(num_layers=layer, layer_types=cfg.layer_types[:layer]))
      out = sub_dec.apply({"params": sub}, ids, input_mask=mask, logits=False, return_hidden=True)
      h = out.hidden[-1]
    w = mask.astype(jnp.float32)[..., None]
    return jnp.sum(h.astype(jnp.float32) * w, axis=1) / jnp.maximum(jnp.sum(w, axis=1), 1.0)

  return embed


def embed_texts(model: LoadedModel, texts: Sequence[str], *, layer: int = 0, max_len: int = 128,
                batch_size: int = 32, projection_dim: int | None = None, projection_seed: int = 0,
                normalize: bool = True, bucket: int = 32, show_progress: bool = False) -> np.ndarray:
  """z for every text: [N, d_e] float32. Texts longer than `max_len` tokens are embedded from their first tokens."""
  if not texts:
    raise UserError("embed_texts needs at least one text.")
  if max_len > model.config.max_len:
    raise UserError(f"context.max_len={max_len} exceeds the context model's context of {model.config.max_len}.")
  tok = model.tokenizer
  seqs = []
  for text in texts:
    ids = tok.encode(text, add_bos=False)[:max_len]
    seqs.append(ids if ids else [tok.eos_id if tok.eos_id is not None else 0])
  fn = make_embed_fn(model, layer)
  params = jax.tree.map(jnp.asarray, model.params)
  # Length-sorted batches padded to a multiple of `bucket` tokens: little padding, few compilations.
  order = np.argsort([len(s) for s in seqs], kind="stable")
  z = np.zeros((len(seqs), model.config.width), np.float32)
  bar = progress.bar(len(seqs), desc="context E(x)", unit="ex", enabled=show_progress)
  for s in range(0, len(seqs), batch_size):
    rows = order[s:s + batch_size]
    chunk = [seqs[i] for i in rows]
    chunk = chunk + [chunk[-1]] * (batch_size - len(chunk))  # Fixed batch size.
    length = min(max_len, round_up(max(len(c) for c in chunk), bucket))
    ids, mask = tok.pad_batch(chunk, length=length)
    z[rows] = np.asarray(fn(params, ids, mask))[:len(rows)]
    bar.update(len(rows))
  bar.close()
  if projection_dim:
    z = z @ projection_matrix(z.shape[-1], projection_dim, projection_seed)
  if normalize:  # Per-example RMS normalisation: unit-scale inputs for the embedding MLPs.
    z = z / np.sqrt(np.mean(z * z, axis=-1, keepdims=True) + 1e-12)
  return z.astype(np.float32)


def cached_context(model: LoadedModel, texts: Sequence[str], cache_dir: str, show_progress: bool = False,
                   **options) -> np.ndarray:
  """`embed_texts` memoised as `<cache_dir>/z-<key>.npy` (`datasynth.jobs.memo`: content-addressed, atomic)."""
  return memo.cached(cache_dir, "z", model, texts,
                     lambda: embed_texts(model, texts, show_progress=show_progress, **options), **options)
