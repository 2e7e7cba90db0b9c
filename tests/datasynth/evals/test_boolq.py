"""BoolQ harness: context format, gold labels scoring 100% through the log-likelihood interface, a real model."""
import math

import pytest

from datasynth.evals import boolq
from datasynth.evals.lm import loglik_scorer


@pytest.fixture(scope="module")
def test_set(data_dir):
  return boolq.read_split("test", str(data_dir))


def _oracle(records, invert=False):
  gold = {boolq.build_context(r): boolq.label(r) for r in records}

  def loglik(pairs):
    return [0.0 if (cont in (" True", " yes")) == (gold[ctx] != invert) else -1.0 for ctx, cont in pairs]
  return loglik


def test_context_format(test_set):
  r = test_set[0]
  ctx = boolq.build_context(r)
  assert ctx == f"{r['passage']}\nQuestion: {r['question']}?\nAnswer:"


@pytest.mark.parametrize("choices", ["true_false", "yes_no"])
def test_gold_labels_score_100_percent(test_set, choices):
  assert len(test_set) == 1000
  result = boolq.evaluate_boolq(test_set, _oracle(test_set), choices=choices)
  assert result.accuracy == 1.0 and result.num_examples == 1000
  assert boolq.evaluate_boolq(test_set, _oracle(test_set, invert=True), choices=choices).accuracy == 0.0


def test_bad_input():
  with pytest.raises(ValueError, match="choices"):
    boolq.evaluate_boolq([{"passage": "p", "question": "q", "answer": True}], lambda p: [0.0] * len(p),
                         choices="maybe")
  with pytest.raises(ValueError, match="boolean answer"):
    boolq.label({"passage": "p", "question": "q", "answer": None})


def test_real_model_scores(smollm2, test_set):
  result = boolq.evaluate_boolq(test_set[:4], loglik_scorer(smollm2, batch_size=4, progress=False))
  assert result.num_examples == 4 and 0.0 <= result.accuracy <= 1.0
  assert all(math.isfinite(a) and a < 0 and math.isfinite(b) and b < 0 for a, b in result.logliks)
