"""Tests for datasynth.models.lora and LoRA training in datasynth.train.sft: identity at init, only factors move, loss
falls."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from datasynth.models import lora
from datasynth.models.decoder import Decoder
from datasynth.train import sft
from tests.datasynth.train.sft_fixtures import TINY, tiny_examples, tiny_params

TARGETS = ("q", "v", "o", "down")


def test_lora_at_init_is_the_base_model():
  params = tiny_params()
  factors = lora.init_lora(params, TARGETS, rank=4, rng=jax.random.key(0))
  assert all(float(jnp.abs(f["b"]).max()) == 0.0 for f in factors.values())
  tokens = jnp.asarray(np.random.default_rng(0).integers(0, 64, (2, 10)), jnp.int32)
  model = Decoder(TINY)
  base = model.apply({"params": params}, tokens).logits
  merged = model.apply({"params": lora.merge(params, factors, alpha=8.0)}, tokens).logits
  np.testing.assert_array_equal(np.asarray(base), np.asarray(merged))


def test_merge_adds_scaled_low_rank_product():
  params = tiny_params()
  factors = lora.init_lora(params, ("q", "o"), rank=2, rng=jax.random.key(1))
  factors = jax.tree.map(lambda x: x + 0.1, factors)  # Non-zero B.
  merged = lora.merge(params, factors, alpha=4.0)
  a, b = factors["o"]["a"], factors["o"]["b"]  # o: [layers, heads, head_dim, width]; input dims (heads, head_dim).
  want = params["layers"]["attn"]["o"] + 2.0 * np.einsum("nir,nro->nio", a, b).reshape(
      params["layers"]["attn"]["o"].shape)
  np.testing.assert_allclose(merged["layers"]["attn"]["o"], want, rtol=1e-6, atol=1e-6)
  np.testing.assert_array_equal(merged["layers"]["attn"]["k"], params["layers"]["attn"]["k"])
  assert lora.num_params(factors) == 2 * 2 * (32 * 2 + 2 * 32)  # 2 targets x 2 layers x (A + B), in = out = 32.
  with pytest.raises(ValueError, match="LoRA targets"):
    lora.init_lora(params, ("qkv",), rank=2, rng=jax.random.key(0))


def test_lora_training_moves_only_factors_and_lowers_loss(tmp_path):
  params = tiny_params()
  cfg = sft.SFTConfig(steps=12, batch_size=8, seq_len=32, lr=3e-2, warmup_steps=1, log_every=3, save_every=100,
                      lora_rank=4, lora_alpha=8.0, lora_targets=TARGETS)
  res = sft.train(tiny_examples(16), TINY, params, cfg, str(tmp_path), show_progress=False)
  assert set(res.state.params) == set(TARGETS)  # theta holds only the factors (and Adam only their moments).
  assert sum(x.size for x in jax.tree.leaves(res.state.params)) == lora.num_params(res.state.params)
  for path in (("embedding",), ("layers", "attn", "k"), ("layers", "mlp", "up"), ("final_norm", "scale")):
    got, want = res.params, params
    for key in path:
      got, want = got[key], want[key]
    np.testing.assert_array_equal(np.asarray(got), want)  # Frozen weights unchanged.
  assert float(jnp.abs(res.params["layers"]["attn"]["q"] - params["layers"]["attn"]["q"]).max()) > 1e-4
  losses = [r["loss"] for r in res.metrics if "loss" in r]
  assert losses[-1] < 0.9 * losses[0]
