"""Jit-compiled batched sampling from a `Decoder` with a KV cache and an optional embedded prefix.

One call of `sample` is one compiled program with static shapes:

1. *Prefill*: one decoder call over `[prefix; prompt]` writes every input's keys and values into a cache of
   `t + L + max_new_tokens` slots. Ragged prompts are right- (or left-) padded with a validity mask; each row's first
   new token is drawn from the logits at its own last real input, and the decoder's per-row positions make the padded
   slots invisible. A prefix shared by every row (batch 1) is prefilled once into its own cache, which every row
   attends to (`datasynth.models.attach_prefix`: stored and read once per step, not once per row).
2. *Decode*: a `jax.lax.while_loop` feeds one token per row per step (no Python loop per token) and stops as soon as
   every row is done or `max_new_tokens` are drawn. With `Decoder(scan_layers=False)` (what `sample_text` uses) the
   weights are split per layer once per call, so a step reads each weight buffer once and copies none.

Choosing a token: `temperature == 0` is greedy (argmax, no softmax); otherwise logits are divided by the temperature
and optionally truncated to the `top_k` largest and / or the smallest set whose probability reaches `top_p`
(nucleus), then one categorical draw per row. top_p alone never sorts the vocabulary (262K for Gemma): the nucleus
comes from the 256 largest logits (`lax.top_k`) when their mass reaches p, else from an exact bisection on a logit
threshold for those rows only (`nucleus_threshold`).

Randomness is per row: row r has its own key stream, and its token at step i is drawn with `fold_in(key_r, i)`. `rng`
is either one key per row ([B] keys) or one key, from which row r's key is `fold_in(rng, r)`. `sample_text` gives
item j of its list the key `fold_in(key(seed), j)` (or of `item_ids[j]`), so an item's sample depends only on the
seed and the item, never on which batch, chunk or process it fell in.

Ending a row: a row ends at the first generated token that is an EOS id, or that completes a stop sequence. Stop
sequences given as token-id lists are matched exactly inside the loop (suffix match on the generated tokens). Stop
*strings* are handled in two layers: inside the loop their tokenisation (`tokenizer.encode(s)`) is suffix-matched as
an early-exit fast path, and after generation a host-side check decodes each row and cuts it at the first token whose
decoded text contains the string. The host check is what makes strings correct (a string can be produced by many
token sequences, e.g. split differently or fused with neighbouring text); the in-loop match only saves time.
`lengths` counts the generated tokens up to and including the token that ended the row; positions after it hold
`pad_id`. `sample_text` turns that into strings with the EOS removed and the stop string (and what follows it in the
same token) trimmed.
"""
from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Sequence

import flax
import jax
import jax.numpy as jnp
import numpy as np

from datasynth import buckets, progress as progress_lib
from datasynth.models.config import DecoderConfig
from datasynth.models.decoder import Decoder, attach_prefix, cast_params, init_cache, unstack_layers

Array = jax.Array
from datasynth.models.decoder import MASK_VALUE as _NEG_INF  # Masked logits: the decoder's one constant.


@flax.struct.dataclass
class SampleOutput:
  tokens: Array  # [B, max_new_tokens] int32; pad_id after each row's end.
  lengths: Array  # [B] generated tokens up to and including the EOS / stop token that ended the row.
  finished: Array  # [B] bool: the row ended by EOS or a stop sequence (not by running out of tokens).
  logprobs: Array | None = None  # [B, max_new_tokens] log p(token) under the model (temperature 1, untruncated).


@dataclasses.dataclass(frozen=True)
class _Spec:
  """Everything static about one compiled sampler (hashable: it is a jit static argument)."""
  config: DecoderConfig
  dtype: Any
  cache_dtype: Any
  scan_layers: bool
  max_new_tokens: int
  temperature: float
  top_k: int
  top_p: float
  eos_ids: tuple[int, ...]
  stop_ids: tuple[tuple[int, ...], ...]
  pad_id: int
  return_logprobs: bool
  mesh: Any = None  # jax.sharding.Mesh or None: constrain the cache and batch to it.
  rules: tuple = ()


# ------------------------------------------------------------------------------------------------ token choice
def top_k_mask(logits: Array, k: int) -> Array:
  """Logits outside the k largest of each row set to -inf-like (ties with the k-th value are kept)."""
  if k <= 0 or k >= logits.shape[-1]:
    return logits
  kth = jax.lax.top_k(logits, k)[0][..., -1:]
  return jnp.where(logits >= kth, logits, _NEG_INF)


def _nucleus_keep(sorted_logits: Array, p: float) -> Array:
  """For logits sorted in decreasing order: keep the smallest prefix whose probability reaches p.

  A token is kept when the probability of the tokens strictly before it is < p (so the first is always kept).
  """
  probs = jax.nn.softmax(sorted_logits, axis=-1)
  before = jnp.cumsum(probs, axis=-1) - probs
  return before < p


def top_p_mask(logits: Array, p: float) -> Array:
  """Nucleus truncation: logits outside the top-p set of each row set to -inf-like."""
  if p >= 1.0:
    return logits
  vals, idx = jax.lax.top_k(logits, logits.shape[-1])
  keep_sorted = _nucleus_keep(vals, p)
  keep = jnp.zeros_like(keep_sorted).at[jnp.arange(logits.shape[0])[:, None], idx].set(keep_sorted)
  return jnp.where(keep, logits, _NEG_INF)


# ------------------------------------------------------------------------------------------------ nucleus
_NUCLEUS_CANDIDATES = 256  # K of the nucleus pre-filter (`lax.top_k`); static.
_NUCLEUS_SEARCH_ROWS = 8  # Rows per group of the exact threshold search (rows whose nucleus exceeds K tokens).


