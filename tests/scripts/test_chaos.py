"""scripts/chaos.py: its checks catch what they should, and a trial with 2 kills per job ends bitwise equal (~2-4
min; the full runs, `python scripts/chaos.py`, take the trial counts of the closing notes)."""
import json
import os
import pathlib

import numpy as np
import pytest

from tests.modules import load_file


def _chaos():
  return load_file("scripts/chaos.py", "chaos_under_test")


def test_bitwise_comparison_sees_a_one_ulp_difference():
  chaos = _chaos()
  a = {"w": np.array([1.0, 2.0], np.float32)}
  b = {"w": np.array([1.0, np.nextafter(np.float32(2.0), np.float32(3.0))], np.float32)}
  assert chaos.bitwise_equal(a, {"w": a["w"].copy()})
  assert not chaos.bitwise_equal(a, b)
  assert not chaos.bitwise_equal(a, {"w": a["w"].astype(np.float64)})


def _items(folder: pathlib.Path, items):
  folder.mkdir(parents=True)
  (folder / "chunk-00000.jsonl").write_text("".join(json.dumps(dict(item=i, text=f"t{i}")) + "\n" for i in items))
  return str(folder)


def test_generation_check_reports_duplicates_and_gaps(tmp_path):
  chaos = _chaos()
  ref = _items(tmp_path / "ref", range(4))
  assert chaos.check_generation(_items(tmp_path / "ok", [2, 0, 3, 1]), ref) == []
  assert chaos.check_generation(_items(tmp_path / "dup", [0, 1, 1, 2, 3]), ref)
  assert chaos.check_generation(_items(tmp_path / "gap", [0, 1, 3]), ref)


def test_student_check_reports_a_different_table_and_different_runs(tmp_path):
  chaos = _chaos()

  def out(name, table, runs=()):
    (tmp_path / name / "runs").mkdir(parents=True)
    for r in runs:
      (tmp_path / name / "runs" / r).mkdir()
    (tmp_path / name / "results.json").write_text(json.dumps(table))
    return str(tmp_path / name)

  ref = out("ref", {"runs": [{"name": "train", "steps": 3}]})
  assert chaos.check_student(out("same", {"runs": [{"name": "train", "steps": 3}]}), ref) == []
  assert "results.json" in chaos.check_student(out("other", {"runs": [{"name": "train", "steps": 4}]}), ref)[0]
  assert "run folders" in chaos.check_student(out("fewer", {"runs": []}), out("ref2", {"runs": []}, runs=["train"]))[0]


def test_the_table_has_one_row_per_job():
  chaos = _chaos()
  text = chaos.table([chaos.Tally("softsrv", 2, 3, 3, 0), chaos.Tally("sft", 2, 2, 2, 1, ["trial 1: differs"])])
  assert "| softsrv | 2 | 3 | 3 | 0 |" in text and "| sft | 2 | 2 | 2 | 1 |" in text and "differs" in text


@pytest.mark.skipif(os.environ.get("DATASYNTH_CHAOS") == "0", reason="DATASYNTH_CHAOS=0: the real-subprocess "
                    "kill trials are switched off")
def test_a_twice_killed_trial_per_job_ends_bitwise_equal_to_an_uninterrupted_run(full_data_dir, tmp_path):
  data_dir = full_data_dir  # The NOMAD student job reads Alpaca and TriviaQA.
  chaos = _chaos()
  # The generation job's kill is covered by tests/softsrv/test_generate.py (a SIGKILLed generation resumes to the
  # same bytes), and the sft job's by the student job, whose three runs are `datasynth.train.sft.train` runs saving
  # every step; the suite's trial takes those two and NOMAD's pipeline (`python scripts/chaos.py` runs the others too).
  tallies = chaos.chaos(["softsrv", "student", "nomad"], trials=1, kills=2, seed=1, root=str(tmp_path),
                        data_dir=str(data_dir), log=lambda *_: None)
  print(chaos.table(tallies))
  ran = [t for t in tallies if t.trials]
  assert {t.job for t in ran} == {"softsrv", "student", "nomad"}
  assert all(t.mismatches == 0 for t in tallies), chaos.table(tallies)
  assert sum(t.kills for t in ran) >= 1


@pytest.mark.skipif(os.environ.get("DATASYNTH_CHAOS") == "0", reason="DATASYNTH_CHAOS=0: the real-subprocess "
                    "kill trials are switched off")
def test_a_twice_sigtermed_trial_stops_cleanly_with_75_and_ends_bitwise_equal(data_dir, tmp_path):
  import signal
  chaos = _chaos()
  tallies = chaos.chaos(["softsrv", "generate", "sft"], trials=1, kills=2, seed=2, root=str(tmp_path),
                        data_dir=str(data_dir), log=lambda *_: None, signum=signal.SIGTERM)
  print(chaos.table(tallies))
  assert all(t.mismatches == 0 for t in tallies) and all(t.trials == 1 for t in tallies), chaos.table(tallies)
  assert sum(t.stops for t in tallies) >= 1  # At least one SIGTERM landed in a loop and stopped it with 75.
