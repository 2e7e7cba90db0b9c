"""The two model callables the harnesses take, implemented with our Decoder.

- `greedy_generator(model, ...)`: `list[str] -> list[str]`, greedy continuations cut before the first stop string,
  through `datasynth.decode.text.sample_text` (KV-cached, compiled; it does the cut).
- `loglik_scorer(model, ...)`: `list[(context, continuation)] -> list[float]`, the sum of log p(continuation tokens
  | context) = -sum of `datasynth.train.losses.token_nll`, batched and jitted with padding masks; only the continuation
  positions are unembedded, so a 262K vocabulary costs [batch, continuation, vocab], not [batch, length, vocab].
  Pairs that share a context and whose continuations are one token each (BoolQ's "True" / "False", "yes" / "no")
  are scored by one forward of the context: every such continuation is read at its last position, the same
  log-probability as a forward of context + continuation (causal attention), for half the work of a yes/no task.
- `continuation_scorer(model, ...)`: `list[(context ids, continuation ids)] -> list[(log p, greedy)]`, what
  lm-eval's `loglikelihood` asks (`datasynth.evals.lm_eval_adapter`): the ids every context starts with (few-shot
  shots) run once into a shared KV cache, each distinct context once, each continuation once on its context's cache.

`model` is a `datasynth.models.loaders.LoadedModel` (config, params, tokenizer).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from datasynth.decode.buckets import round_up
from datasynth.decode.kernels import Ending, prefill, prefill_after_shared_prefix, prefill_shared_prefix
from datasynth.decode.text import Batching, common_token_prefix, sample_text
from datasynth.decode.tokens import Sampling
from datasynth.models.decoder import Decoder, cast_params
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
  (`Batching(share_common_prefix=True)`): each row prefills only its own question (TriviaQA 5-shot: ~24 of
  ~159 positions per row, 2.2x the questions/s; benchmarks/few_shot_eval.py)."""

  def generate(prompts: list[str]) -> list[str]:
    if not prompts:
      return []
    return sample_text(model, list(prompts), sampling=Sampling(temperature=0.0),
                       batching=Batching(batch_size, share_common_prefix=True), ending=Ending(max_new_tokens, stop),
                       progress=progress)
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


# ----------------------------------------------------------------------------------------------------------------
# Log-likelihood of continuations with shared contexts (lm-eval's `loglikelihood`): each context is run once.

TokenPair = tuple[Sequence[int], Sequence[int]]  # (context ids, continuation ids)


@dataclasses.dataclass
class _Row:
  """One distinct context: its ids after the shared prefix, and every (pair index, continuation ids) asking it."""
  tail: list[int]
  conts: list[tuple[int, list[int]]]


@functools.lru_cache(maxsize=8)
def _continuation_programs(cfg, dtype_name: str):
  """(prefix_fn, rows_fn) for one model: jitted, compiled once per padded shape.

  prefix_fn(params, ids [1, P], mask [1, P]) -> the shared prefix's batch-1 cache (and its next-token logits).
  rows_fn(params, shared | None, tails [B, T], tail_mask, conts [B, M, K], cont_mask) -> (log p [B, M], greedy [B, M]):
    the tails are prefilled once (after the shared prefix when given) into a cache with K - 1 free slots; the first
    token of every continuation is read off the tail's last position; continuation j of every row then runs on that
    cache (one pass per j, `lax.map`, the cache is read, never kept), giving tokens 1..K-1.
  """
  dtype = jnp.dtype(dtype_name)
  dec = Decoder(cfg, dtype=dtype)

  @jax.jit
  def prefix_fn(params, ids, mask):
    emb = dec.apply({"params": params}, ids, method=Decoder.embed)
    return prefill_shared_prefix(dec, params, emb, mask, jnp.float32)

  @jax.jit
  def rows_fn(params, shared, tails, tail_mask, conts, cont_mask):
    k = conts.shape[2]
    if shared is None:
      logits, cache = prefill(dec, params, tails, None, tail_mask, tails.shape[1] + k - 1, jnp.float32)
    else:
      logits, cache = prefill_after_shared_prefix(dec, params, tails, tail_mask, shared, k - 1, jnp.float32)
    first = jnp.take_along_axis(jax.nn.log_softmax(logits, axis=-1), conts[:, :, 0], axis=1)  # [B, M]
    greedy = jnp.argmax(logits, axis=-1)[:, None] == conts[:, :, 0]
    if k == 1:
      return first, greedy

    def continuation(j):  # Inputs: tokens 0..K-2 of continuation j; they predict tokens 1..K-1.
      inputs, targets = conts[:, j, :-1], conts[:, j, 1:]
      h = dec.apply({"params": params}, inputs, input_mask=cont_mask[:, j, :-1], cache=cache, logits=False)
      lg = dec.apply({"params": params}, h.final_hidden, method=Decoder.unembed)  # [B, K-1, V] float32
      lp = jnp.take_along_axis(jax.nn.log_softmax(lg, axis=-1), targets[..., None], axis=-1)[..., 0]
      scored = cont_mask[:, j, 1:]
      return (jnp.sum(jnp.where(scored, lp, 0.0), axis=1),
              jnp.all(jnp.where(scored, jnp.argmax(lg, axis=-1) == targets, True), axis=1))

    rest, rest_greedy = jax.lax.map(continuation, jnp.arange(conts.shape[1]))  # [M, B]
    return first + rest.T, greedy & rest_greedy.T

  return prefix_fn, rows_fn


def _group_by_context(pairs: Sequence[TokenPair], common: int) -> list[_Row]:
  rows: dict[tuple[int, ...], _Row] = {}
  for i, (ctx, cont) in enumerate(pairs):
    key = tuple(ctx)
    row = rows.setdefault(key, _Row(list(ctx[common:]), []))
    row.conts.append((i, list(cont)))
  return list(rows.values())


