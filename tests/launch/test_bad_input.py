"""The bad-input suite: every bad input to a launcher is one line `error: ...` naming it, exit status 2, and no
output that looks complete. Launchers run in-process (`cli.run(main, argv)`) so each case fails in well under a
second, before any model loads; a few run as real subprocesses to check what a user sees."""
import os
import pathlib
import subprocess
import sys

import pytest

from datasynth.models.loaders import save_orbax
from datasynth.utils import cli
from datasynth.utils.errors import UserError
from tests.modules import load_file
from tests.softsrv.conftest import tiny_model

REPO = pathlib.Path(__file__).resolve().parents[2]
_LAUNCHER_FLAGS = ("config", "workdir", "out_dir", "jax_distributed", "task", "records", "baseline", "mauve",
                   "finetune", "table1", "sweep", "mode", "parallel", "root", "dry_run", "plot_axis", "num_examples",
                   "seed", "data_dir")


def _launcher(name: str):
  """A fresh copy of launch/<name>.py with its flags defined (the launchers share flag names)."""
  from absl import flags
  for flag in [n for n in flags.FLAGS if n in _LAUNCHER_FLAGS or n.startswith("config.")]:
    delattr(flags.FLAGS, flag)
  module = load_file(f"launch/{name}.py", f"launch_{name}_under_test")
  if hasattr(module, "define_flags"):
    module.define_flags()
  return module


@pytest.fixture(autouse=True)
def _clean_flags():
  yield
  from absl import flags
  for flag in [n for n in flags.FLAGS if n in _LAUNCHER_FLAGS or n.startswith("config.")]:
    delattr(flags.FLAGS, flag)


def _run(name: str, args: list[str], capsys) -> str:
  """Run launcher `name` in-process; asserts exit status 2 and one `error:` line; returns that line."""
  module = _launcher(name)
  with pytest.raises(SystemExit) as exit_info:
    cli.run(module.main, [f"{name}.py", *args])
  err = capsys.readouterr().err
  assert exit_info.value.code == 2, err
  assert "Traceback" not in err
  lines = [l for l in err.splitlines() if l.startswith("error: ")]
  assert len(lines) == 1 and err.rstrip().endswith(lines[0]), err
  return lines[0]


def _write(path: pathlib.Path, data) -> str:
  path.write_bytes(data if isinstance(data, bytes) else data.encode())
  return str(path)


def _assert_no_complete_output(workdir: pathlib.Path) -> None:
  for name in ("checkpoints", "results.json", "results.md", "loss.png", "generated", "run_config.json"):
    assert not (workdir / name).exists(), name
  metrics = workdir / "metrics.jsonl"
  assert not metrics.exists() or not metrics.read_text().strip()


@pytest.fixture(scope="session")
def tiny_folders(smollm2, tmp_path_factory):
  """(H, E) tiny random Llamas with SmolLM2's tokenizer, saved as Orbax model folders (model.name=<folder>)."""
  root = tmp_path_factory.mktemp("tiny_models")
  save_orbax(tiny_model(smollm2, 0), str(root / "h"))
  save_orbax(tiny_model(smollm2, 1, width=24), str(root / "e"))
  return str(root / "h"), str(root / "e")


# ------------------------------------------------------------------------------------------------ launch/train.py
TRAIN_CASES = [
    # (overrides, what the message must name)
    (["--config.train.bogus=1"], "unknown config field 'train.bogus'; did you mean"),
    (["--config.bogus=1"], "unknown config field 'bogus'"),
    (["--config.train.lrr=0.1"], "did you mean 'train.lr'"),
    (["--config.train.lr=abc"], "--config.train.lr=abc"),
    (["--config.train.lr=-0.001"], "train.lr=-0.001"),
    (["--config.train.lr=nan"], "train.lr=nan"),
    (["--config.train.lr=inf"], "train.lr=inf"),
    (["--config.train.steps=0"], "train.steps=0"),
    (["--config.train.batch_size=0"], "train.batch_size=0"),
    (["--config.train.warmup_steps=-1"], "train.warmup_steps=-1"),
    (["--config.soft_prompt.variant=mlp"], "soft_prompt.variant 'mlp'"),
    (["--config.model.dtype=float16"], "model.dtype 'float16'"),
    (["--config.data.too_long=bogus"], "data.too_long 'bogus'"),
    (["--config.train.decay=exp"], "train.decay 'exp'"),
    (["--config.train.optimizer=sgd"], "train.optimizer 'sgd'"),
    (["--config.soft_prompt.init=zeros"], "soft_prompt.init 'zeros'"),
    (["--config.train.clip_norm=-1"], "train.clip_norm=-1"),
    (["--config.train.end_factor=nan"], "train.end_factor=nan"),
    (["--config.train.mesh.data=0"], "train.mesh"),
    (["--config.seed=-1"], "seed=-1"),
    (["--config.data.heldout=-1"], "data.heldout=-1"),
    (["--config.data.split=dev"], "data.split='dev'"),
    (["--config.soft_prompt.t=0"], "soft_prompt.t=0"),
    (["--config.train.batch_size=6", "--config.train.num_devices=4"], "not a multiple of the 4 devices"),
    (["--config.data.data_dir=/nonexistent/data"], "/nonexistent/data"),
    (["--config.data.file=/nonexistent/x.jsonl"], "/nonexistent/x.jsonl"),
    (["--config.generate.num_samples=0"], "generate.num_samples=0"),
    (["--config.generate.top_p=0"], "generate.top_p=0"),
    (["--config.generate.temperature=-1"], "generate.temperature=-1"),
]


