"""NOMAD's two cheap filters on parsed first rounds: repetition and coding samples.

Paper (Chen et al., Sec. 3): long generated conversations degenerate into repeated words or strings, and the teacher
writes coding questions without usable code, so the synthetic set is filtered for (1) repeated words / strings and
(2) coding samples by keyword search. The paper gives neither thresholds nor the keyword list; ours are below, each a
config field, and each filter returns the records it kept plus a Counter of why the others were removed.

Repetition (`RepetitionConfig`), a record is removed when any checked field (prompt, response) has:
- `word_run`: one word repeated more than `max_word_run` times in a row ("no no no no no"; case-insensitive);
- `dup_ngrams`: more than `max_dup_ngram_fraction` of its word `ngram`-grams repeating an earlier one in the same
  text (the loop of a phrase or sentence; judged only on texts with at least `min_ngrams` n-grams, so a short
  answer's one repeat does not count);
- `substring_repeat`: a substring of `min_substring` to `max_substring` characters repeated back to back
  `min_repeats` times or more ("abcabcabc...", a line printed again and again; catches loops without spaces).
Coding (`CodingConfig`): a record is removed when a checked field contains a keyword, case-insensitive; a keyword
that starts (ends) with a letter or digit must start (end) at a word boundary, so "code" does not match "decode"
and "def " does not match "undef ". The Counter names the keyword found first (leftmost) in the text.
"""
from __future__ import annotations

import collections
import dataclasses
import re
from typing import Sequence

import numpy as np

from datasynth.data.records import Record
from datasynth.utils.errors import UserError

CODE_KEYWORDS = ("```", "def ", "class ", "import ", "#include", "console.log", "print(", "function", "code",
                 "coding", "python", "javascript", "java", "c++", "sql", "html", "programming")


@dataclasses.dataclass(frozen=True)
class RepetitionConfig:
  max_word_run: int = 3  # Longest allowed run of one word; 0 = check off.
  ngram: int = 3  # n of the word n-grams for the duplicate fraction.
  max_dup_ngram_fraction: float = 0.3  # In [0, 1): allowed share of n-grams that repeat an earlier one; 1 = off.
  min_ngrams: int = 10  # Texts with fewer n-grams are not judged on the fraction.
  min_substring: int = 10  # Shortest repeated substring (characters) that counts; 0 = check off.
  max_substring: int = 200  # Longest substring tried (bounds the regex's work per text).
  min_repeats: int = 3  # Back-to-back occurrences that make a substring repeat.
  fields: tuple[str, ...] = ("prompt", "response")  # Record fields checked.


@dataclasses.dataclass(frozen=True)
class CodingConfig:
  keywords: tuple[str, ...] = CODE_KEYWORDS  # Any one present removes the record; () = filter off.
  fields: tuple[str, ...] = ("prompt", "response")  # Record fields searched.


def _fields(r: Record, fields: Sequence[str]) -> list[str]:
  bad = [f for f in fields if f not in ("prompt", "response")]
  if bad:
    raise UserError(f"Filter fields {bad} are not record text fields; use 'prompt' and/or 'response'.")
  return [getattr(r, f) for f in fields]


# --------------------------------------------------------------------------------------------------- repetition


def longest_word_run(text: str) -> int:
  """Length of the longest run of one word repeated back to back (case-insensitive)."""
  best, run, prev = 0, 0, None
  for w in re.findall(r"\w+", text.lower()):
    run = run + 1 if w == prev else 1
    best, prev = max(best, run), w
  return best


def dup_ngram_fraction(text: str, n: int) -> tuple[float, int]:
  """(share of word n-grams that repeat an earlier n-gram of the text, number of n-grams)."""
  words = re.findall(r"\w+", text.lower())
  grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
  if not grams:
    return 0.0, 0
  return 1.0 - len(set(grams)) / len(grams), len(grams)


