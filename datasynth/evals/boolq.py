"""BoolQ harness: accuracy by comparing the model's log-likelihoods of two answer words.

Context: "{passage}\\nQuestion: {question}?\\nAnswer:"; continuations " True" / " False" (option: " yes" / " no").
The prediction is the continuation with the higher log-likelihood (sum over its tokens), zero-shot.

Records are dicts with the data file's fields (passage, question, answer: bool) or objects whose `meta` holds
passage/question/label or answer (`datasynth.data.records.Record`).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

from datasynth.data.records import read_split_rows
from datasynth.utils.errors import UserError

CHOICES = {"true_false": (" True", " False"), "yes_no": (" yes", " no")}


def _get(r: Any, key: str) -> Any:
  if isinstance(r, dict):
    return r.get(key)
  meta = getattr(r, "meta", {}) or {}
  if key == "answer":
    for k in ("answer", "label"):
      if k in meta:
        return meta[k]
  return meta.get(key, getattr(r, key, None))


def read_split(split: str, data_dir: str | None = None) -> list[dict[str, Any]]:
  """Rows of boolq/{split}.jsonl (train, test, dev), or the same split from any layout of `datasynth.data.sources`."""
  return read_split_rows("boolq", split, data_dir)[0]


def label(r: Any) -> bool:
  a = _get(r, "answer")
  if isinstance(a, str) and a.strip().lower() in ("true", "false", "yes", "no"):
    return a.strip().lower() in ("true", "yes")
  if not isinstance(a, bool):
    raise UserError(f"BoolQ record has no boolean answer (got {a!r}); pass records with the data file's fields.")
  return a


def build_context(r: Any) -> str:
  passage, question = _get(r, "passage"), _get(r, "question")
  if passage is None or question is None:
    raise UserError("BoolQ record lacks 'passage' or 'question'; pass records with the data file's fields.")
  question = question.strip()
  question = question if question.endswith("?") else question + "?"
  return f"{passage}\nQuestion: {question}\nAnswer:"


@dataclasses.dataclass
class BoolqResult:
  accuracy: float
  num_examples: int
  predictions: list[bool]
  logliks: list[tuple[float, float]]  # (positive, negative) continuation log-likelihoods per example.


def evaluate_boolq(records: Sequence[Any], loglik_fn: Callable[[list[tuple[str, str]]], list[float]], *,
                   choices: str = "true_false") -> BoolqResult:
  """Accuracy of `loglik_fn` ((context, continuation) pairs -> log-likelihoods) on `records`."""
  if choices not in CHOICES:
    raise UserError(f"choices must be one of {sorted(CHOICES)}, got {choices!r}.")
  if not records:
    raise UserError("evaluate_boolq got no records; pass at least one BoolQ example.")
  pos, neg = CHOICES[choices]
  contexts = [build_context(r) for r in records]
  pairs = [(c, pos) for c in contexts] + [(c, neg) for c in contexts]
  values = list(loglik_fn(pairs))
  if len(values) != len(pairs):
    raise UserError(f"loglik_fn returned {len(values)} values for {len(pairs)} pairs.")
  n = len(records)
  lls = list(zip(values[:n], values[n:]))
  preds = [p > q for p, q in lls]
  acc = sum(p == label(r) for p, r in zip(preds, records)) / n
  return BoolqResult(accuracy=acc, num_examples=n, predictions=preds, logliks=lls)
