"""TriviaQA harness: the official normalisation, held-out shots, prompt format, and gold aliases scoring 100%."""
import pytest

from datasynth.data.records import Record, load_task
from datasynth.evals import baseline, triviaqa
from datasynth.utils.errors import UserError
from softsrv import evaluate


@pytest.fixture(scope="module")
def test_set(full_data_dir):
  return triviaqa.read_split("test", str(full_data_dir))


@pytest.fixture(scope="module")
def shots(full_data_dir):
  return triviaqa.prompt_shots(str(full_data_dir))


@pytest.mark.parametrize("text,want", [
    ("The Beatles", "beatles"),
    ("  A  Tale of Two Cities. ", "tale of two cities"),
    ("Fat Larry's Band", "fat larry s band"),
    ("Fat Larry’s Band", "fat larry s band"),  # Curly quotes count as punctuation, as in the official script.
    ("Yuri_Gagarin", "yuri gagarin"),
    ("U.S.A.", "u s"),  # "a" becomes an article once the dots are spaces (the official behaviour).
    ("Theatre", "theatre"),  # Articles only as whole words.
    ("Château de Versailles", "château de versailles"),
])
def test_official_normalisation(text, want):
  assert triviaqa.normalize_answer(text) == want


def test_shots_are_held_out_of_the_evaluation(test_set, shots):
  assert len(shots) == triviaqa.NUM_SHOTS and len(test_set) == 1000 - triviaqa.NUM_SHOTS
  assert not {s["question"] for s in shots} & {r["question"] for r in test_set}
  with pytest.raises(UserError, match="also in the evaluated"):
    triviaqa.evaluate_triviaqa(shots[:1], lambda ps: ["x"] * len(ps), shots=shots)


def test_prompt_format(test_set, shots):
  p = triviaqa.build_prompt(test_set[0], shots)
  assert p.count("Question: ") == 6 and p.count("\nAnswer:") == 6
  assert p.startswith(f"Question: {shots[0]['question']}\nAnswer: Yuriy A. Gagarin\n\n")
  assert p.endswith(f"\n\nQuestion: {test_set[0]['question']}\nAnswer:")
  assert [triviaqa.shot_answer(s) for s in shots[1:4]] == ["Fat Larry's Band", "The Palace of Versailles", "Hovis"]


def test_gold_aliases_score_100_percent(test_set):
  empty = [r for r in test_set if "" in r["answers"]]
  assert len(empty) == 25 and triviaqa.score([""] * 25, empty).exact_match == 0.0  # Empty aliases never match.
  golds = [triviaqa.aliases(r)[0] for r in test_set]
  assert triviaqa.score([" " + g + "\nQuestion: next" for g in golds], test_set).exact_match == 1.0
  assert triviaqa.score([triviaqa.shot_answer(r) for r in test_set], test_set).exact_match == 1.0
  shifted = triviaqa.score(golds[1:] + golds[:1], test_set)
  assert shifted.exact_match < 0.01


def test_evaluate_with_oracle_generator(test_set, shots):
  records = test_set[:20]
  by_q = {r["question"]: r["answers"][-1] for r in records}
  oracle = lambda ps: [" " + by_q[p.rsplit("Question: ", 1)[1][:-len("\nAnswer:")]] + "\n\nQuestion: more" for p in ps]
  res = triviaqa.evaluate_triviaqa(records, oracle, shots=shots)
  assert res.exact_match == 1.0 and res.num_examples == 20 and "\n" not in "".join(res.predictions)
  assert triviaqa.evaluate_triviaqa(records, lambda ps: ["I do not know"] * len(ps), shots=shots).exact_match == 0.0


def test_records_and_bad_input(data_dir):
  rec = Record("triviaqa/test/0", "triviaqa", "Who?", "Gagarin", {"answers": ["Yuri Gagarin", "Gagarin"]})
  assert triviaqa.score(["the gagarin"], [rec]).exact_match == 1.0
  with pytest.raises(UserError, match="answer aliases"):
    triviaqa.score(["x"], [{"question": "q"}])
  with pytest.raises(UserError, match="non-empty after normalisation"):
    triviaqa.score(["x"], [{"question": "q", "answers": ["", "The"]}])
  with pytest.raises(UserError, match="split"):
    triviaqa.read_split("train", str(data_dir))


def test_load_task_gives_records_the_harness_scores(full_data_dir):
  data_dir = full_data_dir
  test, shots = load_task("triviaqa", "test", str(data_dir)), load_task("triviaqa", "shots", str(data_dir))
  assert (len(test), len(shots)) == (995, 5) and test[0].uid.startswith("triviaqa/test/")
  assert triviaqa.score([r.response for r in test], test).exact_match == 1.0
  assert triviaqa.build_prompt(test[0], shots) == triviaqa.build_prompt(triviaqa.read_split("test", str(data_dir))[0],
                                                                         triviaqa.prompt_shots(str(data_dir)))


def test_the_harness_is_registered_with_the_launchers():
  assert evaluate.TASK_METRIC["triviaqa"] == "exact_match" and "triviaqa" in baseline.TASKS
