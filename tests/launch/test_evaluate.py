"""End-to-end tests of the student evaluation (softsrv/evaluate.py and its command line launch/evaluate.py) with the
embedded SmolLM2 student at a tiny scale."""
import json
import pathlib

import pytest

from datasynth.data.records import load_task
from datasynth.evals import student_eval as student
from datasynth.utils.io import write_jsonl
from softsrv import evaluate
from tests.modules import load_file

pytest.importorskip("datasynth.evals.lm", reason="needs the evals harnesses (datasynth/evals)")

REPO = pathlib.Path(__file__).resolve().parents[2]


def _load_launcher():
  return load_file("launch/evaluate.py", "launch_evaluate")


def _tiny(config, data_dir):
  config.data_dir = str(data_dir)
  config.sft.update(steps=2, batch_size=2, seq_len=256, warmup_steps=0, log_every=1, save_every=100, eval_every=2)
  config.eval.update(num_examples=4, max_new_tokens=32, batch_size=4)
  return config


def test_main_mbpp_baseline_writes_table_json_and_plot(smollm2, data_dir, tmp_path, monkeypatch):
  from absl import flags
  launcher = _load_launcher()
  argv = [
      "evaluate.py", f"--config={REPO / 'configs' / 'evaluate.py'}", "--task=mbpp", "--baseline",
      f"--workdir={tmp_path}", f"--config.data_dir={data_dir}", "--config.max_records=12", "--config.sft.steps=2",
      "--config.sft.batch_size=2", "--config.sft.seq_len=256", "--config.sft.warmup_steps=0",
      "--config.sft.eval_every=2", "--config.eval.num_examples=4", "--config.eval.max_new_tokens=32"]
  monkeypatch.setattr("sys.argv", argv)  # ml_collections reads --config.* overrides from sys.argv.
  if "workdir" not in flags.FLAGS:
    launcher.define_flags()
  flags.FLAGS.unparse_flags()
  flags.FLAGS(argv)
  launcher.main([])
  summary = json.loads((tmp_path / "results.json").read_text())
  assert [e["step"] for e in summary["evals"]] == [0, 2]
  assert all(0.0 <= e["pass_at_1"] <= 1.0 for e in summary["evals"])
  assert summary["num_records"] == 12 and summary["num_eval_examples"] == 4
  assert summary["evals"][-1]["loss"] is not None
  md = (tmp_path / "results.md").read_text()
  assert "| step | pass_at_1 (+- SE, n=4) | train loss |" in md and "\n| 2 |" in md
  final = summary["final"]["pass_at_1"]  # Each figure with its binomial standard error on the 4 examples.
  assert f"**{final:.4f} +- {(final * (1 - final) / 4) ** 0.5:.4f}**" in md
  assert (tmp_path / "metric_vs_steps.png").stat().st_size > 1000
  assert summary["epochs_per_step"] == 2 / 12  # Figure 3's x-axis: steps x batch / training-set size.
  outputs = [json.loads(l) for l in (tmp_path / "eval" / "step_000002.jsonl").read_text().splitlines()]
  assert len(outputs) == 4 and all("completion" in o and "passed" in o for o in outputs)
  # Same work dir again: resumes at the last step and re-evaluates nothing.
  again = evaluate.run(flags.FLAGS.config, workdir=str(tmp_path), task="mbpp", baseline=True)
  assert again["evals"] == summary["evals"]


def test_records_with_mauve_on_boolq(smollm2, data_dir, tmp_path):
  cfg_lib = load_file("configs/evaluate.py", "configs_evaluate")
  records = load_task("boolq", "train", str(data_dir))[:24]
  path = tmp_path / "records.jsonl"
  write_jsonl(str(path), [r.to_json() for r in records])
  config = _tiny(cfg_lib.get_config("cpu"), data_dir)
  config.task = "boolq"
  config.mauve.update(num_examples=12, max_tokens=48, batch_size=4)
  summary = evaluate.run(config, workdir=str(tmp_path / "run"), records_path=str(path), mauve=True)
  assert summary["source"] == str(path) and summary["num_records"] == 24
  assert set(summary["mauve"]) == {"train", "test"}
  # The records are a train-fold sample: closer to the train fold's prompts than nothing, and all in [0, 1].
  assert all(0.0 < m["mauve"] <= 1.0 for m in summary["mauve"].values())
  assert [e["step"] for e in summary["evals"]] == [0, 2]
  assert (tmp_path / "run" / "mauve.png").exists() and "## MAUVE" in (tmp_path / "run" / "results.md").read_text()
  with pytest.raises(ValueError, match="exactly one"):
    evaluate.run(config, workdir=str(tmp_path / "bad"), records_path=str(path), baseline=True)


def test_figure_3s_x_axis_is_steps_times_batch_over_the_training_set_size(tmp_path, monkeypatch):
  import matplotlib.axes
  drawn = []
  monkeypatch.setattr(matplotlib.axes.Axes, "plot", lambda self, x, y, **kw: drawn.append((list(x), list(y))))
  labels = []
  monkeypatch.setattr(matplotlib.axes.Axes, "set_xlabel", lambda self, text: labels.append(text))
  evals = [dict(step=0, accuracy=0.1), dict(step=50, accuracy=0.2), dict(step=100, accuracy=0.3)]
  student.plot_metric(evals, "accuracy", "t", str(tmp_path / "a.png"), epochs_per_step=16 / 400)
  assert drawn == [([0.0, 2.0, 4.0], [0.1, 0.2, 0.3])] and labels == ["steps x batch / training-set size"]


def test_the_paper_preset_is_section_3_3s_student_and_the_cpu_preset_departs():
  cfg = load_file("configs/evaluate.py", "cfg_eval")
  paper, cpu = cfg.get_config("paper"), cfg.get_config()
  assert (paper.sft.batch_size, paper.sft.seq_len, paper.sft.pack, paper.sft.lr, paper.sft.warmup_steps,
          paper.sft.decay, paper.sft.end_factor, paper.sft.steps) == (16, 8192, True, 1e-6, 100, "cosine", 0.0, 2000)
  assert paper.eval.mode == "few_shot" and paper.eval.num_examples == 0
  assert cfg.get_config("paper,table3").sft.steps == 10_000
  assert (cpu.model, cpu.sft.steps, cpu.eval.mode) == ("smollm2-135m", 20, "sft")
  with pytest.raises(Exception, match="Unknown preset 'tpu'"):
    cfg.get_config("tpu")
