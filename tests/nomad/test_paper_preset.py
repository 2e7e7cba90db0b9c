"""configs/nomad.py:paper end to end at a toy size (its sizes shrunk by config overrides only: a few-row TULU v2
file, tiny models), and the TULU v2 reader on each released layout (JSON Lines, hub parquet clone, save_to_disk
folder, .arrow file); the student's run list under student.baselines / synthetic_alone."""
import json
import os

import pytest

from datasynth.data.records import Record
from datasynth.models.cache import ModelCache
from datasynth.utils.errors import UserError
from nomad import config as config_lib
from nomad import conversations as conv_lib
from nomad import pipeline
from nomad import student
from tests.nomad.test_nomad_pipeline import SCRIPT, encoder, scripted_sampler, teacher  # noqa: F401 (fixtures)
from tests.softsrv.conftest import tiny_model


def _msgs(*turns):
  return [dict(role=r, content=c) for r, c in turns]


# TULU v2 rows ({dataset, id, messages}): a system message, a second round, one the template cannot hold (it ends on
# the user), and the prompt of the teacher's first scripted sample (NormSim 1 against the pool).
TULU_ROWS = [dict(dataset="flan_v2", id=f"flan_v2_{i}", messages=_msgs(("user", f"Name a colour, number {i}."),
                                                                        ("assistant", f"Colour {i} is blue.")))
             for i in range(7)]
TULU_ROWS += [
    dict(dataset="oasst1", id="oasst1_0", messages=_msgs(("system", "Be brief."), ("user", "Hi?"),
                                                         ("assistant", "Hello."), ("user", "Why?"),
                                                         ("assistant", "Because."))),
    dict(dataset="sharegpt", id="sharegpt_0", messages=_msgs(("user", "Unanswered."))),
    dict(dataset="gpt4_alpaca", id="gpt4_alpaca_0", messages=_msgs(("user", SCRIPT[0].split("\n")[0].strip()),
                                                                   ("assistant", "Sleep, move, eat well."))),
]


@pytest.fixture
def tulu_file(tmp_path):
  path = tmp_path / "tulu_v2_data.jsonl"
  path.write_text("".join(json.dumps(r) + "\n" for r in TULU_ROWS))
  return str(path)


def test_the_tulu_reader_reads_every_released_layout_the_same(tulu_file, tmp_path, capsys):
  convs = conv_lib.read_tulu(tulu_file)
  assert len(convs) == len(TULU_ROWS) - 1 and "skipped 1 of 10" in capsys.readouterr().out
  assert convs[7].uid == "oasst1_0" and convs[7].turns == (("Be brief.\n\nHi?", "Hello."), ("Why?", "Because."))
  datasets = pytest.importorskip("datasets")
  ds = datasets.Dataset.from_list(TULU_ROWS)
  ds.save_to_disk(str(tmp_path / "disk"))
  os.makedirs(tmp_path / "hub" / "data")
  ds.to_parquet(str(tmp_path / "hub" / "data" / "train-00000-of-00001.parquet"))
  arrow = [f for f in os.listdir(tmp_path / "disk") if f.endswith(".arrow")]
  for path in (str(tmp_path / "disk"), str(tmp_path / "hub"), str(tmp_path / "disk" / arrow[0])):
    assert conv_lib.read_tulu(path) == convs, path
  os.makedirs(tmp_path / "data" / "tulu_v2")  # data.file empty: <data dir>/tulu_v2/ (here the hub clone's layout).
  os.rename(tmp_path / "hub" / "data", tmp_path / "data" / "tulu_v2" / "data")
  cfg = conv_lib.ChatDataConfig(source="tulu_v2", data_dir=str(tmp_path / "data"), subset_size=3)
  assert len(conv_lib.load_chat_data(cfg)) == 3 and len(conv_lib.load_pool(cfg)) == 9


def test_a_missing_tulu_mixture_is_one_line_naming_the_file_and_its_source(tmp_path):
  for file, data_dir in ((str(tmp_path / "nope.jsonl"), None), ("", str(tmp_path))):
    with pytest.raises(UserError, match="allenai/tulu-v2-sft-mixture") as e:
      conv_lib.tulu_path(file, data_dir)
    assert "\n" not in str(e.value) and (file or os.path.join(str(tmp_path), "tulu_v2")) in str(e.value)
  c = config_lib.get_config("paper")  # The preset as is: no TULU copy under the data folder -> the same line.
  c.data.data_dir = str(tmp_path)
  with pytest.raises(UserError, match="No TULU v2 mixture at"):
    pipeline.check_inputs(c, ModelCache(pipeline.model_roles(c)))


