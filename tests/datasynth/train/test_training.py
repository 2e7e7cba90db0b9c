"""Crash safety of the training outputs: metrics JSON Lines and TensorBoard events across kills and resumes."""
import json

import pytest

from datasynth.train import metrics as metrics_lib
from datasynth.utils.errors import UserError


def _rows(writer):
  return [r["step"] for r in writer.read()]


def test_a_torn_last_metrics_line_is_dropped_and_the_file_rewritten_on_resume(tmp_path):
  w = metrics_lib.MetricsWriter(str(tmp_path), tensorboard=False)
  for step in (1, 2, 3):
    w.write(step, dict(loss=1.0 / step))
  with open(w.path, "a") as f:
    f.write('{"step": 4, "lo')  # A kill -9 mid-write.
  assert _rows(w) == [1, 2, 3]
  w.truncate_after(2)
  assert _rows(w) == [1, 2] and (tmp_path / "metrics.jsonl").read_text().endswith("}\n")
  w.write(3, dict(loss=0.3))
  assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_a_malformed_metrics_line_in_the_middle_is_an_error_naming_the_line(tmp_path):
  (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n{oops\n{"step": 3}\n')
  with pytest.raises(UserError, match=r"metrics.jsonl:2: malformed metrics line"):
    metrics_lib.MetricsWriter(str(tmp_path), tensorboard=False).read()


def test_tensorboard_events_have_no_duplicated_or_missing_steps_after_a_resume(tmp_path):
  w = metrics_lib.MetricsWriter(str(tmp_path))
  w.truncate_after(-1)
  for step in range(1, 8):
    w.write(step, dict(loss=float(step)))
  w.close()  # (A kill would also lose unflushed events: the rebuild restores them from metrics.jsonl.)
  resumed = metrics_lib.MetricsWriter(str(tmp_path))
  resumed.truncate_after(4)  # The checkpoint was at step 4: steps 5..7 are logged again.
  for step in range(5, 10):
    resumed.write(step, dict(loss=10.0 + step))
  resumed.close()
  events = metrics_lib.read_tensorboard_scalars(str(tmp_path / "tensorboard"))
  steps = [s for s, tag, _ in events if tag == "loss"]
  assert steps == list(range(1, 10))
  assert {s: v for s, _, v in events}[6] == 16.0  # The resumed run's value, not the stale one.
