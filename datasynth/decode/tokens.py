"""Token choice: temperature, top-k, top-p (nucleus) masks and one categorical draw per row from its own key.

`temperature == 0` is greedy (argmax, no softmax); otherwise logits are divided by the temperature and optionally
truncated to the `top_k` largest and / or the smallest set whose probability reaches `top_p` (nucleus), then one
categorical draw per row. top_p alone never sorts the vocabulary (262K for Gemma): the nucleus comes from the 256
largest logits (`lax.top_k`) when their mass reaches p, else from an exact bisection on a logit threshold for those
rows only (`nucleus_threshold`). Row r draws its token at step i with `fold_in(key_r, i)` (`row_keys`). The three
settings travel together as one `Sampling`.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from datasynth.models.decoder import MASK_VALUE as _NEG_INF  # Masked logits: the decoder's one constant.

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Sampling:
  """How a token is chosen from a row's logits (hashable: part of the compiled sampler's static `Spec`)."""
  temperature: float = 1.0  # 0: greedy (argmax); else the logits are divided by it.
  top_k: int = 0  # Keep the k largest logits (0: off).
  top_p: float = 1.0  # Keep the smallest set whose probability reaches p (nucleus; 1: off).

  def __post_init__(self):
    if self.temperature < 0 or not 0.0 < self.top_p <= 1.0 or self.top_k < 0:
      raise ValueError(f"Need temperature >= 0, 0 < top_p <= 1, top_k >= 0; got {self.temperature}, {self.top_p}, "
                       f"{self.top_k}.")
    # Stored as plain Python numbers (a config or a test may give numpy scalars or ints).
    object.__setattr__(self, "temperature", float(self.temperature))
    object.__setattr__(self, "top_k", int(self.top_k))
    object.__setattr__(self, "top_p", float(self.top_p))


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
NUCLEUS_CANDIDATES = 256  # K of the nucleus pre-filter (`lax.top_k`); static.
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


def nucleus_threshold(logits: Array, p: float, candidates: int = NUCLEUS_CANDIDATES) -> tuple[Array, Array]:
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


def nucleus_mask(logits: Array, p: float, candidates: int = NUCLEUS_CANDIDATES) -> Array:
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


def choose_tokens(logits: Array, key: Array, sampling: Sampling) -> Array:
  """One token per row from float32 logits [B, V]: greedy at temperature 0, else a tempered, truncated draw.

  key: one key per row ([B]) or one key (row r then draws with `fold_in(key, r)`).
  """
  temperature, top_k, top_p = sampling.temperature, sampling.top_k, sampling.top_p
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
