"""Content-addressed memo of per-text results: arrays (E's z, MAUVE's features) as `<cache_dir>/<prefix>-<key>.npy`,
JSON lists (the PT baseline's sampled calls) as `<prefix>-<key>.json`.

The key hashes the model (its source and config), the options that change the result and every text, so one folder
can serve many runs: the runs of a sweep point `context.cache_dir`, `mauve.cache_dir` and `baseline.cache_dir` at
`{root}/cache` and compute E(x) over the train set, the reference folds' MAUVE features and the PT calls PT_SR
refines, once. Files are written atomically (`io.atomic_write`), so a kill leaves a complete file or none, and two
runs writing one key write the same bytes.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Callable, Sequence

import numpy as np

from datasynth import io


def key(model, texts: Sequence[str], **options) -> str:
  """16 hex digits of sha256 over the model (`.source`, `.config`), the options and the texts."""
  h = hashlib.sha256()
  h.update(json.dumps(dict(model=model.source, config=model.config.to_json(), **options), sort_keys=True).encode())
  for text in texts:
    h.update(text.encode("utf-8"))
    h.update(b"\0")
  return h.hexdigest()[:16]


def _path(cache_dir: str, prefix: str, model, texts: Sequence[str], ext: str, options: dict) -> str:
  return os.path.join(cache_dir, f"{prefix}-{key(model, texts, **options)}.{ext}")


def cached(cache_dir: str | None, prefix: str, model, texts: Sequence[str], compute: Callable[[], np.ndarray],
           **options) -> np.ndarray:
  """`compute()` (an array with one row per text) memoised under `cache_dir` (None: no memo)."""
  if not cache_dir:
    return compute()
  path = _path(cache_dir, prefix, model, texts, "npy", options)
  if os.path.exists(path):
    value = np.load(path)
    if value.shape[0] == len(texts):
      return value
  value = compute()
  with io.atomic_write(path, "wb") as f:
    np.save(f, value)
  return value


def cached_json(cache_dir: str | None, prefix: str, model, texts: Sequence[str], compute: Callable[[], list],
                **options) -> list:
  """`compute()` (a JSON-serialisable list with one entry per text) memoised under `cache_dir` (None: no memo)."""
  if not cache_dir:
    return compute()
  path = _path(cache_dir, prefix, model, texts, "json", options)
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      value = json.load(f)
    if isinstance(value, list) and len(value) == len(texts):
      return value
  value = compute()
  with io.atomic_write(path, "w") as f:
    json.dump(value, f)
  return value
