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

from datasynth.utils import io


def key(model, texts: Sequence[str], **options) -> str:
  """16 hex digits of sha256 over the model (`.source`, `.config`), the options and the texts."""
  h = hashlib.sha256()
  h.update(json.dumps(dict(model=model.source, config=model.config.to_json(), **options), sort_keys=True).encode())
  for text in texts:
    h.update(text.encode("utf-8"))
    h.update(b"\0")
  return h.hexdigest()[:16]


def _memoised(cache_dir: str | None, name: str, count: int, compute: Callable, load: Callable, save: Callable,
              length: Callable):
  """`compute()` memoised as `<cache_dir>/<name>`: a stored value whose `length` is not `count` is recomputed."""
  if not cache_dir:
    return compute()
  path = os.path.join(cache_dir, name)
  if os.path.exists(path):
    value = load(path)
    if length(value) == count:
      return value
  value = compute()
  save(path, value)
  return value


def _save_npy(path: str, value: np.ndarray) -> None:
  with io.atomic_write(path, "wb") as f:
    np.save(f, value)


def _save_json(path: str, value: list) -> None:
  with io.atomic_write(path, "w") as f:
    json.dump(value, f)


def cached(cache_dir: str | None, prefix: str, model, texts: Sequence[str], compute: Callable[[], np.ndarray],
           **options) -> np.ndarray:
  """`compute()` (an array with one row per text) memoised under `cache_dir` (None: no memo)."""
  name = f"{prefix}-{key(model, texts, **options)}.npy" if cache_dir else ""
  return _memoised(cache_dir, name, len(texts), compute, np.load, _save_npy, lambda v: v.shape[0])


def cached_json(cache_dir: str | None, prefix: str, model, texts: Sequence[str], compute: Callable[[], list],
                **options) -> list:
  """`compute()` (a JSON-serialisable list with one entry per text) memoised under `cache_dir` (None: no memo)."""
  name = f"{prefix}-{key(model, texts, **options)}.json" if cache_dir else ""
  return _memoised(cache_dir, name, len(texts), compute, io.read_json, _save_json,
                   lambda v: len(v) if isinstance(v, list) else -1)
