"""GSM8K harness: prompt format, answer extraction, and gold answers scoring 100%."""
import pytest

from datasynth.evals import gsm8k


@pytest.fixture(scope="module")
def test_set(data_dir):
  return gsm8k.read_split("test", str(data_dir))


@pytest.fixture(scope="module")
def shots(data_dir):
  return gsm8k.prompt_shots(str(data_dir))


@pytest.mark.parametrize("text,want", [
    ("so she makes 9 * 2 = $18 every day.\n#### 18", "18"),
    ("#### 1,234", "1234"),
    ("The total is $1,234.", "1234"),
    ("He pays 18.00 dollars.", "18"),
    ("It drops to -3.50.", "-3.5"),
    ("First 3, then 4, so 7", "7"),
    ("#### 5\n\nQuestion: 99 apples", "5"),
    ("no number here", None),
])
def test_extract_answer(text, want):
  assert gsm8k.extract_answer(text) == want


def test_prompt_format(test_set, shots, data_dir):
  train = gsm8k.read_split("train", str(data_dir))
  p = gsm8k.build_prompt(test_set[0], shots)
  assert p.startswith(f"Question: {train[0]['question']}\nAnswer: ")
  assert p.count("Question: ") == 6 and p.count("\nAnswer:") == 6 and p.count("####") == 5
  assert p.endswith(f"Question: {test_set[0]['question']}\nAnswer:")
  assert "<<" not in p and "<<" in "".join(s["answer"] for s in shots)
  assert "<<" in gsm8k.build_prompt(test_set[0], shots, strip_calculator=False)


def test_gold_answers_score_100_percent(test_set):
  assert len(test_set) == 1319
  result = gsm8k.score([r["answer"] for r in test_set], test_set)
  assert result.accuracy == 1.0
  # Without the "####" line, the last number of the worked solution is the answer for most problems.
  body_only = gsm8k.score([r["answer"].rsplit("####", 1)[0] for r in test_set], test_set)
  assert 0.9 < body_only.accuracy < 1.0


def test_evaluate_with_oracle_generator(test_set, shots):
  records = test_set[:20]
  by_q = {r["question"]: r["answer"] for r in records}
  oracle = lambda ps: [" " + by_q[p.rsplit("Question: ", 1)[1][:-len("\nAnswer:")]] + "\n\nQuestion: 12 + 30?"
                       for p in ps]
  assert gsm8k.evaluate_gsm8k(records, oracle, shots=shots).accuracy == 1.0
  off_by_one = lambda ps: [f"#### {int(gsm8k.gold_answer(r)) + 1}" for r in records]
  assert gsm8k.evaluate_gsm8k(records, off_by_one, shots=shots).accuracy == 0.0


def test_bad_gold():
  with pytest.raises(ValueError, match="####"):
    gsm8k.gold_answer({"question": "q", "answer": "no final answer"})
