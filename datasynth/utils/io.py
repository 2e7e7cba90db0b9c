"""Crash-safe writes: a file the project writes is complete under its final name, or absent.

Every writer goes through `atomic_write`: the bytes go to a temporary file in the same folder, are flushed and
fsynced, then renamed over the final name (`os.replace` is atomic on POSIX). A kill -9 at any moment leaves either the
old file, the new file, or a stray `*.tmp-*` file that no reader looks at. A folder written as one piece (a model
saved as Orbax + config + tokenizer) goes through `atomic_dir` the same way: built under `<folder>.tmp`, renamed; a
folder it replaces is first renamed to `<folder>.old` (a folder cannot be renamed over a non-empty one) and removed
after, so a kill -9 leaves the old folder, the new one, or none under the final name, never a mix.

A write that fails because the disk is full, a quota is exceeded or the path is not writable (ENOSPC, EDQUOT, EACCES,
EPERM, EROFS) is bad input, not a bug: `disk_errors` turns it into `DiskError`, a UserError naming the path, the free
space there and what to do, so a launcher stops with one line and exit status 2. The temporary file is removed and
the previous complete file (chunk, checkpoint) stays the latest, so the same command resumes once space is freed.
"""
from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import shutil
import tempfile
from typing import Any, Iterable, Iterator

from datasynth.utils.errors import UserError


DISK_ERRNOS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is exceeded",
               errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
               errno.EROFS: "the file system is read-only"}


class DiskError(UserError):
  """A write failed for want of space or permission: the message names the path, the free space and the fix."""


def _disk_oserror(exc: BaseException) -> OSError | None:
  """The OSError with a disk errno in `exc` or its causes. TensorStore (under Orbax) raises a ValueError whose
  message carries the errno (`RESOURCE_EXHAUSTED: ... No space left on device [os_error_code='28']`): read it there."""
  seen = set()
  while exc is not None and id(exc) not in seen:
    seen.add(id(exc))
    if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
      return exc
    code = re.search(r"os_error_code='(\d+)'", str(exc))
    if code and int(code.group(1)) in DISK_ERRNOS:
      return OSError(int(code.group(1)), os.strerror(int(code.group(1))))
    exc = exc.__cause__ or exc.__context__
  return None


def free_space(path: str | os.PathLike) -> str:
  """`12.3 GB free of 100.0 GB on <folder>` (MB below 10 GB) for the first existing folder at or above `path`."""
  probe = os.path.abspath(os.fspath(path))
  while not os.path.isdir(probe) and os.path.dirname(probe) != probe:
    probe = os.path.dirname(probe)
  try:
    usage = shutil.disk_usage(probe)
  except OSError:
    return f"free space unknown on {probe}"
  unit, scale = ("GB", 1e9) if usage.total >= 1e10 else ("MB", 1e6)
  return f"{usage.free / scale:.1f} {unit} free of {usage.total / scale:.1f} {unit} on {probe}"