@pytest.mark.parametrize("overrides,named", TRAIN_CASES, ids=[c[0][0].split("=")[0][9:] + "=" +
                                                              c[0][0].split("=")[-1] for c in TRAIN_CASES])
def test_train_refuses_a_bad_config_field_in_one_line(overrides, named, tmp_path, capsys):
  workdir = tmp_path / "wd"
  line = _run("train", ["--config=configs/mbpp.py", f"--workdir={workdir}", *overrides], capsys)
  assert named in line
  _assert_no_complete_output(workdir)


@pytest.mark.parametrize("content,named", [
    (b'{"prompt": "a", "response": "b"}\n{"prompt": "caf\xe9"}\n',
     "not UTF-8 text (byte 0xe9 at byte offset 48, line 2)"),
    (b'{"prompt": "a", "response": "b"}\n{oops\n', "bad.jsonl:2: malformed JSON line"),
    (b"\n", "holds no records"),
    (b'["a list"]\n', "expected a JSON object per line"),
    (b'{"prompt": "a"}\n', "lacks field(s) ['response']"),
], ids=["non-utf8", "malformed-line", "empty", "not-an-object", "missing-field"])
def test_train_refuses_a_bad_data_file_naming_the_file(content, named, tmp_path, capsys):
  path = _write(tmp_path / "bad.jsonl", content)
  line = _run("train", ["--config=configs/mbpp.py", f"--workdir={tmp_path / 'wd'}", f"--config.data.file={path}"],
              capsys)
  assert named in line and "bad.jsonl" in line
  _assert_no_complete_output(tmp_path / "wd")


def test_train_refuses_a_work_dir_that_is_a_file(tmp_path, capsys):
  path = _write(tmp_path / "wd", "not a folder")
  line = _run("train", ["--config=configs/mbpp.py", f"--workdir={path}"], capsys)
  assert f"Work dir {path} exists and is a file" in line
  assert (tmp_path / "wd").read_text() == "not a folder"


def test_train_refuses_a_work_dir_under_a_file(tmp_path, capsys):
  _write(tmp_path / "f", "x")
  line = _run("train", ["--config=configs/mbpp.py", f"--workdir={tmp_path / 'f' / 'wd'}"], capsys)
  assert "cannot be created" in line and str(tmp_path / "f") in line


@pytest.mark.parametrize("args,named", [
    (["--config=configs/nope.py"], "config file configs/nope.py not found"),
    (["--config=configs/mbpp.py:zzz"], "Unknown config preset 'zzz'"),
    (["--config=configs/mbpp.py", "--bogus"], "Unknown command line flag 'bogus'"),
    ([], "--config"),
], ids=["missing-config-file", "unknown-preset", "unknown-flag", "no-config"])
def test_train_refuses_bad_flags(args, named, capsys):
  assert named in _run("train", args, capsys)


def test_train_refuses_a_config_file_that_does_not_parse(tmp_path, capsys):
  path = _write(tmp_path / "broken.py", "def get_config(:\n  pass\n")
  line = _run("train", [f"--config={path}", f"--workdir={tmp_path / 'wd'}"], capsys)
  assert "broken.py:1" in line