def _order_key(x: Array) -> Array:
  """float32 -> uint32 with the same order (-0.0 is read as +0.0, as comparisons do)."""
  bits = jax.lax.bitcast_convert_type(jnp.where(x == 0, jnp.float32(0), x), jnp.uint32)
  return jnp.where(bits >> 31 == 1, ~bits, bits | jnp.uint32(1 << 31))


def _from_order_key(key: Array) -> Array:
  bits = jnp.where(key >> 31 == 1, key & jnp.uint32((1 << 31) - 1), ~key)
  return jax.lax.bitcast_convert_type(bits, jnp.float32)


def _nucleus_by_search(logits: Array, p: float) -> tuple[Array, Array]:
  """Exact (tau, r) of `nucleus_threshold` for [F, V] rows by bisection, no sort: 32 masked sums per row.

  tau is the largest logit value with mass(logits >= tau) >= p Z, found as the largest float order key with that
  property (32 halvings of the uint32 key range give it exactly; the mass is non-increasing in the key and changes
  only at the rows' values, so the answer is a value of the row). Of the tokens equal to tau, the first r are kept,
  r = ceil((p Z - mass(logits > tau)) / w(tau)): the tied tokens' probabilities before them stay below p.
  """
  top = jnp.max(logits, axis=-1, keepdims=True)
  w = jnp.exp(logits - top)
  target = p * jnp.sum(w, axis=-1)

  def halve(_, bounds):
    lo, hi = bounds  # Keys: mass(logits >= value(lo)) >= target > mass(logits > value(hi)).
    mid = lo + (hi - lo + 1) // 2
    # Compared as floats (same order as the keys; vectorises better than uint32 keys).
    ok = jnp.sum(jnp.where(logits >= _from_order_key(mid)[:, None], w, 0.0), axis=-1) >= target
    return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid - 1)

  bounds = (_order_key(jnp.min(logits, axis=-1)), _order_key(top[:, 0]))
  lo, _ = jax.lax.fori_loop(0, 32, halve, bounds)
  tau = _from_order_key(lo)
  above = jnp.sum(jnp.where(logits > tau[:, None], w, 0.0), axis=-1)
  ties = jnp.sum(logits == tau[:, None], axis=-1)
  r = jnp.ceil((target - above) / jnp.exp(tau - top[:, 0]))
  return tau, jnp.clip(r, 1, ties).astype(jnp.int32)