@contextlib.contextmanager
def disk_errors(path: str | os.PathLike, *own: str) -> Iterator[None]:
  """Turn a full disk or an unwritable path met while writing `path` into one DiskError line.

  An OSError that names another file than `path` or `own` (a file read in the block) is left as it is."""
  path = os.fspath(path)
  try:
    yield
  except DiskError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    hit = _disk_oserror(e)
    name = None if hit is None or hit.filename is None else os.fspath(hit.filename)
    mine = hit is not None and (name is None or any(name.startswith(p) or p.startswith(name) for p in (path, *own)))
    if not mine:
      raise
    target = hit.filename or path
    what = DISK_ERRNOS[hit.errno]
    fix = ("free space (or point the work dir at a bigger disk)" if hit.errno in (errno.ENOSPC, errno.EDQUOT) else
           "make it writable or pass a writable work dir / output folder")
    raise DiskError(f"cannot write {target}: {what} ({free_space(target)}); {fix}, then rerun the same command: it "
                    "resumes from the last complete file or checkpoint.") from e


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
  """`with atomic_write(path) as f: f.write(...)`: `path` appears only once the block has finished without error."""
  path = os.fspath(path)
  folder = os.path.dirname(os.path.abspath(path))
  with disk_errors(path, folder):
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp-", dir=folder)
    try:
      with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())
      os.replace(tmp, path)
    except BaseException:
      with contextlib.suppress(FileNotFoundError):
        os.remove(tmp)
      raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[str]:
  """`with atomic_dir(folder) as tmp: <write files under tmp>`: `folder` appears, whole, once the block has finished
  without error, replacing an older `folder` (the `<folder>.tmp` and `<folder>.old` a killed run left are cleared
  first). A block that raises leaves an older `folder` as it was."""
  path = os.path.abspath(os.fspath(path))
  tmp, old = path + ".tmp", path + ".old"
  with disk_errors(path, os.path.dirname(path)):
    for stale in (tmp, old):
      if os.path.exists(stale):
        shutil.rmtree(stale)
    os.makedirs(tmp)
    try:
      yield tmp
    except BaseException:
      shutil.rmtree(tmp, ignore_errors=True)
      raise
    if os.path.isdir(path):
      os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str) -> None:
  with atomic_write(path) as f:
    f.write(text)


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 1) -> None:
  with atomic_write(path) as f:
    json.dump(obj, f, indent=indent, sort_keys=True, ensure_ascii=False)
    f.write("\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> int:
  """Write rows (one JSON object a line) atomically; returns the number of rows written."""
  n = 0
  with atomic_write(path) as f:
    for row in rows:
      f.write(json.dumps(row, ensure_ascii=False) + "\n")
      n += 1
  return n


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> str:
  """A matplotlib figure as a PNG, atomically; returns the path."""
  with atomic_write(path, "wb") as f:
    fig.savefig(f, format="png", dpi=dpi)
  return os.fspath(path)


def check_workdir(workdir: str) -> None:
  """A work dir must be a folder or creatable as one (its first existing ancestor is a writable folder)."""
  path = os.path.abspath(workdir)
  if os.path.exists(path) and not os.path.isdir(path):
    raise UserError(f"Work dir {path} exists and is a file, not a folder; pass another --workdir or remove it.")
  probe = path
  while not os.path.exists(probe):
    probe = os.path.dirname(probe)
  if not os.path.isdir(probe):
    raise UserError(f"Work dir {path} cannot be created: {probe} is a file; pass another --workdir.")
  if not os.access(probe, os.W_OK | os.X_OK):
    raise UserError(f"Work dir {path} cannot be written ({probe} is not writable); pass another --workdir.")


# Sub-folders of a work dir that hold bulk state, not results: checkpoints, per-step evaluation outputs, TensorBoard
# events, a sweep's job scripts.
NOT_RESULTS = ("checkpoints", "eval", "tensorboard", "scripts")


def result_files(workdir: str, suffix: str) -> list[str]:
  """Files under `workdir` whose names end with `suffix` (".png": its figures), outside NOT_RESULTS and hidden
  folders, in walk order with sub-folders sorted."""
  found = []
  for folder, dirs, files in os.walk(workdir):
    dirs[:] = sorted(d for d in dirs if d not in NOT_RESULTS and not d.startswith("."))
    found += [os.path.join(folder, f) for f in files if f.endswith(suffix)]
  return found


def read_json_checked(path: str | os.PathLike) -> Any:
  """The JSON in `path`, None when the file is absent, and a UserError naming the file when it is there but cut off
  or not JSON (a copy torn in transit, a file edited by hand): a reader that shows results must not pass it as none."""
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except FileNotFoundError:
    return None
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise UserError(f"{os.fspath(path)} is unreadable ({e}); it is cut off or corrupted: rerun the job that writes it "
                    "(it resumes) or restore the file.") from e


def read_json(path: str | os.PathLike) -> Any:
  """The JSON in `path`, or None when the file is absent or not JSON (what these writers never leave behind)."""
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
    return None


def is_number(v: Any) -> bool:
  """A finite int or float that is not a bool: what readers of run summaries and metrics files take as a figure."""
  return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def read_jsonl_lenient(path: str | os.PathLike) -> list[dict[str, Any]]:
  """The JSON objects of a JSON Lines file this project appends to (metrics.jsonl, generated rows), [] when the file is
  absent; a line that is not a JSON object (the last line cut by a kill mid-write) is skipped and the rest still read:
  `read_json`'s leniency, for readers that report on or poll a run that may be in progress or was killed. Data a user
  supplies goes through `datasynth.data.files.read_jsonl` instead, which stops on a malformed line naming it."""
  try:
    with open(path, encoding="utf-8", errors="replace") as f:
      lines = f.read().split("\n")
  except FileNotFoundError:
    return []
  rows = []
  for line in lines:
    try:
      row = json.loads(line)
    except json.JSONDecodeError:
      continue
    if isinstance(row, dict):
      rows.append(row)
  return rows
