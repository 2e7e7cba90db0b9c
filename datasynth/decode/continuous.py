"""Continuous batching: a fixed set of decoding slots, each refilled with the next item as soon as its row ends.

`datasynth.decode.kernels.sample` runs a batch until its longest row ends, so rows that stopped early idle (the MBPP
SoftSRV job generates ~18 of its 32-token budget per item: most of a static batch's steps feed finished rows). Here
S slots decode together in jitted blocks of at most K steps (`lax.while_loop`, no host round trip per token); a block
ends once R slots have ended while items wait (or fewer, as many as are left), so an ended row idles for the few
steps until R rows have ended, not to the end of a block. Between blocks the host reads which slots ended (EOS, a
stop sequence, the token budget, or a stop string found by decoding the slot's text), takes their tokens, and
prefills the next items into those slots' cache rows (`_refill`: a jitted prefill of R items scattered into the slot
rows of the cache at the slots' indices). Each decode step and each refill reads every weight once, so R trades a
refill's cost per item (fewer, larger prefills) against the steps ended rows wait (see `Engine.refill_rows`).

Same bytes as static batching. Every slot's cache row has static batching's layout for its item: `[prefix; prompt]`
padded to the same length L (the caller gives static's L), then the generated tokens, in a cache of the same
t + L + max_new_tokens slots (or a shared prefix segment, `attach_prefix`, as static's SS_NP / prompt-tuning path).
Each slot has its own write index (`init_cache`'s per-row `index`) and its own step counter, and draws its token i
with fold_in(key_j, i) for the item j it holds: the item's key stream, whatever slot or neighbours it had. So an
item's computation is static batching's row computation on the same inputs, and its tokens are the same (tested on
tiny decoders in float32 across slot counts, with per-row prefixes, a shared prefix and token prompts) wherever the
backend's kernels give a row the same floats whatever the number of rows in the call. XLA CPU's default YNNPACK dot
fusion does not (refills prefill fewer rows than a static batch): on the MBPP job 3 of 64 items part from static's
tokens at some token, as static batching's own items do between batch sizes 16 and 32; without that fusion
(`datasynth.decode.text.sample_text`'s docstring) all 64 were identical for 8 and 32 slots and block sizes 1 and 8,
though a refill group of one row (`group_sizes`) still rounds ~1e-5 away there and may part an item's tokens in a longer
run.

Stop strings are checked on the host between blocks with `kernels.first_stop_end` on the slot's tokens so far: the
first token whose decoded text contains a stop string is found on any prefix that contains it (containment is
monotone), so the cut is static batching's cut, and the slot is refilled as soon as the block that wrote it ends.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from datasynth.decode.kernels import (Spec, constrain_cache, decode_step, ends_row, first_stop_end,
                                      prefill_after_shared_prefix, prefill_rows, prefill_shared_prefix)
from datasynth.decode.tokens import choose_tokens
from datasynth.models.decoder import Decoder, attach_prefix, init_cache, unstack_layers

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Items:
  """N items in static batching's layout: the rows `sample` would be given, one per item (host arrays)."""
  keys: np.ndarray  # [N, ...] uint32: item j's key data (`jax.random.key_data`) (its stream: token i drawn with fold_in(key_j, i)).
  tokens: np.ndarray | None = None  # [N, L] int32 prompts, padded to static batching's length L.
  mask: np.ndarray | None = None  # [N, L] bool, True on real prompt tokens.
  prefixes: np.ndarray | None = None  # [N, t, width]: one embedded prefix per item.
  shared_prefix: np.ndarray | None = None  # [t, width]: one prefix for every item (prefilled once).

  def __post_init__(self):
    if self.tokens is None and self.prefixes is None:
      raise ValueError("Items need prompt tokens, per-item prefixes, or both (a shared prefix needs prompts).")
    if self.shared_prefix is not None and (self.tokens is None or self.prefixes is not None):
      raise ValueError("A shared prefix goes with one prompt per item and no per-item prefixes.")

  def __len__(self) -> int:
    return len(self.keys)

  def rows(self, index: np.ndarray) -> dict[str, np.ndarray | None]:
    """The refill inputs of items `index`."""
    pick = lambda a: None if a is None else a[index]
    prefix = pick(self.prefixes)
    return dict(tokens=pick(self.tokens), mask=pick(self.mask), prefix=prefix,
                prefix_mask=None if prefix is None else np.ones(prefix.shape[:2], bool), keys=self.keys[index])