def _search_rows(logits: Array, p: float, todo: Array, tau: Array, r: Array) -> tuple[Array, Array]:
  """`_nucleus_by_search` on the rows with todo=True only, in groups of `_NUCLEUS_SEARCH_ROWS` (cost ~ their number)."""
  b = logits.shape[0]
  f = min(_NUCLEUS_SEARCH_ROWS, b)
  order = jnp.argsort(jnp.where(todo, 0, 1), stable=True)  # The rows to search first.
  order = jnp.concatenate([order, order[:-b % f]]) if b % f else order
  n = jnp.sum(todo)

  def group(g, acc):
    rows = jax.lax.dynamic_slice_in_dim(order, g * f, f)
    t, k = _nucleus_by_search(logits[rows], p)
    dest = jnp.where(g * f + jnp.arange(f) < n, rows, b)  # Padding rows write nowhere.
    return acc[0].at[dest].set(t, mode="drop"), acc[1].at[dest].set(k, mode="drop")

  return jax.lax.fori_loop(0, (n + f - 1) // f, group, (tau, r))


def nucleus_threshold(logits: Array, p: float, candidates: int = _NUCLEUS_CANDIDATES) -> tuple[Array, Array]:
  """The top-p set of each row of float32 [B, V] as (tau [B], r [B]): every logit > tau, and the first r (in index
  order) of those == tau. The same set as `top_p_mask` (the smallest prefix of the sorted row whose probability
  reaches p, ties in index order), without sorting the row.

  Why it is exact: K = `candidates` largest logits come from `lax.top_k` (sorted, ties by index, as the full sort).
  The first K entries of the full sort are these K, so their cumulative probabilities are the same; if the K
  candidates' mass reaches p, the nucleus (a prefix that stops at the first cumulative mass >= p) ends inside them
  and is read off their cumulative sum. Only rows whose nucleus has more than K tokens (flat rows) need more:
  those rows, and only those, go to `_nucleus_by_search` (a bisection on the logit threshold, 32 masked sums). A
  row's answer depends on its own logits only, never on which other rows searched. In floats, kept sets equal the
  sort's except where a cumulative mass lands within rounding of p: the candidates' cumulative sum is the sort's
  own over its first K entries (only the normaliser is summed in another order), and the search's masked sums are
  pairwise, so on flat rows of thousands of tokens it can differ from the sort's long float32 cumsum by one boundary
  token, on the side of the float64 rule (tested).
  """
  b, v = logits.shape
  k = min(candidates, v)
  vals, _ = jax.lax.top_k(logits, k)
  if k == v:  # The candidates are the whole row: the plain rule on the sorted row.
    keep = _nucleus_keep(vals, p)
    m = jnp.sum(keep, axis=-1)
    tau = jnp.take_along_axis(vals, m[:, None] - 1, axis=-1)[:, 0]
    return tau, m - jnp.sum(vals > tau[:, None], axis=-1)
  # (The max comes from the row, not from vals[:, :1]: slicing top_k's output makes XLA CPU fall back to a full sort.)
  top = jnp.max(logits, axis=-1, keepdims=True)
  probs = jnp.exp(vals - top) / jnp.sum(jnp.exp(logits - top), axis=-1, keepdims=True)
  cum = jnp.cumsum(probs, axis=-1)
  m = jnp.sum(cum - probs < p, axis=-1)  # Kept candidates (all K when their mass falls short of p).
  tau = jnp.take_along_axis(vals, m[:, None] - 1, axis=-1)[:, 0]
  r = m - jnp.sum(vals > tau[:, None], axis=-1)
  short = cum[:, -1] < p
  return jax.lax.cond(jnp.any(short), lambda: _search_rows(logits, p, short, tau, r), lambda: (tau, r))


def nucleus_mask(logits: Array, p: float, candidates: int = _NUCLEUS_CANDIDATES) -> Array:
  """Top-p truncation without a sort (`nucleus_threshold`): logits outside the top-p set set to -inf-like."""
  if p >= 1.0:
    return logits
  tau, r = nucleus_threshold(logits, p, candidates)
  tau = tau[:, None]
  at = logits == tau
  whole = jnp.sum(at, axis=-1) == r  # Every token tied with tau is kept (no cumsum over the row needed).
  kept = jax.lax.cond(jnp.all(whole), lambda: logits >= tau,
                      lambda: (logits > tau) | (at & (jnp.cumsum(at, axis=-1) <= r[:, None])))
  return jnp.where(kept, logits, _NEG_INF)


_DRAW_BLOCK = 256  # Vocabulary block of the two-level CDF inversion in `_draw`.


def row_keys(rng: Array, batch: int) -> Array:
  """[B] keys: `rng` itself when it is already one key per row, else `fold_in(rng, r)` for row r."""
  if not jax.dtypes.issubdtype(rng.dtype, jax.dtypes.prng_key):
    rng = jax.random.wrap_key_data(rng)  # A raw uint32 key (jax.random.PRNGKey) or [B] of them.
  if jnp.ndim(rng) == 1:
    if rng.shape[0] != batch:
      raise ValueError(f"Got {rng.shape[0]} row keys for a batch of {batch} rows; give one key per row or one key.")
    return rng
  return jax.vmap(lambda r: jax.random.fold_in(rng, r))(jnp.arange(batch))


def _draw(key: Array, logits: Array) -> Array:
  """One categorical draw per row by inverting the CDF: one exp and one uniform per row (row r uses key[r]).

  (Gumbel-max, as in `jax.random.categorical`, needs V random numbers per row, which dominates a CPU decode step.)
  The inversion runs in two levels: u picks a block of `_DRAW_BLOCK` tokens from the blocks' cumulative masses, then
  a token from the cumulative masses inside that block, so the only full-vocabulary passes are the max, the exp and
  a block sum (a full-vocabulary cumsum and argmax cost about 4% of a decode step). Token j is drawn when
  cdf[j-1] <= u < cdf[j], so a zero-probability (masked) token is never drawn; the weights are unnormalised.
  """
  b, v = logits.shape
  block = min(_DRAW_BLOCK, v)
  w = jnp.exp(logits - jnp.max(logits, axis=-1, keepdims=True))  # [B, V], the largest is 1.
  w = jnp.pad(w, ((0, 0), (0, -v % block))).reshape(b, -1, block)  # [B, blocks, block]; padding weighs 0.
  mass = jnp.sum(w, axis=-1)
  cdf = jnp.cumsum(mass, axis=-1)  # [B, blocks]
  u = jax.vmap(lambda k: jax.random.uniform(k, (), jnp.float32))(row_keys(key, b))[:, None] * cdf[:, -1:]

  def first_above(c, weights):
    """Index of the first entry with c > u; if rounding leaves none, the last entry with positive weight."""
    last_positive = weights.shape[-1] - 1 - jnp.argmax(weights[:, ::-1] > 0, axis=-1)
    return jnp.minimum(jnp.sum(c <= u, axis=-1), last_positive)

  j = first_above(cdf, mass)
  inner = jnp.take_along_axis(w, j[:, None, None], axis=1)[:, 0]  # [B, block]: the chosen block's weights.
  before = jnp.take_along_axis(cdf - mass, j[:, None], axis=1)  # Mass of the blocks before it.
  i = first_above(before + jnp.cumsum(inner, axis=-1), inner)
  return (j * block + i).astype(jnp.int32)


def choose_tokens(logits: Array, key: Array, *, temperature: float, top_k: int = 0, top_p: float = 1.0) -> Array:
  """One token per row from float32 logits [B, V]: greedy at temperature 0, else a tempered, truncated draw.

  key: one key per row ([B]) or one key (row r then draws with `fold_in(key, r)`).
  """
  if temperature == 0.0:
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)
  logits = logits / jnp.float32(temperature)
  vocab = logits.shape[-1]
  if top_k > 0:
    # Work in the (sorted) top-k candidate set only; top_p then truncates it.
    vals, idx = jax.lax.top_k(logits, min(top_k, vocab))
    if top_p < 1.0:
      vals = jnp.where(_nucleus_keep(vals, top_p), vals, _NEG_INF)
    j = _draw(key, vals)
    return jnp.take_along_axis(idx, j[:, None], axis=-1)[:, 0].astype(jnp.int32)
  if top_p < 1.0:
    logits = nucleus_mask(logits, top_p)  # No sort of the vocabulary: a top-K pre-filter, exact.
  return _draw(key, logits)


