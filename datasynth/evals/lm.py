"""The two model callables the harnesses take, implemented with our Decoder.

- `greedy_generator(model, ...)`: `list[str] -> list[str]`, greedy continuations cut at stop strings. Uses
  `datasynth.sampling.sample_text` (KV-cached, compiled) when that module is importable, else a small KV-cached
  greedy loop here (prefill a left-padded batch, then one `lax.fori_loop` of single-token steps).
- `loglik_scorer(model, ...)`: `list[(context, continuation)] -> list[float]`, the sum of log p(continuation tokens
  | context), batched and jitted with padding masks; only the continuation positions are unembedded, so a 262K
  vocabulary costs [batch, continuation, vocab], not [batch, length, vocab].

`model` is a `datasynth.models.LoadedModel` (config, params, tokenizer).
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np

GenerateFn = Callable[[list[str]], list[str]]
LoglikFn = Callable[[list[tuple[str, str]]], list[float]]


def _round_up(n: int, multiple: int) -> int:
  return max(multiple, -(-n // multiple) * multiple)


def _cut(text: str, stop: Sequence[str]) -> str:
  cut = min((text.find(s) for s in stop if s in text), default=-1)
  return text if cut < 0 else text[:cut]


def _tqdm(total: int, desc: str, enabled: bool):
  from tqdm.auto import tqdm
  return tqdm(total=total, desc=desc, unit="ex", disable=not enabled)


# ----------------------------------------------------------------------------------------------------------------
# Greedy generation.

def _greedy_fallback(model, prompts: list[str], *, max_new_tokens: int, stop: Sequence[str], batch_size: int,
                     progress: bool, length_multiple: int = 64) -> list[str]:
  """KV-cached greedy decoding with our Decoder, for when `datasynth.sampling` is not available."""
  import jax
  import jax.numpy as jnp
  from datasynth.models import Decoder, init_cache

  cfg, tok = model.config, model.tokenizer
  dec = Decoder(cfg)
  eos = cfg.eos_id if cfg.eos_id is not None else -1
  ids = [tok.encode(p) for p in prompts]
  length = _round_up(max(len(x) for x in ids), length_multiple)
  # Stop strings as token ids, for an early exit only (the text is still cut at the string afterwards).
  stop_ids = [tuple(tok.encode(s, add_bos=False)) for s in stop]
  stop_ids = [s for s in stop_ids if s]
  margin = max((len(s) for s in stop_ids), default=1)
  if length + max_new_tokens > cfg.max_len:
    raise ValueError(f"Prompts of up to {length} tokens + {max_new_tokens} new tokens exceed the model's context "
                     f"of {cfg.max_len}; shorten the prompts (fewer shots) or lower max_new_tokens.")

  @jax.jit
  def run(params, tokens, mask):
    b = tokens.shape[0]
    cache = init_cache(cfg, b, length + max_new_tokens, jnp.float32)
    out = dec.apply({"params": params}, tokens, input_mask=mask, cache=cache, logits=False)
    # Left padding: the last column is real in every row; unembed only it (a 262K vocabulary x length is large).
    last = dec.apply({"params": params}, out.final_hidden[:, -1:], method=Decoder.unembed)[:, 0]
    first = jnp.argmax(last, axis=-1).astype(jnp.int32)

    def step(carry):
      i, cache, token, done, gen = carry
      gen = gen.at[:, margin + i].set(jnp.where(done, eos, token))
      done = done | (token == eos)
      for ids_ in stop_ids:  # Row is done when its last tokens spell a stop sequence.
        tail = jax.lax.dynamic_slice_in_dim(gen, margin + i + 1 - len(ids_), len(ids_), axis=1)
        done = done | jnp.all(tail == jnp.asarray(ids_, jnp.int32), axis=1)
      o = dec.apply({"params": params}, token[:, None], input_mask=jnp.ones((b, 1), bool), cache=cache)
      return i + 1, o.cache, jnp.argmax(o.logits[:, -1], axis=-1).astype(jnp.int32), done, gen

    gen = jnp.full((b, margin + max_new_tokens), -1, jnp.int32)  # `margin` columns of -1 before the first token.
    init = (jnp.int32(0), out.cache, first, jnp.zeros((b,), bool), gen)
    # Stop early once every row has produced EOS or a stop sequence.
    *_, gen = jax.lax.while_loop(lambda c: (c[0] < max_new_tokens) & ~jnp.all(c[3]), step, init)
    return gen[:, margin:]

  texts = []
  bar = _tqdm(len(prompts), "greedy generate", progress)
  for lo in range(0, len(prompts), batch_size):
    rows = ids[lo:lo + batch_size]
    n = len(rows)
    rows = rows + [rows[0]] * (batch_size - n)
    tokens, mask = tok.pad_batch(rows, length=length, side="left")
    gen = np.asarray(run(model.params, tokens, mask))[:n]
    for g in gen:
      g = [t for t in g.tolist() if t >= 0]
      g = g[:g.index(eos)] if eos in g else g
      texts.append(_cut(tok.decode(g), stop))
    bar.update(n)
  bar.close()
  return texts


def greedy_generator(model, *, max_new_tokens: int = 256, stop: Sequence[str] = (), batch_size: int = 4,
                     progress: bool = True, use_sampling_module: bool = True) -> GenerateFn:
  """A `generate_fn` for the harnesses: greedy decoding with `model` (a LoadedModel), cut before any stop string."""
  def generate(prompts: list[str]) -> list[str]:
    if not prompts:
      return []
    if use_sampling_module:
      try:
        from datasynth.sampling import sample_text
      except ImportError:
        sample_text = None
      if sample_text is not None:
        texts = sample_text(model, list(prompts), batch_size=batch_size, max_new_tokens=max_new_tokens,
                            temperature=0.0, stop=tuple(stop), progress=progress)
        return [_cut(t, stop) for t in texts]
    return _greedy_fallback(model, list(prompts), max_new_tokens=max_new_tokens, stop=stop, batch_size=batch_size,
                            progress=progress)
  return generate


# ----------------------------------------------------------------------------------------------------------------
# Log-likelihood of continuations.

@functools.lru_cache(maxsize=8)
def _loglik_program(cfg):
  import jax
  import jax.numpy as jnp
  from datasynth.models import Decoder
  dec = Decoder(cfg)

  @jax.jit
  def score(params, tokens, mask, gather, targets, target_mask):
    """tokens/mask: [B, L]; gather: [B, C] positions whose next-token prediction is scored; targets: [B, C]."""
    h = dec.apply({"params": params}, tokens, input_mask=mask, logits=False).final_hidden
    h = jnp.take_along_axis(h, gather[..., None], axis=1)  # [B, C, width]
    logits = dec.apply({"params": params}, h, method=Decoder.unembed)
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    tok_logp = jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
    return jnp.sum(jnp.where(target_mask, tok_logp, 0.0), axis=-1)

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
        raise ValueError(f"Pair {i}: context and continuation must both encode to at least one token.")
      if len(c) + len(k) > cfg.max_len:
        raise ValueError(f"Pair {i} has {len(c) + len(k)} tokens, more than the model's context of {cfg.max_len}; "
                         "shorten the passage.")
      enc.append((c, k))
    order = np.argsort([len(c) + len(k) for c, k in enc], kind="stable")  # Less padding per batch.
    out = np.zeros(len(pairs), np.float64)
    bar = _tqdm(len(pairs), "loglik", progress)
    for lo in range(0, len(order), batch_size):
      rows = list(order[lo:lo + batch_size])
      batch = [enc[r] for r in rows] + [enc[rows[0]]] * (batch_size - len(rows))
      length = _round_up(max(len(c) + len(k) for c, k in batch), length_multiple)
      width = _round_up(max(len(k) for _, k in batch), 8)
      tokens, mask = tok.pad_batch([c + k for c, k in batch], length=length)
      gather = np.zeros((batch_size, width), np.int32)
      targets = np.zeros((batch_size, width), np.int32)
      tmask = np.zeros((batch_size, width), bool)
      for b, (c, k) in enumerate(batch):
        gather[b, :len(k)] = np.arange(len(c) - 1, len(c) + len(k) - 1)  # Position j predicts token j + 1.
        targets[b, :len(k)], tmask[b, :len(k)] = k, True
      vals = np.asarray(score(model.params, tokens, mask, gather, targets, tmask))
      out[rows] = vals[:len(rows)]
      bar.update(len(rows))
    bar.close()
    return out.tolist()

  return loglik
