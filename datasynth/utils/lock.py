"""One writer per work dir: an advisory lock held for a job's life, so two processes never write one folder at once.

  with lock.hold(workdir):       # Refused (WorkdirBusy, one line naming the other process) while another holds it.
    ... write under workdir ...

The lock is `fcntl.flock` on `<folder>/.datasynth.lock` (`.datasynth.lock.p<i>` on process i of a multi-process
job). The kernel drops a flock when its holder exits, however it exits, so the lock file a kill -9 leaves behind does
not block a rerun; the file itself is never removed (removing it would race with a process about to lock it). The
holder writes its pid, host, command line and start time into the file, which the refusal quotes.

Where it is taken: the three choke points that own a folder, `datasynth.train.loop.run` (SoftSRV training, SFT, NOMAD's
teacher and students), `datasynth.jobs.chunked.run` (generation, baselines, answers) and
`datasynth.jobs.stages.run_stages` (the SoftSRV and NOMAD pipelines). A pipeline holds its work dir and each stage's job
holds its own sub-folder; a job that locks a folder its own process already holds (a launcher that locks early, a stage
whose job writes the stage folder itself) is let through: the lock is re-entrant per process (a count per folder).

Multi-process jobs: process i locks its own `.datasynth.lock.p<i>`. Every process of a job writes (checkpoints are a
collective save; chunked output is split by process), and a work dir may sit on a shared file system, where one lock
file taken by every process of the same job would refuse the job's own processes. Keyed by process index, a second
job is refused on every host by the lock its process i shares with the first job's process i.
"""
from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import sys
from typing import Iterator

from datasynth.utils.errors import UserError

LOCK_FILE = ".datasynth.lock"
_HELD: dict[str, list] = {}  # Lock file path -> [fd, depth]: the folders this process holds.


class WorkdirBusy(UserError):
  """Another live process is writing the folder."""


def lock_path(folder: str, process_index: int = 0, process_count: int = 1) -> str:
  name = LOCK_FILE if process_count <= 1 else f"{LOCK_FILE}.p{process_index}"
  return os.path.join(os.path.abspath(folder), name)


@contextlib.contextmanager
def hold(folder: str, *, process_index: int | None = None, process_count: int | None = None) -> Iterator[str]:
  """Hold the folder's lock for the block (created if absent, and removed again if the block left it empty); yields
  the lock file's path.

  process_index / process_count default to JAX's (`jax.process_index()`, `jax.process_count()`).
  Raises WorkdirBusy naming the holder when another process holds it.
  """
  if process_index is None or process_count is None:
    import jax
    process_index, process_count = jax.process_index(), jax.process_count()
  path = lock_path(folder, process_index, process_count)
  if path in _HELD:  # Re-entrant: this process already holds it.
    _HELD[path][1] += 1
    try:
      yield path
    finally:
      _HELD[path][1] -= 1
    return
  created = not os.path.isdir(os.path.dirname(path))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError as e:
    os.close(fd)
    if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
      raise
    raise WorkdirBusy(f"{os.path.dirname(path)} is in use by {holder(path)}; wait for it to finish or stop it "
                      "(a killed process releases it), or pass another work dir.") from None
  try:
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(_me()) + "\n").encode(), 0)
    _HELD[path] = [fd, 1]
    yield path
  finally:
    _HELD.pop(path, None)
    if created:  # A job that wrote nothing (refused, failed early) leaves no folder behind, only what it made.
      _remove_if_only_the_lock(path)
    os.close(fd)  # Closing the last descriptor releases the flock.


def _remove_if_only_the_lock(path: str) -> None:
  folder = os.path.dirname(path)
  with contextlib.suppress(OSError):  # Another process may have created something there this instant: keep it all.
    if os.listdir(folder) == [os.path.basename(path)]:
      os.remove(path)
      os.rmdir(folder)


def _me() -> dict:
  return dict(pid=os.getpid(), host=socket.gethostname(), command=" ".join(sys.argv),
              started=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))


def holder(path: str) -> str:
  """`pid 123 on host h (started <time>: <command>)` from a lock file; `another process` when it is unreadable (its
  holder may be writing it this instant)."""
  try:
    with open(path, encoding="utf-8") as f:
      info = json.loads(f.read())
    return f"pid {info['pid']} on host {info['host']} (started {info['started']}: {info['command']})"
  except (OSError, ValueError, KeyError, TypeError):
    return "another process"
