"""Repetition and coding filters on crafted samples, with the counts each reports."""
import re

import numpy as np
import pytest

from datasynth.data.records import Record
from datasynth.utils.errors import UserError
from nomad import filters


def rec(prompt, response="A plain, helpful answer."):
  return Record(f"t/{abs(hash(prompt)) % 1000}", "nomad", prompt, response)


CLEAN = [rec("What is the capital of France?", "Paris is the capital of France."),
         rec("Give me three tips for sleeping better.",
             "Keep a regular schedule, avoid screens before bed, and keep the room cool and dark.")]


def test_word_run_counts_back_to_back_repeats():
  assert filters.longest_word_run("no No no, no no!") == 5
  assert filters.longest_word_run("I had had enough") == 2


def test_dup_ngram_fraction_is_hand_checkable():
  fraction, count = filters.dup_ngram_fraction("a b c a b c", 3)  # abc bca cab abc: one of four repeats.
  assert (fraction, count) == (0.25, 4)
  assert filters.dup_ngram_fraction("one two", 3) == (0.0, 0)


@pytest.mark.parametrize("text,reason", [
    ("Why is the sky blue blue blue blue?", "word_run"),
    ("The answer is that the answer is that the answer is that the answer is that the answer is that it is.",
     "dup_ngrams"),
    ("Lines: =-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-", "substring_repeat"),
    ("xyz" * 12, "substring_repeat"),  # "xyz" * 4 (12 >= 10 characters) three times back to back.
    ("xyz" * 11, None),  # 33 characters: no substring of 10+ characters fits three times.
    ("Tell me a joke about cats and dogs, please.", None),
])
def test_repetition_reason(text, reason):
  assert filters.repetition_reason(text) == reason


def test_repetition_filter_removes_and_counts_by_reason():
  bad = [rec("Say it again and again and again and again and again and again and again and again, ok?"),
         rec("Fine question?", "yes yes yes yes yes"),
         rec("Draw a line.", "-----+-----+-----+-----+-----+-----+-----+")]
  kept, removed = filters.filter_repetition(CLEAN + bad)
  assert kept == CLEAN
  assert removed == {"dup_ngrams": 1, "word_run": 1, "substring_repeat": 1}


def test_repetition_filter_checks_only_the_configured_fields():
  sample = [rec("Fine question?", "yes yes yes yes yes")]
  kept, removed = filters.filter_repetition(sample, filters.RepetitionConfig(fields=("prompt",)))
  assert kept == sample and not removed
  kept, removed = filters.filter_repetition(sample, filters.RepetitionConfig(max_word_run=5))
  assert kept == sample


def test_coding_filter_matches_keywords_at_word_boundaries():
  code = [rec("Write a Python function that reverses a list."),
          rec("How do I use it?", "```\nx = 1\n```"),
          rec("What does def foo(): mean?"),
          rec("Explain this SQL query."),
          rec("How do I print('hi')?")]
  non_code = [rec("How do barcodes and decoders work?"), rec("What is the Java Sea's depth?", "About 46 m.")]
  kept, removed = filters.filter_coding(code + non_code[:1] + CLEAN)
  assert kept == non_code[:1] + CLEAN
  assert removed == {"python": 1, "```": 1, "def ": 1, "sql": 1, "print(": 1}  # The leftmost keyword in the text.
  assert sum(removed.values()) == len(code)
  kept, _ = filters.filter_coding(non_code, filters.CodingConfig(keywords=("python",)))
  assert kept == non_code  # "Java" only counts when the list has it.


def test_coding_filter_off_and_bad_keyword():
  kept, removed = filters.filter_coding(CLEAN, filters.CodingConfig(keywords=()))
  assert kept == CLEAN and not removed
  with pytest.raises(UserError, match="empty string"):
    filters.filter_coding(CLEAN, filters.CodingConfig(keywords=("code", "")))
  with pytest.raises(UserError, match="fields"):
    filters.filter_coding(CLEAN, filters.CodingConfig(fields=("question",)))


def test_apply_filters_reports_each_stage():
  records = CLEAN + [rec("Fine?", "yes yes yes yes yes"), rec("Write code to sort numbers.")]
  kept, report = filters.apply_filters(records)
  assert kept == CLEAN
  assert report == {"input": {"records": 4}, "repetition": {"word_run": 1, "total": 1},
                    "coding": {"code": 1, "total": 1}, "output": {"records": 2}}
  kept, report = filters.apply_filters(records, coding=None)
  assert len(kept) == 3 and "coding" not in report


def test_repeated_substring_matches_the_backtracking_regex():
  pattern = re.compile(r"(.{4,9}?)\1{2,}", re.DOTALL)
  rng = np.random.default_rng(0)
  for _ in range(300):
    text = "".join(rng.choice(list("ab c"), size=int(rng.integers(0, 40))))
    assert filters.has_repeated_substring(text, 4, 9, 3) == bool(pattern.search(text)), text
