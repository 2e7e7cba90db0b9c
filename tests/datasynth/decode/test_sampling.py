"""Tests of datasynth.decode: cache parity, prefixes, greedy vs transformers, truncation, EOS/stop, raggedness."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from datasynth.decode import kernels, text as text_lib, tokens as tokens_lib
from datasynth.decode.buckets import prompt_length
from datasynth.models import loaders
from datasynth.models.config import gemma_layer_types, make_config
from datasynth.models.decoder import Decoder, cast_params

TINY = dict(vocab_size=128, width=32, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=8, mlp_dim=64, max_len=128)


@functools.lru_cache(maxsize=None)
def tiny_model(arch="llama", seed=0, **fields):
  """A tiny random decoder whose next-token distributions are far from one-hot (weights larger than the init's)."""
  cfg = make_config(arch, **{**TINY, "eos_id": None, "pad_id": 0, **fields})
  init = jax.jit(Decoder(cfg).init)
  params = nn.meta.unbox(init(jax.random.key(seed), jnp.zeros((1, 4), jnp.int32))["params"])
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(seed + 1), len(leaves))
  leaves = [x if x.ndim == 1 else 0.3 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)]
  return Decoder(cfg), treedef.unflatten(leaves)


def gemma3_like():
  """Local (sliding window 4) and global layers, as in Gemma 3, with a window smaller than the sequences used."""
  return tiny_model("gemma3", num_layers=3, num_kv_heads=1, sliding_window=4,
                    layer_types=gemma_layer_types(3, 3), query_pre_attn_scalar=8.0)


def ragged_prompts(batch=3, length=6, seed=0):
  tokens = jax.random.randint(jax.random.key(seed), (batch, length), 1, TINY["vocab_size"], jnp.int32)
  lengths = np.array([length, 2, 4, 1, 5, 3][:batch])
  mask = np.arange(length)[None] < lengths[:, None]
  return tokens, jnp.asarray(mask), lengths


@pytest.mark.parametrize("make,with_prefix", [(tiny_model, False), (gemma3_like, True)],
                         ids=["llama", "gemma3_local_prefix"])
def test_cached_decode_logits_equal_uncached_forward(make, with_prefix):
  dec, params = make()
  tokens, mask, lengths = ragged_prompts()
  b, steps, t = tokens.shape[0], 10, 3
  prefix = 0.5 * jax.random.normal(jax.random.key(5), (b, t, dec.config.width)) if with_prefix else None
  fed = jax.random.randint(jax.random.key(6), (b, steps), 1, dec.config.vocab_size, jnp.int32)
  input_mask = jnp.concatenate([jnp.ones((b, t), bool), mask], 1) if with_prefix else mask

  prefill = jax.jit(lambda p, x, pre: kernels.prefill(dec, p, x, pre, input_mask, input_mask.shape[1] + steps))
  step = jax.jit(lambda p, tok, c: kernels.decode_step(dec, p, tok, jnp.ones((b,), bool), c))
  logits, cache = prefill(params, tokens, prefix)
  cached = [logits]
  for i in range(steps):
    logits, cache = step(params, fed[:, i], cache)
    cached.append(logits)
  cached = np.stack(cached, 1)  # [B, steps + 1, V]: logits after the prompt and after each fed token.

  # Reference: one uncached forward per row over its real inputs only (no padding before them; the filler after
  # them cannot change earlier positions under causal attention, and keeps one compiled shape for all rows).
  forward = jax.jit(lambda seq, pre: dec.apply({"params": params}, seq, prefix=pre).logits[0])
  for r in range(b):
    seq = np.ones((1, tokens.shape[1] + steps), np.int32)
    seq[0, :lengths[r] + steps] = np.concatenate([tokens[r, :lengths[r]], fed[r]])
    n_in = (t if with_prefix else 0) + lengths[r]
    ref = np.asarray(forward(seq, None if prefix is None else prefix[r:r + 1]))[n_in - 1:n_in + steps]
    np.testing.assert_allclose(cached[r], ref, atol=1e-4, rtol=0)


