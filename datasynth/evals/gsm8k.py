"""GSM8K harness: 5-shot chain-of-thought prompt, answer extraction and exact match.

Prompt: the first five training problems with their worked solutions, each "Question: {question}\\nAnswer: {answer}"
separated by a blank line, then "Question: {question}\\nAnswer:". Solutions keep their final "#### N" line; the
calculator annotations "<<48/2=24>>" are removed by default (they are tool calls, not text a model should imitate).
Answer of a completion: the number after the last "####", else the last number in the text; commas, "$" and a
trailing period are dropped and integral floats ("18.00") compare equal to integers ("18").

Records are dicts with the data file's fields (question, answer) or objects with `prompt`/`response`
(`datasynth.data.records.Record`).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Sequence

from datasynth.data.records import read_split_rows
from datasynth.utils.errors import UserError

NUM_SHOTS = 5
STOP = ("\n\nQuestion:", "\nQuestion:", "Question:")
_NUMBER = re.compile(r"-?[$]?\d[\d,]*(?:\.\d+)?|-?[$]?\.\d+")
_CALC = re.compile(r"<<[^>]*>>")


def _get(r: Any, key: str) -> Any:
  if isinstance(r, dict):
    return r.get(key)
  return getattr(r, {"question": "prompt", "answer": "response"}[key], None)


def read_split(split: str, data_dir: str | None = None) -> list[dict[str, Any]]:
  """Rows of gsm8k/{split}.jsonl (train, test), or the same split from any layout of `datasynth.data.sources`."""
  return read_split_rows("gsm8k", split, data_dir)[0]


def prompt_shots(data_dir: str | None = None) -> list[dict[str, Any]]:
  """The first five training problems."""
  return read_split("train", data_dir)[:NUM_SHOTS]


def clean_solution(answer: str, strip_calculator: bool = True) -> str:
  return _CALC.sub("", answer) if strip_calculator else answer


def build_prompt(r: Any, shots: Sequence[Any], strip_calculator: bool = True) -> str:
  parts = [f"Question: {_get(s, 'question')}\nAnswer: {clean_solution(_get(s, 'answer'), strip_calculator)}"
           for s in shots]
  return "\n\n".join(parts + [f"Question: {_get(r, 'question')}\nAnswer:"])


def normalize_number(s: str) -> str | None:
  """'$1,234.00.' -> '1234'; '0.50' -> '0.5'; None when `s` holds no number."""
  s = s.strip().replace(",", "").replace("$", "").rstrip(".")
  try:
    value = float(s)
  except ValueError:
    return None
  if value == int(value):
    return str(int(value))
  return repr(value)


def extract_answer(text: str) -> str | None:
  """The number after the last "####", else the last number in the text, normalised; None if there is none."""
  if "####" in text:
    tail = text.rsplit("####", 1)[1]
    m = _NUMBER.search(tail)
    if m:
      return normalize_number(m.group())
  numbers = _NUMBER.findall(text)
  return normalize_number(numbers[-1]) if numbers else None


def gold_answer(r: Any) -> str:
  answer = _get(r, "answer")
  if not answer or "####" not in answer:
    raise UserError(f"GSM8K record lacks a final '#### N' answer: {str(answer)[:80]!r}.")
  gold = extract_answer(answer)
  if gold is None:
    raise UserError(f"GSM8K gold answer is not a number: {answer.rsplit('####', 1)[1].strip()!r}.")
  return gold


@dataclasses.dataclass
class Gsm8kResult:
  accuracy: float
  num_examples: int
  completions: list[str]
  predictions: list[str | None]
  golds: list[str]


def score(completions: Sequence[str], records: Sequence[Any]) -> Gsm8kResult:
  """Exact match of extracted answers against the records' gold answers."""
  if len(completions) != len(records):
    raise UserError(f"Got {len(completions)} completions for {len(records)} records.")
  preds = [extract_answer(c) for c in completions]
  golds = [gold_answer(r) for r in records]
  acc = sum(p is not None and p == g for p, g in zip(preds, golds)) / max(1, len(golds))
  return Gsm8kResult(accuracy=acc, num_examples=len(golds), completions=list(completions), predictions=preds,
                     golds=golds)


def evaluate_gsm8k(records: Sequence[Any], generate_fn: Callable[[list[str]], list[str]], *,
                   shots: Sequence[Any] | None = None, strip_calculator: bool = True) -> Gsm8kResult:
  """Exact-match accuracy of `generate_fn` (prompts -> completions; stop at STOP) with the 5-shot CoT prompt."""
  if not records:
    raise UserError("evaluate_gsm8k got no records; pass at least one GSM8K problem.")
  shots = prompt_shots() if shots is None else shots
  prompts = [build_prompt(r, shots, strip_calculator) for r in records]
  completions = list(generate_fn(prompts))
  if len(completions) != len(prompts):
    raise UserError(f"generate_fn returned {len(completions)} completions for {len(prompts)} prompts.")
  # A completion that runs into the next few-shot question is cut there.
  completions = [min((c.split(s)[0] for s in STOP), key=len) for c in completions]
  return score(completions, records)
