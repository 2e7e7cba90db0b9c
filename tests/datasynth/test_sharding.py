"""Tests of datasynth.sharding: sharded == single-device on the 8 fake CPU devices that conftest provides."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from datasynth import sharding
from datasynth.decode import kernels
from datasynth.models.config import make_config
from datasynth.models.decoder import Decoder, attach_prefix, init_cache

CFG = make_config("llama", vocab_size=128, width=32, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=8,
                  mlp_dim=64, max_len=64, eos_id=None, pad_id=0)
MESHES = [{"data": 2, "fsdp": 2, "tensor": 2}, {"data": -1}]


@functools.lru_cache(maxsize=None)
def model():
  params = nn.meta.unbox(jax.jit(Decoder(CFG).init)(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))["params"])
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(1), len(leaves))
  params = treedef.unflatten([x if x.ndim == 1 else 0.3 * jax.random.normal(k, x.shape)
                              for x, k in zip(leaves, keys)])
  return Decoder(CFG), jax.tree.map(np.asarray, params)  # Plain numpy tree, as the loaders return.


def batch(b=8, length=6, t=3):
  tokens = np.asarray(jax.random.randint(jax.random.key(2), (b, length), 1, 128, jnp.int32))
  mask = np.arange(length)[None] < np.array([6, 2, 4, 1, 5, 3, 6, 2])[:b, None]
  prefix = np.asarray(jax.random.normal(jax.random.key(3), (b, t, 32)))
  return tokens, mask, prefix


def test_make_mesh_sizes_and_errors():
  assert jax.device_count() == 8
  assert dict(sharding.make_mesh({"data": -1, "fsdp": 2, "tensor": 1}).shape) == {"data": 4, "fsdp": 2, "tensor": 1}
  assert dict(sharding.make_mesh().shape) == {"data": 8, "fsdp": 1, "tensor": 1}
  with pytest.raises(ValueError, match="devices"):
    sharding.make_mesh({"data": 3, "tensor": 2})
  with pytest.raises(ValueError, match="at most one -1"):
    sharding.make_mesh({"data": -1, "tensor": -1})


def test_param_shardings_follow_rules_and_structure():
  mesh = sharding.make_mesh(MESHES[0])
  dec, params = model()
  shard = sharding.param_shardings(CFG, mesh)
  assert jax.tree.structure(shard) == jax.tree.structure(params)
  assert shard["embedding"].spec == P("tensor", "fsdp")  # (vocab, embed)
  assert shard["layers"]["attn"]["q"].spec == P(None, "fsdp", "tensor", None)  # (layers, embed, heads, head_dim)
  assert shard["layers"]["mlp"]["down"].spec == P(None, "tensor", "fsdp")  # (layers, mlp, embed)
  placed = sharding.shard_params(params, CFG, mesh)
  assert placed["layers"]["mlp"]["up"].sharding.spec == P(None, "fsdp", "tensor")
  # A dimension the mesh axis does not divide (3 heads on tensor=2) stays replicated instead of failing.
  odd = CFG.replace(num_heads=3, num_kv_heads=1, head_dim=8)
  assert sharding.param_shardings(odd, mesh)["layers"]["attn"]["q"].spec == P(None, "fsdp", None, None)


@pytest.mark.parametrize("axes", MESHES, ids=["data2_fsdp2_tensor2", "data8"])
def test_sharded_forward_and_prefix_gradient_equal_single_device(axes):
  mesh = sharding.make_mesh(axes)
  dec, params = model()
  tokens, mask, prefix = batch()
  input_mask = np.concatenate([np.ones(prefix.shape[:2], bool), mask], 1)

  def loss(prefix, params, tokens):  # Next-token loss through the frozen decoder, differentiated w.r.t. the prefix.
    logits = dec.apply({"params": params}, tokens, prefix=prefix, input_mask=input_mask).logits
    lp = jax.nn.log_softmax(logits[:, prefix.shape[1] - 1:-1], axis=-1)
    nll = -jnp.take_along_axis(lp, tokens[..., None], axis=-1)[..., 0]
    return jnp.sum(nll * mask) / jnp.sum(mask), logits

  f = jax.jit(jax.value_and_grad(loss, has_aux=True))
  (l1, logits1), g1 = f(jnp.asarray(prefix), params, jnp.asarray(tokens))
  sp = sharding.shard_params(params, CFG, mesh)
  xs = sharding.shard_batch(dict(prefix=prefix, tokens=tokens), mesh)
  assert xs["tokens"].sharding.spec[0] is not None  # The batch really is split.
  (l2, logits2), g2 = f(xs["prefix"], sp, xs["tokens"])
  np.testing.assert_allclose(logits2, logits1, atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(l2, l1, atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(g2, g1, atol=1e-5, rtol=1e-4)
  assert np.abs(np.asarray(g1)).max() > 0


@pytest.mark.parametrize("axes", MESHES, ids=["data2_fsdp2_tensor2", "data8"])
def test_sharded_sampling_equals_single_device(axes):
  mesh = sharding.make_mesh(axes)
  dec, params = model()
  tokens, mask, prefix = batch()
  kw = dict(ending=kernels.Ending(6), sampling=kernels.Sampling(1.0, top_k=20), rng=jax.random.key(4),
            return_logprobs=True)
  ref = kernels.sample(dec, params, prompt_tokens=tokens, prompt_mask=mask, prefix=prefix, **kw)
  xs = sharding.shard_batch(dict(tokens=tokens, mask=mask, prefix=prefix), mesh)
  placed = sharding.shard_params(params, CFG, mesh)
  out = kernels.sample(dec, placed, prompt_tokens=xs["tokens"], prompt_mask=xs["mask"], prefix=xs["prefix"],
                       mesh=mesh, **kw)
  np.testing.assert_array_equal(out.tokens, ref.tokens)
  np.testing.assert_array_equal(out.lengths, ref.lengths)
  np.testing.assert_allclose(out.logprobs, ref.logprobs, atol=1e-5)
  # One prefix shared by every row (batch 1): its cache segment is replicated, the rows' slots are split.
  ref = kernels.sample(dec, params, prompt_tokens=tokens, prompt_mask=mask, prefix=prefix[:1], **kw)
  out = kernels.sample(dec, placed, prompt_tokens=xs["tokens"], prompt_mask=xs["mask"], prefix=prefix[:1],
                       mesh=mesh, **kw)
  np.testing.assert_array_equal(out.tokens, ref.tokens)
  np.testing.assert_allclose(out.logprobs, ref.logprobs, atol=1e-5)


def test_cache_shardings_split_batch():
  mesh = sharding.make_mesh(MESHES[0])
  cache = jax.eval_shape(lambda: init_cache(CFG, 8, 16))
  s = sharding.cache_shardings(mesh, cache)
  assert s["k"].spec == P(None, ("data", "fsdp"), None, None, None)
  assert s["valid"].spec == P(("data", "fsdp"), None)
  shared = jax.eval_shape(lambda: attach_prefix(init_cache(CFG, 8, 16), init_cache(CFG, 1, 4)))
  s = sharding.cache_shardings(mesh, shared)
  assert s["k"].spec == P(None, ("data", "fsdp"), None, None, None)
  assert s["prefix"]["k"].is_fully_replicated and s["prefix"]["valid"].is_fully_replicated  # One row, every device.
  assert jax.tree.structure(s) == jax.tree.structure(shared)


def test_shard_for_process_covers_items_once():
  for n_items, n_proc in [(10, 3), (2, 4), (0, 2), (64, 8)]:
    parts = [sharding.shard_for_process(n_items, i, n_proc) for i in range(n_proc)]
    assert [i for p in parts for i in p] == list(range(n_items))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
  assert sharding.shard_for_process(5) == range(5)  # One process here.
  with pytest.raises(ValueError, match="process_index"):
    sharding.shard_for_process(5, 2, 2)
  assert sharding.maybe_initialize_distributed(False) is False


def test_a_rule_that_cannot_apply_is_logged_and_its_dimension_replicated(caplog):
  """9 heads on tensor=8: the `heads` rule cannot split them, so they are replicated, and the log says so."""
  import logging
  mesh = sharding.make_mesh({"data": 1, "fsdp": 1, "tensor": 8})
  with caplog.at_level(logging.INFO):
    got = sharding.logical_sharding(("heads", "embed"), (9, 16), mesh)
  assert got.spec == P(None, "fsdp")  # (embed -> fsdp of size 1 divides 16.)
  assert "failed to apply rule heads -> tensor (8 shards) to a dimension of 9; replicated instead" in caplog.text
  assert sharding.logical_sharding(("heads", "embed"), (16, 16), mesh).spec == P("tensor", "fsdp")