@dataclasses.dataclass
class Finished:
  """One item's sample: its generated ids up to and including the ending token, and whether EOS / a stop ended it."""
  token_ids: list[int]
  finished: bool


def _decoder(spec: Spec) -> Decoder:
  return Decoder(spec.config, dtype=spec.dtype, scan_layers=spec.scan_layers)


def _choose(logits: Array, keys: Array, steps: Array, spec: Spec) -> Array:
  """Token `steps[r]` of row r, drawn with fold_in(keys[r], steps[r]) (static batching's per-row stream)."""
  step_keys = jax.vmap(lambda k, i: jax.random.fold_in(jax.random.wrap_key_data(k), i))(keys, steps)
  return choose_tokens(logits, step_keys, spec.sampling)


def _prefill(params, rows: dict, shared, spec: Spec):
  """Next-token logits and the cache of `rows` (per-row `[prefix; prompt]`, or prompts after the shared prefix)."""
  dec, constrain = _decoder(spec), functools.partial(constrain_cache, spec=spec)
  n_new = spec.max_new_tokens
  if shared is not None:
    return prefill_after_shared_prefix(dec, params, rows["tokens"], rows["mask"], shared, n_new, spec.cache_dtype,
                                       constrain)
  return prefill_rows(dec, params, rows["tokens"], rows["mask"], rows["prefix"], rows["prefix_mask"], n_new,
                      spec.cache_dtype, constrain)


def init_state(spec: Spec, slots: int, cache_len: int, key_shape: tuple[int, ...], shared=None) -> dict:
  """S empty slots (done, nothing to decode); the cache has `cache_len` slots per row and per-row write indices."""
  cache = init_cache(spec.config, slots, cache_len, spec.cache_dtype)
  cache["index"] = jnp.zeros((slots,), jnp.int32)
  if shared is not None:
    cache = attach_prefix(cache, shared[1])
  return dict(cache=cache, prev=jnp.zeros((slots,), jnp.int32), steps=jnp.zeros((slots,), jnp.int32),
              done=jnp.ones((slots,), bool), hit=jnp.zeros((slots,), bool),
              buf=jnp.full((slots, spec.max_new_tokens), spec.pad_id, jnp.int32),
              keys=jnp.zeros((slots, *key_shape), jnp.uint32))


_unstack = jax.jit(unstack_layers)


@functools.partial(jax.jit, static_argnames=("spec",))
def _prefill_shared(params, prefix: Array, *, spec: Spec):
  """The shared prefix [1, t, width] run once: (its next-token logits, its batch-1 cache)."""
  return prefill_shared_prefix(_decoder(spec), params, prefix, jnp.ones(prefix.shape[:2], bool), spec.cache_dtype)


