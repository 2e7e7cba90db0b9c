"""TriviaQA harness: 5-shot short-answer prompt, greedy answer up to the newline, exact match over the aliases.

Data: `triviaqa/triviaqa_test_1000.jsonl` in the shared data folder (1,000 questions of the unfiltered dev set, each
with its answer aliases; see the data README), or the official / Hugging Face dev set (`datasynth.data.sources`).
It is the only TriviaQA file here, so the shots come from it: the first `NUM_SHOTS` rows are a fixed held-out slice
used only as shots (`read_split("shots")`) and the other 995 are the evaluation set (`read_split("test")`); no
question is both a shot and evaluated.

Prompt: each shot "Question: {question}\\nAnswer: {answer}", separated by a blank line, then "Question: {question}\\n
Answer:". A shot's answer is its most frequent alias after normalisation (ties: the shorter), spelled as its first
capitalised variant (the alias lists hold many spellings of one answer and sometimes a description first, e.g.
"First man in space" before "Yuri Gagarin"). The prediction is the completion up to its first newline.

Scoring as the official script (mandarjoshi90/triviaqa, evaluation/triviaqa_evaluation.py): both sides normalised by
underscores -> spaces, lower case, punctuation (string.punctuation plus ‘ ’ ´ `) -> spaces, articles a / an / the
removed, whitespace collapsed; a prediction is correct when it equals any normalised alias (max over ground truths).
One departure: aliases that normalise to "" are dropped (25 rows of the shared file list an empty alias, which the
official rule would let an empty prediction match).

Records are dicts with the data file's fields (question, answers) or `datasynth.data.records.Record`s (prompt, and the
aliases in meta["answers"]).
"""
from __future__ import annotations

import collections
import dataclasses
import re
import string
from typing import Any, Callable, Sequence

from datasynth.data.records import read_split_rows
from datasynth.utils.errors import UserError

NUM_SHOTS = 5
STOP = ("\n",)
SPLITS = ("test", "shots")
_PUNCT = set(string.punctuation + "‘’´`")


def normalize_answer(s: str) -> str:
  """The official TriviaQA normalisation: underscores, case, punctuation, articles, whitespace."""
  s = s.replace("_", " ").lower()
  s = "".join(" " if ch in _PUNCT else ch for ch in s)
  s = re.sub(r"\b(a|an|the)\b", " ", s)
  return " ".join(s.split())


def _question(r: Any) -> str:
  return r["question"] if isinstance(r, dict) else r.prompt


def aliases(r: Any) -> list[str]:
  """The record's answer aliases, without those that normalise to "" (25 rows of the shared file list a "")."""
  answers = r.get("answers") if isinstance(r, dict) else r.meta.get("answers")
  if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
    raise UserError(f"TriviaQA record {_question(r)[:60]!r} has no list of answer aliases ('answers').")
  kept = [a for a in answers if normalize_answer(a)]
  if not kept:
    raise UserError(f"TriviaQA record {_question(r)[:60]!r} has no answer alias that is non-empty after "
                    "normalisation; fix or drop it.")
  return kept


def read_split(split: str = "test", data_dir: str | None = None) -> list[dict[str, Any]]:
  """"test": the evaluation questions (all but the first NUM_SHOTS rows); "shots": the first NUM_SHOTS rows."""
  if split not in SPLITS:
    raise UserError(f"Unknown TriviaQA split {split!r}; expected one of {SPLITS}.")
  rows = read_split_rows("triviaqa", "dev", data_dir)[0]  # The file (any layout of datasynth.data.sources).
  return rows[:NUM_SHOTS] if split == "shots" else rows[NUM_SHOTS:]


def records(split: str = "test", data_dir: str | None = None) -> list:
  """`read_split` rows as `Record`s: prompt = question, response = the shot answer, meta["answers"] = aliases."""
  from datasynth.data.records import Record
  return [Record(f"triviaqa/{split}/{r.get('id', n)}", "triviaqa", r["question"], shot_answer(r),
                 dict(answers=list(r["answers"]))) for n, r in enumerate(read_split(split, data_dir))]


def prompt_shots(data_dir: str | None = None) -> list[dict[str, Any]]:
  return read_split("shots", data_dir)


def shot_answer(r: Any) -> str:
  """The alias shown in a shot: the most frequent normalised alias (ties: shorter), first capitalised spelling."""
  names = aliases(r)
  counts = collections.Counter(normalize_answer(a) for a in names)
  best = max(counts, key=lambda k: (counts[k], -len(k)))
  spellings = [a for a in names if normalize_answer(a) == best]
  return next((a for a in spellings if a[:1].isupper()), spellings[0]).strip()


def build_prompt(r: Any, shots: Sequence[Any]) -> str:
  parts = [f"Question: {_question(s)}\nAnswer: {shot_answer(s)}" for s in shots]
  return "\n\n".join(parts + [f"Question: {_question(r)}\nAnswer:"])


def extract_answer(completion: str) -> str:
  """The short answer: the completion up to its first newline, stripped."""
  return completion.strip().split("\n", 1)[0].strip()


def exact_match(prediction: str, answers: Sequence[str]) -> bool:
  pred = normalize_answer(prediction)
  return any(pred == normalize_answer(a) for a in answers)


@dataclasses.dataclass
class TriviaQAResult:
  exact_match: float
  num_examples: int
  completions: list[str]
  predictions: list[str]
  correct: list[bool]


def score(completions: Sequence[str], records: Sequence[Any]) -> TriviaQAResult:
  """Exact match of each completion's short answer against its record's aliases."""
  if len(completions) != len(records):
    raise ValueError(f"Got {len(completions)} completions for {len(records)} records.")
  preds = [extract_answer(c) for c in completions]
  correct = [exact_match(p, aliases(r)) for p, r in zip(preds, records)]
  return TriviaQAResult(exact_match=sum(correct) / max(1, len(correct)), num_examples=len(correct),
                        completions=list(completions), predictions=preds, correct=correct)


def evaluate_triviaqa(records: Sequence[Any], generate_fn: Callable[[list[str]], list[str]], *,
                      shots: Sequence[Any] | None = None) -> TriviaQAResult:
  """Exact match of `generate_fn` (prompts -> completions; greedy, stop at "\\n") with the 5-shot prompt."""
  if not records:
    raise UserError("evaluate_triviaqa got no records; pass at least one TriviaQA question.")
  shots = prompt_shots() if shots is None else shots
  held_out = {_question(s) for s in shots}
  if any(_question(r) in held_out for r in records):
    raise UserError("A TriviaQA shot is also in the evaluated records; evaluate read_split('test'), which leaves "
                    "the shots out.")
  prompts = [build_prompt(r, shots) for r in records]
  completions = list(generate_fn(prompts))
  if len(completions) != len(prompts):
    raise ValueError(f"generate_fn returned {len(completions)} completions for {len(prompts)} prompts.")
  return score(completions, records)
