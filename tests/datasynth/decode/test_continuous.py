"""Tests of datasynth.decode.continuous: continuous batching gives every item static batching's exact tokens (per-row
prefixes, a shared prefix, token prompts; EOS, stop sequences and stop strings; any slot count, slots refilled past
the end of the item list), and its per-row fast paths (cache writes, end checks) equal their plain references."""
import functools
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from datasynth.decode import continuous
from datasynth.decode import kernels, text as text_lib
from datasynth.models.decoder import Decoder
from datasynth.models.tokenizer import Tokenizer
from test_sampling import gemma3_like, tiny_model

_PIECES = ["", ""] + [chr(ord("a") + i % 26) * (1 + i // 26) for i in range(126)]  # 2.. -> "a".."z", "aa".., ...


class _Pieces:
  """A toy tokenizer backend over the tiny decoders' 128 ids (id 0 is padding, id 1 BOS): text is the ids' pieces,
  so a stop string such as "ab" can be completed by one token ("b" after "a") or split across tokens."""
  kind = "toy"
  vocab_size = 128

  def encode(self, text):
    return [_PIECES.index(c) for c in text]  # One id per character.

  def decode(self, ids):
    return "".join(_PIECES[i] for i in ids)

  def piece(self, i):
    return _PIECES[i]

  def is_special(self, i):
    return i in (0, 1)


def _model(make):
  dec, params = make()
  tok = Tokenizer(_Pieces(), bos_id=1, eos_id=None, pad_id=0, add_bos=True)
  return types.SimpleNamespace(config=dec.config, params=params, tokenizer=tok)


_PROMPTS = ["hello", "ab", "xyzzy", "q", "mnop", "cc", "theend", "k", "abcabc", "z", "mm"]  # 11 items.


def _both(model, slot_counts, **kw):
  """sample_text's details: static batching (batch 4), then continuous for each slot count. EOS ids are tokens the
  items write at steps 2, 5 and 8 when nothing ends them, so rows end at many different steps."""
  run = functools.partial(text_lib.sample_text, model, progress=False, return_details=True, **kw)
  static4 = text_lib.Batching(4, "static")
  free = run(batching=static4, ending=text_lib.Ending(10, eos_id=None))
  ending = text_lib.Ending(10, eos_id=[free[0].token_ids[2], free[1].token_ids[5], free[3].token_ids[8]])
  static = run(batching=static4, ending=ending)
  return static, [run(batching=text_lib.Batching(s, "continuous", block_steps=3), ending=ending) for s in slot_counts]


def _assert_same(static, runs):
  for got in runs:
    assert [(s.token_ids, s.finished, s.text) for s in got] == [(s.token_ids, s.finished, s.text) for s in static]


def _assert_varied(static, budget=10):
  lengths = [len(s.token_ids) for s in static]
  assert min(lengths) < budget and max(lengths) == budget and len(set(lengths)) >= 3, lengths


def test_token_prompts_give_static_batchings_tokens_for_any_slot_count():
  """PT / NOMAD-style token prompts of ragged lengths, temperature 1; 11 items through 1, 3, 4 and 16 slots (16 > 11:
  slots never filled; 3: the last refills run past the end of the list)."""
  model = _model(tiny_model)
  static, runs = _both(model, (1, 3, 4, 16), prompts=_PROMPTS, seed=3)
  _assert_varied(static)
  _assert_same(static, runs)


def test_per_row_prefixes_give_static_batchings_tokens():
  """SoftSRV SS_MC / SS_MPk: one embedded prefix per item then BOS; and prefixes alone (no prompt), top_p < 1."""
  model = _model(gemma3_like)
  prefixes = 2.0 * np.asarray(jax.random.normal(jax.random.key(1), (11, 3, model.config.width)))
  static, runs = _both(model, (2, 5), prompts=[""] * 11, prefixes=prefixes, add_bos=True, seed=5)
  _assert_varied(static)
  _assert_same(static, runs)
  static, runs = _both(model, (3,), prefixes=prefixes, seed=6, sampling=text_lib.Sampling(top_p=0.9))
  _assert_same(static, runs)


def test_shared_prefix_gives_static_batchings_tokens():
  """SoftSRV SS_NP / prompt tuning: one prefix for every item (prefilled once), ragged prompts, some empty."""
  model = _model(gemma3_like)
  prefix = 2.0 * np.asarray(jax.random.normal(jax.random.key(2), (4, model.config.width)))
  prompts = [p if i % 3 else "" for i, p in enumerate(_PROMPTS)]
  static, runs = _both(model, (3, 6), prompts=prompts, prefixes=prefix, add_bos=False, seed=7)
  _assert_varied(static)
  _assert_same(static, runs)


def test_stop_strings_and_stop_sequences_cut_where_static_batching_cuts():
  """Stop strings (host-checked between blocks, often completed mid-block) and token-id stop sequences; the cut
  texts and tokens are static batching's."""
  model = _model(tiny_model)
  free = text_lib.sample_text(model, _PROMPTS, progress=False, return_details=True,
                              ending=text_lib.Ending(10, eos_id=None), seed=3, batching=text_lib.Batching(4, "static"))
  texts = [s.text for s in free]
  stops = [texts[0][2:4], texts[4][5:6]]  # Strings the free runs write mid-row.
  run = functools.partial(text_lib.sample_text, model, _PROMPTS, progress=False, return_details=True,
                          ending=text_lib.Ending(10, stops, eos_id=None), seed=3)
  static = run(batching=text_lib.Batching(4, "static"))
  assert sum(any(x in t for x in stops) for t in texts) >= 3
  assert all(not any(x in s.text for x in stops) for s in static)
  assert sum(s.finished for s in static) >= 3
  _assert_same(static, [run(batching=text_lib.Batching(s, "continuous", block_steps=3)) for s in (2, 5)])
  seq = free[2].token_ids[3:5]  # A token-id stop sequence (matched on device).
  spec, _ = kernels.make_spec(Decoder(model.config), ending=kernels.Ending(10, [seq], eos_id=None))
  tokens, mask = model.tokenizer.encode_batch(_PROMPTS, length=16)
  keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(3), i))(jnp.arange(11, dtype=jnp.uint32))
  ref = kernels.sample(Decoder(model.config), model.params, prompt_tokens=tokens, prompt_mask=mask, rng=keys,
                       ending=kernels.Ending(10, [seq], eos_id=None))
  items = continuous.Items(keys=np.asarray(jax.random.key_data(keys)), tokens=tokens, mask=mask)
  got = continuous.Engine(spec, model.params, slots=4, block_steps=2, refill_rows=3).run(items)
  for j, g in enumerate(got):
    n = int(ref.lengths[j])
    assert g.token_ids == np.asarray(ref.tokens[j, :n]).tolist() and g.finished == bool(ref.finished[j])
  assert any(g.token_ids[-2:] == list(seq) for g in got)


