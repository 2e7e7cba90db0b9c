"""The next-token negative log-likelihood, written once for every trainer and scorer.

  nll_i = -log softmax(logits_i)[y_i] = logsumexp_v(logits_i,v) - logits_i,y_i

SFT's masked mean (`datasynth.train.sft`), SoftSRV's chunked reconstruction loss (`softsrv.loss`) and the log-likelihood
scorer of the evaluations (`datasynth.evals.lm`) all take it from here; each weights and reduces it its own way.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def token_nll(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """-log p(target) per position: logits [..., V] (float32), integer targets [...] -> [...] float32."""
  gold = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
  return jax.nn.logsumexp(logits, axis=-1) - gold