@functools.partial(jax.jit, static_argnames=("spec",), donate_argnames=("state",))
def _refill(params, state: dict, slots: Array, rows: dict, prefix_logits, *, spec: Spec) -> dict:
  """Prefill R items and put them into `slots` ([R] distinct slot indices): each slot's cache
  row, write index, first token (drawn as static batching's token 0), step counter and key are replaced.
  prefix_logits: a shared prefix's next-token logits (its cache is the state's prefix segment), or None."""
  shared = None if prefix_logits is None else (prefix_logits, state["cache"]["prefix"])
  logits, cache = _prefill(params, rows, shared, spec)
  r = logits.shape[0]
  tok = _choose(logits, rows["keys"], jnp.zeros((r,), jnp.int32), spec)
  buf = jnp.full((r, spec.max_new_tokens), spec.pad_id, jnp.int32).at[:, 0].set(tok)
  hit = ends_row(buf, 0, spec)
  new = dict(prev=tok, steps=jnp.ones((r,), jnp.int32), done=hit | (spec.max_new_tokens == 1), hit=hit, buf=buf,
             keys=rows["keys"])
  put = lambda a, b, axis=0: a.at[(slice(None),) * axis + (slots,)].set(b, mode="drop")
  old = state["cache"]
  new_cache = dict(old, k=put(old["k"], cache["k"], 1), v=put(old["v"], cache["v"], 1),
                   pos=put(old["pos"], cache["pos"]), valid=put(old["valid"], cache["valid"]),
                   index=put(old["index"], jnp.broadcast_to(cache["index"], (r,))))
  return dict({name: put(state[name], value) for name, value in new.items()}, cache=new_cache)


@functools.partial(jax.jit, static_argnames=("spec", "block_steps"), donate_argnames=("state",))
def decode_block(params, state: dict, release: Array, want: Array, *, spec: Spec, block_steps: int) -> dict:
  """Up to `block_steps` decode steps of every live slot, fewer when all are done or when `want` (a scalar) slots
  have ended in this block (the host then refills them: an ended row does not idle to the block's end);
  `release` [S] ends slots first (a stop string found on the host with no item left to refill them)."""
  dec, constrain = _decoder(spec), functools.partial(constrain_cache, spec=spec)
  n_new = spec.max_new_tokens
  rows = jnp.arange(state["buf"].shape[0])
  state = dict(state, done=state["done"] | release)
  done_before = jnp.sum(state["done"])

  def cond(carry):
    j, st = carry
    ended = jnp.sum(st["done"]) - done_before  # Slots ended in this block.
    return (j < block_steps) & ~jnp.all(st["done"]) & (ended < want)

  def body(carry):
    j, st = carry
    live, steps = ~st["done"], st["steps"]
    logits, cache = decode_step(dec, params, st["prev"], live, st["cache"], constrain)
    cache["index"] = jnp.where(live, cache["index"], st["cache"]["index"])  # Ended rows stay where they are.
    tok = jnp.where(live, _choose(logits, st["keys"], steps, spec), spec.pad_id)
    buf = st["buf"].at[rows, jnp.where(live, steps, n_new)].set(tok, mode="drop")
    ends = live & ends_row(buf, jnp.minimum(steps, n_new - 1), spec)
    steps = steps + live
    return j + 1, dict(st, cache=cache, prev=jnp.where(live, tok, st["prev"]), steps=steps, buf=buf,
                       hit=st["hit"] | ends, done=st["done"] | ends | (steps >= n_new))

  return jax.lax.while_loop(cond, body, (jnp.int32(0), state))[1]


def group_sizes(n: int, largest: int) -> list[int]:
  """n refills as prefill groups, largest first: `largest` while n allows, then the binary digits of the rest, so no
  group carries padding rows and at most 1 + log2(largest) group shapes are ever compiled."""
  sizes = []
  while n > 0:
    size = largest if n >= largest else 1 << (n.bit_length() - 1)
    sizes.append(size)
    n -= size
  return sizes


