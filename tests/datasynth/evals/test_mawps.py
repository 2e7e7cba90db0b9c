"""MAWPS 0-shot harness (SoftSRV Table 2's math out-of-domain score): data, prompt, numeric match."""
import pytest

from datasynth.data.records import load_task
from datasynth.evals import student_eval as student
from datasynth.utils.errors import UserError
from datasynth.evals import mawps


def test_the_test_fold_is_238_problems_with_float_answers(data_dir):
  recs = load_task("mawps", "test", str(data_dir))
  assert len(recs) == 238 and all(r.task == "mawps" and r.prompt and isinstance(r.meta["ans"], float) for r in recs)


def test_gold_answers_score_100_percent_and_wrong_ones_0(data_dir):
  recs = load_task("mawps", "test", str(data_dir))
  gold = mawps.evaluate_mawps(recs, lambda prompts: [f" The answer is {r.response}." for r in recs])
  assert gold.accuracy == 1.0 and gold.num_examples == 238
  wrong = mawps.evaluate_mawps(recs, lambda prompts: [f" #### {r.meta['ans'] * 2 + 1}" for r in recs])
  assert wrong.accuracy == 0.0


def test_the_prompt_is_zero_shot_and_a_completion_is_cut_at_the_next_question():
  assert mawps.build_prompt(" Tom has 3 apples . How many ? ") == "Question: Tom has 3 apples . How many ?\nAnswer:"
  res = mawps.score([" 5\n\nQuestion: Ann has 7 pears. Answer: 7"], [{"original_text": "x", "ans": 5.0}])
  assert res.predictions == ["5"] and res.correct == [True]


@pytest.mark.parametrize("pred,gold,ok", [("1.8333", 1.8333333333333335, True), ("1.83", 1.8333333333333335, True),
                                          ("1.8", 1.8333333333333335, False), ("-15", -15.0, True),
                                          ("15", -15.0, False), (None, 3.0, False), ("12", 12.0, True)])
def test_numeric_match_to_a_relative_tolerance_or_two_decimals(pred, gold, ok):
  assert mawps.matches(pred, gold) is ok


def test_an_unknown_split_is_one_clear_error():
  with pytest.raises(UserError, match="MAWPS has no split 'dev'"):
    mawps.read_split("dev")


def test_the_student_evaluation_scores_mawps_as_accuracy_zero_shot():
  assert student.TASK_METRIC["mawps"] == "accuracy" and student.few_shots("mawps") == 0
  assert student.few_shots("mbpp") == 3 and student.few_shots("gsm8k") == 5 and student.few_shots("triviaqa") == 5