def test_gemma3_like_window_matters():
  """The sliding window is active in the parity test above: a global-only model gives different logits."""
  dec, params = gemma3_like()
  seq = jax.random.randint(jax.random.key(0), (1, 12), 1, 128, jnp.int32)
  local = dec.apply({"params": params}, seq).logits
  glob = Decoder(dec.config.replace(layer_types=())).apply({"params": params}, seq).logits
  assert np.abs(np.asarray(local[0, -1] - glob[0, -1])).max() > 1e-3


def test_prefix_changes_output_with_cache():
  dec, params = tiny_model()
  tokens, mask, _ = ragged_prompts(batch=4)
  p1 = jax.random.normal(jax.random.key(1), (4, 3, 32))
  p2 = jax.random.normal(jax.random.key(2), (4, 3, 32))
  run = functools.partial(kernels.sample, dec, params, prompt_tokens=tokens, prompt_mask=mask,
                          ending=kernels.Ending(8), sampling=tokens_lib.Sampling(0.0), return_logprobs=True)
  a, b, a2 = run(prefix=p1), run(prefix=p2), run(prefix=p1)
  np.testing.assert_array_equal(a.tokens, a2.tokens)
  assert not np.array_equal(a.tokens, b.tokens)
  assert not np.allclose(a.logprobs, b.logprobs)


def test_prefix_only_sampling_matches_uncached_greedy():
  dec, params = tiny_model()
  prefix = jax.random.normal(jax.random.key(3), (2, 4, 32))
  n = 6
  out = kernels.sample(dec, params, prefix=prefix, ending=kernels.Ending(n), sampling=tokens_lib.Sampling(0.0))
  # Uncached reference on a fixed-length buffer: causal attention makes position p independent of later slots.
  forward = jax.jit(lambda seq, pre: dec.apply({"params": params}, seq, prefix=pre).logits[0])
  for r in range(2):
    seq = np.zeros((1, n), np.int32)
    nxt = int(jnp.argmax(dec.apply({"params": params}, None, prefix=prefix[r:r + 1]).logits[0, -1]))
    for i in range(n - 1):
      seq[0, i] = nxt
      nxt = int(jnp.argmax(forward(seq, prefix[r:r + 1])[4 + i]))
    seq[0, n - 1] = nxt
    np.testing.assert_array_equal(out.tokens[r], seq[0])


def test_greedy_smollm2_equals_transformers_generate(smollm2):
  torch = pytest.importorskip("torch")
  import os
  import transformers
  path = loaders.resolve("smollm2-135m")
  hf = transformers.AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path),
                                                         dtype=torch.float32)
  tok = smollm2.tokenizer
  assert not tok.add_bos
  ids = tok.encode("The three most important things to know about the ocean are")
  with torch.no_grad():
    ref = hf.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                      max_new_tokens=32, do_sample=False, eos_token_id=smollm2.config.eos_id,
                      pad_token_id=smollm2.config.pad_id)[0, len(ids):].tolist()
  out = kernels.sample(Decoder(smollm2.config), smollm2.params, prompt_tokens=np.array([ids]),
                       ending=kernels.Ending(32), sampling=tokens_lib.Sampling(0.0))
  ours = np.asarray(out.tokens[0, :int(out.lengths[0])]).tolist()
  assert ours == ref


def test_temperature_near_zero_equals_greedy():
  dec, params = tiny_model()
  tokens, mask, _ = ragged_prompts()
  run = functools.partial(kernels.sample, dec, params, prompt_tokens=tokens, prompt_mask=mask,
                          ending=kernels.Ending(10))
  np.testing.assert_array_equal(run(sampling=tokens_lib.Sampling(1e-6), rng=7).tokens,
                                run(sampling=tokens_lib.Sampling(0.0)).tokens)


