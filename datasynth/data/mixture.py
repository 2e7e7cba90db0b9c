"""Training sets mixed from several sources at fixed ratios (SoftSRV Table 3: 80% general instructions, 20% task data).

  mix_records({"general": lima + alpaca, "task": synthetic}, {"general": 0.8, "task": 0.2}, num=1000, seed=0)

Source i contributes exactly n_i records, n_i = w_i / sum(w) x num rounded by largest remainder (so the n_i sum to
num and the shares are as close to the ratios as whole records allow). A source draws its n_i records from seeded
permutations of itself, one after another: without replacement while n_i <= its size, and each record used
floor(n_i / size) or ceil(n_i / size) times when it is smaller (an upsampled source repeats whole passes, never one
record more often than the others of its pass). The result is shuffled (seeded) and every record's meta notes its
source (`mixture_source`). The same (sources, ratios, num, seed) always give the same list.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Sequence

import numpy as np

from datasynth.data.records import Record
from datasynth.utils.errors import UserError


def quotas(weights: Mapping[str, float], num: int) -> dict[str, int]:
  """Whole-record counts per source for `num` records at the given (unnormalised) weights: largest remainder."""
  if isinstance(num, bool) or not isinstance(num, int) or num < 1:
    raise UserError(f"mixture size {num!r} must be an integer >= 1.")
  bad = {k: w for k, w in weights.items() if not (isinstance(w, (int, float)) and math.isfinite(w) and w >= 0)}
  if bad or not weights or sum(weights.values()) <= 0:
    raise UserError(f"mixture weights {dict(weights)} must be finite numbers >= 0 with a positive sum.")
  total = float(sum(weights.values()))
  exact = {k: w / total * num for k, w in weights.items()}
  counts = {k: int(math.floor(v)) for k, v in exact.items()}
  by_remainder = sorted(exact, key=lambda k: (-(exact[k] - counts[k]), list(weights).index(k)))
  for k in by_remainder[:num - sum(counts.values())]:
    counts[k] += 1
  return counts


def _draw(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
  passes = -(-n // size)
  return np.concatenate([rng.permutation(size) for _ in range(passes)])[:n] if n else np.zeros(0, np.int64)


def mix_records(sources: Mapping[str, Sequence[Record]], weights: Mapping[str, float], num: int,
                seed: int = 0) -> list[Record]:
  """`num` records, source i contributing its quota (see the module docstring), shuffled; meta notes the source."""
  if set(weights) != set(sources):
    raise UserError(f"mixture weights name {sorted(weights)} but the sources are {sorted(sources)}; give one weight "
                    "per source.")
  counts = quotas(weights, num)
  empty = [k for k, n in counts.items() if n and not sources[k]]
  if empty:
    raise UserError(f"mixture source(s) {empty} hold no records but have a positive weight.")
  out = []
  for i, (name, records) in enumerate(sources.items()):
    rng = np.random.default_rng([seed, i])  # One stream per source: a source's draw does not depend on the others.
    out += [dataclasses.replace(records[j], meta={**records[j].meta, "mixture_source": name})
            for j in _draw(counts[name], len(records), rng)]
  order = np.random.default_rng([seed, len(sources)]).permutation(len(out))
  return [out[j] for j in order]
