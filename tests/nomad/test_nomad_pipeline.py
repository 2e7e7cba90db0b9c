"""The NOMAD pipeline end to end on a tiny teacher (2 SFT steps, 8 generations) with the real embedded MiniLM for
NormSim; the Table 1 driver; launch/train.py's dispatch on config.method; bad input stopping before any training."""
import json
import os
import subprocess
import sys

import pytest

from datasynth.data import publish
from datasynth.decode import text as text_lib
from datasynth.models.encoder import load_sentence_encoder
from datasynth.utils.errors import UserError
from nomad import config as config_lib, pipeline, teacher as teacher_lib
from tests.softsrv.conftest import REPO, tiny_model

# What the scripted teacher writes for item j (a random tiny model writes no conversation structure, so NormSim
# would have nothing to score): two kept, one cut off, one without an assistant turn, one code, one repetitive.
SCRIPT = [
    " Give me three tips for staying healthy.\n\nAssistant: Eat well, exercise and sleep.",
    " What is the capital of France?\n\nAssistant: Paris.",
    " Describe a sunset in",
    " Hello there",
    " Write a python function to add.\n\nAssistant: def add(a, b): return a + b",
    " Say yes.\n\nAssistant: yes yes yes yes yes yes",
    " How do plants grow?\n\nAssistant: They use light, water and air.",
    " Translate hello.\n\nAssistant: Hola.",
]


@pytest.fixture(scope="module")
def teacher(smollm2):
  return tiny_model(smollm2, 5)


@pytest.fixture(scope="module")
def encoder():
  return load_sentence_encoder()


@pytest.fixture
def scripted_sampler(monkeypatch):
  """datasynth.decode.text.sample_text replaced by SCRIPT[item] (finished unless the text is cut off)."""
  calls, real = [], text_lib.sample_text

  def fake(model, prompts, *, item_ids=None, **kw):
    if item_ids is None:  # Not the teacher's generation (the student's evaluation): the real sampler.
      return real(model, prompts, **kw)
    calls.append((list(item_ids), prompts[0], kw["sampling"].temperature, kw["sampling"].top_p))
    return [text_lib.TextSample(SCRIPT[j % len(SCRIPT)], [1] * 5, j % len(SCRIPT) not in (2,)) for j in item_ids]
  monkeypatch.setattr(text_lib, "sample_text", fake)
  return calls


@pytest.mark.usefixtures("full_data_dir")  # The tiny preset's chat data is Alpaca (not bundled).
def test_the_pipeline_runs_every_stage_counts_each_reason_and_resumes(teacher, encoder, scripted_sampler, tmp_path):
  c = config_lib.get_config("tiny")
  wd = str(tmp_path / "w")
  summary = pipeline.run(c, wd, teacher=teacher, encoder=encoder)
  names = [m["name"] for m in summary["stages"]]
  assert names == ["teacher", "generate", "parse_filter", "normsim"]
  teacher_stage, gen, pf, ns = summary["stages"]
  assert teacher_stage["final"]["step"] == 2 and gen["counts"] == {"in": 8, "out": 8}
  assert {p for _, p, _, _ in scripted_sampler} == {"User:"} and scripted_sampler[0][2:] == (1.0, 0.9)
  assert pf["counts"]["dropped"] == {"incomplete": 1, "missing_assistant": 1, "repetition/word_run": 1,
                                     "coding/python": 1}
  assert (pf["parsed"], pf["filtered"], summary["valid_rate"]) == (6, 4, 0.75)
  assert set(summary["normsim"]) == {"unmasked unfiltered", "unmasked filtered"}
  med = summary["normsim"]["unmasked filtered"]["prompt"]["median"]
  assert summary["normsim"]["unmasked filtered"]["prompt"]["n"] == 4 and 0.0 < med <= 1.0
  assert os.path.getsize(os.path.join(wd, "normsim", "normsim.png")) > 1000
  md = open(os.path.join(wd, "summary.md")).read()
  assert "| parse_filter | 8 | 4 |" in md and "Valid first rounds: 75.0%" in md
  rows = [json.loads(l) for l in open(os.path.join(wd, "parse_filter", "filtered.jsonl"))]
  assert rows[0]["prompt"] == SCRIPT[0].split("\n")[0].strip() and rows[0]["meta"]["teacher_step"] == 2
  _check_dataset(wd, rows, summary, tmp_path)
  scripted_sampler.clear()
  again = pipeline.run(c, wd, teacher=teacher, encoder=encoder)  # Everything finished: nothing runs again.
  assert scripted_sampler == [] and [m["seconds"] for m in again["stages"]] == [m["seconds"] for m in
                                                                                summary["stages"]]
  c.pipeline.filtered = False  # Only the downstream choice changed: the teacher and generation are kept.
  third = pipeline.run(c, wd, teacher=teacher, encoder=encoder)
  assert scripted_sampler == [] and third["stages"][2]["counts"]["out"] == 6
  card = open(os.path.join(wd, "dataset", "README.md"), encoding="utf-8").read()  # Rebuilt: the unfiltered set.
  assert third["dataset"]["records"] == 6 and "| variant | unmasked teacher, unfiltered set |" in card
  assert "filtered (repetition, code)" not in card and "--config.pipeline.filtered=False" in card
  assert third["stages"][0]["finished"] == summary["stages"][0]["finished"]


