"""SoftSRV soft-prompt parameterisations P_theta(z): a context vector z [d_e] -> a soft prompt [t, d].

The prompt lives in the frozen decoder's input-embedding space (Gemma: after the sqrt(d) scaling) and is fed to
`Decoder(..., prefix=P)`. Three families from DeSalvo et al.:

- `SoftPromptNP` (SS_NP, Eq. 1): theta = P, one [t, d] prompt shared by every example; z is ignored.
- `SoftPromptMP` (SS_MPk, Eq. 2): k basis prompts P_1..P_k mixed by softmax(W_phi z).
- `SoftPromptMC` (SS_MC, Eq. 3): t small MLPs, the i-th maps z to the i-th soft token. The paper writes the MLPs'
  output width as t, but each of the t columns of P must be a d-wide token vector, so here every MLP maps
  d_e -> hidden -> ... -> d. The t MLPs are one batched einsum over a leading [t] axis (no Python loop of modules).

Initialisation (documented because it decides whether training starts well): each soft token starts at a vector of
the frozen model's own input-embedding space. `vocab_init(table)` samples rows of a given [n, d] array of embedded
vocabulary tokens (prompt-tuning's "sampled vocab" init); without it tokens are Gaussian with per-coordinate standard
deviation `init_scale`, which callers set to the RMS of the model's embedded tokens. SS_MPk starts every basis prompt
at (different) sampled tokens; SS_MC puts the sampled tokens in the output bias and starts the output weights at a
small scale, so at step 0 P_theta(z) is ~ vocabulary embeddings plus a small z-dependent part and gradients reach
every layer.
"""
from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from datasynth.utils.errors import UserError

Array = jax.Array
Initializer = Callable[..., Array]

VARIANTS = ("np", "mp", "mc")


def vocab_init(table: Array) -> Initializer:
  """Initializer drawing rows of `table` ([n, d] embedded vocabulary vectors) for any [..., d] shape."""
  table = jnp.asarray(table, jnp.float32)

  def init(key, shape, dtype=jnp.float32):
    if shape[-1] != table.shape[-1]:
      raise UserError(f"vocab_init table has width {table.shape[-1]}, prompt needs {shape[-1]}.")
    n = 1
    for s in shape[:-1]:
      n *= s
    rows = jax.random.randint(key, (n,), 0, table.shape[0])
    return table[rows].reshape(shape).astype(dtype)

  return init


def _token_init(module) -> Initializer:
  if module.token_init is not None:
    return module.token_init
  return nn.initializers.normal(module.init_scale)


def _replicated(init, axes):
  # Soft prompts are tiny: they are replicated on every device; the names only document the axes.
  return nn.with_logical_partitioning(init, axes)


class SoftPromptNP(nn.Module):
  """SS_NP (Eq. 1): P_theta(z) = P, a free [t, d] prompt; the context is ignored."""
  # Every row gets the same prompt, so H's forward over it is shared by the batch (`softsrv.loss.make_forward`).
  context_free = True
  t: int
  d: int
  init_scale: float = 1.0
  token_init: Initializer | None = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: Array) -> Array:
    p = self.param("prompt", _replicated(_token_init(self), ("soft_tokens", "soft_embed")), (self.t, self.d),
                   self.param_dtype)
    return jnp.broadcast_to(p, (z.shape[0], self.t, self.d))


class SoftPromptMP(nn.Module):
  """SS_MPk (Eq. 2): P_theta(z) = sum_j softmax(W_phi z)_j P_j, k basis prompts."""
  t: int
  d: int
  k: int = 2
  init_scale: float = 1.0
  token_init: Initializer | None = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: Array) -> Array:
    bases = self.param("bases", _replicated(_token_init(self), ("soft_mix", "soft_tokens", "soft_embed")),
                       (self.k, self.t, self.d), self.param_dtype)
    w = self.param("w_phi", _replicated(nn.initializers.lecun_normal(), ("soft_context", "soft_mix")),
                   (z.shape[-1], self.k), self.param_dtype)
    b = self.param("b_phi", _replicated(nn.initializers.zeros, ("soft_mix",)), (self.k,), self.param_dtype)
    mix = jax.nn.softmax(z.astype(jnp.float32) @ w + b, axis=-1)  # [B, k]
    return jnp.einsum("bk,ktd->btd", mix, bases)


class SoftPromptMC(nn.Module):
  """SS_MC (Eq. 3): soft token i = MLP_i(z), t independent MLPs with `num_layers` dense layers each.

  Weights carry a leading [t] axis; every layer is one einsum over all t MLPs. Layer widths: d_e -> hidden
  (num_layers - 1 times) -> d. The output is d-wide (a model token), not t as the paper's notation suggests.
  """
  t: int
  d: int
  hidden: int = 128
  num_layers: int = 3
  init_scale: float = 1.0
  out_scale: float = 0.1  # Output weights start at this fraction of the token scale (relative to unit-RMS inputs).
  token_init: Initializer | None = None
  activation: str = "gelu"
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: Array) -> Array:
    if self.num_layers < 1:
      raise UserError(f"SS_MC needs at least one layer, got num_layers={self.num_layers}.")
    act = {"gelu": jax.nn.gelu, "relu": jax.nn.relu, "tanh": jnp.tanh}[self.activation]
    widths = [z.shape[-1]] + [self.hidden] * (self.num_layers - 1) + [self.d]
    h = jnp.broadcast_to(z.astype(jnp.float32)[:, None, :], (z.shape[0], self.t, z.shape[-1]))  # [B, t, d_e]
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
      last = i == self.num_layers - 1
      if last:
        w_init = nn.initializers.variance_scaling((self.out_scale * self.init_scale) ** 2, "fan_in", "normal",
                                                  in_axis=-2, out_axis=-1, batch_axis=(0,))
        b_init = _token_init(self)
      else:
        w_init = nn.initializers.variance_scaling(2.0, "fan_in", "normal", in_axis=-2, out_axis=-1,
                                                  batch_axis=(0,))
        b_init = nn.initializers.zeros
      w = self.param(f"w{i}", _replicated(w_init, ("soft_tokens", None, None)), (self.t, n_in, n_out),
                     self.param_dtype)
      b = self.param(f"b{i}", _replicated(b_init, ("soft_tokens", None)), (self.t, n_out), self.param_dtype)
      h = jnp.einsum("bti,tio->bto", h, w) + b  # All t MLPs in one batched matmul.
      if not last:
        h = act(h)
    return h


def make_soft_prompt(variant: str, *, t: int, d: int, k: int = 2, hidden: int = 128, num_layers: int = 3,
                     init_scale: float = 1.0, token_init: Initializer | None = None, **kw) -> nn.Module:
  """The module for a variant name: 'np' (SS_NP), 'mp' (SS_MPk), 'mc' (SS_MC)."""
  if t < 1:
    raise UserError(f"The soft prompt needs t >= 1 tokens, got t={t}.")
  common = dict(t=t, d=d, init_scale=init_scale, token_init=token_init)
  if variant == "np":
    return SoftPromptNP(**common, **kw)
  if variant == "mp":
    if k < 1:
      raise UserError(f"SS_MPk needs k >= 1 basis prompts, got k={k}.")
    return SoftPromptMP(k=k, **common, **kw)
  if variant == "mc":
    return SoftPromptMC(hidden=hidden, num_layers=num_layers, **common, **kw)
  raise UserError(f"Unknown SoftSRV variant {variant!r}; expected one of {VARIANTS} "
                  "(np = SS_NP, mp = SS_MPk, mc = SS_MC).")


def num_params(params) -> int:
  return sum(int(x.size) for x in jax.tree.leaves(params))
