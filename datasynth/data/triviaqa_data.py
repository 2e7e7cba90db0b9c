"""TriviaQA's one file as data: its two splits (the first `NUM_SHOTS` rows are shots, the rest the evaluation set),
the answer aliases of a row and the official answer normalisation, and the alias a shot shows. The harness
(prompts, scoring) is `datasynth.evals.triviaqa`; `datasynth.data.records.load_task("triviaqa", ...)` reads the same
splits as records."""
from __future__ import annotations

import collections
import re
import string
from typing import Any

from datasynth.data import sources
from datasynth.utils.errors import UserError

NUM_SHOTS = 5
SPLITS = ("test", "shots")
_PUNCT = set(string.punctuation + "‘’´`")


def normalize_answer(s: str) -> str:
  """The official TriviaQA normalisation: underscores, case, punctuation, articles, whitespace."""
  s = s.replace("_", " ").lower()
  s = "".join(" " if ch in _PUNCT else ch for ch in s)
  s = re.sub(r"\b(a|an|the)\b", " ", s)
  return " ".join(s.split())


def question(r: Any) -> str:
  """The question of a row (dict) or of a `Record` (its prompt)."""
  return r["question"] if isinstance(r, dict) else r.prompt


def aliases(r: Any) -> list[str]:
  """The record's answer aliases, without those that normalise to "" (25 rows of the shared file list a "")."""
  answers = r.get("answers") if isinstance(r, dict) else r.meta.get("answers")
  if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
    raise UserError(f"TriviaQA record {question(r)[:60]!r} has no list of answer aliases ('answers').")
  kept = [a for a in answers if normalize_answer(a)]
  if not kept:
    raise UserError(f"TriviaQA record {question(r)[:60]!r} has no answer alias that is non-empty after "
                    "normalisation; fix or drop it.")
  return kept


def read_split(split: str = "test", data_dir: str | None = None) -> list[dict[str, Any]]:
  """"test": the evaluation questions (all but the first NUM_SHOTS rows); "shots": the first NUM_SHOTS rows."""
  if split not in SPLITS:
    raise UserError(f"Unknown TriviaQA split {split!r}; expected one of {SPLITS}.")
  rows = sources.read_rows("triviaqa", "dev", data_dir or None)[0]  # The file, in any layout `sources` reads.
  return rows[:NUM_SHOTS] if split == "shots" else rows[NUM_SHOTS:]


def shot_answer(r: Any) -> str:
  """The alias shown in a shot: the most frequent normalised alias (ties: shorter), first capitalised spelling."""
  names = aliases(r)
  counts = collections.Counter(normalize_answer(a) for a in names)
  best = max(counts, key=lambda k: (counts[k], -len(k)))
  spellings = [a for a in names if normalize_answer(a) == best]
  return next((a for a in spellings if a[:1].isupper()), spellings[0]).strip()
