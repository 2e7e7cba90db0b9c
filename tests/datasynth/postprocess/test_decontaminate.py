"""13-gram test-fold decontamination (datasynth/postprocess/decontaminate.py)."""
from datasynth.postprocess.decontaminate import Decontaminator, _deletion_table, decontaminate, normalize

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


def _reference_flags(texts, test_texts, n=13):
  """Plain reference: every n-gram of every text as a joined string, looked up among the test fold's."""
  def grams(t):
    tokens = normalize(t)
    return {" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}
  index = set().union(*(grams(t) for t in test_texts))
  return [bool(grams(t) & index) for t in texts]


def test_the_streaming_check_equals_a_plain_reference_on_perturbed_copies():
  import random
  rng = random.Random(0)
  words = normalize(TEST[0]) + ["Ünïcode", "naïve", "\u0661\u0662", "--", "x_y"]
  test_texts = [" ".join(rng.choice(words) for _ in range(30)) for _ in range(5)]
  texts = []
  for _ in range(300):
    src = rng.choice(test_texts).split()
    start = rng.randrange(len(src))
    piece = src[start:start + rng.randint(10, 16)]
    texts.append(" ".join(rng.choice(words) for _ in range(rng.randint(0, 5))) + " " + " ".join(piece))
  dec = Decontaminator(test_texts)
  flags = [dec.is_contaminated(t) for t in texts]
  assert flags == _reference_flags(texts, test_texts)
  assert 0 < sum(flags) < len(flags)  # Both outcomes occur.


def test_the_ascii_fast_path_equals_the_unicode_path():
  for text in ["Hello, World! x=12 y_z {a} ~b~ 3.5%", "TABS\tand\nnewlines  -- ... 'quoted'"]:
    assert normalize(text) == text.lower().translate(_deletion_table()).split()
