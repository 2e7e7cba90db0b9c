"""SoftSRV's reconstruction loss: every fast path (chunked NLL, direct cross-entropy gradient, the shared SS_NP
prompt segment, unrolled layers, bfloat16 H) against the plain autodiff definition; the layout's three uses agree."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from softsrv import embeddings
from softsrv import loss as loss_lib
from softsrv import train as train_lib
from softsrv.layout import Layout
from tree_asserts import assert_trees_equal


def test_loss_head_gradient_matches_autodiff():
  rng = np.random.default_rng(0)
  b, l, d, v = 2, 7, 6, 11
  h = jnp.asarray(rng.normal(size=(b, l, d)), jnp.float32)
  table = jnp.asarray(rng.normal(size=(v, d)), jnp.float32)
  targets = jnp.asarray(rng.integers(0, v, (b, l)), jnp.int32)
  weights = jnp.asarray(rng.random((b, l)) > 0.3, jnp.float32)
  unembed = lambda x: x @ table.T

  def reference(h):
    logp = jax.nn.log_softmax(unembed(h))
    return -jnp.sum(jnp.take_along_axis(logp, targets[..., None], -1)[..., 0] * weights)

  want, want_grad = jax.value_and_grad(reference)(h)
  for chunk in (0, 3, 7):
    np.testing.assert_allclose(loss_lib.chunked_nll(h, targets, weights, unembed, chunk), want, rtol=1e-5)
    got, got_grad = loss_lib.chunked_nll_and_grad(h, targets, weights, unembed, chunk)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(got_grad, want_grad, rtol=1e-4, atol=1e-6)


def test_step_gradient_matches_autodiff_of_the_loss(tiny, tiny_config, tmp_path):
  h_model, e_model = tiny
  run = train_lib.prepare(tiny_config(), str(tmp_path), model=h_model, context_model=e_model)
  theta = run.init_state().params
  batch = run.batch(0)
  loss_fn = loss_lib.make_loss_fn(run.module, run.dec, run.config.soft_prompt.t, 0)
  mean = lambda th: (lambda nll, n: nll / n)(*loss_fn(th, run.frozen, batch))
  want, want_grad = jax.value_and_grad(mean)(theta)
  (got, _), got_grad = loss_lib.make_loss_and_grad(run.module, run.dec, run.config.soft_prompt.t, 8)(
      theta, run.frozen, batch)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  assert_trees_equal(got_grad, want_grad, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("variant", ["mc", "np"])  # np: the shared prompt's cache segment (`attach_prefix`).
def test_layer_scan_and_bfloat16_give_the_same_step_gradient(tiny, tiny_config, tmp_path, variant):
  """model.scan_layers only changes how H runs (same gradient); model.dtype=bfloat16 stores H in bf16, keeps theta
  float32 and gives a gradient close to float32's."""
  h_model, e_model = tiny

  def grad(**model):
    config = tiny_config(**{"soft_prompt.variant": variant})
    config.model.update(model)
    run = train_lib.prepare(config, str(tmp_path / str(sorted(model.items()))), model=h_model, context_model=e_model)
    theta = run.init_state().params
    (_, _), g = jax.jit(loss_lib.make_loss_and_grad(run.module, run.dec, config.soft_prompt.t, 8))(
        theta, run.frozen, run.batch(0))
    return run, theta, np.concatenate([np.ravel(x) for x in jax.tree.leaves(g)])

  _, _, unrolled = grad(scan_layers=False)
  _, _, scanned = grad(scan_layers=True)
  np.testing.assert_allclose(scanned, unrolled, rtol=1e-4, atol=1e-6)
  run, theta, bf16 = grad(dtype="bfloat16")
  assert {x.dtype for x in jax.tree.leaves(run.frozen)} == {jnp.dtype(jnp.bfloat16)}
  assert {x.dtype for x in jax.tree.leaves(theta)} == {jnp.dtype(jnp.float32)}
  cosine = bf16 @ unrolled / (np.linalg.norm(bf16) * np.linalg.norm(unrolled))
  assert cosine > 0.98, cosine


def test_context_free_prompt_runs_once_per_batch_with_the_per_row_gradient(tiny, tiny_config, tmp_path):
  """SS_NP's prompt is the same in every row, so H runs over it once and the tokens attend to its shared cache;
  loss and gradient equal running [P; x] in every row, with ragged rows."""
  h_model, e_model = tiny
  run = train_lib.prepare(tiny_config(**{"soft_prompt.variant": "np"}), str(tmp_path), model=h_model,
                          context_model=e_model)
  m = run.module
  assert m.context_free

  class PerRow(embeddings.SoftPromptNP):
    context_free = False

  per_row = PerRow(t=m.t, d=m.d, init_scale=m.init_scale, token_init=m.token_init)
  theta, batch = run.init_state().params, run.batch(0)
  assert len(set(np.asarray(batch["mask"]).sum(axis=1))) > 1  # Ragged.
  t = run.config.soft_prompt.t
  (shared_loss, _), shared = jax.jit(loss_lib.make_loss_and_grad(m, run.dec, t, 8))(theta, run.frozen, batch)
  (loss, _), want = jax.jit(loss_lib.make_loss_and_grad(per_row, run.dec, t, 8))(theta, run.frozen, batch)
  np.testing.assert_allclose(shared_loss, loss, rtol=1e-5)
  assert_trees_equal(shared, want, rtol=1e-3, atol=1e-6)


def test_layout_tokens_loss_slice_and_generation_agree(tiny):
  """[P (t)] [BOS x EOS]: the ids start with BOS, the slice of a [B, t + L] forward starts at BOS and predicts
  x_1 .. EOS, and generation feeds BOS alone after the prompt."""
  tok = tiny[0].tokenizer
  layout = Layout(t=3)
  ids = layout.encode(tok, "def f(): pass")
  assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id and ids[1:-1] == tok.encode("def f(): pass", add_bos=False)
  l = len(ids)
  hidden = jnp.arange(layout.positions(l))[None, :, None]  # Position index as the hidden state.
  np.testing.assert_array_equal(layout.predicting(hidden, l)[0, :, 0], np.arange(3, 3 + l - 1))  # BOS .. x_n.
  targets, weights = Layout.targets(jnp.asarray([ids]), jnp.ones((1, l), bool))
  assert targets[0].tolist() == ids[1:] and weights.dtype == jnp.float32
  texts, add_bos = layout.generation_prompts(2)
  assert [tok.encode(x, add_bos=add_bos) for x in texts] == [ids[:1]] * 2
  assert layout.generation_positions(10) == 3 + 1 + 10
