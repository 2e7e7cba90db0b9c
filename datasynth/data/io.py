"""Atomic JSON Lines output: a crash never leaves a half-written file under the final name."""
from __future__ import annotations

import json
import os
from typing import Any, Iterable


def write_jsonl(path: str, rows: Iterable[dict[str, Any]]) -> int:
  """Write rows to `path` via `path.tmp` + rename; returns the number of rows written."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + ".tmp"
  n = 0
  with open(tmp, "w", encoding="utf-8") as f:
    for row in rows:
      f.write(json.dumps(row, ensure_ascii=False) + "\n")
      n += 1
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
  return n