def test_top_k_and_top_p_masks_on_crafted_logits():
  probs = np.array([0.15, 0.5, 0.05, 0.2, 0.1])
  logits = jnp.log(jnp.asarray(probs))[None]
  kept = lambda masked: set(np.flatnonzero(np.asarray(masked[0]) > -1e29).tolist())
  assert kept(tokens_lib.top_k_mask(logits, 2)) == {1, 3}
  assert kept(tokens_lib.top_k_mask(logits, 0)) == {0, 1, 2, 3, 4}
  assert kept(tokens_lib.top_p_mask(logits, 0.6)) == {1, 3}  # 0.5 < 0.6, then 0.2 completes it.
  assert kept(tokens_lib.top_p_mask(logits, 0.5)) == {1}  # 0.5 alone reaches p.
  assert kept(tokens_lib.top_p_mask(logits, 0.9)) == {0, 1, 3, 4}
  assert kept(tokens_lib.top_p_mask(logits, 1.0)) == {0, 1, 2, 3, 4}

  # The sampler draws only kept tokens, with the renormalised probabilities.
  keys = jax.random.split(jax.random.key(0), 4000)
  draw = lambda keys, **kw: jax.jit(jax.vmap(
      lambda k: tokens_lib.choose_tokens(logits, k, tokens_lib.Sampling(temperature=1.0, **kw))[0]))(keys)
  for kw, allowed in [(dict(top_k=2), {1: 0.5 / 0.7, 3: 0.2 / 0.7}),
                      (dict(top_p=0.9), {0: 0.15 / 0.95, 1: 0.5 / 0.95, 3: 0.2 / 0.95, 4: 0.1 / 0.95}),
                      (dict(top_k=3, top_p=0.6), {1: 0.5 / 0.7, 3: 0.2 / 0.7}),
                      (dict(), dict(enumerate(probs)))]:
    got = np.asarray(draw(keys, **kw))
    assert set(got.tolist()) <= set(allowed), kw
    for tok, p in allowed.items():
      assert abs(np.mean(got == tok) - p) < 0.04, (kw, tok)


def _kept(masked):
  return np.asarray(masked) > -1e29


def _top_p_float64(logits, p):
  """The sort-based nucleus in float64 (ties in index order): the rule without float32's cumsum rounding."""
  x = np.asarray(logits, np.float64)
  order = np.argsort(-x, axis=-1, kind="stable")
  vals = np.take_along_axis(x, order, axis=-1)
  probs = np.exp(vals - vals[:, :1])
  probs /= probs.sum(axis=-1, keepdims=True)
  keep = np.zeros(x.shape, bool)
  np.put_along_axis(keep, order, np.cumsum(probs, axis=-1) - probs < p, axis=-1)
  return keep


@pytest.mark.parametrize("vocab", [3000, 262144])
def test_nucleus_without_a_sort_keeps_exactly_the_set_of_the_sorted_reference(vocab):
  """nucleus_mask (top-K pre-filter, exact threshold search for rows whose nucleus is larger) == top_p_mask (full
  sort) on normal, peaked, flat and tied rows, over many draws and p values (up to the sort's own float32 rounding,
  judged by the float64 rule); a row's set does not depend on the other rows of its batch."""
  rng = np.random.default_rng(0)
  rows = 48 if vocab < 10000 else 4
  kinds = [lambda: rng.normal(size=(rows, vocab)), lambda: 8 * rng.normal(size=(rows, vocab)),
           lambda: 0.05 * rng.normal(size=(rows, vocab)), lambda: 0.7 * rng.integers(0, 5, (rows, vocab)),
           lambda: 0.01 * rng.integers(0, 3, (rows, vocab)),
           lambda: rng.normal(size=(rows, vocab)) * rng.choice([0.05, 1.0, 8.0], (rows, 1))]
  if vocab > 10000:
    kinds = kinds[1:3]  # Peaked (the top-K path) and flat (the search) rows of Gemma's vocabulary size.
  fast = jax.jit(tokens_lib.nucleus_mask, static_argnums=1)
  reference = jax.jit(tokens_lib.top_p_mask, static_argnums=1)
  searched = rounded = 0
  for trial in range(4 if vocab < 10000 else 1):
    for i, make in enumerate(kinds):
      p = (0.3, 0.9, 0.97)[(trial + i) % 3]  # Few distinct p values: each is a compile.
      logits = jnp.asarray(make(), jnp.float32)
      got = _kept(fast(logits, p))
      # Row by row the sort's set; where float32's long cumsum in the sort rounds the other way at p (flat rows of
      # thousands of tokens), the float64 rule's set.
      want32, want64 = _kept(reference(logits, p)), _top_p_float64(logits, p)
      same = np.all(got == want32, axis=1) | np.all(got == want64, axis=1)
      assert same.all(), (p, np.flatnonzero(~same))
      rounded += int(np.sum(~np.all(got == want32, axis=1)))
      np.testing.assert_array_equal(got[1:2], _kept(fast(logits[1:2], p)))
      searched += int(np.sum(got.sum(axis=1) > tokens_lib.NUCLEUS_CANDIDATES))
  assert searched >= 2  # The exact search ran (nuclei of more than K tokens), not only the top-K path.
  assert rounded <= 2  # Rows where only float32 rounding of the sort's cumsum separates the two.


