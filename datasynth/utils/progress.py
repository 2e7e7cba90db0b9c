"""The progress bar of every long loop: tqdm with rate and ETA, redrawn at most once a second.

`bar(total, enabled=False)` is a silent bar whose `update`, `set_postfix` and `close` do nothing, so loops call it
the same way whether progress is shown or not.
"""
from __future__ import annotations

from typing import Iterable


def bar(total: int | None = None, *, initial: int = 0, desc: str = "", unit: str = "step", enabled: bool = True,
        iterable: Iterable | None = None):
  """A tqdm bar over `total` units (or wrapping `iterable`), starting at `initial` (a resumed loop)."""
  from tqdm.auto import tqdm
  return tqdm(iterable, total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, mininterval=1.0,
              disable=not enabled)
