"""Padded lengths: a ragged batch is padded up to a multiple, so a long list of texts compiles a few shapes only."""
from __future__ import annotations


def round_up(n: int, multiple: int) -> int:
  """The smallest multiple of `multiple` that is >= n, and at least `multiple` (an empty row still gets one)."""
  return max(multiple, -(-n // multiple) * multiple)
