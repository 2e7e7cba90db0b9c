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

import dataclasses
from typing import Any, Callable, Sequence

from datasynth.data.triviaqa_data import NUM_SHOTS  # noqa: F401  (the harness's shot count)
from datasynth.data.triviaqa_data import aliases, normalize_answer, question, read_split, shot_answer
from datasynth.utils.errors import UserError

STOP = ("\n",)


def prompt_shots(data_dir: str | None = None) -> list[dict[str, Any]]:
  return read_split("shots", data_dir)


def build_prompt(r: Any, shots: Sequence[Any]) -> str:
  parts = [f"Question: {question(s)}\nAnswer: {shot_answer(s)}" for s in shots]
  return "\n\n".join(parts + [f"Question: {question(r)}\nAnswer:"])


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
  held_out = {question(s) for s in shots}
  if any(question(r) in held_out for r in records):
    raise UserError("A TriviaQA shot is also in the evaluated records; evaluate read_split('test'), which leaves "
                    "the shots out.")
  prompts = [build_prompt(r, shots) for r in records]
  completions = list(generate_fn(prompts))
  if len(completions) != len(prompts):
    raise ValueError(f"generate_fn returned {len(completions)} completions for {len(prompts)} prompts.")
  return score(completions, records)
