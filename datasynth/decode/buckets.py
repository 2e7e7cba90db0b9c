"""Padded lengths: a ragged batch is padded up to a multiple, so a long list of texts compiles a few shapes only."""
from __future__ import annotations


def round_up(n: int, multiple: int) -> int:
  """The smallest multiple of `multiple` that is >= n, and at least `multiple` (an empty row still gets one)."""
  return max(multiple, -(-n // multiple) * multiple)


def prompt_length(n: int, multiple: int) -> int:
  """Padded length of a prompt batch whose longest row has n ids: the next power of two below `multiple`, else
  `round_up`. A one-token prompt (SoftSRV's BOS after its soft prompt) then prefills 1 position, not `multiple`,
  for at most log2(multiple) more compiled shapes."""
  if n < multiple:
    return 1 << max(n - 1, 0).bit_length()
  return round_up(n, multiple)
