"""Reading data files: UTF-8 text and JSON Lines, plain or xz-compressed (`<name>.xz`, as the bundled sets are
stored), with one clear error line for a missing, undecodable or malformed file."""
from __future__ import annotations

import json
import lzma
import os
from typing import Any

from datasynth.utils.errors import UserError


def _require_file(path: str) -> None:
  if not os.path.exists(path):
    raise UserError(f"Data file not found: {path}. Check the path (or the data directory: --config.data.data_dir "
                    "or $DATASYNTH_DATA).")


def read_text(path: str | os.PathLike) -> str:
  """A UTF-8 file's text (decompressed when the name ends in .xz); another encoding is an error naming the file, the
  byte offset and line, and the fix."""
  path = str(path)
  _require_file(path)
  if os.path.isdir(path):
    raise UserError(f"Data file {path} is a folder; pass a file.")
  with open(path, "rb") as f:
    data = f.read()
  if path.endswith(".xz"):
    try:
      data = lzma.decompress(data)
    except lzma.LZMAError as e:
      raise UserError(f"{path}: not a readable xz file ({e}); replace it with a complete copy.") from e
  try:
    return data.decode("utf-8")
  except UnicodeDecodeError as e:
    line = data.count(b"\n", 0, e.start) + 1
    raise UserError(f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} at byte offset {e.start}, line {line}); "
                    "re-encode the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`).") from e


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
  """All objects of a JSON Lines data file; a malformed line is an error naming the file and line number: input a user
  supplies must not lose rows silently (`datasynth.utils.io.read_jsonl_lenient` skips torn lines of the project's own
  logs instead)."""
  path = str(path)
  rows = []
  for n, line in enumerate(read_text(path).split("\n"), 1):
    if not line.strip():
      continue
    try:
      obj = json.loads(line)
    except json.JSONDecodeError as e:
      raise UserError(f"{path}:{n}: malformed JSON line ({e.msg}); fix or remove that line.") from e
    if not isinstance(obj, dict):
      raise UserError(f"{path}:{n}: expected a JSON object per line, got {type(obj).__name__}.")
    rows.append(obj)
  return rows
