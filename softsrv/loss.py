"""SoftSRV's reconstruction loss (DeSalvo et al., Sec. 2): the frozen decoder H must rebuild x from P_theta(E(x)).

For a batch of examples x (tokens x_1 .. x_n, EOS = x_{n+1}) in the layout `[P_theta(z)] [BOS x EOS]`
(`softsrv.layout`), z = E(x):

  L(theta) = - sum_x sum_{i=1}^{n+1} log p_H(x_i | P_theta(z), BOS, x_<i) / sum_x (n + 1)

a mean over the batch's x tokens; only theta is trained (H's weights are a non-differentiated argument).

- `make_loss_fn`: the definition, (theta, frozen, batch) -> (NLL sum, tokens); its autodiff is the reference.
- Fast paths, each tested against that reference (`tests/softsrv/test_loss.py`):
  - `make_forward`: SS_NP's prompt is the same in every row, so H runs over it once per batch and the rows attend
    to it as a shared cache segment (exact under causal attention).
  - `chunked_nll`: logits only at the positions that predict x, `chunk` positions at a time, so a
    [batch, length, vocab] tensor never exists (Gemma 3's vocabulary is 262,144).
  - `chunked_nll_and_grad` / `make_loss_and_grad`: the cross-entropy gradient formed directly,
    d nll / d logits = w (softmax - onehot), pulled back through one chunk's unembedding, then through H to theta.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from datasynth.models.decoder import Decoder, attach_prefix, init_cache
from datasynth.train.losses import token_nll
from softsrv.layout import Layout


def _chunks(h, targets, weights, chunk):
  """Split [B, L, ...] along L into [n, B, chunk, ...] (zero-weight padding); the batch axis stays sharded."""
  b, l = targets.shape
  chunk = l if not chunk or chunk >= l else chunk
  n = -(-l // chunk)
  pad = n * chunk - l
  padded = [jnp.pad(a, ((0, 0), (0, pad)) + ((0, 0),) * (a.ndim - 2)) for a in (h, targets, weights)]
  return [jnp.moveaxis(a.reshape(b, n, chunk, *a.shape[2:]), 1, 0) for a in padded]


def chunked_nll(h: jax.Array, targets: jax.Array, weights: jax.Array, unembed, chunk: int) -> jax.Array:
  """Sum over positions of weights * -log p(target | h) (forward only); logits `chunk` positions at a time.

  h: [B, L, d], targets/weights: [B, L]; at most [B, chunk, vocab] logits are live.
  """
  def body(total, xs):
    hc, tc, wc = xs
    return total + jnp.sum(token_nll(unembed(hc), tc) * wc), None

  total, _ = jax.lax.scan(body, jnp.zeros((), jnp.float32), _chunks(h, targets, weights, chunk))
  return total


def chunked_nll_and_grad(h: jax.Array, targets: jax.Array, weights: jax.Array, unembed, chunk: int):
  """`chunked_nll` and its gradient w.r.t. h, in one pass over the chunks.

  The cross-entropy gradient is formed directly, d nll / d logits = w * (softmax - onehot), and pulled back through
  the unembedding of that chunk only; no logits are stored for a backward pass or recomputed (what autodiff of
  `chunked_nll` under jax.checkpoint would do: one extra vocab matmul).
  """
  def body(total, xs):
    hc, tc, wc = xs
    logits, pull = jax.vjp(unembed, hc)  # [B, c, V]
    lse = jax.nn.logsumexp(logits, axis=-1)  # The same op as token_nll's: XLA computes it once.
    dlogits = (jnp.exp(logits - lse[..., None]) - jax.nn.one_hot(tc, logits.shape[-1], dtype=logits.dtype))
    (dh,) = pull((dlogits * wc[..., None]).astype(logits.dtype))
    return total + jnp.sum(token_nll(logits, tc) * wc), dh

  b, l, _ = h.shape
  total, dh = jax.lax.scan(body, jnp.zeros((), jnp.float32), _chunks(h, targets, weights, chunk))
  dh = jnp.moveaxis(dh, 0, 1).reshape(b, -1, h.shape[-1])[:, :l]
  return total, dh.astype(h.dtype)


def make_forward(module, dec: Decoder, t: int):
  """(theta, frozen, batch) -> hidden states that predict x [B, L-1, d].

  A context-free prompt (SS_NP: the same P for every row) is run through H once, at batch 1, and its keys and values
  are a shared prefix cache every row's tokens attend to (`attach_prefix`); its gradient sums the rows'
  contributions. Causal attention makes this exact: prompt positions never see the tokens, so their activations are
  the same in every row. It does (t + B L) / (B (t + L)) of the per-row work (0.42 at t=128, B=8, L=64), which
  prompt tuning in PEFT repeats per row. Contextual prompts (SS_MPk, SS_MC) differ per row and run [P; x] per row.
  """
  layout = Layout(t)

  def forward(theta, frozen, batch):
    ids, mask, z = batch["ids"], batch["mask"], batch["z"]
    b, l = ids.shape
    if getattr(module, "context_free", False):
      prompt = module.apply({"params": theta}, z[:1])  # [1, t, d]
      prompt_cache = init_cache(dec.config, 1, t, dec.dtype)
      prompt_cache = dec.apply({"params": frozen}, prefix=prompt, cache=prompt_cache, logits=False).cache
      cache = attach_prefix(init_cache(dec.config, b, l, dec.dtype), prompt_cache)
      out = dec.apply({"params": frozen}, ids, input_mask=mask, cache=cache, logits=False)
      return layout.predicting(out.final_hidden, l, prompt_in_rows=False)
    prompt = module.apply({"params": theta}, z)  # [B, t, d]: P_theta(E(x))
    out = dec.apply({"params": frozen}, ids, prefix=prompt, input_mask=layout.input_mask(mask), logits=False)
    # Prompt positions produce no logits at all.
    return layout.predicting(out.final_hidden, l)
  return forward


def _unembed(dec: Decoder, frozen):
  return lambda hc: dec.apply({"params": frozen}, hc, method=Decoder.unembed)


def make_loss_fn(module, dec: Decoder, t: int, chunk: int):
  """(theta, frozen, batch) -> (sum of NLL over x tokens, number of x tokens): L(theta)'s numerator and
  denominator. `chunk=0` computes all logits at once; autodiff of this is the reference gradient."""
  forward = make_forward(module, dec, t)

  def loss_fn(theta, frozen, batch):
    targets, weights = Layout.targets(batch["ids"], batch["mask"])
    nll = chunked_nll(forward(theta, frozen, batch), targets, weights, _unembed(dec, frozen), chunk)
    return nll, jnp.sum(weights)
  return loss_fn


def make_loss_and_grad(module, dec: Decoder, t: int, chunk: int):
  """(theta, frozen, batch) -> ((mean NLL per x token, tokens), d loss / d theta).

  Chain rule split at the loss head: a VJP of the body w.r.t. theta only (H's weights are a non-differentiated
  argument, so no weight gradients exist), fed the head's gradient w.r.t. the hidden states.
  """
  forward = make_forward(module, dec, t)

  def loss_and_grad(theta, frozen, batch):
    h, pull = jax.vjp(lambda th: forward(th, frozen, batch), theta)
    targets, weights = Layout.targets(batch["ids"], batch["mask"])
    tokens = jnp.sum(weights)
    scale = 1.0 / jnp.maximum(tokens, 1.0)
    nll, dh = chunked_nll_and_grad(h, targets, weights * scale, _unembed(dec, frozen), chunk)
    (grads,) = pull(dh)
    return (nll, tokens), grads
  return loss_and_grad
