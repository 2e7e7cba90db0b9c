"""The model callables: greedy generation == a naive argmax loop; log-likelihood == the sum of log-softmax over a
full forward, independent of batching and padding (tiny random decoder with SmolLM2's tokenizer), plus a sanity
check on the real embedded SmolLM2."""
import jax
import numpy as np
import pytest

from datasynth.evals import baseline, lm
from datasynth.models.config import make_config
from datasynth.models.decoder import Decoder
from datasynth.models.loaders import LoadedModel


@pytest.fixture(scope="module")
def tiny(smollm2):
  cfg = make_config("llama", vocab_size=smollm2.config.vocab_size, width=32, num_layers=2, num_heads=4,
                    num_kv_heads=2, head_dim=8, mlp_dim=64, eos_id=smollm2.config.eos_id)
  params = Decoder(cfg).init(jax.random.key(0), np.zeros((1, 4), np.int32))["params"]
  params = jax.tree.map(lambda x: np.asarray(getattr(x, "value", x)), params,
                        is_leaf=lambda x: hasattr(x, "value"))
  return LoadedModel(config=cfg, params=params, tokenizer=smollm2.tokenizer, source="tiny")


def _naive_greedy(m, prompt, n, length=32):
  """Full forward over a fixed right-padded buffer each step (one compilation), argmax at the last real token."""
  dec, ids = Decoder(m.config), m.tokenizer.encode(prompt)
  forward = jax.jit(lambda p, t, mask: dec.apply({"params": p}, t, input_mask=mask).logits)
  start = len(ids)
  for _ in range(n):
    tokens, mask = m.tokenizer.pad_batch([ids], length=length)
    ids.append(int(np.argmax(forward(m.params, tokens, mask)[0, len(ids) - 1])))
  return ids[start:]


def test_greedy_generator_matches_naive_loop(tiny):
  prompts = ["def add(a, b):\n  return", "The capital of France is a city called"]
  gen = lm.greedy_generator(tiny, max_new_tokens=5, batch_size=2, progress=False)
  texts = gen(prompts)
  for p, t in zip(prompts, texts):
    want = _naive_greedy(tiny, p, 5)
    eos = tiny.config.eos_id
    want = want[:want.index(eos)] if eos in want else want
    assert t == tiny.tokenizer.decode(want), (p, t)
  stop = texts[1][2:4]
  cut = lm.greedy_generator(tiny, max_new_tokens=5, batch_size=2, stop=[stop], progress=False)(prompts[1:])
  assert cut[0] == texts[1][:texts[1].find(stop)]


def test_loglik_matches_full_forward(tiny):
  tok = tiny.tokenizer
  pairs = [("The sky is", " blue"), ("Paris is the capital of", " France and more"), ("1 + 1 =", " 2")]
  got = lm.loglik_scorer(tiny, batch_size=2, progress=False)(pairs)
  dec = Decoder(tiny.config)
  for (ctx, cont), value in zip(pairs, got):
    c, k = tok.encode(ctx), tok.encode(cont, add_bos=False)
    logits = dec.apply({"params": tiny.params}, np.array([c + k], np.int32)).logits[0]
    logp = np.asarray(jax.nn.log_softmax(logits, axis=-1))
    want = sum(logp[len(c) - 1 + j, k[j]] for j in range(len(k)))
    np.testing.assert_allclose(value, want, atol=1e-4, rtol=1e-5)


def test_one_token_continuations_of_a_shared_context_are_read_from_one_forward_with_the_same_values(tiny):
  tok = tiny.tokenizer
  yes_no = [(ctx, cont) for ctx in ("Is the sky blue? Answer:", "Is fire cold?") for cont in (" yes", " no", "True")]
  assert all(len(tok.encode(k, add_bos=False)) == 1 for _, k in yes_no)
  pairs = yes_no + [("Is the sky blue? Answer:", " yes it is")]  # A longer continuation keeps its own row.
  rows = lm.forward_rows([(tok.encode(c), tok.encode(k, add_bos=False)) for c, k in pairs])
  assert [[seg[0] for seg in segs] for _, segs in rows] == [[0, 1, 2], [3, 4, 5], [6]]
  assert len(rows[0][0]) == len(tok.encode(pairs[0][0]))  # The bare context: no continuation token appended.
  got = lm.loglik_scorer(tiny, batch_size=2, progress=False)(pairs)
  dec = Decoder(tiny.config)
  for (ctx, cont), value in zip(pairs, got):  # Reference: a full forward of context + continuation per pair.
    c, k = tok.encode(ctx), tok.encode(cont, add_bos=False)
    logp = np.asarray(jax.nn.log_softmax(dec.apply({"params": tiny.params}, np.array([c + k], np.int32)).logits[0]))
    np.testing.assert_allclose(value, sum(logp[len(c) - 1 + j, k[j]] for j in range(len(k))), atol=1e-4, rtol=1e-5)


def test_loglik_real_model_prefers_the_sensible_continuation(smollm2):
  score = lm.loglik_scorer(smollm2, batch_size=2, progress=False)
  good, bad = score([("The sky is", " blue"), ("The sky is", " potato")])
  assert good > bad + 2.0


def test_base_model_numbers_runs_end_to_end(tiny, data_dir):
  out = baseline.base_model_numbers(tiny, n=2, tasks=("mbpp", "gsm8k", "boolq"), data_dir=str(data_dir),
                                    batch_size=2, max_new_tokens=4, progress=False)
  assert out["mbpp"]["num_tasks"] == 2 and out["mbpp"]["pass_at_1"] == 0.0  # A random model writes no code.
  assert out["gsm8k"]["num_examples"] == 2 and 0.0 <= out["gsm8k"]["accuracy"] <= 1.0
  assert out["boolq"]["num_examples"] == 2 and out["boolq"]["predicted_true"] in (0, 1, 2)
  with pytest.raises(ValueError, match="Unknown task"):
    baseline.base_model_numbers(tiny, tasks=("squad",))
