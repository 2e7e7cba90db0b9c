"""MAWPS harness: 0-shot math word problems, numeric answer match (SoftSRV Table 2's math out-of-domain score).

Data: `mawps/testset.json` (238 problems; MWPToolkit's split of MAWPS, Koncel-Kedziorski et al., 2016), found by
`datasynth.data.sources.data_file` in the data folder or the bundled copy (`.xz`). Each row holds `original_text`
(the problem), `equation` and `ans` (a float).
Prompt (0-shot, as the paper's "MAWPS ... with 0-shot (accuracy)"): "Question: {problem}\\nAnswer:", the same frame as
the GSM8K harness's shots, so a GSM8K-trained student meets a familiar format. Answer of a completion: GSM8K's rule
(the number after the last "####", else the last number). Correct when it equals `ans` to a relative tolerance of
1e-4 (MAWPS answers are floats such as 1.8333333333333335; a student writes 1.8333 or 1.83...), or to 0.01 absolute
when the student rounded to two decimals.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Sequence

from datasynth.data import records as records_lib
from datasynth.evals.gsm8k import extract_answer
from datasynth.utils.errors import UserError
from datasynth.data.mawps_data import SPLIT_FILES, format_number, read_split  # noqa: F401  (the harness's data)

STOP = ("\n\nQuestion:", "\nQuestion:")


def records(split: str = "test", data_dir: str | None = None) -> list:
  """MAWPS `split` as `Record`s (prompt = the problem, response = the answer; meta: equation, ans)."""
  return records_lib.load_task("mawps", split, data_dir)


def build_prompt(problem: str) -> str:
  return f"Question: {problem.strip()}\nAnswer:"


def matches(prediction: str | None, gold: float) -> bool:
  """`prediction` (a normalised number string) equals `gold` to 1e-4 relative, or to 0.01 when rounded to 2 places."""
  if prediction is None:
    return False
  try:
    value = float(prediction)
  except ValueError:
    return False
  return math.isclose(value, gold, rel_tol=1e-4, abs_tol=1e-9) or (round(gold, 2) == value)


@dataclasses.dataclass
class MawpsResult:
  accuracy: float
  num_examples: int
  completions: list[str]
  predictions: list[str | None]
  golds: list[float]
  correct: list[bool]


def _gold(r: Any) -> float:
  if isinstance(r, dict):
    return float(r["ans"])
  return float(r.meta["ans"])


def score(completions: Sequence[str], rows: Sequence[Any]) -> MawpsResult:
  if len(completions) != len(rows):
    raise UserError(f"Got {len(completions)} completions for {len(rows)} MAWPS problems.")
  completions = [min((c.split(s)[0] for s in STOP), key=len) for c in completions]
  preds = [extract_answer(c) for c in completions]
  golds = [_gold(r) for r in rows]
  correct = [matches(p, g) for p, g in zip(preds, golds)]
  return MawpsResult(sum(correct) / max(1, len(correct)), len(correct), list(completions), preds, golds, correct)


def evaluate_mawps(rows: Sequence[Any], generate_fn: Callable[[list[str]], list[str]]) -> MawpsResult:
  """0-shot accuracy of `generate_fn` (prompts -> completions) on MAWPS rows or Records."""
  if not rows:
    raise UserError("evaluate_mawps got no problems; pass at least one MAWPS row.")
  prompts = [build_prompt(r["original_text"] if isinstance(r, dict) else r.prompt) for r in rows]
  return score(list(generate_fn(prompts)), rows)
