"""The two model callables the harnesses take, implemented with our Decoder.

- `greedy_generator(model, ...)`: `list[str] -> list[str]`, greedy continuations cut before the first stop string,
  through `datasynth.sampling.sample_text` (KV-cached, compiled; it does the cut).
- `loglik_scorer(model, ...)`: `list[(context, continuation)] -> list[float]`, the sum of log p(continuation tokens
  | context) = -sum of `datasynth.losses.token_nll`, batched and jitted with padding masks; only the continuation positions are unembedded, so a 262K
  vocabulary costs [batch, continuation, vocab], not [batch, length, vocab].

`model` is a `datasynth.models.LoadedModel` (config, params, tokenizer).
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np

from datasynth import progress as progress_lib
from datasynth.buckets import round_up
from datasynth.errors import UserError

GenerateFn = Callable[[list[str]], list[str]]
LoglikFn = Callable[[list[tuple[str, str]]], list[float]]


# ----------------------------------------------------------------------------------------------------------------
# Greedy generation.

def greedy_generator(model, *, max_new_tokens: int = 256, stop: Sequence[str] = (), batch_size: int = 4,
                     progress: bool = True) -> GenerateFn:
  """A `generate_fn` for the harnesses: greedy decoding with `model` (a LoadedModel), cut before any stop string."""
  from datasynth.sampling import sample_text

  def generate(prompts: list[str]) -> list[str]:
    if not prompts:
      return []
    return sample_text(model, list(prompts), batch_size=batch_size, max_new_tokens=max_new_tokens,
                       temperature=0.0, stop=tuple(stop), progress=progress)
  return generate


# ----------------------------------------------------------------------------------------------------------------
# Log-likelihood of continuations.

@functools.lru_cache(maxsize=8)
def _loglik_program(cfg):
  import jax
  import jax.numpy as jnp
  from datasynth.losses import token_nll
  from datasynth.models import Decoder
  dec = Decoder(cfg)

  @jax.jit
  def score(params, tokens, mask, gather, targets, target_mask):
    """tokens/mask: [B, L]; gather: [B, C] positions whose next-token prediction is scored; targets: [B, C]."""
    h = dec.apply({"params": params}, tokens, input_mask=mask, logits=False).final_hidden
    h = jnp.take_along_axis(h, gather[..., None], axis=1)  # [B, C, width]
    logits = dec.apply({"params": params}, h, method=Decoder.unembed)
    return -jnp.sum(jnp.where(target_mask, token_nll(logits.astype(jnp.float32), targets), 0.0), axis=-1)

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
    order = np.argsort([len(c) + len(k) for c, k in enc], kind="stable")  # Less padding per batch.
    out = np.zeros(len(pairs), np.float64)
    bar = progress_lib.bar(len(pairs), desc="loglik", unit="ex", enabled=progress)
    for lo in range(0, len(order), batch_size):
      rows = list(order[lo:lo + batch_size])
      batch = [enc[r] for r in rows] + [enc[rows[0]]] * (batch_size - len(rows))
      length = round_up(max(len(c) + len(k) for c, k in batch), length_multiple)
      width = round_up(max(len(k) for _, k in batch), 8)
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
