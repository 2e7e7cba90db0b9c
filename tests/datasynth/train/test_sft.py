"""Tests for datasynth.train.sft: templates, masks, packing without leakage, resume, sharding, and a real SmolLM2
run."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh

from datasynth.data.records import Record, load_task
from datasynth.models.decoder import Decoder
from datasynth.models.loaders import LoadedModel
from datasynth.train import sft
from datasynth.utils.errors import UserError
from tests.datasynth.train.sft_fixtures import TINY, tiny_examples, tiny_params


def _cfg(**kw):
  """One config for most tests, so the train step compiles once per process (compiles dominate on CPU)."""
  base = dict(steps=12, batch_size=8, seq_len=32, lr=1e-2, warmup_steps=1, log_every=1, save_every=100)
  return sft.SFTConfig(**{**base, **kw})


def _max_diff(a, b):
  return max(float(np.max(np.abs(np.asarray(x, np.float32) - np.asarray(y, np.float32))))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_templates_split_prompt_and_response():
  r = Record("t/0", "t", "Add 1 and 2.", "3")
  assert sft.make_template("plain")(r) == ("Add 1 and 2.\n", "3")
  assert sft.make_template("chat")(r) == ("User: Add 1 and 2.\n\nAssistant: ", "3")
  assert sft.make_template("Q: {prompt}\nA: {response}</s>")(r) == ("Q: Add 1 and 2.\nA: ", "3</s>")
  with pytest.raises(ValueError, match="template"):
    sft.make_template("{response} before {prompt}")


def test_tokenize_masks_prompt_or_not(smollm2):
  tok = smollm2.tokenizer
  r = Record("t/0", "t", "What is 2+2?", "4")
  on, = sft.tokenize([r], tok, prompt_masking=True)
  off, = sft.tokenize([r], tok, prompt_masking=False)
  p = tok.encode("What is 2+2?\n")
  y = tok.encode("4", add_bos=False)
  np.testing.assert_array_equal(on.ids, p + y + [tok.eos_id])
  np.testing.assert_array_equal(on.loss_mask, [False] * len(p) + [True] * (len(y) + 1))
  np.testing.assert_array_equal(off.loss_mask, [False] + [True] * (len(on.ids) - 1))
  cut, = sft.tokenize([r], tok, max_len=len(p) + 1)
  assert len(cut.ids) == len(p) + 1 and cut.loss_mask.sum() == 1
  with pytest.raises(ValueError, match="seq_len"):
    sft.tokenize([r], tok, max_len=3, truncate=False)
  with pytest.raises(ValueError, match="No usable SFT examples"):
    sft.tokenize([r], tok, max_len=len(p))  # Prompt fills the row: nothing left to learn.


def test_pack_rows_segments_and_positions():
  exs = tiny_examples(6)
  rows = sft.pack(exs, 32)
  assert rows["tokens"].shape[1] == 32 and len(rows["tokens"]) < len(exs)
  flat = [rows["tokens"][r][rows["segment_ids"][r] == s] for r in range(len(rows["tokens"]))
          for s in range(1, rows["segment_ids"][r].max() + 1)]
  for ex, got in zip(exs, flat, strict=True):
    np.testing.assert_array_equal(ex.ids, got)
  starts = (rows["positions"] == 0) & (rows["segment_ids"] > 0)
  assert starts.sum() == len(exs)  # Positions restart at every example.
  unpacked = sft.pack(exs, 32, packed=False)
  assert len(unpacked["tokens"]) == len(exs) and unpacked["segment_ids"].max() == 1


def test_packed_batch_gives_unpacked_per_example_loss():
  params, exs = tiny_params(), tiny_examples(8)
  model = Decoder(TINY)
  losses = {}
  token_nll = jax.jit(functools.partial(sft.token_nll, model))
  for packed in (True, False):
    rows = sft.pack(exs, 40, packed=packed)
    nll, w = token_nll(params, jax.tree.map(jnp.asarray, rows))
    losses[packed] = sft.per_example_nll(nll, w, rows["segment_ids"])
  assert len(sft.pack(exs, 40)["tokens"]) < len(exs)  # Packing really shared rows.
  np.testing.assert_allclose(losses[True], losses[False], rtol=1e-5, atol=1e-5)
  # Without segment ids the second example of a row would see the first: the losses would differ.
  rows = sft.pack(exs, 40)

  @jax.jit
  def log_probs(segment_ids):
    return jax.nn.log_softmax(model.apply(
        {"params": params}, jnp.asarray(rows["tokens"]), positions=jnp.asarray(rows["positions"]),
        input_mask=jnp.asarray(rows["segment_ids"] > 0), segment_ids=segment_ids).logits)
  leaky = log_probs(jnp.ones_like(rows["segment_ids"]))  # One segment per row: examples see each other.
  sealed = log_probs(jnp.asarray(rows["segment_ids"]))
  second = rows["segment_ids"] == 2
  assert float(jnp.max(jnp.abs(leaky - sealed)[second])) > 1e-3


def test_batch_stream_is_a_function_of_step():
  exs = tiny_examples(10)
  a = sft.BatchStream(exs, seq_len=32, batch_size=3, seed=1)
  b = sft.BatchStream(exs, seq_len=32, batch_size=3, seed=1)
  per_epoch = a.rows_per_epoch()
  ks = list(range(0, 3 * per_epoch // 3 + 2))
  first = [a.batch(k) for k in ks]
  for k in reversed(ks):  # Any order of access gives the same batches.
    for key in first[k]:
      np.testing.assert_array_equal(first[k][key], b.batch(k)[key])
  epoch0 = np.concatenate([x["segment_ids"] for x in first])[:per_epoch]
  assert int((epoch0 == 1).any(axis=1).sum()) == per_epoch and sum(int(r.max()) for r in epoch0) == len(exs)


def test_training_reduces_loss_and_writes_metrics(tmp_path):
  res = sft.train(tiny_examples(16), TINY, tiny_params(), _cfg(log_every=3), str(tmp_path), show_progress=False)
  losses = [r["loss"] for r in res.metrics if "loss" in r]
  assert len(losses) == 4 and losses[-1] < 0.8 * losses[0]
  assert (tmp_path / "loss.png").exists() and (tmp_path / "metrics.jsonl").exists()
  assert {"lr", "grad_norm", "tokens_per_s"} <= set(res.metrics[-1])


def test_prompt_masking_changes_what_is_learned(tmp_path):
  cfg = _cfg()
  on = sft.train(tiny_examples(8, prompt_masking=True), TINY, tiny_params(), cfg, str(tmp_path / "on"),
                 show_progress=False)
  off = sft.train(tiny_examples(8, prompt_masking=False), TINY, tiny_params(), cfg, str(tmp_path / "off"),
                  show_progress=False)
  tokens_on = [r["loss_tokens"] for r in on.metrics if "loss_tokens" in r]
  tokens_off = [r["loss_tokens"] for r in off.metrics if "loss_tokens" in r]
  assert all(b > a for a, b in zip(tokens_on, tokens_off))


def test_resume_equals_uninterrupted(tmp_path):
  cfg, exs = _cfg(), tiny_examples(12)
  full = sft.train(exs, TINY, tiny_params(), cfg, str(tmp_path / "a"), show_progress=False)
  part = sft.train(exs, TINY, tiny_params(), cfg, str(tmp_path / "b"), stop_at=6, show_progress=False)
  assert int(part.state.step) == 6
  resumed = sft.train(exs, TINY, tiny_params(), cfg, str(tmp_path / "b"), show_progress=False)
  assert int(resumed.state.step) == 12
  assert _max_diff(full.params, resumed.params) < 1e-6
  assert _max_diff(full.params, part.params) > 1e-4
  assert [r["step"] for r in resumed.metrics if "loss" in r] == list(range(1, 13))
  with pytest.raises(ValueError, match="another config"):
    sft.train(exs, TINY, tiny_params(), _cfg(lr=1e-4), str(tmp_path / "b"), show_progress=False)


def test_sharded_equals_single_device(tmp_path):
  assert jax.device_count() == 8
  cfg, exs = _cfg(), tiny_examples(16)
  single = sft.train(exs, TINY, tiny_params(), cfg, str(tmp_path / "one"), show_progress=False)
  mesh = Mesh(np.array(jax.devices()), ("data",))
  sharded = sft.train(exs, TINY, tiny_params(), cfg, str(tmp_path / "mesh"), mesh=mesh, show_progress=False)
  assert len(jax.tree.leaves(sharded.state.params)[0].sharding.device_set) == 8
  assert _max_diff(single.params, sharded.params) < 1e-5
  with pytest.raises(ValueError, match="divisible"):
    sft.train(exs, TINY, tiny_params(), _cfg(batch_size=6), str(tmp_path / "bad"), mesh=mesh, show_progress=False)


def test_bf16_compute_trains(tmp_path):
  res = sft.train(tiny_examples(16), TINY, tiny_params(), _cfg(bf16=True, log_every=3),
                  str(tmp_path), show_progress=False)
  losses = [r["loss"] for r in res.metrics if "loss" in r]
  assert np.isfinite(losses).all() and losses[-1] < losses[0]
  assert jax.tree.leaves(res.state.params)[0].dtype == jnp.float32  # Master weights stay float32.


def test_eval_fn_runs_at_start_cadence_and_end(tmp_path):
  seen = []

  def eval_fn(step, params):
    seen.append(step)
    return {"score": float(step)}
  sft.train(tiny_examples(8), TINY, tiny_params(), _cfg(eval_every=5), str(tmp_path), eval_fn=eval_fn,
            show_progress=False)
  assert seen == [0, 5, 10, 12]


def test_smollm2_full_finetune_fits_mbpp_records(smollm2, data_dir, tmp_path):
  records = load_task("mbpp", "train", str(data_dir))[:4]
  cfg = sft.SFTConfig(steps=3, batch_size=2, seq_len=160, lr=5e-5, warmup_steps=0, decay="constant", log_every=1,
                      save_every=100)
  res = sft.train_sft(records, smollm2, cfg, str(tmp_path), show_progress=False)
  losses = [r["loss"] for r in res.metrics if "loss" in r]
  assert np.isfinite(losses).all() and 0.0 < losses[0] < 5.0  # An instruct model already knows Python.
  assert res.params["embedding"].shape == (49152, 576)
  # The step-0 batch's loss falls after training on it (and the following batches of the same four records).
  stream = sft.BatchStream(sft.tokenize(records, smollm2.tokenizer, max_len=160), seq_len=160, batch_size=2)
  batch = jax.tree.map(jnp.asarray, stream.batch(0))
  model = Decoder(smollm2.config)

  @jax.jit
  def mean_nll(params):
    nll, w = sft.token_nll(model, params, batch)
    return jnp.sum(nll * w) / jnp.sum(w)
  assert float(mean_nll(res.params)) < float(mean_nll(smollm2.params))


@pytest.mark.parametrize("lora_rank", [0, 2])
def test_a_finished_run_loads_back_as_its_fine_tuned_model(tmp_path, lora_rank):
  base = LoadedModel(config=TINY, params=tiny_params(), tokenizer=None, source=str(tmp_path / "gone"))
  cfg = _cfg(lora_rank=lora_rank)
  res = sft.train(tiny_examples(8), TINY, base.params, cfg, str(tmp_path / "run"), show_progress=False,
                  model_id=base.source)
  assert sft.is_run_dir(str(tmp_path / "run")) and not sft.is_run_dir(str(tmp_path))
  loaded = sft.load_trained(str(tmp_path / "run"), base=base)
  assert _max_diff(loaded.params, res.params) < 1e-6 and _max_diff(loaded.params, base.params) > 1e-4
  assert loaded.source == str(tmp_path / "run")
  with pytest.raises(UserError, match="is not there any more"):  # The pinned base model path was removed.
    sft.load_trained(str(tmp_path / "run"))
  other = LoadedModel(config=TINY.replace(max_len=64), params=base.params, tokenizer=None, source="other")
  with pytest.raises(UserError, match="does not match the model"):
    sft.load_trained(str(tmp_path / "run"), base=other)