def _check_dataset(wd, rows, summary, tmp_path):
  """The run's dataset/ folder: the filtered first rounds, loadable by `datasets`, with a card that holds the
  licenses, the teacher, the counts through parse and filters, NormSim, the config hash and the command."""
  datasets = pytest.importorskip("datasets")
  folder = os.path.join(wd, "dataset")
  train = datasets.load_dataset(folder, cache_dir=str(tmp_path / "cache"))["train"]
  assert train.num_rows == len(rows) == summary["dataset"]["records"] == 4 and train.to_list() == rows
  header = publish.read_card_header(folder)
  assert header["license"] == ["other", "cc-by-nc-4.0"]  # Gemma 3 teacher, the Alpaca subset.
  assert header["task_categories"] == ["text-generation"] and header["size_categories"] == ["n<1K"]
  assert header["tags"] == ["synthetic", "nomad", "conversational"]
  card = open(os.path.join(folder, "README.md"), encoding="utf-8").read()
  median = summary["normsim"]["unmasked filtered"]["prompt"]["median"]
  for needed in (f"| config hash | `{summary['stages'][-1]['key']}` |", "| teacher model | `gemma3-270m` |",
                 "| variant | unmasked teacher, filtered set |", "prompt masking off", "| generated | 8 | - |",
                 "| parsed (complete first rounds) | 6 | incomplete: 1, missing_assistant: 1 |",
                 "| filtered (repetition, code) | 4 | repetition/word_run: 1, coding/python: 1 |",
                 f"| unmasked filtered | 4 | {median:.3f} (", f"python launch/nomad.py --config=configs/nomad.py "
                 f"--workdir={wd} ", "--config.generate.num_samples=8", ".push_to_hub("):
    assert needed in card, needed


@pytest.mark.usefixtures("full_data_dir")  # The tiny preset's chat data is Alpaca (not bundled).
def test_generation_after_a_restart_restores_the_trained_teacher(teacher, encoder, scripted_sampler, tmp_path):
  c = config_lib.get_config("tiny")
  wd = str(tmp_path / "w")
  pipeline.run(c, wd, teacher=teacher, encoder=encoder)
  import shutil
  shutil.rmtree(os.path.join(wd, "generate"))  # A fresh process with the teacher finished and generation lost.
  os.remove(os.path.join(wd, "stages", "generate.json"))
  summary = pipeline.run(c, wd, teacher=teacher, encoder=encoder)
  assert summary["stages"][1]["counts"]["out"] == 8 and not summary["stages"][0].get("resumed")


@pytest.mark.usefixtures("full_data_dir")  # The tiny preset's chat data is Alpaca (not bundled).
def test_table1_runs_both_teachers_and_writes_one_table_and_one_figure(teacher, encoder, scripted_sampler,
                                                                      tmp_path):
  wd = str(tmp_path / "t1")
  table = pipeline.run_table1(config_lib.get_config("tiny"), wd, teacher=teacher, encoder=encoder)
  assert [(r["teacher"], r["set"], r["n"]) for r in table["rows"]] == [
      ("unmasked", "unfiltered", 6), ("unmasked", "filtered", 4), ("masked", "unfiltered", 6),
      ("masked", "filtered", 4)]
  masks = [json.load(open(os.path.join(wd, t, "teacher", "teacher_summary.json")))["prompt_masking"]
           for t in ("unmasked", "masked")]
  assert masks == [False, True]
  md = open(os.path.join(wd, "table1.md")).read()
  assert md.count("| masked |") == 2 and "repetition: 1, coding: 1" in md, md
  assert os.path.getsize(os.path.join(wd, "normsim.png")) > 1000
  assert len(json.load(open(os.path.join(wd, "normsim.json")))) == 4
  for t in ("unmasked", "masked"):  # Each teacher's run publishes its own filtered set.
    card = open(os.path.join(wd, t, "dataset", "README.md")).read()
    assert f"| variant | {t} teacher, filtered set |" in card and "| records | 4 |" in card


def _write_chat(tmp_path, n):
  path = tmp_path / "chat.jsonl"
  path.write_text("".join(json.dumps(dict(prompt=f"Q{i}?", response=f"A{i}.")) + "\n" for i in range(n)))
  return str(path)