@pytest.mark.parametrize("how", ["config", "env"])
def test_train_without_the_data_names_every_layout_the_source_and_the_setting(how, tmp_path, capsys, monkeypatch):
  empty = tmp_path / "data"
  empty.mkdir()
  if how == "env":  # A new user: no ../shared, $DATASYNTH_DATA (or the default) names a folder without the data.
    monkeypatch.setenv("DATASYNTH_DATA", str(empty))
  flags = [f"--config.data.data_dir={empty}"] if how == "config" else []
  line = _run("train", ["--config=configs/mbpp.py", f"--workdir={tmp_path / 'wd'}", *flags], capsys)
  assert line.startswith(f"error: No mbpp train data under {empty}" + (" ($DATASYNTH_DATA)." if how == "env" else "."))
  for part in ("mbpp/splits_derived/mbpp_train.jsonl", "mbpp/mbpp.jsonl", "HF copy in mbpp/full/",
               "google-research-datasets/mbpp", "--config.data.data_dir", "$DATASYNTH_DATA"):
    assert part in line, part
  _assert_no_complete_output(tmp_path / "wd")


def test_train_refuses_a_missing_model(data_dir, tmp_path, capsys):
  line = _run("train", ["--config=configs/mbpp.py", f"--workdir={tmp_path / 'wd'}",
                        f"--config.data.data_dir={data_dir}", f"--config.model.name={tmp_path / 'no-model'}"], capsys)
  assert "Model not found" in line and "no-model" in line
  _assert_no_complete_output(tmp_path / "wd")


def test_train_refuses_a_prompt_longer_than_the_context(tiny_folders, data_dir, tmp_path, capsys):
  h, e = tiny_folders  # Context 256 positions.
  line = _run("train", ["--config=configs/mbpp.py", f"--workdir={tmp_path / 'wd'}", f"--config.model.name={h}",
                        f"--config.data.data_dir={data_dir}",
                        f"--config.context.model={e}", "--config.soft_prompt.t=200", "--config.data.max_len=100"],
              capsys)
  assert "soft_prompt.t + data.max_len = 200 + 100 exceeds the context" in line
  _assert_no_complete_output(tmp_path / "wd")


def test_train_refuses_too_long_examples_with_too_long_error(tiny_folders, data_dir, tmp_path, capsys):
  h, e = tiny_folders
  line = _run("train", ["--config=configs/mbpp.py", f"--workdir={tmp_path / 'wd'}", f"--config.model.name={h}",
                        f"--config.data.data_dir={data_dir}",
                        f"--config.context.model={e}", "--config.data.max_len=8", "--config.data.too_long=error"],
              capsys)
  assert "more than data.max_len=8" in line and "--config.data.too_long" in line


# --------------------------------------------------------------------------------------------- launch/generate.py
@pytest.mark.parametrize("override,named", [
    ("--config.generate.num_samples=0", "generate.num_samples=0"),
    ("--config.generate.batch_size=0", "generate.batch_size=0"),
    ("--config.generate.max_new_tokens=0", "generate.max_new_tokens=0"),
    ("--config.generate.top_p=1.5", "generate.top_p=1.5"),
    ("--config.generate.top_k=-1", "generate.top_k=-1"),
    ("--config.generate.temperature=nan", "generate.temperature=nan"),
])
def test_generate_refuses_bad_sampling_settings(override, named, tmp_path, capsys):
  line = _run("generate", ["--config=configs/mbpp.py", f"--workdir={tmp_path / 'wd'}", override], capsys)
  assert named in line
  _assert_no_complete_output(tmp_path / "wd")


def test_generate_without_a_checkpoint_names_the_work_dir(tiny_folders, data_dir, tmp_path, capsys):
  h, e = tiny_folders
  workdir = tmp_path / "empty"
  module = _launcher("generate")
  argv = ["generate.py", "--config=configs/mbpp.py", f"--workdir={workdir}", f"--config.model.name={h}",
          f"--config.context.model={e}", "--config.data.limit=16", "--config.data.heldout=4",
          f"--config.data.data_dir={data_dir}"]
  with pytest.raises((SystemExit, FileNotFoundError)) as info:  # FileNotFoundError: generate.py's own raise.
    cli.run(module.main, argv)
  if isinstance(info.value, SystemExit):
    assert info.value.code == 2
    assert "No trained SoftSRV checkpoint" in capsys.readouterr().err
  assert not (workdir / "generated").exists() or not any((workdir / "generated").iterdir())


# --------------------------------------------------------------------------------------------- launch/evaluate.py
EVAL = [f"--config={REPO / 'configs' / 'evaluate.py'}"]


