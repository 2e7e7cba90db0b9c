"""SoftSRV soft-prompt modules: shapes, parameter counts, the vectorised SS_MC, initialisation, errors."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from softsrv import embeddings

T, D, DE, B = 5, 12, 7, 3


def _init(module, seed=0):
  z = jax.random.normal(jax.random.key(seed + 1), (B, DE))
  params = nn.meta.unbox(module.init(jax.random.key(seed), z)["params"])
  return params, z


@pytest.mark.parametrize("variant,expected", [
    ("np", T * D),  # Eq. 1: P only.
    ("mp", 2 * T * D + DE * 2 + 2),  # Eq. 2: k=2 bases + W_phi (d_e x k) + bias.
    ("mc", T * ((DE * 16 + 16) + (16 * 16 + 16) + (16 * D + D))),  # Eq. 3: t MLPs d_e -> 16 -> 16 -> d.
])
def test_shapes_and_parameter_counts(variant, expected):
  module = embeddings.make_soft_prompt(variant, t=T, d=D, k=2, hidden=16, num_layers=3)
  params, z = _init(module)
  assert embeddings.num_params(params) == expected
  out = module.apply({"params": params}, z)
  assert out.shape == (B, T, D) and out.dtype == jnp.float32


def test_np_ignores_context_and_mp_mc_use_it():
  for variant, depends in (("np", False), ("mp", True), ("mc", True)):
    module = embeddings.make_soft_prompt(variant, t=T, d=D, hidden=16)
    params, z = _init(module)
    out = module.apply({"params": params}, z)
    assert bool(jnp.any(jnp.abs(out[0] - out[1]) > 1e-6)) == depends, variant


def test_mp_is_a_convex_mixture_of_bases():
  module = embeddings.make_soft_prompt("mp", t=T, d=D, k=3)
  params, z = _init(module)
  out = module.apply({"params": params}, z)
  mix = jax.nn.softmax(z @ params["w_phi"] + params["b_phi"], axis=-1)
  np.testing.assert_allclose(out, np.einsum("bk,ktd->btd", mix, params["bases"]), rtol=1e-5, atol=1e-6)


def test_mc_batched_einsum_equals_t_separate_mlps():
  module = embeddings.make_soft_prompt("mc", t=T, d=D, hidden=16, num_layers=3)
  params, z = _init(module)
  out = np.asarray(module.apply({"params": params}, z))
  for i in range(T):  # Token i is MLP_i(z), each MLP with its own weights.
    h = np.asarray(z)
    for layer in range(3):
      h = h @ np.asarray(params[f"w{layer}"][i]) + np.asarray(params[f"b{layer}"][i])
      if layer < 2:
        h = np.asarray(jax.nn.gelu(h))
    np.testing.assert_allclose(out[:, i], h, rtol=1e-4, atol=1e-5)


def test_vocab_init_starts_at_embedding_rows():
  table = np.random.default_rng(0).normal(size=(11, D)).astype(np.float32)
  module = embeddings.make_soft_prompt("np", t=T, d=D, token_init=embeddings.vocab_init(table))
  params, _ = _init(module)
  for row in np.asarray(params["prompt"]):
    assert np.min(np.abs(table - row).sum(-1)) == 0.0
  # SS_MC: the output bias holds vocabulary rows and the z-dependent part starts small.
  mc = embeddings.make_soft_prompt("mc", t=T, d=D, hidden=16, token_init=embeddings.vocab_init(table),
                                   init_scale=1.0)
  params, z = _init(mc)
  out = mc.apply({"params": params}, z)
  dev = jnp.linalg.norm(out - params["b2"][None], axis=-1) / jnp.linalg.norm(params["b2"], axis=-1)[None]
  assert 0.0 < float(jnp.max(dev)) < 0.5


def test_bad_arguments_are_clear_errors():
  with pytest.raises(ValueError, match="Unknown SoftSRV variant 'mlp'"):
    embeddings.make_soft_prompt("mlp", t=T, d=D)
  with pytest.raises(ValueError, match="t >= 1"):
    embeddings.make_soft_prompt("np", t=0, d=D)
  with pytest.raises(ValueError, match="k >= 1"):
    embeddings.make_soft_prompt("mp", t=T, d=D, k=0)