def _ends_row(tokens: Array, i: Array, spec: _Spec) -> Array:
  """[B] bool: the token just written at column i is an EOS id or completes a stop sequence.

  i: one column for every row, or [B] columns, one per row (`datasynth.continuous`: rows at different steps)."""
  if jnp.ndim(i) == 1:
    return jax.vmap(lambda row, j: _ends_row(row[None], j, spec)[0])(tokens, i)
  tok = tokens[:, i] if isinstance(i, int) else jax.lax.dynamic_index_in_dim(tokens, i, axis=1, keepdims=False)
  hit = jnp.zeros(tok.shape, bool)
  for e in spec.eos_ids:
    hit |= tok == e
  n = tokens.shape[1]
  for seq in spec.stop_ids:
    m = len(seq)
    if m > n:
      continue
    start = jnp.clip(i + 1 - m, 0, n - m)
    window = jax.lax.dynamic_slice_in_dim(tokens, start, m, axis=1)
    hit |= (i + 1 >= m) & jnp.all(window == jnp.asarray(seq, jnp.int32)[None], axis=1)
  return hit


# ------------------------------------------------------------------------------------------------ compiled core
def _constrain_cache(cache: dict[str, Array], spec: _Spec) -> dict[str, Array]:
  if spec.mesh is None:
    return cache
  from datasynth import sharding  # Local import: sharding imports nothing from here, keep it optional.
  return jax.lax.with_sharding_constraint(cache, sharding.cache_shardings(spec.mesh, cache, spec.rules))


def prefill(dec: Decoder, params, tokens, prefix, input_mask, cache_len: int, cache_dtype=None,
            constrain=lambda c: c, cache=None):
  """One decoder call over all inputs into a fresh cache of `cache_len` slots (or on after `cache`'s filled slots).

  Returns (float32 next-token logits [B, V] taken at each row's last real input, the filled cache). The full [B, T, V]
  logits are never formed: only the last real hidden state of each row is unembedded.
  """
  b, t_in = input_mask.shape
  if cache is None:
    cache = constrain(init_cache(dec.config, b, cache_len, cache_dtype or dec.dtype))
  out = dec.apply({"params": params}, tokens, prefix=prefix, input_mask=input_mask, cache=cache, logits=False)
  last = t_in - 1 - jnp.argmax(input_mask[:, ::-1], axis=1)
  h_last = jnp.take_along_axis(out.final_hidden, last[:, None, None], axis=1)  # [B, 1, d]
  return dec.apply({"params": params}, h_last, method=Decoder.unembed)[:, 0], constrain(out.cache)


def prefill_rows(dec: Decoder, params, tokens, token_mask, prefix, prefix_mask, n_new: int, cache_dtype,
                 constrain=lambda c: c):
  """`prefill` of each row's own `[prefix; prompt]` (either may be None) into a cache with `n_new` slots after them."""
  masks = [m for m in (prefix_mask, token_mask) if m is not None]
  input_mask = jnp.concatenate(masks, axis=1) if len(masks) > 1 else masks[0]
  return prefill(dec, params, tokens, prefix, input_mask, input_mask.shape[1] + n_new, cache_dtype, constrain)


def prefill_shared_prefix(dec: Decoder, params, prefix, prefix_mask, cache_dtype):
  """A prefix shared by every row ([1, t, width]) run once: (its next-token logits [1, V], its batch-1 cache)."""
  return prefill(dec, params, None, prefix, prefix_mask, prefix.shape[1], cache_dtype)


def prefill_after_shared_prefix(dec: Decoder, params, tokens, token_mask, shared, n_new: int, cache_dtype,
                                constrain=lambda c: c):
  """`prefill` of the rows' prompts after a shared prefix (`prefill_shared_prefix`'s output), which every row attends
  to (stored and read once, `attach_prefix`). Rows with an empty prompt take the prefix's own next-token logits."""
  prefix_logits, prefix_cache = shared
  b, length = token_mask.shape
  cache = attach_prefix(init_cache(dec.config, b, length + n_new, cache_dtype), prefix_cache)
  logits, cache = prefill(dec, params, tokens, None, token_mask, 0, constrain=constrain, cache=constrain(cache))
  return jnp.where(jnp.any(token_mask, axis=1)[:, None], logits, prefix_logits), cache


def decode_step(dec: Decoder, params, token, live, cache, constrain=lambda c: c):
  """Feed one token per row ([B] ids; rows with live=False are written as invalid). Returns (logits [B, V], cache)."""
  o = dec.apply({"params": params}, token[:, None], input_mask=live[:, None], cache=cache)
  return o.logits[:, 0], constrain(o.cache)


