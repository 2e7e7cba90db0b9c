"""13-gram test-fold decontamination (datasynth/postprocess/decontaminate.py)."""
from datasynth.postprocess.decontaminate import Decontaminator, decontaminate, normalize

TEST = ["Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her "
        "friends every day with four."]


def test_normalize_lower_cases_and_deletes_punctuation_and_digits_then_splits_on_whitespace():
  assert normalize("Janet's ducks lay 16 eggs, per-day... ÉTÉ x=12 \u201cok\u201d") == [
      "janets", "ducks", "lay", "eggs", "perday", "été", "x", "ok"]


def test_decontamination_catches_a_13_gram_after_punctuation_and_digit_removal():
  # Same words as the test text's first 13 tokens, with different digits, punctuation and case.
  candidate = "JANETS ducks lay 2,000 eggs per day; she eats three (for) breakfast every morning!! and then sleeps"
  dec = Decontaminator(TEST)
  assert dec.is_contaminated(candidate)


def test_a_12_gram_near_miss_is_kept():
  tokens = normalize(TEST[0])
  near_miss = " ".join(tokens[:12]) + " zebra " + " ".join(tokens[13:24]) + " quokka"
  dec = Decontaminator(TEST)
  assert not dec.is_contaminated(near_miss)
  assert dec.is_contaminated(" ".join(tokens[3:16]))  # The same place, 13 tokens: caught.


def test_a_test_text_shorter_than_13_tokens_flags_nothing_and_is_counted():
  dec = Decontaminator(["Write a function to add two numbers."])
  assert dec.n_test_too_short == 1 and not dec.index
  assert not dec.is_contaminated("Write a function to add two numbers.")


def test_decontaminate_reports_the_kept_indices_and_the_rate():
  tokens = normalize(TEST[0])
  texts = ["a clean question about trains leaving stations at different speeds on a long straight line today",
           "Copied: " + " ".join(tokens[:14]), "short one", "Also copied " + TEST[0]]
  kept, rate = decontaminate(texts, TEST)
  assert kept == [0, 2]
  assert rate == 0.5