@dataclasses.dataclass
class Engine:
  """S slots over one compiled decoder; `run(items)` samples every item (see the module docstring)."""
  spec: Spec
  params: dict  # H's weights (unstacked per layer once here when the decoder runs unrolled).
  slots: int  # S: rows decoding together.
  # K: the most decode steps per compiled block (one host round trip per block); a block ends sooner once R slots
  # have ended while items wait, so K only bounds how long slots cut by stop strings (host-checked) run on.
  block_steps: int = 32
  # R: the most items prefilled by one refill call (`group_sizes`; R <= S), and how many ended slots end a block.
  # None: 4 for float32, 8 for 16-bit compute, the fastest on the MBPP generation job on a 2-core CPU (a bfloat16
  # prefill of few rows costs more per row); the figures are in benchmarks/README.md.
  refill_rows: int | None = None
  tokenizer: object = None  # Needed for stop strings.
  stop_strings: Sequence[str] = ()

  def __post_init__(self):
    if self.refill_rows is None:
      self.refill_rows = 8 if jnp.dtype(self.spec.dtype).itemsize == 2 else 4
    if self.slots < 1 or self.block_steps < 1 or self.refill_rows < 1:
      raise ValueError(f"Need slots, block_steps and refill_rows >= 1; got {self.slots}, {self.block_steps}, "
                       f"{self.refill_rows}.")
    if self.stop_strings and self.tokenizer is None:
      raise ValueError("Stop strings need a tokenizer.")
    self.refill_rows = min(self.refill_rows, self.slots)
    if not self.spec.scan_layers:
      self.params = _unstack(self.params)  # Once per engine, not once per block.

  def run(self, items: Items, on_done: Callable[[list[Finished]], None] | None = None) -> list[Finished]:
    """Every item's sample, in item order; `on_done(samples)` after each block with the samples it ended."""
    shared = self._shared(items)
    cache_len = (0 if items.tokens is None else items.tokens.shape[1]) + self.spec.max_new_tokens
    if items.prefixes is not None:
      cache_len += items.prefixes.shape[1]
    state = init_state(self.spec, self.slots, cache_len, items.keys.shape[1:], shared)
    held = [-1] * self.slots  # The item each slot holds (-1: empty).
    results: list[Finished | None] = [None] * len(items)
    state, queued = self.fill(state, items, shared, held, 0)
    release = np.zeros(self.slots, bool)
    while any(j >= 0 for j in held):
      left = len(items) - queued  # Items waiting for a slot: end the block once enough slots are free for them.
      want = min(self.refill_rows, left) if left else self.slots + 1
      state = decode_block(self.params, state, jnp.asarray(release), jnp.int32(want), spec=self.spec,
                           block_steps=self.block_steps)
      ended, ended_items = self._collect(state, held, results)
      release = np.zeros(self.slots, bool)
      release[ended] = True  # Slots ended on the host (stop strings) that no item refills stay ended on device.
      state, queued = self.fill(state, items, shared, held, queued)
      release &= np.array([j < 0 for j in held])
      if on_done is not None and ended:
        on_done([results[j] for j in ended_items])
    return results

  def _shared(self, items: Items):
    if items.shared_prefix is None:
      return None
    return _prefill_shared(self.params, jnp.asarray(items.shared_prefix)[None], spec=self.spec)

  def fill(self, state, items: Items, shared, held: list[int], queued: int):
    """Refill empty slots with the next items in `group_sizes` groups; returns (state, items queued so far)."""
    empty = [s for s, j in enumerate(held) if j < 0]
    lo = 0
    for size in group_sizes(min(len(empty), len(items) - queued), self.refill_rows):
      slots, index = empty[lo:lo + size], np.arange(queued, queued + size)
      for s, j in zip(slots, index):
        held[s] = int(j)
      lo, queued = lo + size, queued + size
      state = _refill(self.params, state, jnp.asarray(slots, jnp.int32), items.rows(index),
                      None if shared is None else shared[0], spec=self.spec)
    return state, queued

  def _collect(self, state, held: list[int], results: list) -> tuple[list[int], list[int]]:
    """Take the samples of slots that ended (on device, or by a stop string found here); returns those slots and
    their items."""
    done, steps, hit, buf = jax.device_get((state["done"], state["steps"], state["hit"], state["buf"]))
    ended, items = [], []
    for s, j in enumerate(held):
      if j < 0:
        continue
      ids = buf[s, :steps[s]].tolist()
      cut = first_stop_end(self.tokenizer, ids, self.stop_strings) if self.stop_strings else None
      if cut is not None:
        results[j] = Finished(ids[:cut], True)
      elif done[s]:
        results[j] = Finished(ids, bool(hit[s]))
      else:
        continue
      held[s] = -1
      ended.append(s)
      items.append(j)
    return ended, items