def test_greedy_and_one_token_budget():
  model = _model(tiny_model)
  for kw in (dict(sampling=text_lib.Sampling(temperature=0.0), ending=text_lib.Ending(6)),
             dict(ending=text_lib.Ending(1))):
    run = functools.partial(text_lib.sample_text, model, _PROMPTS, progress=False, return_details=True, **kw)
    static = run(batching=text_lib.Batching(4, "static"))
    assert [s.token_ids for s in run(batching=text_lib.Batching(3, "continuous"))] == [s.token_ids for s in static]


def test_per_row_cache_index_equals_the_shared_index():
  """The decoder's per-row write index ([B], continuous batching's) writes and attends like the scalar index when all
  rows agree, and writes each row at its own slot otherwise."""
  dec, params = gemma3_like()
  tokens = jax.random.randint(jax.random.key(0), (3, 5), 1, 128, jnp.int32)
  logits, cache = kernels.prefill(dec, params, tokens, None, jnp.ones((3, 5), bool), 9)
  nxt = jnp.array([4, 5, 6], jnp.int32)
  live = jnp.ones((3,), bool)
  ref_logits, ref = kernels.decode_step(dec, params, nxt, live, cache)
  per_row = dict(cache, index=jnp.full((3,), cache["index"]))
  got_logits, got = kernels.decode_step(dec, params, nxt, live, per_row)
  np.testing.assert_array_equal(got_logits, ref_logits)
  for name in ("k", "v", "pos", "valid"):
    np.testing.assert_array_equal(got[name], ref[name])
  np.testing.assert_array_equal(got["index"], jnp.full((3,), ref["index"]))
  moved = dict(cache, index=jnp.array([5, 6, 8], jnp.int32))
  _, out = kernels.decode_step(dec, params, nxt, live, moved)
  for r, slot in enumerate((5, 6, 8)):  # (Keys in another slot order: attention sums round differently.)
    np.testing.assert_allclose(out["k"][:, r, :, slot], ref["k"][:, r, :, 5], atol=1e-5)
    assert bool(out["valid"][r, slot]) and int(out["pos"][r, slot]) == 5
    assert int(out["valid"][r].sum()) == 6