def test_nucleus_with_partial_ties_keeps_the_first_tied_tokens_like_the_sort():
  logits = jnp.asarray([[2.0] * 300 + [1.0] * 300 + [2.0] * 300], jnp.float32)  # 600 tokens tie at the top.
  for p in (0.1, 0.5, 0.77, 0.9):
    got = _kept(tokens_lib.nucleus_mask(logits, p))
    np.testing.assert_array_equal(got, _kept(tokens_lib.top_p_mask(logits, p)))
    assert 0 < got.sum() < 900


def test_draw_over_many_vocabulary_blocks():
  """The two-level CDF inversion: tokens at block edges, in the padded last block and next to masked ones are drawn
  with their probabilities, and masked tokens never are."""
  vocab = 1000  # Not a multiple of the 256-token block: the last block is padded.
  probs = {3: 0.3, 255: 0.05, 256: 0.1, 511: 0.1, 512: 0.15, 999: 0.3}
  logits = np.full((1, vocab), tokens_lib._NEG_INF, np.float32)
  logits[0, list(probs)] = np.log(list(probs.values()))
  keys = jax.random.split(jax.random.key(1), 6000)
  got = np.asarray(jax.jit(jax.vmap(
      lambda k: tokens_lib.choose_tokens(jnp.asarray(logits), k, tokens_lib.Sampling(1.0))[0]))(keys))
  assert set(got.tolist()) <= set(probs)
  for tok, p in probs.items():
    assert abs(np.mean(got == tok) - p) < 0.025, (tok, np.mean(got == tok), p)


def _expected_end(row, stop_ids, stop_seqs, n):
  for i in range(n):
    if row[i] in stop_ids or any(i + 1 >= len(s) and tuple(row[i + 1 - len(s):i + 1]) == s for s in stop_seqs):
      return i + 1
  return None


def test_eos_and_stop_sequences_end_each_row_at_the_right_token():
  dec, params = tiny_model()
  tokens, mask, _ = ragged_prompts()
  n = 12
  base = np.asarray(kernels.sample(dec, params, prompt_tokens=tokens, prompt_mask=mask,
                                   ending=kernels.Ending(n, eos_id=None), sampling=tokens_lib.Sampling(0.0)).tokens)
  eos = int(base[0, 4])
  stop = tuple(int(x) for x in base[1, 5:7])
  for eos_ids, stops in [((eos,), ()), ((), (stop,)), ((eos,), (stop,))]:
    out = kernels.sample(dec, params, prompt_tokens=tokens, prompt_mask=mask,
                         ending=kernels.Ending(n, [list(s) for s in stops], eos_id=list(eos_ids)),
                         sampling=tokens_lib.Sampling(0.0))
    for r in range(3):
      found = _expected_end(base[r].tolist(), eos_ids, stops, n)
      end = n if found is None else found
      assert int(out.lengths[r]) == end
      assert bool(out.finished[r]) == (found is not None)
      np.testing.assert_array_equal(out.tokens[r, :end], base[r, :end])
      assert np.all(np.asarray(out.tokens[r, end:]) == 0)  # pad_id after the end.
  assert int(kernels.sample(dec, params, prompt_tokens=tokens, prompt_mask=mask, ending=kernels.Ending(n, eos_id=eos),
                            sampling=tokens_lib.Sampling(0.0)).lengths[0]) <= 5