def has_repeated_substring(text: str, min_len: int, max_len: int, repeats: int) -> bool:
  """Whether some substring of min_len..max_len characters occurs `repeats` times back to back.

  Text t repeats a substring of length p `repeats` times at i iff t[j] == t[j + p] for every j in
  [i, i + p * (repeats - 1)): a run of that many equal characters at lag p. Runs are found with a cumulative sum,
  O(len(t)) per lag (a backtracking regex `(.{L,M}?)\1{R-1,}` says the same, ~100x slower on long texts).
  """
  codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)
  for p in range(min_len, min(max_len, len(codes) // repeats) + 1):
    need = p * (repeats - 1)
    same = np.concatenate([[0], np.cumsum(codes[p:] == codes[:-p])])
    if np.any(same[need:] - same[:-need] == need):
      return True
  return False


def repetition_reason(text: str, cfg: RepetitionConfig = RepetitionConfig()) -> str | None:
  """Why `text` counts as repetitive ("word_run", "dup_ngrams", "substring_repeat"), or None."""
  if cfg.max_word_run and longest_word_run(text) > cfg.max_word_run:
    return "word_run"
  fraction, count = dup_ngram_fraction(text, cfg.ngram)
  if count >= cfg.min_ngrams and fraction > cfg.max_dup_ngram_fraction:
    return "dup_ngrams"
  if cfg.min_substring and has_repeated_substring(text, cfg.min_substring, cfg.max_substring, cfg.min_repeats):
    return "substring_repeat"
  return None


def filter_repetition(records: Sequence[Record], cfg: RepetitionConfig = RepetitionConfig()
                      ) -> tuple[list[Record], collections.Counter]:
  """Records without repetition, and a Counter of removals by reason."""
  if cfg.min_substring and (cfg.min_repeats < 2 or cfg.max_substring < cfg.min_substring):
    raise UserError(f"RepetitionConfig: min_repeats={cfg.min_repeats} must be >= 2 and max_substring="
                    f"{cfg.max_substring} >= min_substring={cfg.min_substring}.")
  kept, removed = [], collections.Counter()
  for r in records:
    reason = next((x for x in (repetition_reason(t, cfg) for t in _fields(r, cfg.fields)) if x), None)
    if reason:
      removed[reason] += 1
    else:
      kept.append(r)
  return kept, removed


# ------------------------------------------------------------------------------------------------------- coding


def _keyword_pattern(keywords: Sequence[str]) -> re.Pattern:
  parts = []
  for kw in keywords:
    head = r"\b" if re.match(r"\w", kw[0]) else ""
    tail = r"\b" if re.match(r"\w", kw[-1]) else ""
    parts.append(f"(?P<k{len(parts)}>{head}{re.escape(kw)}{tail})")
  return re.compile("|".join(parts), re.IGNORECASE)


def filter_coding(records: Sequence[Record], cfg: CodingConfig = CodingConfig()
                  ) -> tuple[list[Record], collections.Counter]:
  """Records with none of the keywords, and a Counter of removals by the first keyword matched."""
  if not cfg.keywords:
    return list(records), collections.Counter()
  if any(not kw for kw in cfg.keywords):
    raise UserError("CodingConfig.keywords holds an empty string, which would match every record; remove it.")
  pattern = _keyword_pattern(cfg.keywords)
  kept, removed = [], collections.Counter()
  for r in records:
    match = next((m for m in (pattern.search(t) for t in _fields(r, cfg.fields)) if m), None)
    if match:
      removed[cfg.keywords[int(match.lastgroup[1:])]] += 1
    else:
      kept.append(r)
  return kept, removed


def apply_filters(records: Sequence[Record], repetition: RepetitionConfig | None = RepetitionConfig(),
                  coding: CodingConfig | None = CodingConfig()) -> tuple[list[Record], dict[str, dict[str, int]]]:
  """Repetition then coding (either None = skipped); the report gives each stage's removals and totals."""
  report: dict[str, dict[str, int]] = {"input": {"records": len(records)}}
  if repetition is not None:
    records, removed = filter_repetition(records, repetition)
    report["repetition"] = dict(removed, total=sum(removed.values()))
  if coding is not None:
    records, removed = filter_coding(records, coding)
    report["coding"] = dict(removed, total=sum(removed.values()))
  report["output"] = {"records": len(records)}
  return list(records), report
