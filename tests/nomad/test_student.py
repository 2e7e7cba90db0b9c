"""NOMAD's student stage (nomad/student.py) and the evaluation pieces it shares with launch/evaluate.py
(datasynth/evals/student_eval.py): the runs (equal epochs, equal compute, one mixture per synthetic set), their steps,
the shared untrained score, the table with standard errors, resume without retraining, and bad settings."""
import json
import math
import os

import pytest

from datasynth.data.records import Record
from datasynth.evals import student_eval as student_lib
from datasynth.models.cache import ModelCache
from datasynth.train import sft
from datasynth.utils.errors import UserError
from nomad import config as config_lib
from nomad import pipeline
from nomad import student
from tests.softsrv.conftest import tiny_model

X_TRAIN = [Record(f"x/{i}", "chat", f"Name a colour number {i}.", f"Colour {i} is blue.") for i in range(6)]
SYNTH = [Record(f"s/{i}", "chat", f"Give me a fruit {i}.", f"A pear, {i}.") for i in range(3)]


def _config(data_dir):
  c = config_lib.get_config("tiny")
  c.data.data_dir = str(data_dir)
  s = c.student
  s.num_examples.update(gsm8k=2, triviaqa=3)
  s.max_new_tokens.update(gsm8k=4, triviaqa=3)
  s.batch_size = 4
  s.sft.update(seq_len=64, batch_size=2, warmup_steps=0, log_every=1)
  return c


@pytest.fixture(scope="module")
def tiny_student(smollm2):
  return tiny_model(smollm2, 3, max_len=2048)  # GSM8K's 5-shot prompt is ~1K tokens.


def test_standard_error_and_the_run_list():
  assert student_lib.standard_error(0.5, 100) == pytest.approx(0.05)
  assert student_lib.standard_error(0.0, 10) == 0.0 and math.isnan(student_lib.standard_error(0.3, 0))
  c = config_lib.get_config("tiny")
  c.student.epochs = 1.5
  specs = student.run_specs(c, X_TRAIN, {"unmasked filtered": SYNTH, "masked filtered": SYNTH[:1]})
  assert [(s.name, len(s.records), s.epochs) for s in specs] == [
      ("train", 6, 1.5), ("train_2x", 6, 3.0), ("unmasked filtered", 9, 1.5), ("masked filtered", 7, 1.5)]
  # A teacher with no valid first round gives an empty set: it is not trained (it would repeat `train`).
  assert [s.name for s in student.run_specs(c, X_TRAIN, {"masked filtered": []})] == ["train", "train_2x"]
  with pytest.raises(UserError, match="X_train is empty"):
    student.run_specs(c, [], {})


def test_every_figure_carries_its_standard_error():
  tq, bbh = "lm_eval:truthfulqa_local_gen", "lm_eval:bbh_local_fewshot_cpu"
  s = dict(tasks={"triviaqa": dict(metric="exact_match", num_examples=100), tq: dict(metric="rougeL_diff",
                                                                                       num_examples=4),
                  bbh: dict(metric="exact_match", num_examples=400)},
           base={"triviaqa/exact_match": 0.1, f"{tq}/rougeL_diff": -2.5, f"{tq}/rougeL_diff_stderr": 1.25,
                 f"{bbh}/exact_match": 0.5, f"{bbh}/exact_match_stderr": 0.02},
           runs={"train": dict(steps=3, records=6, epochs=1.0, triviaqa=0.5, **{tq: 4.0, f"{tq}_stderr": 0.5,
                                                                                bbh: 0.25})},
           empty_sets=[])
  # A rate: binomial on its n (lm-eval's own stderr aside); ROUGE-L difference: the logged sample standard error.
  assert student.standard_error(s, "triviaqa") == pytest.approx(0.03)
  assert student.standard_error(s, bbh) == pytest.approx(0.025)
  assert student.standard_error(s, bbh, "train") == pytest.approx(math.sqrt(0.25 * 0.75 / 400))
  assert student.standard_error(s, tq) == 1.25 and student.standard_error(s, tq, "train") == 0.5
  table = student.score_table(s)
  assert "| untrained student | - | - | 0 | 0.100 +- 0.030 | -2.500 +- 1.250 | 0.500 +- 0.025 |" in table
  assert "| train | 6 | 1 | 3 | 0.500 +- 0.050 | 4.000 +- 0.500 | 0.250 +- 0.022 |" in table
  del s["runs"]["train"][f"{tq}_stderr"]  # None logged: the figure alone.
  assert math.isnan(student.standard_error(s, tq, "train")) and "| 4.000 |" in student.score_table(s)
  # The sample standard error lm-eval reports for a mean metric: stdev / sqrt(n), e.g. over ROUGE-L differences.
  diffs = [10.0, -5.0, 0.0, 5.0]
  assert student_lib.task_standard_error(tq, 2.5, 4, math.sqrt(sum((d - 2.5) ** 2 for d in diffs) / 3) / 2) == (
      pytest.approx(3.2275, abs=1e-4))


