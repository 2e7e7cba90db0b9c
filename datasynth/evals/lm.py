"""The two model callables the harnesses take, implemented with our Decoder.

- `greedy_generator(model, ...)`: `list[str] -> list[str]`, greedy continuations cut before the first stop string,
  through `datasynth.decode.text.sample_text` (KV-cached, compiled; it does the cut).
- `loglik_scorer(model, ...)`: `list[(context, continuation)] -> list[float]`, the sum of log p(continuation tokens
  | context) = -sum of `datasynth.train.losses.token_nll`, batched and jitted with padding masks; only the continuation
  positions are unembedded, so a 262K vocabulary costs [batch, continuation, vocab], not [batch, length, vocab].
  Pairs that share a context and whose continuations are one token each (BoolQ's "True" / "False", "yes" / "no")
  are scored by one forward of the context: every such continuation is read at its last position, the same
  log-probability as a forward of context + continuation (causal attention), for half the work of a yes/no task.

`model` is a `datasynth.models.loaders.LoadedModel` (config, params, tokenizer).
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np

from datasynth.decode.buckets import round_up
from datasynth.decode.text import sample_text
from datasynth.models.decoder import Decoder
from datasynth.train.losses import token_nll
from datasynth.utils import progress as progress_lib
from datasynth.utils.errors import UserError

GenerateFn = Callable[[list[str]], list[str]]
LoglikFn = Callable[[list[tuple[str, str]]], list[float]]


# ----------------------------------------------------------------------------------------------------------------
# Greedy generation.

def greedy_generator(model, *, max_new_tokens: int = 256, stop: Sequence[str] = (), batch_size: int = 4,
                     progress: bool = True) -> GenerateFn:
  """A `generate_fn` for the harnesses: greedy decoding with `model` (a LoadedModel), cut before any stop string.

  The few-shot prompts of a harness share their shots, so the ids common to every prompt are prefilled once
  (`sample_text(share_common_prefix=True)`): each row prefills only its own question (TriviaQA 5-shot: ~24 of
  ~159 positions per row, 2.2x the questions/s; benchmarks/few_shot_eval.py)."""

  def generate(prompts: list[str]) -> list[str]:
    if not prompts:
      return []
    return sample_text(model, list(prompts), batch_size=batch_size, max_new_tokens=max_new_tokens,
                       temperature=0.0, stop=tuple(stop), progress=progress, share_common_prefix=True)
  return generate


# ----------------------------------------------------------------------------------------------------------------
# Log-likelihood of continuations.

Segment = tuple[int, int, list[int]]  # (pair index, position predicting its first token, its continuation ids)


def forward_rows(enc: list[tuple[list[int], list[int]]]) -> list[tuple[list[int], list[Segment]]]:
  """(context, continuation) ids -> forward rows (ids, segments): context + continuation for a longer continuation;
  one row of the bare context for every one-token continuation of that context (read at its last position)."""
  rows: list[tuple[list[int], list[Segment]]] = []
  shared: dict[tuple[int, ...], int] = {}
  for i, (c, k) in enumerate(enc):
    if len(k) == 1:
      if tuple(c) not in shared:
        shared[tuple(c)] = len(rows)
        rows.append((c, []))
      rows[shared[tuple(c)]][1].append((i, len(c) - 1, k))
    else:
      rows.append((c + k, [(i, len(c) - 1, k)]))
  return rows


@functools.lru_cache(maxsize=8)
def _loglik_program(cfg):
  import jax
  import jax.numpy as jnp
  dec = Decoder(cfg)

  @jax.jit
  def score(params, tokens, mask, gather, targets, target_mask):
    """tokens/mask: [B, L]; gather: [B, C] positions whose next-token prediction is scored; targets: [B, C].
    Returns [B, C]: log p(targets[b, c] | tokens[b, :gather[b, c] + 1]), 0 where target_mask is False."""
    h = dec.apply({"params": params}, tokens, input_mask=mask, logits=False).final_hidden
    h = jnp.take_along_axis(h, gather[..., None], axis=1)  # [B, C, width]
    logits = dec.apply({"params": params}, h, method=Decoder.unembed)
    return -jnp.where(target_mask, token_nll(logits.astype(jnp.float32), targets), 0.0)

  return score


def loglik_scorer(model, *, batch_size: int = 4, progress: bool = True, length_multiple: int = 64) -> LoglikFn:
  """A `loglik_fn`: sum of log-probs of each continuation's tokens given its context (context encoded with the
  tokenizer's BOS setting, continuation without BOS; the ids are concatenated, as in common LM evaluation)."""
  cfg, tok = model.config, model.tokenizer
  score = _loglik_program(cfg)

  def loglik(pairs: list[tuple[str, str]]) -> list[float]:
    if not pairs:
      return []
    enc = []
    for i, (ctx, cont) in enumerate(pairs):
      c, k = tok.encode(ctx), tok.encode(cont, add_bos=False)
      if not c or not k:
        raise UserError(f"Pair {i}: context and continuation must both encode to at least one token.")
      if len(c) + len(k) > cfg.max_len:
        raise UserError(f"Pair {i} has {len(c) + len(k)} tokens, more than the model's context of {cfg.max_len}; "
                        "shorten the passage.")
      enc.append((c, k))
    rows = forward_rows(enc)
    order = np.argsort([len(ids) for ids, _ in rows], kind="stable")  # Less padding per batch.
    out = np.zeros(len(pairs), np.float64)
    bar = progress_lib.bar(len(pairs), desc="loglik", unit="ex", enabled=progress)
    for lo in range(0, len(order), batch_size):
      picked = list(order[lo:lo + batch_size])
      batch = [rows[r] for r in picked] + [rows[picked[0]]] * (batch_size - len(picked))
      length = round_up(max(len(ids) for ids, _ in batch), length_multiple)
      width = round_up(max(sum(len(k) for _, _, k in segs) for _, segs in batch), 8)
      tokens, mask = tok.pad_batch([ids for ids, _ in batch], length=length)
      gather = np.zeros((batch_size, width), np.int32)
      targets = np.zeros((batch_size, width), np.int32)
      tmask = np.zeros((batch_size, width), bool)
      for b, (_, segs) in enumerate(batch):
        col = 0
        for _, start, k in segs:  # Position start + j predicts continuation token j.
          gather[b, col:col + len(k)] = np.arange(start, start + len(k))
          targets[b, col:col + len(k)], tmask[b, col:col + len(k)] = k, True
          col += len(k)
      vals = np.asarray(score(model.params, tokens, mask, gather, targets, tmask), np.float64)
      for b, r in enumerate(picked):
        col = 0
        for pair, _, k in rows[r][1]:
          out[pair] = vals[b, col:col + len(k)].sum()
          col += len(k)
        bar.update(len(rows[r][1]))
    bar.close()
    return out.tolist()

  return loglik