def _pow2(n: int) -> int:
  return 1 << max(n - 1, 0).bit_length()


def continuation_scorer(model, *, batch_size: int = 8, dtype=jnp.float32, progress: bool = True,
                        length_multiple: int = 64,
                        share_prefix: bool = True) -> Callable[[Sequence[TokenPair]], list[tuple[float, bool]]]:
  """score(pairs of (context ids, continuation ids)) -> [(sum of log p(continuation | context), greedy)] per pair,
  `greedy` True when greedy decoding from the context would produce the continuation.

  Work shared, exactly (the ids the model sees are the same as a forward of context + continuation):
  1. ids that every context starts with (a few-shot prompt's description and shots; at least 16 ids,
     `sampling.common_token_prefix`) run once, into a batch-1 KV cache every row attends to (`share_prefix`);
  2. each distinct context's remaining ids run once, one row per context whatever its number of continuations;
  3. each continuation runs once, on its context's cache. A batch whose continuations are all one token long (BoolQ,
     MMLU letters) is read off step 2 alone.
  Rows are sorted by length and padded to multiples of `length_multiple` (continuations to multiples of 8, the
  number of continuations per context to a power of two), so a task compiles a few shapes.
  """
  cfg, pad_id = model.config, model.tokenizer.pad_id
  dtype_name = jnp.dtype(dtype).name
  prefix_fn, rows_fn = _continuation_programs(cfg, dtype_name)
  params = jax.device_put(model.params if dtype_name == "float32" else cast_params(model.params, dtype))

  def score(pairs: Sequence[TokenPair]) -> list[tuple[float, bool]]:
    for i, (ctx, cont) in enumerate(pairs):
      if not len(ctx) or not len(cont):
        raise UserError(f"Pair {i}: context and continuation must both hold at least one token.")
      if len(ctx) + len(cont) > cfg.max_len:
        raise UserError(f"Pair {i} has {len(ctx) + len(cont)} tokens, more than the model's context of "
                        f"{cfg.max_len}; shorten it.")
    if not pairs:
      return []
    contexts = list({tuple(c): None for c, _ in pairs})
    common = common_token_prefix(contexts) if share_prefix and len(contexts) > 1 else 0
    shared, head = None, list(contexts[0][:common])
    p = 0
    if common:  # Padded to a multiple when every pair still fits after the padding; else exact.
      longest = max(len(c) - common + len(k) for c, k in pairs)
      p = round_up(common, length_multiple)
      p = p if p + longest - 1 <= cfg.max_len else common
      ids, mask = model.tokenizer.pad_batch([head], length=p)
      shared = prefix_fn(params, ids, mask)
    rows = sorted(_group_by_context(pairs, common), key=lambda r: -len(r.tail))
    out: list[tuple[float, bool] | None] = [None] * len(pairs)
    bar = progress_lib.bar(len(pairs), desc="loglikelihood", unit="ex", enabled=progress)
    lo = 0
    while lo < len(rows):
      batch = rows[lo:lo + batch_size]
      shapes = _batch_shapes(batch, p, length_multiple, cfg.max_len)
      while shapes is None:  # Padding would pass the context length: fewer rows, exact lengths.
        batch = batch[:max(1, len(batch) // 2)]
        shapes = _batch_shapes(batch, p, length_multiple, cfg.max_len)
      _score_batch(batch, shapes, batch_size, pad_id, params, shared, rows_fn, out)
      bar.update(sum(len(r.conts) for r in batch))
      lo += len(batch)
    bar.close()
    return out

  return score


def _batch_shapes(batch: list[_Row], p: int, multiple: int, max_len: int) -> tuple[int, int, int] | None:
  """(T, M, K) padded sizes of a batch after a shared prefix of p slots; None when padding passes the model's context
  (the caller halves the batch; one row alone takes its exact lengths, which always fit)."""
  t_real = max(len(r.tail) for r in batch)
  k_real = max(len(c) for r in batch for _, c in r.conts)
  m = _pow2(max(len(r.conts) for r in batch))
  t, k = round_up(t_real, multiple), (1 if k_real == 1 else round_up(k_real, 8))
  if p + t + k - 1 <= max_len:
    return t, m, k
  return (t_real, m, k_real) if len(batch) == 1 else None


def _score_batch(batch: list[_Row], shapes: tuple[int, int, int], batch_size: int, pad_id: int, params, shared,
                 rows_fn, out: list) -> None:
  t, m, k = shapes
  b = batch_size
  tails = np.full((b, t), pad_id, np.int32)
  tail_mask = np.zeros((b, t), bool)
  conts = np.full((b, m, k), pad_id, np.int32)
  cont_mask = np.zeros((b, m, k), bool)
  for r, row in enumerate(batch):
    tails[r, :len(row.tail)], tail_mask[r, :len(row.tail)] = row.tail, True
    for j, (_, cont) in enumerate(row.conts):
      conts[r, j, :len(cont)], cont_mask[r, j, :len(cont)] = cont, True
  for r in range(len(batch), b):  # Padding rows repeat the first (their results are dropped).
    tails[r], tail_mask[r], conts[r], cont_mask[r] = tails[0], tail_mask[0], conts[0], cont_mask[0]
  logp, greedy = rows_fn(params, shared, tails, tail_mask, conts, cont_mask)
  logp, greedy = np.asarray(logp, np.float64), np.asarray(greedy)
  for r, row in enumerate(batch):
    for j, (i, _) in enumerate(row.conts):
      out[i] = (float(logp[r, j]), bool(greedy[r, j]))