@pytest.mark.parametrize("field,value,match", [
    ("epochs", 0.0, "student.epochs=0.0"), ("tasks", "gsm8k,squad", "student.tasks='gsm8k,squad'"),
    ("tasks", "", "student.tasks=''"), ("mode", "zero", "student.mode='zero'"), ("batch_size", 0, "student.batch_size"),
])
def test_bad_student_settings_are_named(field, value, match):
  c = config_lib.get_config("tiny")
  c.student[field] = value
  with pytest.raises(UserError, match=match):
    student.validate(c)


def test_bad_student_sft_and_sizes_are_named():
  c = config_lib.get_config("tiny")
  c.student.num_examples.triviaqa = 0
  with pytest.raises(UserError, match="student.num_examples.triviaqa=0"):
    student.validate(c)
  c = config_lib.get_config("tiny")
  c.student.sft.lr = -1.0
  with pytest.raises(UserError, match="student.sft: SFT lr=-1.0"):
    student.validate(c)
  c = config_lib.get_config("tiny")
  c.pipeline.student = True
  c.student.epochs = -1.0  # The pipeline refuses before the teacher trains.
  with pytest.raises(UserError, match="student.epochs"):
    pipeline.build_stages(c, "/tmp/unused-nomad-workdir", ModelCache(pipeline.model_roles(c), encoder=object()))


def test_students_train_score_each_task_and_resume(tiny_student, full_data_dir, tmp_path, monkeypatch):
  data_dir = full_data_dir
  c = _config(data_dir)
  out = str(tmp_path / "student")
  table = student.run_students(c, out, X_TRAIN, {"unmasked filtered": SYNTH}, model=tiny_student)
  runs = {r["name"]: r for r in table["runs"]}
  assert list(runs) == ["train", "train_2x", "unmasked filtered"]
  assert (runs["train"]["records"], runs["unmasked filtered"]["records"]) == (6, 9)
  # steps = ceil(epochs * packed rows / batch): twice the epochs is twice the rows.
  rows = runs["train"]["rows_per_epoch"]
  assert runs["train"]["steps"] == math.ceil(rows / 2) and runs["train_2x"]["steps"] == math.ceil(2 * rows / 2)
  assert runs["unmasked filtered"]["rows_per_epoch"] >= rows
  assert table["tasks"] == {"gsm8k": dict(metric="accuracy", num_examples=2),
                            "triviaqa": dict(metric="exact_match", num_examples=3)}
  for r in runs.values():  # Step 0 is the untrained student, scored once and shared; then the end of training.
    for task, key in (("gsm8k", "gsm8k/accuracy"), ("triviaqa", "triviaqa/exact_match")):
      assert [e["step"] for e in r["evals"][task]] == [0, r["steps"]]
      assert r["evals"][task][0][key] == table["base"][key] and 0.0 <= r["evals"][task][-1][key] <= 1.0
  outputs = sorted(os.listdir(os.path.join(out, "eval")))
  assert "base_gsm8k_step_000000.jsonl" in outputs and "unmasked_filtered_triviaqa_step_%06d.jsonl" % runs[
      "unmasked filtered"]["steps"] in outputs
  md = open(os.path.join(out, "results.md")).read()
  assert "| untrained student | - | - | 0 |" in md and "| train_2x | 6 | 2 |" in md and " +- " in md
  assert all(os.path.getsize(os.path.join(out, f"metric_vs_steps_{t}.png")) > 1000 for t in ("gsm8k", "triviaqa"))
  # A rerun reads every finished run back instead of training it again.
  train = sft.train
  monkeypatch.setattr(sft, "train", lambda *a, **k: pytest.fail("a finished student run was retrained"))
  again = student.run_students(c, out, X_TRAIN, {"unmasked filtered": SYNTH}, model=tiny_student)
  assert again["runs"] == table["runs"]
  assert json.load(open(os.path.join(out, "results.json")))["runs"] == table["runs"]
  # Another evaluation setting: every run is trained and scored again, not read back with the old scores.
  trained = []
  monkeypatch.setattr(sft, "train", lambda *a, **k: trained.append(a[4]) or train(*a, **k))
  c.student.num_examples.triviaqa = 4
  third = student.run_students(c, out, X_TRAIN, {"unmasked filtered": SYNTH}, model=tiny_student)
  assert len(trained) == 3 and third["tasks"]["triviaqa"] == dict(metric="exact_match", num_examples=4)
  final = os.path.join(out, "eval", "unmasked_filtered_triviaqa_step_%06d.jsonl" % runs["unmasked filtered"]["steps"])
  assert len(open(final).read().splitlines()) == 4 and not any(n.endswith(".stale") for n in os.listdir(
      os.path.join(out, "runs")))


