"""Exact and near-duplicate removal of generated texts (SoftSRV Appendix A.2, first step: "deduplicate").

Paper -> code:
- The paper deduplicates the generated sequences before subsampling and says no more. `ExactDeduplicator` removes
  exact duplicates after whitespace normalisation (`normalize_whitespace`: runs of any Unicode whitespace collapse to
  one space, ends stripped). Case is *not* folded by default ("Sort the list" and "sort the list" are both kept):
  a generator that varies only capitalisation is rare, and folding would merge code identifiers that differ by
  case; `fold_case=True` folds with `str.casefold`.
- Streaming: only a 64-bit BLAKE2b digest of each unique normalised text is kept (a Python set of ints), so memory
  grows with the number of unique items (about 80 bytes each: an int in a set), not with the texts' length. Two different texts
  collide with probability about n^2 / 2^65 (1e-8 at n = 1M): accepted.
- `NearDeduplicator` (not in the paper, optional): MinHash LSH (`datasketch`) over word 5-gram shingles of the
  lower-cased, whitespace-normalised text; a text with fewer than 5 words is one shingle (the whole text). Streaming
  and greedy: a text is dropped when the LSH index returns any earlier *kept* text as a candidate (an estimated
  Jaccard similarity above `threshold`); candidates are not re-verified, as in datasketch's own usage, so an LSH
  false positive drops a text (rare at the default 128 permutations).
Order is kept: the first occurrence survives, later copies are dropped.
"""
from __future__ import annotations

import hashlib
import re
from typing import Iterable, Iterator

_WHITESPACE = re.compile(r"\s+")


def normalize_whitespace(text: str, fold_case: bool = False) -> str:
  """Runs of whitespace -> one space, ends stripped; `str.casefold` when `fold_case`."""
  text = _WHITESPACE.sub(" ", text).strip()
  return text.casefold() if fold_case else text


def text_digest(text: str) -> int:
  """A 64-bit BLAKE2b digest of the UTF-8 bytes, as an int (stable across processes, unlike `hash`)."""
  return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class ExactDeduplicator:
  """`is_new(text)` is True the first time a (normalised) text is seen; counts what it saw."""

  def __init__(self, fold_case: bool = False):
    self.fold_case = fold_case
    self._seen: set[int] = set()
    self.n_in = 0
    self.n_dropped = 0

  def is_new(self, text: str) -> bool:
    self.n_in += 1
    digest = text_digest(normalize_whitespace(text, self.fold_case))
    if digest in self._seen:
      self.n_dropped += 1
      return False
    self._seen.add(digest)
    return True

  @property
  def n_kept(self) -> int:
    return self.n_in - self.n_dropped


def exact_dedup(texts: Iterable[str], fold_case: bool = False) -> Iterator[int]:
  """Indices of the first occurrence of each distinct normalised text, in input order (streaming)."""
  dedup = ExactDeduplicator(fold_case)
  return (i for i, text in enumerate(texts) if dedup.is_new(text))


def shingles(text: str, n: int = 5) -> list[bytes]:
  """Word n-grams of the lower-cased, whitespace-normalised text; fewer than n words: the whole text, one shingle."""
  words = normalize_whitespace(text, fold_case=True).split(" ")
  if len(words) < n:
    return [" ".join(words).encode("utf-8")]
  return [" ".join(words[i:i + n]).encode("utf-8") for i in range(len(words) - n + 1)]


class NearDeduplicator:
  """Greedy streaming near-duplicate filter: MinHash LSH over word shingles; `is_new(text)` keeps or drops."""

  def __init__(self, threshold: float = 0.8, num_perm: int = 128, shingle: int = 5, seed: int = 1):
    from datasketch import MinHash, MinHashLSH
    self._minhash = MinHash
    # One set of permutations for every text (building them per MinHash would dominate the cost).
    template = MinHash(num_perm=num_perm, seed=seed)
    self._permutations = template.permutations
    self._scheme = template.scheme
    self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    self.num_perm = num_perm
    self.shingle = shingle
    self.n_in = 0
    self.n_dropped = 0

  def signature(self, text: str):
    mh = self._minhash(num_perm=self.num_perm, permutations=self._permutations, scheme=self._scheme)
    mh.update_batch(shingles(text, self.shingle))
    return mh

  def is_new(self, text: str) -> bool:
    mh = self.signature(text)
    key = self.n_in
    self.n_in += 1
    if self._lsh.query(mh):
      self.n_dropped += 1
      return False
    self._lsh.insert(key, mh, check_duplication=False)
    return True

  @property
  def n_kept(self) -> int:
    return self.n_in - self.n_dropped


def near_dedup(texts: Iterable[str], threshold: float = 0.8, num_perm: int = 128, shingle: int = 5) -> Iterator[int]:
  """Indices of the texts kept by the greedy near-duplicate pass, in input order (streaming)."""
  dedup = NearDeduplicator(threshold, num_perm, shingle)
  return (i for i, text in enumerate(texts) if dedup.is_new(text))
