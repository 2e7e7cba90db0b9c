"""Stages: finished stages are skipped, an interrupted one resumes, a changed config reruns it and every later one."""
import os

import pytest

from datasynth.jobs import stages


def _pipeline(calls, a=1, b=2, fail_in=None):
  def make(name):
    def run(stage_dir):
      calls.append(name)
      with open(os.path.join(stage_dir, "out.txt"), "a") as f:
        f.write(name)
      if name == fail_in:
        raise KeyboardInterrupt  # Stands for a kill in the middle of the stage.
      return dict(counts={"in": 10, "out": 8, "dropped": {"duplicate": 2}})
    return run
  return [stages.Stage("first", dict(a=a), make("first")), stages.Stage("second", dict(b=b), make("second"))]


def test_a_rerun_skips_finished_stages(tmp_path):
  calls = []
  stages.run_stages(str(tmp_path), _pipeline(calls), log=lambda s: None)
  manifests = stages.run_stages(str(tmp_path), _pipeline(calls), log=lambda s: None)
  assert calls == ["first", "second"]
  assert [m["counts"]["dropped"] for m in manifests] == [{"duplicate": 2}] * 2
  assert "| first | 10 | 8 | duplicate: 2 |" in stages.summary_table(manifests)


def test_an_interrupted_stage_resumes_with_its_output_kept(tmp_path):
  calls = []
  with pytest.raises(KeyboardInterrupt):
    stages.run_stages(str(tmp_path), _pipeline(calls, fail_in="second"), log=lambda s: None)
  assert stages.read_manifest(str(tmp_path), "second") is None
  manifests = stages.run_stages(str(tmp_path), _pipeline(calls), log=lambda s: None)
  assert calls == ["first", "second", "second"] and manifests[1]["resumed"]
  assert open(tmp_path / "second" / "out.txt").read() == "secondsecond"  # Resumed, not wiped.


def test_a_changed_config_reruns_that_stage_and_the_ones_after_it_from_empty_folders(tmp_path):
  calls = []
  stages.run_stages(str(tmp_path), _pipeline(calls), log=lambda s: None)
  stages.run_stages(str(tmp_path), _pipeline(calls, b=3), log=lambda s: None)
  assert calls == ["first", "second", "second"]
  assert open(tmp_path / "second" / "out.txt").read() == "second"
  stages.run_stages(str(tmp_path), _pipeline(calls, a=5, b=3), log=lambda s: None)
  assert calls[3:] == ["first", "second"]


def _signalled_pipeline(calls, seconds_after_signal):
  """Two stages; the first sends this process SIGTERM, then works on for `seconds_after_signal`."""
  import signal
  import time

  def first(stage_dir):
    calls.append("first")
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(seconds_after_signal)
    return dict(counts={"in": 1, "out": 1})

  def second(stage_dir):
    calls.append("second")
    return dict(counts={"in": 1, "out": 1})
  return [stages.Stage("first", {}, first), stages.Stage("second", {}, second)]


def test_sigterm_finishes_the_running_stage_then_exits_75_and_a_rerun_resumes(tmp_path):
  calls = []
  with pytest.raises(SystemExit) as e:
    stages.run_stages(str(tmp_path), _signalled_pipeline(calls, 0.2), log=lambda s: None, stop_grace_s=30)
  assert e.value.code == 75 and calls == ["first"]
  assert stages.read_manifest(str(tmp_path), "first") is not None  # Finished inside the grace period: kept.
  assert stages.read_manifest(str(tmp_path), "second") is None
  calls.clear()
  manifests = stages.run_stages(str(tmp_path), _signalled_pipeline(calls, 0), log=lambda s: None)
  assert calls == ["second"] and [m["name"] for m in manifests] == ["first", "second"]  # The first is skipped.


ABANDON = """
import sys
sys.path.insert(0, {repo!r})
from tests.datasynth.jobs.test_stages import _signalled_pipeline
from datasynth.jobs import stages
stages.run_stages({wd!r}, _signalled_pipeline([], 30), log=print, stop_grace_s=0.5)
"""


def test_a_stage_that_outlasts_the_grace_period_is_abandoned_with_exit_75(tmp_path):
  import subprocess
  import sys
  import time
  repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
  t0 = time.perf_counter()
  p = subprocess.run([sys.executable, "-c", ABANDON.format(repo=repo, wd=str(tmp_path))], capture_output=True,
                     text=True, timeout=120, cwd=repo)
  assert p.returncode == 75 and "no step or chunk boundary within 0.5 s of SIGTERM" in p.stderr, p.stderr[-2000:]
  assert time.perf_counter() - t0 < 25  # Bounded by the grace period, not the 30 s the stage would take.
  assert stages.read_manifest(str(tmp_path), "first") is None  # Abandoned: the rerun runs it again.