@functools.partial(jax.jit, static_argnames=("spec",))
def _sample_core(params, tokens, token_mask, prefix, prefix_mask, rng, *, spec: _Spec):
  """Prefill + while-loop decode. Returns (tokens [B,N], lengths [B], finished [B], logprobs [B,N] or None)."""
  n_new = spec.max_new_tokens
  dec = Decoder(spec.config, dtype=spec.dtype, scan_layers=spec.scan_layers)
  if not spec.scan_layers:
    params = unstack_layers(params)  # Sliced once per call, not once per decode step.
  constrain = functools.partial(_constrain_cache, spec=spec)
  b = (tokens if tokens is not None else prefix).shape[0]
  # 1. Prefill: all inputs at once; next-token logits at each row's last real input.
  if prefix is not None and prefix.shape[0] == 1 and b > 1:
    shared = prefill_shared_prefix(dec, params, prefix, prefix_mask, spec.cache_dtype)
    logits, cache = prefill_after_shared_prefix(dec, params, tokens, token_mask, shared, n_new, spec.cache_dtype,
                                                constrain)
  else:
    logits, cache = prefill_rows(dec, params, tokens, token_mask, prefix, prefix_mask, n_new, spec.cache_dtype,
                                 constrain)

  keys = row_keys(rng, b)  # Row r's stream: its token i is drawn with fold_in(keys[r], i).

  def choose(logits, step):
    step_keys = jax.vmap(lambda k: jax.random.fold_in(k, step))(keys)
    return choose_tokens(logits, step_keys, temperature=spec.temperature, top_k=spec.top_k, top_p=spec.top_p)

  def logprob(logits, tok):
    return jnp.take_along_axis(jax.nn.log_softmax(logits, axis=-1), tok[:, None], axis=-1)[:, 0]

  buf = jnp.full((b, n_new), spec.pad_id, jnp.int32)
  lps = jnp.zeros((b, n_new), jnp.float32)
  tok = choose(logits, 0)
  buf = buf.at[:, 0].set(tok)
  if spec.return_logprobs:
    lps = lps.at[:, 0].set(logprob(logits, tok))
  done = _ends_row(buf, 0, spec)
  lengths = jnp.where(done, 1, n_new).astype(jnp.int32)

  # 2. Decode: step i feeds token i-1 of each live row and draws token i.
  def cond(state):
    i, _, _, _, _, done, _ = state
    return (i < n_new) & ~jnp.all(done)

  def body(state):
    i, cache, prev, buf, lps, done, lengths = state
    logits, cache = decode_step(dec, params, prev, ~done, cache, constrain)
    tok = jnp.where(done, spec.pad_id, choose(logits, i))
    buf = jax.lax.dynamic_update_slice_in_dim(buf, tok[:, None], i, axis=1)
    if spec.return_logprobs:
      lps = jax.lax.dynamic_update_slice_in_dim(lps, jnp.where(done, 0.0, logprob(logits, tok))[:, None], i, axis=1)
    ends = ~done & _ends_row(buf, i, spec)
    lengths = jnp.where(ends, i + 1, lengths)
    return i + 1, cache, tok, buf, lps, done | ends, lengths

  state = (jnp.int32(1), cache, tok, buf, lps, done, lengths)
  _, _, _, buf, lps, done, lengths = jax.lax.while_loop(cond, body, state)
  return buf, lengths, done, (lps if spec.return_logprobs else None)


# ------------------------------------------------------------------------------------------------ public API
def _eos_tuple(eos_id, config: DecoderConfig) -> tuple[int, ...]:
  if isinstance(eos_id, str):
    if eos_id != "config":
      raise ValueError(f"eos_id must be an int, a list of ints, None or 'config', got {eos_id!r}.")
    return () if config.eos_id is None else (int(config.eos_id),)
  if eos_id is None:
    return ()
  if isinstance(eos_id, (int, np.integer)):
    return (int(eos_id),)
  return tuple(int(e) for e in eos_id)


def _stop_tuples(stop_sequences, tokenizer) -> tuple[tuple[tuple[int, ...], ...], tuple[str, ...]]:
  """Token-id stop sequences (exact) and stop strings (host-checked; their tokenisation is a fast path)."""
  ids, strings = [], []
  for s in stop_sequences or ():
    if isinstance(s, str):
      if not s:
        raise ValueError("Empty stop string; remove it from stop_sequences.")
      if tokenizer is None:
        raise ValueError(f"Stop string {s!r} needs a tokenizer; pass tokenizer= or give token-id lists.")
      strings.append(s)
      enc = tuple(tokenizer.encode(s, add_bos=False))
      if enc:
        ids.append(enc)
    else:
      seq = tuple(int(x) for x in s)
      if not seq:
        raise ValueError("Empty stop sequence; remove it from stop_sequences.")
      ids.append(seq)
  return tuple(dict.fromkeys(ids)), tuple(strings)


def first_stop_end(tokenizer, ids: Sequence[int], stops: Sequence[str]) -> int | None:
  """Smallest k such that decode(ids[:k]) contains a stop string, or None (binary search; containment is monotone)."""
  if not stops or not any(s in tokenizer.decode(ids) for s in stops):
    return None
  lo, hi = 1, len(ids)
  while lo < hi:
    mid = (lo + hi) // 2
    if any(s in tokenizer.decode(ids[:mid]) for s in stops):
      hi = mid
    else:
      lo = mid + 1
  return lo


