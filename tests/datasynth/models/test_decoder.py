"""The Flax decoder is the same function as the `transformers` PyTorch models on tiny random configs."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers

from datasynth.models.config import make_config
from datasynth.models.decoder import Decoder, _mm, attach_prefix, init_cache, unstack_layers
from datasynth.models.loaders import config_from_hf
from datasynth.models.params import params_from_hf

torch.manual_seed(0)

_COMMON = dict(vocab_size=97, hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
               head_dim=8, max_position_embeddings=128, attn_implementation="eager")
TINY = {
    "llama": lambda: transformers.LlamaConfig(num_hidden_layers=2, rope_theta=500.0, tie_word_embeddings=False,
                                              **_COMMON),
    "llama_tied": lambda: transformers.LlamaConfig(num_hidden_layers=2, tie_word_embeddings=True, **_COMMON),
    "qwen2": lambda: transformers.Qwen2Config(num_hidden_layers=2, tie_word_embeddings=False, **_COMMON),
    "gemma": lambda: transformers.GemmaConfig(num_hidden_layers=2, hidden_activation="gelu_pytorch_tanh", **_COMMON),
    "gemma2": lambda: transformers.Gemma2Config(
        num_hidden_layers=4, sliding_window=5, attn_logit_softcapping=5.0, final_logit_softcapping=3.0,
        query_pre_attn_scalar=12, **_COMMON),
    "gemma3": lambda: transformers.Gemma3TextConfig(
        num_hidden_layers=3, sliding_window=5, rope_theta=1e6, rope_local_base_freq=1e4, query_pre_attn_scalar=8,
        layer_types=["sliding_attention", "sliding_attention", "full_attention"], **_COMMON),
    "gemma3_linear_rope": lambda: transformers.Gemma3TextConfig(
        num_hidden_layers=2, sliding_window=5, rope_scaling={"rope_type": "linear", "factor": 8.0},
        layer_types=["sliding_attention", "full_attention"], **_COMMON),
}


def torch_and_flax(name: str):
  hf_config = TINY[name]()
  model = transformers.AutoModelForCausalLM.from_config(hf_config).eval()
  with torch.no_grad():  # Random everything, norms included, so no weight is trivially 0 or 1.
    for p in model.parameters():
      p.normal_(0.0, 0.3)
  config = config_from_hf(hf_config.to_dict(), name)
  state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
  params = params_from_hf(config, state.__getitem__, name)
  return model, config, params


@pytest.mark.parametrize("name", sorted(TINY))
def test_matches_transformers_float32(name):
  model, config, params = torch_and_flax(name)
  tokens = np.random.RandomState(0).randint(0, 97, size=(2, 13))  # Longer than the sliding windows.
  with torch.no_grad():
    ref = model(torch.tensor(tokens)).logits.numpy()
  ours = Decoder(config).apply({"params": params}, tokens).logits
  np.testing.assert_array_less(np.abs(np.asarray(ours) - ref).max(), 1e-4)


def test_family_switches_are_read_from_hf_configs():
  _, g3, _ = torch_and_flax("gemma3")
  assert g3.qk_norm and g3.post_norms and g3.norm_plus_one and g3.embed_scale
  assert g3.is_local == (True, True, False) and g3.sliding_window == 5 and g3.rope_local_theta == 1e4
  _, g2, _ = torch_and_flax("gemma2")
  assert g2.attn_logit_softcap == 5.0 and g2.final_logit_softcap == 3.0 and g2.is_local == (True, False) * 2
  _, q, _ = torch_and_flax("qwen2")
  assert q.qkv_bias and not q.tie_embeddings


def tiny(arch="gemma3", **kw):
  fields = dict(vocab_size=64, width=32, num_layers=3, num_heads=4, num_kv_heads=2, head_dim=8, mlp_dim=48,
                max_len=64)
  if arch in ("gemma2", "gemma3"):
    fields.update(sliding_window=4, layer_types=("local", "local", "global"))
  return make_config(arch, **{**fields, **kw})


@pytest.mark.parametrize("arch", ["gemma3", "llama"])
def test_prefix_path_equals_token_path(arch):
  config = tiny(arch)
  dec = Decoder(config)
  tokens = jax.random.randint(jax.random.key(1), (2, 10), 0, config.vocab_size)
  params = dec.init(jax.random.key(0), tokens)["params"]
  full = dec.apply({"params": params}, tokens).logits
  prefix = dec.apply({"params": params}, tokens[:, :4], method=Decoder.embed)
  split = dec.apply({"params": params}, tokens[:, 4:], prefix=prefix).logits
  only_prefix = dec.apply({"params": params}, prefix=dec.apply({"params": params}, tokens, method=Decoder.embed))
  np.testing.assert_allclose(split, full, atol=1e-5)
  np.testing.assert_allclose(only_prefix.logits, full, atol=1e-5)


def test_right_padding_does_not_change_real_positions():
  config = tiny()
  dec = Decoder(config)
  a = jnp.arange(1, 8)[None]
  params = dec.init(jax.random.key(0), a)["params"]
  alone = dec.apply({"params": params}, a).logits[0]
  padded = jnp.concatenate([a, jnp.zeros((1, 5), a.dtype)], axis=1)
  mask = jnp.arange(12)[None] < 7
  batched = dec.apply({"params": params}, padded, input_mask=mask).logits[0, :7]
  np.testing.assert_allclose(batched, alone, atol=1e-5)


def test_hidden_states_and_logical_axes():
  config = tiny()
  dec = Decoder(config)
  tokens = jnp.ones((2, 5), jnp.int32)
  variables = dec.init(jax.random.key(0), tokens)
  specs = jax.tree.leaves(variables["params"], is_leaf=lambda x: hasattr(x, "names"))
  names = {tuple(s.names) for s in specs}
  assert ("vocab", "embed") in names and ("layers", "embed", "heads", "head_dim") in names
  out = dec.apply(variables, tokens, return_hidden=True, logits=False)
  assert out.logits is None and out.hidden.shape == (config.num_layers + 1, 2, 5, config.width)
  assert out.final_hidden.shape == (2, 5, config.width)


def test_bfloat16_runs_close_to_float32():
  config = tiny()
  tokens = jax.random.randint(jax.random.key(1), (2, 9), 0, config.vocab_size)
  params = Decoder(config).init(jax.random.key(0), tokens)["params"]
  f32 = Decoder(config).apply({"params": params}, tokens).logits
  p16 = jax.tree.map(lambda x: x.astype(jnp.bfloat16), nn_unbox(params))
  b16 = Decoder(config, dtype=jnp.bfloat16).apply({"params": p16}, tokens).logits
  assert b16.dtype == jnp.float32 and np.isfinite(np.asarray(b16)).all()
  assert np.abs(np.asarray(b16) - np.asarray(f32)).max() < 0.1 * np.abs(np.asarray(f32)).max()


def nn_unbox(tree):
  import flax.linen as nn
  return nn.meta.unbox(tree)


def test_too_long_input_is_a_clear_error():
  config = tiny()
  dec = Decoder(config)
  with pytest.raises(ValueError, match="exceeds the model's context of 64"):
    dec.init(jax.random.key(0), jnp.ones((1, 65), jnp.int32))


def test_unknown_architecture_is_a_clear_error():
  with pytest.raises(ValueError, match="Unknown architecture 'gpt3'"):
    make_config("gpt3", vocab_size=8, width=8, num_layers=1, num_heads=1, num_kv_heads=1, head_dim=8, mlp_dim=8)
  with pytest.raises(ValueError, match="Unknown architecture 'mamba'"):
    config_from_hf({"model_type": "mamba"}, "config.json")


@pytest.mark.parametrize("name", ["gemma2", "gemma3", "llama", "qwen2"])
def test_unrolled_layers_equal_the_scan(name):
  """scan_layers=False runs the same stacked parameters layer by layer: same logits, cache and prefix gradient."""
  _, config, params = torch_and_flax(name)
  tokens = jnp.asarray(np.random.RandomState(0).randint(0, 97, size=(2, 11)))
  scanned, unrolled = Decoder(config), Decoder(config, scan_layers=False)
  np.testing.assert_allclose(unrolled.apply({"params": params}, tokens).logits,
                             scanned.apply({"params": params}, tokens).logits, atol=1e-5)
  caches = [d.apply({"params": params}, tokens, cache=init_cache(config, 2, 16)).cache for d in (scanned, unrolled)]
  for a, b in zip(jax.tree.leaves(caches[0]), jax.tree.leaves(caches[1])):
    np.testing.assert_allclose(a, b, atol=1e-5)
  prefix = jax.random.normal(jax.random.key(0), (2, 3, config.width))
  grads = [jax.grad(lambda p, d=d: jnp.sum(d.apply({"params": params}, tokens, prefix=p).logits ** 2))(prefix)
           for d in (scanned, unrolled)]
  # Float32 sums in another order (layer by layer vs the scan): a tolerance on the gradient's scale (~60 here).
  np.testing.assert_allclose(grads[1], grads[0], rtol=1e-4, atol=1e-5 * float(np.abs(grads[0]).max()))


def test_unstacked_layers_and_a_shared_prefix_cache():
  """`unstack_layers` (one weight tree per layer) gives the stacked result; a prefix run once and attached as a shared
  cache segment gives what running it in every row gives, logits and prefix gradient (the gradient sums over the
  rows), with the layer scan and unrolled, across local (sliding window) and global layers."""
  _, config, params = torch_and_flax("gemma3")
  tokens = jnp.asarray(np.random.RandomState(1).randint(0, 97, size=(3, 7)))
  unrolled = Decoder(config, scan_layers=False)
  np.testing.assert_allclose(unrolled.apply({"params": unstack_layers(params)}, tokens).logits,
                             Decoder(config).apply({"params": params}, tokens).logits, atol=1e-5)
  with pytest.raises(ValueError, match="scan_layers=False"):
    Decoder(config).apply({"params": unstack_layers(params)}, tokens)

  prefix = jax.random.normal(jax.random.key(1), (1, 4, config.width))
  mask = jnp.asarray(np.arange(7)[None] < np.array([[7], [3], [5]]))  # Ragged rows.

  def per_row(p):
    full = jnp.concatenate([jnp.ones((3, 4), bool), mask], axis=1)
    out = Decoder(config).apply({"params": params}, tokens, prefix=jnp.repeat(p, 3, axis=0), input_mask=full)
    return out.logits[:, 4:]

  def shared(p, dec):
    prefix_cache = dec.apply({"params": params}, prefix=p, cache=init_cache(config, 1, 4), logits=False).cache
    cache = attach_prefix(init_cache(config, 3, 7), prefix_cache)
    return dec.apply({"params": params}, tokens, input_mask=mask, cache=cache).logits

  ref = per_row(prefix)
  ref_grad = jax.grad(lambda p: jnp.sum(jnp.where(mask[..., None], jnp.sin(per_row(p)), 0.0)))(prefix)
  for dec in (Decoder(config), unrolled):
    np.testing.assert_allclose(np.where(mask[..., None], shared(prefix, dec), 0), np.where(mask[..., None], ref, 0),
                               atol=1e-4)
    grad = jax.grad(lambda p: jnp.sum(jnp.where(mask[..., None], jnp.sin(shared(p, dec)), 0.0)))(prefix)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-4)
  with pytest.raises(ValueError, match="batch-1"):
    attach_prefix(init_cache(config, 3, 7), init_cache(config, 2, 4))


def test_bfloat16_matmul_gradient_is_the_float32_gradient_rounded():
  """The bf16 matmul's custom VJP (bf16 operands, float32 accumulation) agrees with float32 autodiff."""
  x = jax.random.normal(jax.random.key(0), (2, 5, 16))
  w = jax.random.normal(jax.random.key(1), (16, 4, 8))
  g = jax.random.normal(jax.random.key(2), (2, 5, 4, 8))
  ref = jax.vjp(lambda a, b: jnp.einsum("bld,dhk->blhk", a, b), x, w)[1](g)
  exact = jax.vjp(lambda a, b: _mm("bld,dhk->blhk", a, b, jnp.float32), x, w)[1](g)
  for r, e in zip(ref, exact):
    np.testing.assert_allclose(e, r, rtol=1e-5, atol=1e-5)
  xb, wb = x.astype(jnp.bfloat16), w.astype(jnp.bfloat16)
  out, pull = jax.vjp(lambda a, b: _mm("bld,dhk->blhk", a, b, jnp.bfloat16), xb, wb)
  dx, dw = pull(g.astype(jnp.bfloat16))
  assert out.dtype == dx.dtype == dw.dtype == jnp.bfloat16
  for r, e in zip(ref, (dx, dw)):
    np.testing.assert_allclose(np.asarray(e, np.float32), r, rtol=0.05, atol=0.05 * float(jnp.abs(r).max()))