def test_the_paper_preset_inputs_pass_with_its_lm_eval_student_tasks(tulu_file, full_data_dir):
  c = config_lib.get_config("paper")  # Table 1's suite: lm-eval tasks, whose data is lm-eval's, not a harness fold.
  c.data.file, c.data.data_dir = tulu_file, str(full_data_dir)
  assert any(t.startswith("lm_eval:") for t in student.tasks(c))
  pipeline.check_inputs(c, ModelCache(pipeline.model_roles(c)))


def test_the_paper_preset_runs_end_to_end_with_only_its_sizes_overridden(teacher, encoder, scripted_sampler,
                                                                         smollm2, tulu_file, tmp_path):
  c = config_lib.get_config("paper")
  # Sizes, the data file and the student's task (Table 1's suite needs lm-eval's data; BoolQ is bundled and 0-shot):
  # every other setting of the recipe is the preset's.
  c.update_from_flattened_dict({
      "data.file": tulu_file, "data.subset_size": 4, "sft.batch_size": 2, "sft.seq_len": 64, "sft.warmup_steps": 1,
      "generate.num_samples": 8, "generate.chunk_size": 4, "generate.batch_size": 4, "generate.max_new_tokens": 32,
      "normsim.batch_size": 8, "student.tasks": "boolq", "student.num_examples.boolq": 2, "student.batch_size": 2,
      "student.sft.batch_size": 2, "student.sft.seq_len": 64, "student.sft.warmup_steps": 1, "show_progress": False})
  subset = {r.prompt for r in pipeline.original_records(c)}
  healthy = TULU_ROWS[-1]["messages"][0]["content"]
  assert len(subset) == 4 and healthy not in subset  # In the pool only: NormSim 1 proves the pool is the reference.
  wd = str(tmp_path / "w")
  student = tiny_model(smollm2, 3, max_len=1024)  # BoolQ's passage + question (0-shot) fits.
  summary = pipeline.run(c, wd, teacher=teacher, encoder=encoder, student=student)
  t = json.load(open(os.path.join(wd, "teacher", "teacher_summary.json")))
  assert (t["source"], t["conversations"], t["prompt_masking"]) == ("tulu_v2", 4, False)
  assert {p for _, p, _, _ in scripted_sampler} == {"User:"} and scripted_sampler[0][2:] == (1.0, 0.9)
  assert summary["stages"][2]["filtered"] == 4 and summary["filtered"]
  values = json.load(open(os.path.join(wd, "normsim", "normsim_values.json")))["unmasked filtered"]["prompt"]
  assert values[0] == pytest.approx(1.0, abs=1e-4)  # The first kept prompt is a pool row outside the subset.
  runs = summary["student"]["runs"]
  assert list(runs) == ["train", "train_2x", "unmasked filtered"]
  assert [(r["records"], r["epochs"]) for r in runs.values()] == [(4, 4.0), (4, 8.0), (8, 4.0)]
  assert runs["train_2x"]["steps"] == 2 * runs["train"]["steps"]
  card = open(os.path.join(wd, "dataset", "README.md"), encoding="utf-8").read()
  assert "odc-by" in card and "NormSim against the whole source" in card


def test_the_student_runs_follow_baselines_and_synthetic_alone():
  c = config_lib.get_config("paper")
  x_train = [Record(f"x/{i}", "chat", f"Q{i}?", f"A{i}.") for i in range(2)]
  synthetic = {"unmasked filtered": [Record("s/0", "chat", "S?", "T.")], "masked filtered": []}
  c.student.update(baselines="equal_epochs", synthetic_alone=True)
  specs = student.run_specs(c, x_train, synthetic)
  assert [(s.name, len(s.records), s.epochs) for s in specs] == [
      ("train", 2, 4.0), ("unmasked filtered", 3, 4.0), ("unmasked filtered alone", 1, 4.0)]
  c.student.baselines = "none"
  assert [s.name for s in student.run_specs(c, x_train, synthetic)] == ["unmasked filtered", "unmasked filtered alone"]
  for field, value in (("x_train", "all"), ("baselines", "two")):
    c = config_lib.get_config("paper")
    c.student[field] = value
    with pytest.raises(UserError, match=f"student.{field}={value!r}"):
      student.validate(c)