def sample(model: Decoder | DecoderConfig, params, *, prompt_tokens=None, prompt_mask=None, prefix=None,
           prefix_mask=None, rng: Array | int = 0, max_new_tokens: int, temperature: float = 1.0, top_k: int = 0,
           top_p: float = 1.0, eos_id: int | Sequence[int] | None | str = "config",
           stop_sequences: Sequence[str | Sequence[int]] = (), tokenizer=None, return_logprobs: bool = False,
           pad_id: int | None = None, mesh=None, rules=None, cache_dtype=None) -> SampleOutput:
  """Draw up to `max_new_tokens` tokens per row after `[prefix; prompt]`.

  model: a `Decoder` (its config, compute dtype and `scan_layers` are used) or a DecoderConfig. With
    `scan_layers=False` the layers run unrolled, each on its own weight buffers (the fastest decode; compiles
    longer); the layer scan slices every weight out of the stack on every step.
  prompt_tokens / prompt_mask: int [B, L] and bool [B, L] (True on real tokens; padding on either side).
  prefix / prefix_mask: [B, t, width] embedded prefix (e.g. a SoftSRV soft prompt) and optional bool [B, t]. A
    prefix with batch 1 and prompts with batch B > 1 share the prefix: it is prefilled once and its cache shared.
  rng: a PRNG key or an int seed (row r's stream is fold_in(rng, r)), or one key per row ([B] keys: a row's sample
    then depends on its key only, not on its batch). eos_id: "config" (the config's eos_id), an id, a list of ids, or None.
  stop_sequences: token-id lists (matched exactly) and / or strings (need `tokenizer`; see the module docstring).
  mesh / rules: optional `datasynth.sharding` mesh and logical rules; the cache is constrained to them.
  cache_dtype: the KV cache's dtype; default the compute dtype, but float32 on the CPU backend, where XLA rewrites a
    bfloat16 cache update as a float32 round trip of the whole cache (per layer, per step).
  """
  dec = model if isinstance(model, Decoder) else Decoder(model)
  if prompt_tokens is None and prefix is None:
    raise ValueError("sample needs prompt_tokens, a prefix, or both.")
  spec, stop_strings = make_spec(dec, max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                                 top_p=top_p, eos_id=eos_id, stop_sequences=stop_sequences, tokenizer=tokenizer,
                                 return_logprobs=return_logprobs, pad_id=pad_id, mesh=mesh, rules=rules,
                                 cache_dtype=cache_dtype)
  if prompt_tokens is not None:
    prompt_tokens = jnp.asarray(prompt_tokens, jnp.int32)
    if prompt_tokens.ndim != 2:
      raise ValueError(f"prompt_tokens must be [batch, length], got shape {prompt_tokens.shape}.")
    prompt_mask = (jnp.ones(prompt_tokens.shape, bool) if prompt_mask is None
                   else jnp.asarray(prompt_mask, bool))
    if prompt_mask.shape != prompt_tokens.shape:
      raise ValueError(f"prompt_mask shape {prompt_mask.shape} != prompt_tokens shape {prompt_tokens.shape}.")
  if prefix is not None:
    prefix = jnp.asarray(prefix)
    if prefix.ndim != 3:
      raise ValueError(f"prefix must be [batch, t, width], got shape {prefix.shape}.")
    prefix_mask = jnp.ones(prefix.shape[:2], bool) if prefix_mask is None else jnp.asarray(prefix_mask, bool)
    if prompt_tokens is not None and prefix.shape[0] not in (1, prompt_tokens.shape[0]):
      raise ValueError(f"prefix has batch {prefix.shape[0]} but prompt_tokens has {prompt_tokens.shape[0]}; give one "
                       "prefix per row, or one prefix (batch 1) shared by all rows.")
  masks = [m for m in (prefix_mask, prompt_mask) if m is not None]
  mask = jnp.concatenate([jnp.broadcast_to(m, (masks[-1].shape[0], m.shape[1])) for m in masks], axis=1)
  if getattr(mask, "is_fully_addressable", True) and not bool(jnp.all(jnp.any(mask, axis=1))):
    raise ValueError("A row has no real input (empty prompt and no prefix); give every row at least one token.")
  if isinstance(rng, (int, np.integer)):
    rng = jax.random.key(int(rng))
  tokens, lengths, finished, logprobs = _sample_core(params, prompt_tokens, prompt_mask, prefix, prefix_mask, rng,
                                                     spec=spec)
  if stop_strings:
    tokens, lengths, finished, logprobs = _trim_stop_strings(tokenizer, stop_strings, tokens, lengths, finished,
                                                             logprobs, spec.pad_id)
  return SampleOutput(tokens=tokens, lengths=lengths, finished=finished, logprobs=logprobs)


def make_spec(dec: Decoder, *, max_new_tokens: int, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
              eos_id="config", stop_sequences=(), tokenizer=None, return_logprobs: bool = False, pad_id=None,
              mesh=None, rules=None, cache_dtype=None) -> tuple[_Spec, tuple[str, ...]]:
  """The compiled sampler's static settings (checked) and the stop strings left to the host; see `sample`."""
  cfg = dec.config
  if cache_dtype is None:
    cache_dtype = jnp.float32 if jax.default_backend() == "cpu" else dec.dtype
  if max_new_tokens < 1:
    raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}.")
  if temperature < 0 or not 0.0 < top_p <= 1.0 or top_k < 0:
    raise ValueError(f"Need temperature >= 0, 0 < top_p <= 1, top_k >= 0; got {temperature}, {top_p}, {top_k}.")
  stop_ids, stop_strings = _stop_tuples(stop_sequences, tokenizer)
  if pad_id is None:
    pad_id = cfg.pad_id if cfg.pad_id is not None else 0
  if mesh is not None and rules is None:
    from datasynth import sharding
    rules = sharding.DEFAULT_RULES
  spec = _Spec(config=cfg, dtype=dec.dtype, cache_dtype=jnp.dtype(cache_dtype), scan_layers=dec.scan_layers,
               max_new_tokens=int(max_new_tokens), temperature=float(temperature), top_k=int(top_k),
               top_p=float(top_p), eos_ids=_eos_tuple(eos_id, cfg), stop_ids=stop_ids, pad_id=int(pad_id),
               return_logprobs=bool(return_logprobs), mesh=mesh, rules=tuple(rules) if rules else ())
  return spec, stop_strings


def _trim_stop_strings(tokenizer, stops, tokens, lengths, finished, logprobs, pad_id):
  """Host-side: end each row at the first token whose decoded text contains a stop string."""
  tokens, lengths, finished = np.array(tokens), np.array(lengths), np.array(finished)
  logprobs = None if logprobs is None else np.array(logprobs)
  for r in range(tokens.shape[0]):
    k = first_stop_end(tokenizer, tokens[r, :lengths[r]].tolist(), stops)
    if k is not None and k <= lengths[r]:
      tokens[r, k:], lengths[r], finished[r] = pad_id, k, True
      if logprobs is not None:
        logprobs[r, k:] = 0.0
  return (jnp.asarray(tokens), jnp.asarray(lengths), jnp.asarray(finished),
          None if logprobs is None else jnp.asarray(logprobs))


