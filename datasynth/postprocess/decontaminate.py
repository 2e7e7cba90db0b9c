"""Test-fold decontamination by 13-gram overlap (SoftSRV Appendix A.3).

Paper: drop any generated example that shares a 13-gram with the benchmark's test fold, after removing punctuation
and digits. Exactly what `normalize` does, in this order:
1. lower-case (`str.lower`, full Unicode);
2. delete (not replace by a space) every punctuation character (ASCII `string.punctuation`, which includes the
   symbols $+<=>^`|~, and every Unicode character of category P*) and every digit (Unicode category Nd, so 0-9 and
   other scripts' digits): "x=12, y" -> "x y";
3. split on runs of Unicode whitespace (`str.split()`); a token that was only punctuation or digits disappears, so
   the words around it become adjacent.
An n-gram is n consecutive tokens; a text with fewer than n tokens has none (it can neither contaminate nor be
flagged).

`Decontaminator` indexes the test fold's n-grams once (a set of token tuples: a hash set, with exact comparison on
a hit) and streams candidates: each is normalised once with one `str.translate` and its n-grams are looked up by C
iteration (`zip` over shifted token lists, `map(set.__contains__)`), stopping at the first hit.

Compared with lm-eval's 13-gram `Janitor` (the usual tool): the Janitor keeps digits and lower-cases ASCII only; it
normalises each candidate n-gram separately (13 translations per token) and, because it splits *before*
deleting punctuation, a punctuation-only token ("-", "...") leaves an empty word that breaks a match its
registered (normalised-then-split) n-grams would give. It also cuts contaminated spans out of a document rather
than dropping it. `benchmarks/postprocess.py` measures both on the same inputs.
"""
from __future__ import annotations

import functools
import string
import sys
import unicodedata
from typing import Iterable, Iterator, Sequence


@functools.cache
def _deletion_table() -> dict[int, None]:
  """`str.translate` table deleting ASCII punctuation, Unicode punctuation (P*) and decimal digits (Nd)."""
  table = {ord(c): None for c in string.punctuation}
  for code in range(sys.maxunicode + 1):
    cat = unicodedata.category(chr(code))
    if cat[0] == "P" or cat == "Nd":
      table[code] = None
  return table


_ASCII_DELETE = (string.punctuation + string.digits).encode("ascii")


def normalize(text: str) -> list[str]:
  """A.3's normalisation: lower-case, delete punctuation and digits, split on whitespace; returns the tokens."""
  if text.isascii():  # The same result by bytes operations (~25% faster on the ~96% of texts that are ASCII).
    return text.encode("ascii").lower().translate(None, _ASCII_DELETE).decode("ascii").split()
  return text.lower().translate(_deletion_table()).split()


def ngrams(tokens: Sequence[str], n: int) -> Iterator[tuple[str, ...]]:
  """The n-grams (token tuples) of `tokens`, in order."""
  return zip(*(tokens[i:] for i in range(n)))


class Decontaminator:
  """The test fold's n-grams, indexed once; `is_contaminated(text)` streams candidates against them."""

  def __init__(self, test_texts: Iterable[str], n: int = 13):
    self.n = n
    self.index: set[tuple[str, ...]] = set()
    self.n_test = 0
    self.n_test_too_short = 0  # Test texts with fewer than n tokens: no n-gram, they can flag nothing.
    for text in test_texts:
      tokens = normalize(text)
      self.n_test += 1
      self.n_test_too_short += len(tokens) < n
      self.index.update(ngrams(tokens, n))
    self.n_in = 0
    self.n_dropped = 0

  def is_contaminated(self, text: str) -> bool:
    self.n_in += 1
    tokens = normalize(text)
    hit = len(tokens) >= self.n and any(map(self.index.__contains__, ngrams(tokens, self.n)))
    self.n_dropped += hit
    return hit

  def is_clean(self, text: str) -> bool:
    return not self.is_contaminated(text)

  @property
  def n_kept(self) -> int:
    return self.n_in - self.n_dropped

  @property
  def rate(self) -> float:
    """Fraction of the candidates seen so far that were flagged."""
    return self.n_dropped / self.n_in if self.n_in else 0.0


def decontaminate(texts: Iterable[str], test_texts: Iterable[str], n: int = 13) -> tuple[list[int], float]:
  """Indices of the texts that share no n-gram with `test_texts` (input order), and the contamination rate."""
  dec = Decontaminator(test_texts, n)
  kept = [i for i, text in enumerate(texts) if not dec.is_contaminated(text)]
  return kept, dec.rate


def decontaminate_records(records: Iterable[dict], test_texts: Iterable[str], n: int = 13, *,
                          fields: Sequence[str] = ("prompt", "response")) -> tuple[list[dict], dict]:
  """A.3 on finished examples: drop a record one of whose `fields` shares an n-gram with any of `test_texts`.

  `test_texts` are the test fold's questions and reference answers. Each field of a record is checked on its own
  (no n-gram is made across the question / answer boundary). Returns (kept records in input order, report) with
  report = {count_in, kept, dropped, rate, test_texts, test_ngrams}.
  """
  dec = Decontaminator(test_texts, n)
  records = list(records)
  kept = [r for r in records if not any(dec.is_contaminated(str(r.get(f) or "")) for f in fields)]
  dropped = len(records) - len(kept)
  return kept, dict(count_in=len(records), kept=len(kept), dropped=dropped,
                    rate=round(dropped / len(records), 6) if records else 0.0, test_texts=dec.n_test,
                    test_ngrams=len(dec.index), ngram=n)
