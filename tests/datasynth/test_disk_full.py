"""A full disk or an unwritable path stops a job with one line naming the path, the free space and the fix (exit 2
through `cli.run`); the last complete file or checkpoint stays the latest, and the same command resumes after."""
import errno
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

from datasynth.jobs import chunked
from datasynth.train import checkpoint as checkpoint_lib, state as state_lib
from datasynth.train import loop
from datasynth.utils import io

REPO = pathlib.Path(__file__).resolve().parents[2]


def _fail_fsync_after(monkeypatch, n: int, code: int = errno.ENOSPC):
  """os.fsync raises OSError(code) from its (n + 1)-th call on: a disk that fills up after n files."""
  calls, real = [], os.fsync

  def fsync(fd):
    calls.append(fd)
    if len(calls) > n:
      raise OSError(code, os.strerror(code))
    return real(fd)

  monkeypatch.setattr(os, "fsync", fsync)


def test_a_full_disk_is_one_line_naming_the_path_and_free_space_and_keeps_the_old_file(tmp_path, monkeypatch):
  path = tmp_path / "results.json"
  io.write_json(path, {"old": 1})
  _fail_fsync_after(monkeypatch, 0)
  with pytest.raises(io.DiskError) as e:
    io.write_json(path, {"new": 2})
  msg = str(e.value)
  assert msg.startswith(f"cannot write {path}: no space left on the device (") and " free of " in msg
  assert "free space" in msg and "rerun the same command" in msg and "\n" not in msg
  assert io.read_json(path) == {"old": 1} and os.listdir(tmp_path) == ["results.json"]  # No temp file left.


@pytest.mark.parametrize("code, what", [(errno.EACCES, "permission denied"), (errno.EROFS, "read-only"),
                                        (errno.EDQUOT, "quota")])
def test_an_unwritable_path_or_a_quota_is_one_line(tmp_path, monkeypatch, code, what):
  real = os.replace
  monkeypatch.setattr(os, "replace", lambda a, b: (_ for _ in ()).throw(OSError(code, os.strerror(code), a, None, b)))
  with pytest.raises(io.DiskError, match=what):
    io.write_text(tmp_path / "a.txt", "x")
  monkeypatch.setattr(os, "replace", real)
  assert not list(tmp_path.iterdir())


def test_an_error_reading_another_file_inside_the_block_is_not_called_a_disk_error(tmp_path):
  with pytest.raises(PermissionError):
    with io.atomic_write(tmp_path / "out.txt") as f:
      f.write("x")
      raise PermissionError(errno.EACCES, "denied", "/somewhere/else.txt")


def _rows(items):
  return [dict(item=j, text=f"x{j}") for j in items]


def test_chunked_output_stops_on_a_full_disk_keeping_complete_chunks_and_resumes_after(tmp_path, monkeypatch):
  plan = chunked.Plan(num_items=10, chunk_size=2, fingerprint=dict(seed=0))
  out = str(tmp_path / "gen")
  with monkeypatch.context() as m:
    _fail_fsync_after(m, 3)  # manifest.json, chunk 0, chunk 1; chunk 2 hits the full disk.
    with pytest.raises(io.DiskError, match="chunk-00002.jsonl: no space left"):
      chunked.run(out, plan, _rows, progress=False)
  assert sorted(os.listdir(out)) == [".datasynth.lock", "chunk-00000.jsonl", "chunk-00001.jsonl", "manifest.json"]
  stats = chunked.run(out, plan, _rows, progress=False)  # Space freed: the same call resumes.
  assert stats.skipped_chunks == 2 and [r["item"] for r in chunked.read_rows(out)] == list(range(10))


# A launcher-shaped job in a real process whose disk fills after 3 files: what a user sees.
_JOB = """
import errno, os, sys
from datasynth.jobs import chunked
from datasynth.utils import cli
calls, real = [], os.fsync
def fsync(fd):
  calls.append(fd)
  if len(calls) > 3:
    raise OSError(errno.ENOSPC, "No space left on device")
  return real(fd)
os.fsync = fsync
def main(argv):
  chunked.run(argv[0], chunked.Plan(num_items=10, chunk_size=2, fingerprint={}),
              lambda items: [dict(item=j) for j in items], progress=False)
cli.run(main, absl_flags=False)
"""


def test_a_launcher_on_a_full_disk_exits_2_with_one_line(tmp_path):
  env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), JAX_PLATFORMS="cpu")
  out = tmp_path / "gen"
  proc = subprocess.run([sys.executable, "-c", _JOB, str(out)], capture_output=True, text=True, env=env, timeout=120)
  assert proc.returncode == 2, proc.stderr
  assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
  assert proc.stderr.startswith(f"error: cannot write {out}/chunk-00002.jsonl: no space left on the device (")
  assert " free of " in proc.stderr


def _train(workdir, end):
  state = state_lib.TrainState.create(jnp.zeros(3), optax.sgd(0.1), jax.random.key(0))
  step_fn = lambda s, step: (s.replace(step=s.step + 1, params=s.params + step), dict(loss=1.0, grad_norm=1.0))
  return loop.run(workdir=str(workdir), identity="{}", cadence=loop.Cadence(2, 0, 2, 3), state=state,
                  step_fn=step_fn, summarize=lambda w, d, s: dict(loss=1.0), end=end, total=end,
                  presentation=loop.Presentation(show_progress=False))


# What a full disk raises from an Orbax save: an OSError, or TensorStore's ValueError naming the errno (seen on a
# 2 MB tmpfs, where this test's run stops with the DiskError line and resumes to the end once the mount is enlarged).
_FULL = [OSError(errno.ENOSPC, "No space left on device"),
         ValueError('RESOURCE_EXHAUSTED: Error writing "params/0" in OCDBT database at local file "/x/": Failed to '
                    "write 140450 bytes to file 18: No space left on device [os_error_code='28']")]


@pytest.mark.parametrize("error", _FULL, ids=["OSError", "TensorStore"])
def test_a_checkpoint_save_on_a_full_disk_stops_and_the_last_good_checkpoint_stays_the_latest(tmp_path, monkeypatch,
                                                                                             error):
  real = ocp.CheckpointManager.save

  def save(self, step, *a, **kw):
    if step == 4:
      raise error
    return real(self, step, *a, **kw)

  with monkeypatch.context() as m:
    m.setattr(ocp.CheckpointManager, "save", save)
    with pytest.raises(io.DiskError, match=f"cannot write {tmp_path}/run/checkpoints: no space left"):
      _train(tmp_path / "run", 6)
  assert checkpoint_lib.latest_checkpoint_step(str(tmp_path / "run")) == 2
  resumed = _train(tmp_path / "run", 6)
  np.testing.assert_array_equal(resumed.state.params, _train(tmp_path / "fresh", 6).state.params)