def test_students_are_scored_on_lm_eval_tasks_beside_the_harnesses(tiny_student, full_data_dir, tmp_path):
  pytest.importorskip("lm_eval", reason="lm-eval is not installed (scripts/setup.sh installs it)")
  c = _config(full_data_dir)
  c.student.tasks = "triviaqa,lm_eval:boolq_local,lm_eval:truthfulqa_local_gen"
  c.student.lm_eval_limit = 3
  out = str(tmp_path / "student")
  table = student.run_students(c, out, X_TRAIN, {}, model=tiny_student)
  assert table["tasks"]["lm_eval:boolq_local"] == dict(metric="acc", num_examples=3)
  assert table["tasks"]["lm_eval:truthfulqa_local_gen"] == dict(metric="rougeL_diff", num_examples=3)
  for r in table["runs"]:
    evals = r["evals"]["lm_eval:boolq_local"]
    assert [e["step"] for e in evals] == [0, r["steps"]] and 0.0 <= evals[-1]["lm_eval:boolq_local/acc"] <= 1.0
  assert "lm_eval:boolq_local/acc_stderr" in table["base"]
  md = open(os.path.join(out, "results.md")).read()
  assert "lm_eval:truthfulqa_local_gen rougeL_diff (n=3)" in md
  # Each run's ROUGE-L difference carries lm-eval's standard error: the sample one over its documents' differences.
  tq = "lm_eval:truthfulqa_local_gen/rougeL_diff"
  for r in table["runs"]:
    last = r["evals"]["lm_eval:truthfulqa_local_gen"][-1]
    rows = [json.loads(line) for line in open(os.path.join(
        out, "eval", f"{r['name']}_lm_eval_truthfulqa_local_gen_step_{r['steps']:06d}.jsonl"))]
    diffs = [row["rougeL_diff"] for row in rows]
    mean = sum(diffs) / 3
    assert last[tq] == pytest.approx(mean)
    assert last[f"{tq}_stderr"] == pytest.approx(math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2 / 3))
    assert f"{last[tq]:.3f} +- {last[tq + '_stderr']:.3f}" in md
  assert os.path.exists(os.path.join(out, "metric_vs_steps_lm_eval_boolq_local.png"))
  assert "base_lm_eval_boolq_local_step_000000.jsonl" in os.listdir(os.path.join(out, "eval"))


def test_unknown_lm_eval_task_is_named_before_training(full_data_dir, tmp_path):
  pytest.importorskip("lm_eval", reason="lm-eval is not installed (scripts/setup.sh installs it)")
  c = _config(full_data_dir)
  c.student.tasks = "triviaqa,lm_eval:bbh_local_fewshott"
  with pytest.raises(UserError, match="bbh_local_fewshott.*did you mean bbh_local_fewshot"):
    student.check_lm_eval_tasks(c)
  c.student.tasks = "lm_eval:"
  with pytest.raises(UserError, match="name an lm-eval task"):
    student.tasks(c)
