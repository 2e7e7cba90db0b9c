"""The embedded real checkpoints: our loader + decoder against `transformers` loading the same GGUF file."""
import os

import jax
import numpy as np
import pytest
import torch

from datasynth.models.decoder import Decoder
from datasynth.models.loaders import resolve

PARAGRAPH = (
    "The city council met on Tuesday evening to discuss the new park. Many residents came to the meeting because "
    "they wanted to share their opinions about the plans. Some people asked for more trees and a larger playground "
    "for children, while others were worried about the cost of the project. After a long discussion, the council "
    "agreed to hold another meeting next month, when the architects will present a revised design.")
STORY = (
    "Once upon a time, there was a little girl who lived in a village near the forest. Whenever she went out, the "
    "little girl wore a red riding cloak, so everyone in the village called her Little Red Riding Hood. One morning, "
    "Little Red Riding Hood asked her mother if she could go to visit her grandmother as it had been a while since "
    "they had seen each other.")


@pytest.fixture(scope="module", params=["smollm2", "gemma3"])
def pair(request):
  """(our LoadedModel, transformers model loaded from the same GGUF)."""
  from transformers import AutoModelForCausalLM
  ours = request.getfixturevalue(request.param)
  path = resolve("smollm2-135m" if request.param == "smollm2" else "gemma3-270m")
  ref = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path),
                                             dtype=torch.float32).eval()
  return ours, ref


def _perplexity(logits, ids):
  logp = jax.nn.log_softmax(np.asarray(logits, np.float64)[0, :-1])
  return float(np.exp(-np.take_along_axis(logp, ids[0, 1:, None], 1).mean()))


def test_logits_and_perplexity_match_transformers(pair):
  ours, ref = pair
  ids = np.array([ours.tokenizer.encode(PARAGRAPH)])
  logits = np.asarray(jax.jit(lambda p, x: Decoder(ours.config).apply({"params": p}, x).logits)(ours.params, ids))
  with torch.no_grad():
    ref_logits = ref(torch.tensor(ids)).logits.numpy()
  assert np.abs(logits - ref_logits).max() < 1e-3
  ppl, ref_ppl = _perplexity(logits, ids), _perplexity(ref_logits, ids)
  assert abs(ppl - ref_ppl) / ref_ppl < 0.02
  assert ppl < 30  # A real language model on plain English, not noise.


def test_gemma3_rebuilt_tokenizer_is_right(gemma3):
  """The transformers GGUF tokenizer for Gemma 3 fragments words; ours must not."""
  tok = gemma3.tokenizer
  ids = tok.encode("The quick brown fox jumps over the lazy dog.")
  assert tok.pieces(ids) == ["<bos>", "The", "▁quick", "▁brown", "▁fox", "▁jumps", "▁over", "▁the", "▁lazy",
                             "▁dog", "."]
  assert tok.pieces(tok.encode("Hello, world!", add_bos=False)) == ["Hello", ",", "▁world", "!"]
  assert tok.pieces(tok.encode("def f(x):\n    return x", add_bos=False)) == [
      "def", "▁f", "(", "x", "):", "\n", "▁▁▁▁", "return", "▁x"]  # One whitespace-run token, as llama.cpp does.
  assert tok.pieces(tok.encode("1234", add_bos=False)) == ["1", "2", "3", "4"]  # Gemma splits digits.
  assert tok.pieces([105, 106]) == ["<start_of_turn>", "<end_of_turn>"]  # Control ids from the GGUF vocabulary.
  for text in [PARAGRAPH, "naïve café — 東京 🙂 \t tabs\n\nnew lines", "x  =  1   # spaces"]:
    assert tok.decode(tok.encode(text)) == text  # Round trip, byte fallback included.
  ids = np.array([tok.encode(STORY)])  # Measured: 8.1 (the transformers-built tokenizer gives hundreds).
  logits = jax.jit(lambda p, x: Decoder(gemma3.config).apply({"params": p}, x).logits)(gemma3.params, ids)
  assert _perplexity(logits, ids) < 10


def test_gemma3_code_whitespace_runs_are_what_the_model_expects(gemma3):
  """Indentation as Gemma's whitespace-run pieces gives code a low perplexity (measured 2.0; the same code with
  one-space pieces, what a SentencePiece model without those user-defined pieces would give, measured 17)."""
  code = ("def fib(n):\n    if n < 2:\n        return n\n    a, b = 0, 1\n    for _ in range(n - 1):\n"
          "        a, b = b, a + b\n    return b\n")
  ids = gemma3.tokenizer.encode(code)
  assert 140 in ids  # "▁▁▁▁": four spaces, one token.
  logits = jax.jit(lambda p, x: Decoder(gemma3.config).apply({"params": p}, x).logits)(gemma3.params, np.array([ids]))
  assert _perplexity(logits, np.array([ids])) < 3.5


def test_smollm2_tokenizer_matches_original_convention(smollm2):
  tok = smollm2.tokenizer
  ids = tok.encode("The quick brown fox")
  assert tok.add_bos is False and ids[0] != tok.bos_id  # The original adds no BOS (the GGUF names <|im_start|>).
  assert tok.pieces(ids) == ["The", "Ġquick", "Ġbrown", "Ġfox"]
  assert tok.pieces(tok.encode("2024", add_bos=False)) == ["2", "0", "2", "4"]
  assert tok.encode("<|im_start|>user", add_bos=False)[0] == 1
  text = "print('héllo')\n\tx = [1, 2]"
  assert tok.decode(tok.encode(text)) == text
