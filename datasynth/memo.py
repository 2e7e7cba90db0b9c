"""Content-addressed memo of per-text arrays (E's z, MAUVE's features) as `<cache_dir>/<prefix>-<key>.npy`.

The key hashes the model (its source and config), the options that change the array and every text, so one folder
can serve many runs: the runs of a sweep point `context.cache_dir` / `mauve.cache_dir` at `{root}/cache` and
compute E(x) over the train set, and the reference folds' MAUVE features, once. Files are written atomically
(`io.atomic_write`), so a kill leaves a complete file or none, and two runs writing one key write the same bytes.
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


def cached(cache_dir: str | None, prefix: str, model, texts: Sequence[str], compute: Callable[[], np.ndarray],
           **options) -> np.ndarray:
  """`compute()` (an array with one row per text) memoised under `cache_dir` (None: no memo)."""
  if not cache_dir:
    return compute()
  path = os.path.join(cache_dir, f"{prefix}-{key(model, texts, **options)}.npy")
  if os.path.exists(path):
    value = np.load(path)
    if value.shape[0] == len(texts):
      return value
  value = compute()
  with io.atomic_write(path, "wb") as f:
    np.save(f, value)
  return value
