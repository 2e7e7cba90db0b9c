"""Exact and near-duplicate removal (datasynth/postprocess/dedup.py)."""
from datasynth.postprocess.dedup import ExactDeduplicator, NearDeduplicator, exact_dedup, near_dedup, shingles


def test_whitespace_variants_collapse_to_one_and_the_first_occurrence_is_kept():
  texts = ["Sort a list.", "  Sort   a\tlist.\n", "sort a list.", "Reverse a string.", "Sort a\u00a0list."]
  assert list(exact_dedup(texts)) == [0, 2, 3]


def test_case_is_kept_by_default_and_folded_on_request():
  texts = ["Sort A List", "sort a list"]
  assert list(exact_dedup(texts)) == [0, 1]
  assert list(exact_dedup(texts, fold_case=True)) == [0]


def test_exact_dedup_streams_and_counts_what_it_saw():
  dedup = ExactDeduplicator()
  stream = (f"item {i % 3}" for i in range(10))  # A generator: consumed once, never held.
  kept = [t for t in stream if dedup.is_new(t)]
  assert kept == ["item 0", "item 1", "item 2"]
  assert (dedup.n_in, dedup.n_kept, dedup.n_dropped) == (10, 3, 7)
  assert len(dedup._seen) == 3  # Memory: one digest per unique item.


def test_near_dup_catches_two_texts_differing_by_one_word_and_keeps_an_unrelated_one():
  base = ("write a python function that takes a list of integers and returns the sum of the squares of all the "
          "even numbers in the list while ignoring any negative values that appear anywhere in it")
  near = base.replace("integers", "numbers")
  unrelated = "a farmer has twelve cows and sells four of them at the market on monday how many cows are left now"
  assert list(near_dedup([base, near, unrelated], threshold=0.7)) == [0, 2]


def test_near_dup_at_a_strict_threshold_keeps_the_one_word_variant():
  base = " ".join(f"w{i}" for i in range(30))
  near = base.replace("w15", "x15")  # 5 of 26 shingles change: Jaccard 21/31 = 0.68.
  assert list(near_dedup([base, near], threshold=0.95)) == [0, 1]


def test_texts_shorter_than_the_shingle_are_one_shingle_and_identical_short_texts_are_caught():
  assert shingles("Add  two numbers", 5) == [b"add two numbers"]
  dedup = NearDeduplicator(threshold=0.9)
  assert [dedup.is_new(t) for t in ["add two numbers", "Add two  numbers", "add three numbers"]] == [True, False, True]
  assert dedup.n_dropped == 1