@pytest.mark.parametrize("args,named", [
    (["--task=mbpp", "--baseline", "--records=x.jsonl"], "exactly one of --records"),
    (["--task=mbpp"], "exactly one of --records"),
    (["--task=mbpp", "--records=/nonexistent/gen.jsonl"], "/nonexistent/gen.jsonl"),
    (["--task=squad", "--baseline"], "Unknown task 'squad'"),
    (["--task=mbpp", "--baseline", "--config.sft.lr=-1"], "SFT lr=-1"),
    (["--task=mbpp", "--baseline", "--config.sft.steps=0"], "SFT steps=0"),
    (["--task=mbpp", "--baseline", "--config.sft.b2=1.0"], "SFT b2=1.0"),
    (["--task=mbpp", "--baseline", "--config.sft.decay=exp"], "SFT decay 'exp'"),
    (["--task=mbpp", "--baseline", "--config.sft.template=no fields"], "SFT template 'no fields'"),
    (["--task=mbpp", "--baseline", "--config.eval.mode=zero_shot"], "eval.mode"),
    (["--task=mbpp", "--baseline", "--config.eval.num_examples=-1"], "eval.num_examples=-1"),
    (["--task=gsm8k", "--baseline", "--config.eval.split=dev"], "eval.split='dev'"),
    (["--task=mbpp", "--baseline", "--config.sft.bogus=1"], "unknown config field 'sft.bogus'"),
    (["--task=mbpp", "--baseline", "--config.data_dir=/nonexistent/d"], "/nonexistent/d"),
], ids=["records-and-baseline", "neither", "missing-records", "unknown-task", "negative-lr", "zero-steps", "b2=1",
        "decay", "template", "eval-mode", "num-examples", "eval-split", "unknown-key", "data-dir"])
def test_evaluate_refuses_bad_flags_and_fields(args, named, tmp_path, capsys):
  line = _run("evaluate", [*EVAL, f"--workdir={tmp_path / 'wd'}", *args], capsys)
  assert named in line
  _assert_no_complete_output(tmp_path / "wd")


def test_evaluate_refuses_a_work_dir_that_is_a_file(tmp_path, capsys):
  path = _write(tmp_path / "wd", "x")
  assert "is a file" in _run("evaluate", [*EVAL, f"--workdir={path}", "--task=mbpp", "--baseline"], capsys)


@pytest.mark.parametrize("content,named", [(b'{"prompt": "\xff"}\n', "not UTF-8 text (byte 0xff at byte offset 12"),
                                           (b"{oops\n", "gen.jsonl:1: malformed JSON line")],
                         ids=["non-utf8", "malformed"])
def test_evaluate_refuses_bad_records_naming_the_file(content, named, tmp_path, capsys):
  path = _write(tmp_path / "gen.jsonl", content)
  line = _run("evaluate", [*EVAL, f"--workdir={tmp_path / 'wd'}", "--task=mbpp", f"--records={path}"], capsys)
  assert named in line
  _assert_no_complete_output(tmp_path / "wd")


def test_evaluate_without_config_takes_overrides_of_its_default_config_file(tmp_path):
  _launcher("evaluate")
  from absl import flags
  cli.parse_flags(["evaluate.py", f"--workdir={tmp_path}", "--task=mbpp", "--config.mix.general=lima,alpaca",
                   "--config.sft.steps=3"])
  assert flags.FLAGS.config.mix.general == "lima,alpaca" and flags.FLAGS.config.sft.steps == 3


def test_evaluate_without_config_names_an_unknown_override_of_its_default(tmp_path, capsys):
  line = _run("evaluate", [f"--workdir={tmp_path / 'wd'}", "--task=mbpp", "--baseline", "--config.mix.generall=x"],
              capsys)
  assert "unknown config field 'mix.generall'; did you mean 'mix.general'" in line


# ------------------------------------------------------------------ pipelines: every stage's input before the first
@pytest.mark.parametrize("field", ["answer.model", "mauve.model", "model.name", "context.model"])
def test_the_softsrv_pipeline_checks_every_stages_model_before_training(field, data_dir, tmp_path, capsys):
  line = _run("pipeline", ["--config=configs/mbpp.py", f"--workdir={tmp_path / 'wd'}",
                           f"--config.data.data_dir={data_dir}", f"--config.{field}={tmp_path / 'no-model'}"], capsys)
  assert f"{field}='{tmp_path / 'no-model'}' is neither a model preset" in line and f"--config.{field}" in line
  assert not (tmp_path / "wd" / "train").exists() and not (tmp_path / "wd" / "stages").exists()