def test_end_check_at_per_row_columns_equals_the_check_per_row():
  spec, _ = kernels.make_spec(Decoder(tiny_model()[0].config), ending=kernels.Ending(6, [[4, 5], [7]], eos_id=[9]))
  buf = jnp.array([[1, 4, 5, 0, 0, 0], [9, 2, 3, 0, 0, 0], [4, 5, 6, 7, 0, 0], [2, 2, 2, 2, 2, 2]], jnp.int32)
  cols = jnp.array([2, 0, 3, 5], jnp.int32)
  got = kernels.ends_row(buf, cols, spec)
  ref = [bool(kernels.ends_row(buf[r:r + 1], int(cols[r]), spec)[0]) for r in range(4)]
  assert got.tolist() == ref == [True, True, True, False]


def test_bad_settings_raise_clear_errors():
  model = _model(tiny_model)
  with pytest.raises(ValueError, match="batching"):
    text_lib.sample_text(model, _PROMPTS, batching=text_lib.Batching(mode="dynamic"), progress=False)
  with pytest.raises(ValueError, match="max_new_tokens must be >= 1"):
    text_lib.sample_text(model, _PROMPTS, ending=text_lib.Ending(0), progress=False)
  spec, _ = kernels.make_spec(Decoder(model.config), ending=kernels.Ending(2))
  with pytest.raises(ValueError, match="slots"):
    continuous.Engine(spec, model.params, slots=0)
  with pytest.raises(ValueError, match="tokenizer"):
    continuous.Engine(spec, model.params, slots=2, stop_strings=("a",))


def test_refill_groups_carry_no_padding_and_few_shapes():
  assert continuous.group_sizes(0, 4) == []
  assert continuous.group_sizes(11, 4) == [4, 4, 2, 1]
  assert continuous.group_sizes(5, 3) == [3, 2]
  for largest in (1, 3, 4, 8):
    shapes = set()
    for n in range(40):
      sizes = continuous.group_sizes(n, largest)
      assert sum(sizes) == n and sizes == sorted(sizes, reverse=True)
      assert all(s == largest or (s < largest and s & (s - 1) == 0) for s in sizes)
      shapes |= set(sizes)
    assert len(shapes) <= 1 + largest.bit_length()


def test_a_block_ends_as_soon_as_want_slots_have_ended():
  """`decode_block` returns after the step at which the want-th slot ended (so the host refills it at once), and
  runs to its block size (or until every slot is done) when want exceeds the slots."""
  model = _model(tiny_model)
  free = text_lib.sample_text(model, _PROMPTS[:4], progress=False, return_details=True,
                              ending=text_lib.Ending(10, eos_id=None), seed=3, batching=text_lib.Batching(4, "static"))
  eos = [free[0].token_ids[3], free[1].token_ids[6], free[2].token_ids[8]]
  spec, _ = kernels.make_spec(Decoder(model.config), ending=kernels.Ending(10, eos_id=eos))
  tokens, mask = model.tokenizer.encode_batch(_PROMPTS[:4], length=8)
  keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(3), i))(jnp.arange(4, dtype=jnp.uint32))
  items = continuous.Items(keys=np.asarray(jax.random.key_data(keys)), tokens=tokens, mask=mask)
  engine = continuous.Engine(spec, model.params, slots=4, block_steps=12)
  state = continuous.init_state(spec, 4, 8 + 10, items.keys.shape[1:])
  state, _ = engine.fill(state, items, None, [-1] * 4, 0)
  fresh = lambda: jax.tree.map(jnp.copy, state)
  release = jnp.zeros((4,), bool)
  full = continuous.decode_block(engine.params, fresh(), release, jnp.int32(5), spec=spec, block_steps=12)
  assert bool(jnp.all(full["done"]))
  ends = sorted(np.asarray(full["steps"])[~np.asarray(state["done"])].tolist())  # Tokens when each slot ended.
  assert len(ends) >= 3 and len(set(ends)) >= 2, ends
  for want in range(1, len(ends) + 1):
    got = continuous.decode_block(engine.params, fresh(), release, jnp.int32(want), spec=spec, block_steps=12)
    assert int(jnp.max(got["steps"])) == ends[want - 1]
    assert int(jnp.sum(got["done"] & ~state["done"])) >= want
  short = continuous.decode_block(engine.params, fresh(), release, jnp.int32(5), spec=spec, block_steps=2)
  assert int(jnp.max(short["steps"])) == 3 and not bool(jnp.all(short["done"]))
