"""The compiled sampler: jit-compiled batched sampling from a `Decoder` with a KV cache and an optional embedded prefix.

One call of `sample` is one compiled program with static shapes:

1. *Prefill*: one decoder call over `[prefix; prompt]` writes every input's keys and values into a cache of
   `t + L + max_new_tokens` slots. Ragged prompts are right- (or left-) padded with a validity mask; each row's first
   new token is drawn from the logits at its own last real input, and the decoder's per-row positions make the padded
   slots invisible. A prefix shared by every row (batch 1) is prefilled once into its own cache, which every row
   attends to (`datasynth.models.decoder.attach_prefix`: stored and read once per step, not once per row).
2. *Decode*: a `jax.lax.while_loop` feeds one token per row per step (no Python loop per token) and stops as soon as
   every row is done or `max_new_tokens` are drawn. With `Decoder(scan_layers=False)` (what `sample_text` uses) the
   weights are split per layer once per call, so a step reads each weight buffer once and copies none.

Choosing a token: `datasynth.decode.tokens` (`Sampling`: temperature, top-k, top-p; one draw per row).

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
same token) trimmed. How a row ends (`max_new_tokens`, stop sequences, EOS ids) travels as one `Ending`.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Sequence

import flax
import jax
import jax.numpy as jnp
import numpy as np

from datasynth import sharding
from datasynth.decode.tokens import Sampling, choose_tokens, row_keys
from datasynth.models.config import DecoderConfig
from datasynth.models.decoder import Decoder, attach_prefix, init_cache, unstack_layers

Array = jax.Array


@flax.struct.dataclass
class SampleOutput:
  tokens: Array  # [B, max_new_tokens] int32; pad_id after each row's end.
  lengths: Array  # [B] generated tokens up to and including the EOS / stop token that ended the row.
  finished: Array  # [B] bool: the row ended by EOS or a stop sequence (not by running out of tokens).
  logprobs: Array | None = None  # [B, max_new_tokens] log p(token) under the model (temperature 1, untruncated).


@dataclasses.dataclass(frozen=True)
class Spec:
  """Everything static about one compiled sampler (hashable: it is a jit static argument)."""
  config: DecoderConfig
  dtype: Any
  cache_dtype: Any
  scan_layers: bool
  max_new_tokens: int
  sampling: Sampling
  eos_ids: tuple[int, ...]
  stop_ids: tuple[tuple[int, ...], ...]
  pad_id: int
  return_logprobs: bool
  mesh: Any = None  # jax.sharding.Mesh or None: constrain the cache and batch to it.
  rules: tuple = ()


# ------------------------------------------------------------------------------------------------ ending a row
@dataclasses.dataclass(frozen=True)
class Ending:
  """How a row ends: at its first EOS id or completed stop sequence, else after `max_new_tokens` tokens."""
  max_new_tokens: int = 128  # The most tokens drawn per row.
  stop: Sequence[str | Sequence[int]] = ()  # Token-id lists (matched exactly) and / or strings (need a tokenizer).
  eos_id: int | Sequence[int] | None | str = "config"  # "config" (the config's eos_id), an id, a list of ids, or None.

  def __post_init__(self):
    if self.max_new_tokens < 1:
      raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}.")
    # Stored as a Python int and a tuple (a config or a test may give a numpy scalar or a list).
    object.__setattr__(self, "max_new_tokens", int(self.max_new_tokens))
    object.__setattr__(self, "stop", tuple(self.stop or ()))


def ends_row(tokens: Array, i: Array, spec: Spec) -> Array:
  """[B] bool: the token just written at column i is an EOS id or completes a stop sequence.

  i: one column for every row, or [B] columns, one per row (`datasynth.decode.continuous`: rows at different steps)."""
  if jnp.ndim(i) == 1:
    return jax.vmap(lambda row, j: ends_row(row[None], j, spec)[0])(tokens, i)
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
def constrain_cache(cache: dict[str, Array], spec: Spec) -> dict[str, Array]:
  if spec.mesh is None:
    return cache
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
def _sample_core(params, tokens, token_mask, prefix, prefix_mask, rng, *, spec: Spec):
  """Prefill + while-loop decode. Returns (tokens [B,N], lengths [B], finished [B], logprobs [B,N] or None)."""
  n_new = spec.max_new_tokens
  dec = Decoder(spec.config, dtype=spec.dtype, scan_layers=spec.scan_layers)
  if not spec.scan_layers:
    params = unstack_layers(params)  # Sliced once per call, not once per decode step.
  constrain = functools.partial(constrain_cache, spec=spec)
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
    return choose_tokens(logits, step_keys, spec.sampling)

  def logprob(logits, tok):
    return jnp.take_along_axis(jax.nn.log_softmax(logits, axis=-1), tok[:, None], axis=-1)[:, 0]

  buf = jnp.full((b, n_new), spec.pad_id, jnp.int32)
  lps = jnp.zeros((b, n_new), jnp.float32)
  tok = choose(logits, 0)
  buf = buf.at[:, 0].set(tok)
  if spec.return_logprobs:
    lps = lps.at[:, 0].set(logprob(logits, tok))
  done = ends_row(buf, 0, spec)
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
    ends = ~done & ends_row(buf, i, spec)
    lengths = jnp.where(ends, i + 1, lengths)
    return i + 1, cache, tok, buf, lps, done | ends, lengths

  state = (jnp.int32(1), cache, tok, buf, lps, done, lengths)
  _, _, _, buf, lps, done, lengths = jax.lax.while_loop(cond, body, state)
  return buf, lengths, done, (lps if spec.return_logprobs else None)


# ------------------------------------------------------------------------------------------------ public API
def eos_tuple(eos_id, config: DecoderConfig) -> tuple[int, ...]:
  if isinstance(eos_id, str):
    if eos_id != "config":
      raise ValueError(f"eos_id must be an int, a list of ints, None or 'config', got {eos_id!r}.")
    return () if config.eos_id is None else (int(config.eos_id),)
  if eos_id is None:
    return ()
  if isinstance(eos_id, (int, np.integer)):
    return (int(eos_id),)
  return tuple(int(e) for e in eos_id)


def stop_tuples(stop, tokenizer) -> tuple[tuple[tuple[int, ...], ...], tuple[str, ...]]:
  """Token-id stop sequences (exact) and stop strings (host-checked; their tokenisation is a fast path)."""
  ids, strings = [], []
  for s in stop or ():
    if isinstance(s, str):
      if not s:
        raise ValueError("Empty stop string; remove it from Ending.stop.")
      if tokenizer is None:
        raise ValueError(f"Stop string {s!r} needs a tokenizer; pass tokenizer= or give token-id lists.")
      strings.append(s)
      enc = tuple(tokenizer.encode(s, add_bos=False))
      if enc:
        ids.append(enc)
    else:
      seq = tuple(int(x) for x in s)
      if not seq:
        raise ValueError("Empty stop sequence; remove it from Ending.stop.")
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
           prefix_mask=None, rng: Array | int = 0, ending: Ending, sampling: Sampling = Sampling(), tokenizer=None,
           return_logprobs: bool = False, pad_id: int | None = None, mesh=None, rules=None,
           cache_dtype=None) -> SampleOutput:
  """Draw up to `ending.max_new_tokens` tokens per row after `[prefix; prompt]`.

  model: a `Decoder` (its config, compute dtype and `scan_layers` are used) or a DecoderConfig. With
    `scan_layers=False` the layers run unrolled, each on its own weight buffers (the fastest decode; compiles
    longer); the layer scan slices every weight out of the stack on every step.
  prompt_tokens / prompt_mask: int [B, L] and bool [B, L] (True on real tokens; padding on either side).
  prefix / prefix_mask: [B, t, width] embedded prefix (e.g. a SoftSRV soft prompt) and optional bool [B, t]. A
    prefix with batch 1 and prompts with batch B > 1 share the prefix: it is prefilled once and its cache shared.
  rng: a PRNG key or an int seed (row r's stream is fold_in(rng, r)), or one key per row ([B] keys: a row's sample
    then depends on its key only, not on its batch). sampling: token choice (temperature, top-k, top-p).
  ending: max_new_tokens, EOS ids and stop sequences: token-id lists (matched exactly) and / or strings (need
    `tokenizer`; see the module docstring).
  mesh / rules: optional `datasynth.sharding` mesh and logical rules; the cache is constrained to them.
  cache_dtype: the KV cache's dtype; default the compute dtype, but float32 on the CPU backend, where XLA rewrites a
    bfloat16 cache update as a float32 round trip of the whole cache (per layer, per step).
  """
  dec = model if isinstance(model, Decoder) else Decoder(model)
  if prompt_tokens is None and prefix is None:
    raise ValueError("sample needs prompt_tokens, a prefix, or both.")
  spec, stop_strings = make_spec(dec, ending=ending, sampling=sampling, tokenizer=tokenizer,
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


def make_spec(dec: Decoder, *, ending: Ending, sampling: Sampling = Sampling(), tokenizer=None,
              return_logprobs: bool = False, pad_id=None, mesh=None, rules=None,
              cache_dtype=None) -> tuple[Spec, tuple[str, ...]]:
  """The compiled sampler's static settings (checked) and the stop strings left to the host; see `sample`."""
  cfg = dec.config
  if cache_dtype is None:
    cache_dtype = jnp.float32 if jax.default_backend() == "cpu" else dec.dtype
  stop_ids, stop_strings = stop_tuples(ending.stop, tokenizer)
  if pad_id is None:
    pad_id = cfg.pad_id if cfg.pad_id is not None else 0
  if mesh is not None and rules is None:
    rules = sharding.DEFAULT_RULES
  spec = Spec(config=cfg, dtype=dec.dtype, cache_dtype=jnp.dtype(cache_dtype), scan_layers=dec.scan_layers,
              max_new_tokens=ending.max_new_tokens, sampling=sampling, eos_ids=eos_tuple(ending.eos_id, cfg),
              stop_ids=stop_ids, pad_id=int(pad_id), return_logprobs=bool(return_logprobs), mesh=mesh,
              rules=tuple(rules) if rules else ())
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