# ------------------------------------------------------------------------------------------------ text level
@dataclasses.dataclass
class TextSample:
  text: str  # Decoded continuation, EOS removed, cut before the first stop string.
  token_ids: list[int]  # Generated ids up to and including the ending token.
  finished: bool  # Ended by EOS or a stop sequence (False: ran out of max_new_tokens).


BATCHING = ("continuous", "static")  # sample_text's engines (`datasynth.continuous`; one `sample` call per batch).


def sample_text(model, prompts: Sequence[str] | None = None, *, prefixes=None, batch_size: int = 32,
                max_new_tokens: int = 128, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                stop: Sequence[str] = (), eos_id: int | Sequence[int] | None | str = "config", seed: int = 0,
                add_bos: bool | None = None, dtype=jnp.float32, progress: bool = True, return_details: bool = False,
                mesh=None, rules=None, length_multiple: int = 16, scan_layers: bool = False,
                item_ids: Sequence[int] | None = None, batching: str = "continuous",
                block_steps: int = 32, share_common_prefix: bool = False) -> list[str] | list[TextSample]:
  """Continue many prompts (and / or embedded prefixes), `batch_size` rows at a time; returns decoded strings.

  model: anything with `.config`, `.params`, `.tokenizer` (a `LoadedModel`). prefixes: [N, t, width] array (one
  embedded prefix per item), [t, width] (one prefix shared by every prompt: prefilled once) or None. Prompt
  lengths are padded to one length (`buckets.prompt_length`: a power of two under `length_multiple`, else a
  multiple of it), so the whole list compiles once. Item j draws from its
  own key stream fold_in(key(seed), item_ids[j]) (item_ids default 0..n-1), so its sample does not depend on
  batch_size, batching or the other items in the list, where the backend's kernels are batch-invariant (a row's
  floats do not depend on how many rows share the call). XLA CPU's default YNNPACK dot fusion is not: on the MBPP
  job (Gemma 3 270M, float32) a prefill of 16 rows rounds ~3e-5 away from one of 32, and 3 of 64 items' samples
  part at some token (each still a sample of the same distribution); with
  XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type= (1.4-1.8x slower there) prefills of 2 or more rows were
  bitwise equal (a 1-row one still ~1e-5 off) and those 64 items' tokens identical across batch sizes and batchings (`benchmarks/generation.py --batch_invariant`).
  batching: "continuous" (`datasynth.continuous`: batch_size slots, each refilled with the next item as soon as its
    row ends; decoding runs in compiled blocks of at most `block_steps` steps, each ending as soon as enough slots
    are free for the waiting items) or "static" (one compiled `sample` call per
    batch of batch_size items, which runs until its longest row ends; the last batch is padded with repeats). Both
    give every item the same tokens (under batch-invariant kernels, as above).
  dtype: compute dtype; the weights are cast to it once (bfloat16 halves the bytes each decode step reads; on CPU
    a tied table is also laid out for decoding once, `decode_layout`).
  scan_layers: run the layers as a scan (faster compile) instead of unrolled (faster decode); see `sample`.
  share_common_prefix: when the prompts' token ids all start with the same ids (a few-shot prompt's shots), embed
    that common run once and pass it as a shared prefix (prefilled once, its cache read by every row) so each row
    prefills only its own tail (`common_token_prefix`). The ids the model sees are the same as without it (the
    split is on the whole prompts' tokenisation, not on text); only the order of float sums in attention differs.
  """
  if batching not in BATCHING:
    raise ValueError(f"batching must be one of {BATCHING}, got {batching!r}.")
  tok = model.tokenizer
  shared = prefixes is not None and np.ndim(prefixes) == 2
  if shared and prompts is None:
    raise ValueError("A shared prefix ([t, width]) needs a list of prompts (one row each); pass prompts=[''] * n.")
  n = len(prompts) if prompts is not None else (len(prefixes) if prefixes is not None else 0)
  if n == 0:
    raise ValueError("sample_text needs a non-empty list of prompts or prefixes.")
  if prompts is not None and prefixes is not None and not shared and len(prefixes) != len(prompts):
    raise ValueError(f"Got {len(prompts)} prompts but {len(prefixes)} prefixes; give one prefix per prompt.")
  ids = tokens = mask = None
  if prompts is not None:
    ids = [tok.encode(p, add_bos=add_bos) for p in prompts]
    if prefixes is None and any(len(x) == 0 for x in ids):
      raise ValueError(f"Prompt {next(i for i, x in enumerate(ids) if not x)} is empty and there is no prefix.")
  common = common_token_prefix(ids) if share_common_prefix and prefixes is None and n > 1 else 0
  if common:
    ids, head = [x[common:] for x in ids], ids[0][:common]
  if ids is not None:
    tokens, mask = tok.pad_batch(ids, length=buckets.prompt_length(max(len(x) for x in ids), length_multiple))
  dtype = jnp.dtype(dtype)
  params = jax.device_put(model.params) if mesh is None else _place(model, mesh, rules)
  if dtype != jnp.float32:
    params = cast_params(params, dtype)
  config, params = decode_layout(model.config, params, dtype)
  dec = Decoder(config, dtype=dtype, scan_layers=scan_layers)
  if common:
    prefixes = np.asarray(dec.apply({"params": params}, jnp.asarray(head, jnp.int32)[None], method=Decoder.embed)[0])
    shared = True
  item_ids = np.arange(n) if item_ids is None else np.asarray(item_ids, np.int64)
  if item_ids.shape != (n,):
    raise ValueError(f"item_ids has shape {item_ids.shape}; give one id per prompt / prefix ({n}).")
  key = jax.random.key(seed)
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(item_ids, jnp.uint32))
  inputs = dict(tokens=tokens, mask=mask, prefixes=None if prefixes is None else np.asarray(prefixes), shared=shared)
  settings = dict(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p, eos_id=eos_id,
                  stop_sequences=tuple(stop), tokenizer=tok, mesh=mesh, rules=rules)
  bar = progress_lib.bar(n, desc="sampling", unit="seq", enabled=progress)
  if batching == "continuous":
    samples = _continuous(dec, params, inputs, keys, batch_size, block_steps, settings, bar)
  else:
    samples = _static(dec, params, inputs, keys, batch_size, settings, bar)
  bar.close()
  eos = set(_eos_tuple(eos_id, model.config))
  results = [_text_sample(tok, gen, fin, eos, stop) for gen, fin in samples]
  return results if return_details else [r.text for r in results]