def test_stop_strings_on_smollm2(smollm2):
  tok = smollm2.tokenizer
  dec = Decoder(smollm2.config)
  prompts = ["Write a short list of fruits:\n1.", "Question: What is 2 + 2?\nAnswer:"]
  ids, mask = tok.encode_batch(prompts)
  base = kernels.sample(dec, smollm2.params, prompt_tokens=ids, prompt_mask=mask,
                        ending=kernels.Ending(24, eos_id=None), sampling=tokens_lib.Sampling(0.0))
  row = np.asarray(base.tokens[0]).tolist()
  text = tok.decode(row)
  stop = tok.decode(row[:8])[-3:]  # A string completed around token 8 of row 0.
  assert stop.strip(), "stop string should be visible text"
  out = kernels.sample(dec, smollm2.params, prompt_tokens=ids, prompt_mask=mask,
                       ending=kernels.Ending(24, [stop], eos_id=None), sampling=tokens_lib.Sampling(0.0), tokenizer=tok)
  for r in range(2):
    full = np.asarray(base.tokens[r]).tolist()
    end = next((k for k in range(1, 25) if stop in tok.decode(full[:k])), 24)  # Linear scan reference.
    assert int(out.lengths[r]) == end
    np.testing.assert_array_equal(out.tokens[r, :end], full[:end])
  texts = text_lib.sample_text(smollm2, prompts, ending=text_lib.Ending(24, [stop], eos_id=None),
                               sampling=tokens_lib.Sampling(0.0), batching=text_lib.Batching(2), progress=False)
  assert texts[0] == text[:text.find(stop)]
  assert all(stop not in t for t in texts)


def test_ragged_batch_equals_each_prompt_alone():
  dec, params = tiny_model()
  tokens, mask, lengths = ragged_prompts(batch=4)
  prefix = jax.random.normal(jax.random.key(9), (4, 2, 32))
  kw = dict(ending=kernels.Ending(8), sampling=tokens_lib.Sampling(0.0), return_logprobs=True)
  batch = kernels.sample(dec, params, prompt_tokens=tokens, prompt_mask=mask, prefix=prefix, **kw)
  for r in (0, 1):  # Longest and shortest prompt.
    alone = kernels.sample(dec, params, prompt_tokens=tokens[r:r + 1, :lengths[r]], prefix=prefix[r:r + 1], **kw)
    np.testing.assert_array_equal(batch.tokens[r], alone.tokens[0])
    np.testing.assert_allclose(batch.logprobs[r], alone.logprobs[0], atol=1e-5)


def test_left_padding_equals_right_padding():
  dec, params = tiny_model()
  tokens, mask, lengths = ragged_prompts()
  left_t = np.zeros_like(np.asarray(tokens))
  for r, n in enumerate(lengths):
    left_t[r, -n:] = np.asarray(tokens[r, :n])
  left_m = np.asarray(mask)[:, ::-1]
  greedy = tokens_lib.Sampling(0.0)
  a = kernels.sample(dec, params, prompt_tokens=tokens, prompt_mask=mask, ending=kernels.Ending(6), sampling=greedy)
  b = kernels.sample(dec, params, prompt_tokens=left_t, prompt_mask=left_m, ending=kernels.Ending(6), sampling=greedy)
  np.testing.assert_array_equal(a.tokens, b.tokens)


def test_determinism_for_a_fixed_key():
  dec, params = tiny_model()
  tokens, mask, _ = ragged_prompts()
  run = functools.partial(kernels.sample, dec, params, prompt_tokens=tokens, prompt_mask=mask,
                          ending=kernels.Ending(16), sampling=tokens_lib.Sampling(1.0, top_p=0.95))
  a, b, c = run(rng=jax.random.key(3)), run(rng=jax.random.key(3)), run(rng=jax.random.key(4))
  np.testing.assert_array_equal(a.tokens, b.tokens)
  assert not np.array_equal(a.tokens, c.tokens)


def test_unrolled_layers_sample_the_same_tokens():
  """A Decoder with scan_layers=False is honoured by the compiled sampler and draws the same tokens."""
  dec, params = gemma3_like()
  tokens, mask, _ = ragged_prompts()
  run = lambda d: kernels.sample(d, params, prompt_tokens=tokens, prompt_mask=mask, ending=kernels.Ending(12),
                                 sampling=tokens_lib.Sampling(1.0), rng=jax.random.key(5), return_logprobs=True)
  scanned, unrolled = run(dec), run(Decoder(dec.config, scan_layers=False))
  np.testing.assert_array_equal(unrolled.tokens, scanned.tokens)
  np.testing.assert_allclose(unrolled.logprobs, scanned.logprobs, atol=1e-4)


