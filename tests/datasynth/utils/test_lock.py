"""One writer per work dir: a second process is refused in one line naming the first; a killed holder blocks
nothing; the lock is re-entrant within one process, so a pipeline is never refused by its own stages."""
import os
import pathlib
import signal
import subprocess
import sys

import pytest

from datasynth.jobs import chunked, stages
from datasynth.train import sft
from datasynth.utils import lock
from datasynth.utils.errors import UserError
from softsrv import config as softsrv_config, generate as softsrv_generate, pipeline
from softsrv.config import get_config

REPO = pathlib.Path(__file__).resolve().parents[3]

# A process that holds the folder's lock (through the choke point `stages.run_stages`) until it is killed.
_HOLDER = """
import sys, time
from datasynth.jobs import stages
def run(stage_dir):
  print("held", flush=True)
  time.sleep(600)
  return {}
stages.run_stages(sys.argv[1], [stages.Stage("sleep", {}, run)], log=lambda s: None)
"""
# A second job on the folder, run as a launcher is (`cli.run`): chunked output into the same folder.
_SECOND = """
import sys
from datasynth.jobs import chunked
from datasynth.utils import cli
def main(argv):
  plan = chunked.Plan(num_items=2, chunk_size=1, fingerprint={})
  chunked.run(argv[0], plan, lambda items: [dict(item=j) for j in items], progress=False)
  print("ran", flush=True)
cli.run(main, absl_flags=False)
"""


def _env():
  return dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
              JAX_PLATFORMS="cpu")


def _start_holder(folder) -> subprocess.Popen:
  proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder)], stdout=subprocess.PIPE, text=True,
                          env=_env())
  assert proc.stdout.readline().strip() == "held"
  return proc


def _second(folder) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-c", _SECOND, str(folder)], capture_output=True, text=True, env=_env(),
                        timeout=120)


def test_a_second_process_is_refused_naming_the_first_and_a_killed_holder_blocks_nothing(tmp_path):
  holder = _start_holder(tmp_path)
  try:
    second = _second(tmp_path)
    assert second.returncode == 2, second.stderr
    line = second.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line and "Traceback" not in line, second.stderr
    assert f"pid {holder.pid} on host " in line and "is in use by" in line and str(tmp_path) in line
    assert not os.path.exists(chunked.chunk_path(str(tmp_path), 0))  # Refused before writing anything.
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
  assert os.path.exists(tmp_path / lock.LOCK_FILE)  # The killed holder's lock file stays ...
  rerun = _second(tmp_path)  # ... and does not block a rerun.
  assert rerun.returncode == 0 and rerun.stdout.strip() == "ran", rerun.stderr


def test_every_choke_point_refuses_a_folder_another_process_holds(tmp_path):
  holder = _start_holder(tmp_path)
  try:
    plan = chunked.Plan(num_items=1, chunk_size=1, fingerprint={})
    with pytest.raises(lock.WorkdirBusy, match=f"pid {holder.pid} "):
      chunked.run(str(tmp_path), plan, lambda items: [dict(item=0)], progress=False)
    with pytest.raises(lock.WorkdirBusy, match=f"pid {holder.pid} "):
      stages.run_stages(str(tmp_path), [], log=lambda s: None)
    # Generation and SFT take the lock before anything heavy: refused before reading the (absent) trained embedding
    # or tokenising (records=None would fail there).
    with pytest.raises(lock.WorkdirBusy, match=f"pid {holder.pid} "):
      softsrv_generate.generate(softsrv_config.get_config("mbpp"), str(tmp_path / "no-such-run"), str(tmp_path))
    with pytest.raises(lock.WorkdirBusy, match=f"pid {holder.pid} "):
      sft.train_sft(None, None, sft.SFTConfig(), str(tmp_path))
    with pytest.raises(UserError):  # A UserError: launchers print it as one line with exit status 2.
      with lock.hold(str(tmp_path), process_index=0, process_count=1):
        pass
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait()


def test_the_lock_is_reentrant_in_one_process_so_a_pipeline_is_not_refused_by_its_stages(tmp_path):
  plan = chunked.Plan(num_items=2, chunk_size=1, fingerprint={})

  def stage_writing_the_work_dir(stage_dir):  # A stage whose job locks the pipeline's own work dir again.
    chunked.run(str(tmp_path), plan, lambda items: [dict(item=j) for j in items], progress=False)
    chunked.run(stage_dir, plan, lambda items: [dict(item=j) for j in items], progress=False)
    return {}

  stages.run_stages(str(tmp_path), [stages.Stage("gen", {}, stage_writing_the_work_dir)], log=lambda s: None)
  assert chunked.is_complete(str(tmp_path)) and chunked.is_complete(str(tmp_path / "gen"))
  assert not lock._HELD  # pylint: disable=protected-access  # Released at the end.


def test_processes_of_one_multi_process_job_lock_their_own_files(tmp_path):
  with lock.hold(str(tmp_path), process_index=0, process_count=2) as p0:
    code = ("import sys; from datasynth.utils import lock\n"
            "with lock.hold(sys.argv[1], process_index=1, process_count=2) as p: print(p)")
    other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=_env(),
                           timeout=60)
    assert other.returncode == 0, other.stderr
    assert os.path.basename(p0) == ".datasynth.lock.p0" and other.stdout.strip().endswith(".datasynth.lock.p1")


def test_the_refusal_names_the_holder_from_the_lock_file(tmp_path):
  with lock.hold(str(tmp_path), process_index=0, process_count=1) as path:
    text = lock.holder(path)
  assert text.startswith(f"pid {os.getpid()} on host ") and "started 20" in text
  (tmp_path / "torn").write_text('{"pid": 1')
  assert lock.holder(str(tmp_path / "torn")) == "another process"


def test_a_pipeline_on_a_work_dir_in_use_is_refused_before_any_stage(tmp_path):
  holder = _start_holder(tmp_path)
  try:
    with pytest.raises(lock.WorkdirBusy, match=f"pid {holder.pid} "):
      pipeline.run(get_config("mbpp"), str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == [lock.LOCK_FILE, "sleep", "stages"]  # Only the holder's own files.
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
