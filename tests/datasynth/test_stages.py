"""Stages: finished stages are skipped, an interrupted one resumes, a changed config reruns it and every later one."""
import os

import pytest

from datasynth import stages


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