def test_shared_prefix_is_prefilled_once_and_samples_as_if_repeated():
  """A batch-1 prefix with B prompts (SoftSRV SS_NP, PEFT prompt tuning) equals that prefix repeated per row: same
  tokens and log-probs, also for a row whose prompt is empty, with the layer scan and unrolled on unstacked weights."""
  dec, params = gemma3_like()
  tokens, mask, _ = ragged_prompts(batch=4)
  mask = mask.at[2].set(False)  # Row 2: the prefix alone.
  prefix = 2.0 * jax.random.normal(jax.random.key(2), (1, 5, dec.config.width))
  kw = dict(prompt_tokens=tokens, prompt_mask=mask, ending=kernels.Ending(10), sampling=tokens_lib.Sampling(1.0),
            rng=jax.random.key(6), return_logprobs=True)
  ref = kernels.sample(dec, params, prefix=jnp.repeat(prefix, 4, axis=0), **kw)
  for d in (dec, Decoder(dec.config, scan_layers=False)):
    out = kernels.sample(d, params, prefix=prefix, **kw)
    np.testing.assert_array_equal(out.tokens, ref.tokens)
    np.testing.assert_allclose(out.logprobs, ref.logprobs, atol=1e-4)


def test_bfloat16_sampling_tracks_float32():
  """bfloat16 weights (a float32 cache on CPU) sample under the float32 model: the greedy tokens' float32 log-probs
  stay close to those of float32's own greedy tokens (bf16 rounding may flip near-ties, not the distribution)."""
  dec, params = gemma3_like()
  tokens, mask, _ = ragged_prompts()
  kw = dict(prompt_tokens=tokens, prompt_mask=mask, ending=kernels.Ending(8), sampling=tokens_lib.Sampling(0.0),
            return_logprobs=True)
  f32 = kernels.sample(dec, params, **kw)
  p16 = jax.tree.map(lambda a: a.astype(jnp.bfloat16), params)
  b16 = kernels.sample(Decoder(dec.config, dtype=jnp.bfloat16, scan_layers=False), p16, **kw)
  assert b16.logprobs.dtype == jnp.float32
  np.testing.assert_array_equal(b16.tokens[:, 0], f32.tokens[:, 0])
  np.testing.assert_allclose(b16.logprobs[:, 0], f32.logprobs[:, 0], atol=0.05)


def test_sample_text_batches_and_pads_the_last_batch(smollm2):
  prompts = ["Hello, my name is", "The sky is", "One, two, three,"]
  greedy = tokens_lib.Sampling(0.0)
  texts = text_lib.sample_text(smollm2, prompts, batching=text_lib.Batching(2), ending=text_lib.Ending(5),
                               sampling=greedy, progress=False)
  alone = text_lib.sample_text(smollm2, prompts[2:], batching=text_lib.Batching(1), ending=text_lib.Ending(5),
                               sampling=greedy, progress=False)
  assert len(texts) == 3 and all(isinstance(t, str) and t for t in texts)
  assert texts[2] == alone[0]
  # SoftSRV's path: embedded prefixes only. Embedding the prompt's tokens as the prefix gives the same text.
  ids = smollm2.tokenizer.encode(prompts[1])
  dec = Decoder(smollm2.config)
  prefix = np.asarray(dec.apply({"params": smollm2.params}, np.array([ids] * 2), method=Decoder.embed))
  from_prefix = text_lib.sample_text(smollm2, None, prefixes=prefix, batching=text_lib.Batching(2),
                                     ending=text_lib.Ending(5), sampling=greedy, progress=False)
  assert from_prefix == [texts[1], texts[1]]


def test_common_token_prefix_leaves_every_row_a_token_and_ignores_short_runs():
  assert text_lib.common_token_prefix([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 3, 4, 6]], min_len=2) == 3
  assert text_lib.common_token_prefix([[1, 2, 3], [1, 2, 3, 4]], min_len=2) == 2  # Row 0 keeps its last id.
  assert text_lib.common_token_prefix([[1, 2, 3], [1, 2, 3, 4]], min_len=3) == 0  # Too short to be worth it.
  assert text_lib.common_token_prefix([[7, 2], [1, 2]], min_len=1) == 0
  assert text_lib.common_token_prefix([[5] * 40] * 3) == 39