@pytest.mark.parametrize("case,match", [
    ("empty", "holds no conversations"),
    ("too_large", r"subset_size=8 but the chat data holds 3"),
    ("malformed", r"chat.jsonl:2"),
    ("encoder", "normsim.encoder='/nonexistent/encoder' is not a folder"),
    ("top_p", "top_p"),
])
def test_bad_input_stops_before_anything_trains(case, match, teacher, tmp_path):
  c = config_lib.get_config("tiny")
  c.data.source = _write_chat(tmp_path, 0 if case == "empty" else 3 if case == "too_large" else 8)
  if case == "malformed":
    with open(c.data.source, "a") as f:
      f.seek(0)
    lines = open(c.data.source).read().splitlines()
    lines[1] = '{"prompt": "no response"}'
    open(c.data.source, "w").write("\n".join(lines) + "\n")
  if case == "encoder":
    c.normsim.encoder = "/nonexistent/encoder"
  if case == "top_p":
    c.generate.top_p = 1.5
  wd = tmp_path / "w"
  with pytest.raises(UserError, match=match):
    pipeline.run(c, str(wd), teacher=teacher)
  assert not (wd / "teacher" / "checkpoints").exists()


def test_generating_without_a_trained_teacher_says_to_train_first(tmp_path):
  with pytest.raises(UserError, match="No trained NOMAD teacher"):
    teacher_lib.load_teacher(config_lib.get_config("tiny"), str(tmp_path))


DISPATCH = """
import runpy, sys
import datasynth.models.loaders as loaders
from datasynth.models.loaders import load_model
from tests.softsrv.conftest import tiny_model
tiny = tiny_model(load_model("smollm2-135m"))
loaders.load_model = lambda name, *a, **k: tiny
sys.argv = ["launch/train.py", "--config=configs/nomad.py:tiny", "--workdir=" + sys.argv[1]]
runpy.run_path("launch/train.py", run_name="__main__")
"""


@pytest.mark.usefixtures("full_data_dir")  # The tiny preset's chat data is Alpaca (not bundled).
def test_launch_train_dispatches_a_nomad_config_to_the_teacher(tmp_path):
  wd = tmp_path / "w"
  env = dict(os.environ, PYTHONPATH=str(REPO), XLA_FLAGS="")
  out = subprocess.run([sys.executable, "-c", DISPATCH, str(wd)], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=600)
  assert out.returncode == 0, out.stderr[-2000:]
  summary = json.loads((wd / "teacher_summary.json").read_text())
  assert summary["steps"] == 2 and summary["prompt_masking"] is False and "done: step 2" in out.stdout


def test_the_student_stage_trains_on_the_downstream_set_and_reports_its_table(teacher, encoder, scripted_sampler,
                                                                              smollm2, full_data_dir, tmp_path):
  data_dir = full_data_dir
  from tests.nomad.test_student import _config as student_config
  c = student_config(data_dir)
  c.pipeline.student = True
  wd = str(tmp_path / "w")
  student = tiny_model(smollm2, 3, max_len=2048)
  summary = pipeline.run(c, wd, teacher=teacher, encoder=encoder, student=student)
  assert [m["name"] for m in summary["stages"]][-1] == "student"
  runs = summary["student"]["runs"]
  assert list(runs) == ["train", "train_2x", "unmasked filtered"]  # The filtered set (4 first rounds) + X_train (8).
  assert runs["unmasked filtered"]["records"] == 8 + 4 and runs["train"]["records"] == 8
  assert all(0.0 <= r[t] <= 1.0 for r in runs.values() for t in ("gsm8k", "triviaqa"))
  md = open(os.path.join(wd, "summary.md")).read()
  assert "## Student" in md and "| untrained student | - | - | 0 |" in md and "| unmasked filtered |" in md and " +- " in md
  card = open(os.path.join(wd, "dataset", "README.md")).read()
  assert "## Student (X_train + this set vs X_train)" in card and "| unmasked filtered | 12 |" in card
  table = dict(rows=[], figure=None, student=summary["student"])  # Table 1's student section, from the same summary.
  assert "| train_2x |" in pipeline.table1_markdown(table)


@pytest.mark.parametrize("presets", ["tiny,masked", "table1,unfiltered", "paper"])
def test_the_cards_rebuilt_command_parses_back_to_the_same_config(presets):
  from tests.datasynth.data.test_publish import parse_command
  config = config_lib.get_config(presets)
  parsed, workdir = parse_command(pipeline.launch_command(config, "/tmp/a work dir"))
  assert parsed.to_dict() == config.to_dict() and workdir == "/tmp/a work dir"


def test_the_teacher_key_names_the_pool_only_when_it_is_cut():
  """data.pool_size = 0 (the whole source) leaves the teacher's stage key as it was before the knob existed; a cut
  pool is another teacher (its subset is drawn from other conversations)."""
  c = config_lib.get_config("tiny")
  assert "pool_size" not in pipeline.teacher_identity(c)["data"]
  c.data.pool_size = 32
  assert pipeline.teacher_identity(c)["data"]["pool_size"] == 32
