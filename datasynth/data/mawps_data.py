"""MAWPS's files as data: its three splits (MWPToolkit's split of MAWPS, Koncel-Kedziorski et al., 2016) and the
answer's text form. The harness (prompt, scoring) is `datasynth.evals.mawps`; `datasynth.data.records.load_task(
"mawps", ...)` reads the same splits as records."""
from __future__ import annotations

import json
from typing import Any

from datasynth.data.files import read_text
from datasynth.data.sources import data_file
from datasynth.utils.errors import UserError

SPLIT_FILES = {"test": "mawps/testset.json", "train": "mawps/trainset.json", "validation": "mawps/validset.json"}


def read_split(split: str = "test", data_dir: str | None = None) -> list[dict[str, Any]]:
  """The rows of MAWPS `split` (test | train | validation)."""
  if split not in SPLIT_FILES:
    raise UserError(f"MAWPS has no split {split!r}; expected one of {', '.join(SPLIT_FILES)}.")
  path = data_file(SPLIT_FILES[split], data_dir)
  try:
    rows = json.loads(read_text(path))
  except json.JSONDecodeError as e:
    raise UserError(f"{path} is not valid JSON ({e}); restore the MAWPS file.") from e
  if not isinstance(rows, list) or not rows or any("original_text" not in r or "ans" not in r for r in rows):
    raise UserError(f"{path} is not MAWPS rows ({{original_text, ans, ...}}); restore the file.")
  return rows


def format_number(x: float | str) -> str:
  x = float(x)  # Some rows store the answer as a string ("3220.0").
  return str(int(x)) if x.is_integer() else repr(x)