def test_shared_common_prefix_gives_the_few_shot_prompts_the_same_greedy_text(smollm2):
  """share_common_prefix prefills the shots once; every row's greedy text is what the whole prompt gives."""
  shots = "".join(f"Question: What is {a} + {b}?\nAnswer: {a + b}\n\n" for a, b in [(2, 3), (10, 7), (4, 4)])
  prompts = [shots + f"Question: {q}\nAnswer:" for q in
             ["What is 6 + 1?", "What is the capital of France?", "Who wrote Hamlet?", "What is 12 + 30?",
              "What colour is the sky?"]]
  ids = [smollm2.tokenizer.encode(p) for p in prompts]
  assert text_lib.common_token_prefix(ids) >= 30  # The shots are shared, so the test exercises the split.
  kw = dict(ending=text_lib.Ending(8, ("\n",)), sampling=tokens_lib.Sampling(0.0), progress=False)
  whole = text_lib.sample_text(smollm2, prompts, batching=text_lib.Batching(2), **kw)
  shared = text_lib.sample_text(smollm2, prompts, batching=text_lib.Batching(2, share_common_prefix=True), **kw)
  assert shared == whole
  assert all(t.strip() for t in whole) and len(set(whole)) > 2  # Real, differing answers are compared.


def test_bad_inputs_raise_clear_errors():
  dec, params = tiny_model()
  tokens, mask, _ = ragged_prompts()
  with pytest.raises(ValueError, match="no real input"):
    kernels.sample(dec, params, prompt_tokens=tokens, prompt_mask=np.zeros(tokens.shape, bool),
                   ending=kernels.Ending(2))
  with pytest.raises(ValueError, match="top_p"):
    kernels.sample(dec, params, prompt_tokens=tokens, ending=kernels.Ending(2), sampling=tokens_lib.Sampling(top_p=0.0))
  with pytest.raises(ValueError, match="tokenizer"):
    kernels.sample(dec, params, prompt_tokens=tokens, ending=kernels.Ending(2, ["\n"]))
  with pytest.raises(ValueError, match="exceeds"):
    kernels.sample(dec, params, prompt_tokens=tokens, ending=kernels.Ending(200))
  with pytest.raises(ValueError, match="one prefix per row"):
    kernels.sample(dec, params, prompt_tokens=tokens, prefix=jnp.zeros((2, 3, dec.config.width)),
                   ending=kernels.Ending(2))


def test_prompt_length_pads_short_prompts_to_powers_of_two_and_long_ones_to_the_multiple():
  assert [prompt_length(n, 16) for n in (1, 2, 3, 5, 9, 16, 17, 40)] == [1, 2, 4, 8, 16, 16, 32, 48]
  assert all(prompt_length(n, 16) >= n for n in range(1, 100))


def test_decode_layout_gives_the_tied_models_logits_and_samples():
  """CPU, bfloat16: the untied copy (float32 lookup table, [width, vocab] head) gives the tied model's logits bit for
  bit, inside a compiled decode too; float32 and untied models pass through unchanged."""
  dec, params = gemma3_like()
  p16 = cast_params(params, jnp.bfloat16)
  config, prepared = text_lib.decode_layout(dec.config, p16, jnp.bfloat16)
  assert not config.tie_embeddings and prepared["embedding"].dtype == jnp.float32
  assert prepared["lm_head"].shape == (config.width, config.vocab_size) and prepared["lm_head"].dtype == jnp.bfloat16
  tokens = jax.random.randint(jax.random.key(0), (2, 7), 1, config.vocab_size, jnp.int32)
  ref = Decoder(dec.config, dtype=jnp.bfloat16).apply({"params": p16}, tokens).logits
  got = Decoder(config, dtype=jnp.bfloat16).apply({"params": prepared}, tokens).logits
  np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))
  keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(1), i))(jnp.arange(2, dtype=jnp.uint32))
  run = lambda d, p: kernels.sample(d, p, prompt_tokens=tokens, rng=keys,
                                    ending=kernels.Ending(6, eos_id=None)).tokens
  np.testing.assert_array_equal(run(Decoder(config, dtype=jnp.bfloat16), prepared),
                                run(Decoder(dec.config, dtype=jnp.bfloat16), p16))
  same_config, same_params = text_lib.decode_layout(dec.config, params, jnp.float32)
  assert same_config is dec.config and same_params is params
  untied = dec.config.replace(tie_embeddings=False)
  assert text_lib.decode_layout(untied, p16, jnp.bfloat16)[0] is untied