def decode_layout(config: DecoderConfig, params, dtype) -> tuple[DecoderConfig, Any]:
  """(config, params) to decode with: on the CPU backend, a 16-bit model with tied embeddings gets its output head as
  a separate [width, vocab] copy of the table (`lm_head`, the layout XLA's 16-bit dot reads) and its lookup table
  in float32; elsewhere `config, params` unchanged. The logits and embeddings are the same values.

  Why: inside a compiled decode loop XLA CPU makes both from the bfloat16 table itself, once per call (a float32
  copy for the gather, a transposed copy for the dot; hoisted out of the loop), ~0.2 s per call for Gemma 3 270M
  on the 2-core machine: paid once per static batch, but once per block of continuous batching (measured, 8-step
  blocks: 150 ms per step, 124 once the copies are made here, once). Costs the two copies' memory (3x the table's).
  """
  if jax.default_backend() != "cpu" or jnp.dtype(dtype).itemsize != 2 or not config.tie_embeddings:
    return config, params
  table = params["embedding"]
  return config.replace(tie_embeddings=False), dict(params, embedding=jnp.asarray(table, jnp.float32),
                                                    lm_head=jnp.asarray(table.T, dtype))


def common_token_prefix(ids: Sequence[Sequence[int]], min_len: int = 16) -> int:
  """How many leading ids every row shares, leaving each row at least one id of its own; 0 if fewer than min_len."""
  if not ids:
    return 0
  limit = min(len(x) for x in ids) - 1
  first, n = ids[0], 0
  while n < limit and all(x[n] == first[n] for x in ids):
    n += 1
  return n if n >= min_len else 0


def _text_sample(tok, gen: list[int], finished: bool, eos: set[int], stop: Sequence[str]) -> TextSample:
  """A row's generated ids as text: the ending EOS removed, cut before the first stop string."""
  body = gen[:-1] if gen and gen[-1] in eos else gen
  return TextSample(text=_cut(tok.decode(body), stop), token_ids=gen, finished=finished)


def _static(dec, params, inputs, keys, batch_size, settings, bar) -> list[tuple[list[int], bool]]:
  """(ids, finished) per item: one `sample` call per batch of batch_size items (the last padded with repeats)."""
  n, out, start, generated = len(keys), [], time.perf_counter(), 0
  for lo in range(0, n, batch_size):
    rows = list(range(lo, min(lo + batch_size, n)))
    rows_padded = rows + [rows[0]] * (batch_size - len(rows))
    kw = {}
    if inputs["tokens"] is not None:
      kw["prompt_tokens"], kw["prompt_mask"] = inputs["tokens"][rows_padded], inputs["mask"][rows_padded]
    if inputs["prefixes"] is not None:
      kw["prefix"] = inputs["prefixes"][None] if inputs["shared"] else inputs["prefixes"][rows_padded]
    res = sample(dec, params, rng=keys[np.asarray(rows_padded)], **settings, **kw)
    toks, lens, fin = np.asarray(res.tokens), np.asarray(res.lengths), np.asarray(res.finished)
    out += [(toks[r, :lens[r]].tolist(), bool(fin[r])) for r in range(len(rows))]
    generated += int(lens[:len(rows)].sum())
    _advance(bar, len(rows), generated, start)
  return out


def _continuous(dec, params, inputs, keys, slots, block_steps, settings, bar) -> list[tuple[list[int], bool]]:
  """(ids, finished) per item from `datasynth.continuous.Engine` with `slots` slots."""
  from datasynth import continuous  # Local import: continuous builds on this module.
  spec, stop_strings = make_spec(dec, **settings)
  shared = inputs["shared"]
  items = continuous.Items(keys=np.asarray(jax.random.key_data(keys)), tokens=inputs["tokens"], mask=inputs["mask"],
                           prefixes=None if shared else inputs["prefixes"],
                           shared_prefix=inputs["prefixes"] if shared else None)
  engine = continuous.Engine(spec, params, slots=slots, block_steps=block_steps, tokenizer=settings["tokenizer"],
                             stop_strings=stop_strings)
  start, generated = time.perf_counter(), [0]

  def on_done(finished: list):
    generated[0] += sum(len(f.token_ids) for f in finished)
    _advance(bar, len(finished), generated[0], start)

  return [(f.token_ids, f.finished) for f in engine.run(items, on_done=on_done)]


def _advance(bar, items: int, generated: int, start: float) -> None:
  bar.update(items)
  bar.set_postfix(tok_per_s=f"{generated / (time.perf_counter() - start):.0f}")


def _cut(text: str, stops: Sequence[str]) -> str:
  cut = min((text.find(s) for s in stops if s in text), default=-1)
  return text if cut < 0 else text[:cut]


def _place(model, mesh, rules):
  from datasynth import sharding
  return sharding.shard_params(model.params, model.config, mesh, rules or sharding.DEFAULT_RULES)