def test_the_softsrv_pipeline_checks_the_folds_of_later_stages_before_training(data_dir, tmp_path, capsys):
  data = tmp_path / "data" / "mbpp" / "splits_derived"
  data.mkdir(parents=True)  # A train fold only: decontamination and MAUVE also read the test fold.
  (data / "mbpp_train.jsonl").write_bytes((data_dir / "mbpp" / "splits_derived" / "mbpp_train.jsonl").read_bytes())
  line = _run("pipeline", ["--config=configs/mbpp.py", f"--workdir={tmp_path / 'wd'}",
                           f"--config.data.data_dir={tmp_path / 'data'}"], capsys)
  assert "No mbpp test data" in line
  assert not (tmp_path / "wd" / "train").exists()


@pytest.mark.parametrize("field", ["student.model", "model"])
def test_the_nomad_pipeline_checks_the_teacher_and_student_models_before_training(field, data_dir, tmp_path, capsys):
  line = _run("nomad", ["--config=configs/nomad.py", f"--workdir={tmp_path / 'wd'}",
                        f"--config.{field}={tmp_path / 'no-model'}"], capsys)
  assert f"{field}='{tmp_path / 'no-model'}' is neither a model preset" in line
  assert not (tmp_path / "wd" / "teacher").exists()


def test_the_nomad_pipeline_checks_its_chat_data_before_training(tmp_path, capsys):
  line = _run("nomad", ["--config=configs/nomad.py", f"--workdir={tmp_path / 'wd'}",
                        f"--config.data.source={tmp_path / 'chats.jsonl'}"], capsys)
  assert f"data.source='{tmp_path / 'chats.jsonl'}' is neither one of" in line


# ------------------------------------------------------------------------------------------ launch/sweep.py, report
def test_a_sweep_file_with_a_syntax_error_is_one_line_with_its_file_and_line(tmp_path, capsys):
  bad = _write(tmp_path / "bad.py", "from experiments.sweep import product\n\ndef get_sweep(:\n  return []\n")
  line = _run("sweep", [f"--sweep={bad}", f"--root={tmp_path / 'root'}"], capsys)
  assert line.startswith(f"error: sweep file {bad}:3: ") and "invalid syntax" in line


def test_a_sweep_file_that_raises_is_one_line_with_its_line(tmp_path, capsys):
  bad = _write(tmp_path / "bad.py", "X = 1\nY = undefined_name\n")
  line = _run("sweep", [f"--sweep={bad}", f"--root={tmp_path / 'root'}"], capsys)
  assert line == f"error: sweep file {bad}:2: NameError: name 'undefined_name' is not defined; fix the file."


def test_a_report_over_a_torn_summary_names_the_file(tmp_path, capsys):
  (tmp_path / "stages").mkdir()
  _write(tmp_path / "summary.json", '{"method": "softsrv", "label": "SS_MC", "task": "mbpp", "sta')
  line = _run("report", [f"--workdir={tmp_path}"], capsys)
  assert f"{tmp_path / 'summary.json'} is unreadable" in line and "cut off" in line
  assert not (tmp_path / "report.html").exists()


# --------------------------------------------------------------------------------------------- the wrapper itself
def test_an_internal_bug_keeps_its_traceback():
  def main(argv):
    raise RuntimeError("a bug")
  with pytest.raises(RuntimeError, match="a bug"):
    cli.run(main, ["x.py"], absl_flags=False)


def test_verbose_shows_the_traceback_of_a_user_error(capsys):
  def main(argv):
    raise UserError("bad thing")
  with pytest.raises(SystemExit) as info:
    cli.run(main, ["x.py", "--verbose"], absl_flags=False)
  err = capsys.readouterr().err
  assert info.value.code == 2 and "Traceback" in err and err.rstrip().endswith("error: bad thing")


def test_unknown_field_suggestion_uses_close_names():
  message = cli.suggest_field("train.stesp", ["train", "train.steps", "train.lr"])
  assert message.startswith("unknown config field 'train.stesp'; did you mean 'train.steps'")


@pytest.mark.parametrize("args,named", [
    (["launch/train.py", "--config=configs/mbpp.py", "--config.train.bogus=1"], "unknown config field 'train.bogus'"),
    (["launch/train.py", "--config=configs/mbpp.py", "--config.train.lr=nan"], "train.lr=nan"),
], ids=["unknown-key", "lr-nan"])
def test_a_real_launcher_process_prints_one_line_and_exits_2(args, named, tmp_path):
  env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
  p = subprocess.run([sys.executable, *args, f"--workdir={tmp_path / 'wd'}"], cwd=REPO, env=env, capture_output=True,
                     text=True, timeout=120)
  assert p.returncode == 2, p.stderr
  assert p.stderr.strip().splitlines()[-1].startswith("error: ") and named in p.stderr
  assert "Traceback" not in p.stderr
  _assert_no_complete_output(tmp_path / "wd")
