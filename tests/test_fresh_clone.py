"""A new user's first run: `git clone` of the project into an empty folder with no `shared/` beside it, then the
README's main job (`launch/train.py --config=configs/mbpp.py`, the embedded Gemma 3 270M and SmolLM2) at tiny size
through the same launcher: it must find the bundled MBPP data, train and checkpoint, and a rerun must resume."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
STEPS = 4


def _launch(clone: pathlib.Path, workdir: pathlib.Path, steps: int) -> subprocess.CompletedProcess:
  env = {k: v for k, v in os.environ.items() if k not in ("DATASYNTH_DATA", "PYTHONPATH")}
  env["XLA_FLAGS"] = ""  # One CPU device, as on a user's machine (the suite's conftest asks for 8).
  cmd = [sys.executable, "launch/train.py", "--config=configs/mbpp.py", f"--workdir={workdir}",
         f"--config.train.steps={steps}", "--config.train.batch_size=4", "--config.train.warmup_steps=1",
         "--config.train.log_every=1", "--config.train.eval_every=2", "--config.checkpoint.save_every=2",
         "--config.data.limit=24", "--config.data.heldout=4", "--config.data.max_len=24",
         "--config.soft_prompt.t=4", "--config.soft_prompt.hidden=16", "--config.context.max_len=32",
         "--config.show_progress=False"]
  return subprocess.run(cmd, cwd=clone, env=env, capture_output=True, text=True, timeout=900)


def test_a_clone_with_no_shared_folder_beside_it_trains_and_checkpoints_the_main_job(tmp_path):
  if not (REPO / ".git").exists():
    pytest.skip(f"{REPO} is not a git checkout, so there is nothing to clone")
  clone = tmp_path / "clone"
  subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=300)
  assert not (tmp_path / "shared").exists() and (clone / "datasynth" / "data" / "bundled" / "mbpp").is_dir()
  # The clone's own package is the one imported (the launcher puts its checkout first on sys.path), and with no
  # ../shared/data and no $DATASYNTH_DATA the readers fall back to the clone's bundled copy.
  probe = subprocess.run(
      [sys.executable, "-c", "import sys; sys.path.insert(0, '.'); import datasynth.data.sources as d; "
       "print(d.__file__); print(d.data_dirs())"], cwd=clone, capture_output=True, text=True, check=True,
      env={k: v for k, v in os.environ.items() if k not in ("DATASYNTH_DATA", "PYTHONPATH")})
  where, dirs = probe.stdout.splitlines()
  assert where.startswith(str(clone)) and dirs == str([str(clone / "datasynth" / "data" / "bundled")])

  workdir = tmp_path / "wd"
  first = _launch(clone, workdir, STEPS // 2)
  assert first.returncode == 0, first.stderr[-3000:]
  assert sorted(os.listdir(workdir / "checkpoints")) == ["2"]
  rerun = _launch(clone, workdir, STEPS)  # The same command with more steps resumes from step 2.
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  assert sorted(os.listdir(workdir / "checkpoints"), key=int) == ["2", "4"]
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  steps = [r["step"] for r in rows if "loss" in r]
  assert steps == [1, 2, 3, 4]  # Every step logged once: nothing repeated or lost across the resume.
  assert all(0.0 < r["loss"] < 20.0 for r in rows if "loss" in r)
  config = json.loads((workdir / "run_config.json").read_text())
  assert config["model"]["name"] == "gemma3-270m" and config["context"]["model"] == "smollm2-135m"
  assert (workdir / "loss.png").stat().st_size > 1000
