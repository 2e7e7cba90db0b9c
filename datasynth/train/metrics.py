"""Training metrics: scalars to JSON Lines and TensorBoard event files, and PNG curves of them.

Crash-safe: a torn last line (kill -9 mid-write) is dropped on read and the file rewritten cleanly on resume; on
resume the TensorBoard events are rebuilt from the kept rows, so no step appears twice or goes missing.
"""
from __future__ import annotations

import glob
import json
import os
import time
from typing import Iterable

from datasynth import sharding
from datasynth.utils import io
from datasynth.utils.errors import UserError


class MetricsWriter:
  """Scalars per step to `metrics.jsonl` and TensorBoard event files under the work dir.

  Rows are appended one line per write. A kill -9 can tear only the last line: `read` drops it, and `truncate_after`
  (called on every start) rewrites the file atomically with the rows kept. TensorBoard events buffer in memory, so a
  kill may lose some, and a resume would log steps after the checkpoint again: `truncate_after` therefore rebuilds
  the event files from the kept rows (new file written and flushed first, then the old files removed), which makes
  the events equal to metrics.jsonl after every start.

  In a multi-process job only process 0 writes (`sharding.is_primary`); the others' writes are no-ops and their
  reads see its file.
  """

  def __init__(self, workdir: str, tensorboard: bool = True):
    self.workdir = workdir
    self.primary = sharding.is_primary()
    os.makedirs(workdir, exist_ok=True)
    self.path = os.path.join(workdir, "metrics.jsonl")
    self.tb_dir = os.path.join(workdir, "tensorboard")
    self._tensorboard = tensorboard
    self._tb = None

  def _writer(self):
    if self._tb is None and self._tensorboard:
      from tensorboardX import SummaryWriter
      # A unique name per writer: a rebuilt file never has the name of the one it replaces.
      self._tb = SummaryWriter(self.tb_dir, filename_suffix=f".{os.getpid()}.{time.time_ns()}")
    return self._tb

  def write(self, step: int, scalars: dict[str, float]) -> None:
    if not self.primary:
      return
    row = {"step": int(step), **{k: float(v) for k, v in scalars.items()}}
    with io.disk_errors(self.path), open(self.path, "a") as f:  # A torn line (disk full) is dropped on read.
      f.write(json.dumps(row) + "\n")
    self._write_tb(row)

  def _write_tb(self, row: dict[str, float]) -> None:
    tb = self._writer()
    if tb is not None:
      for k, v in row.items():
        if k != "step":
          tb.add_scalar(k, float(v), int(row["step"]))

  def read(self) -> list[dict[str, float]]:
    """The rows; a torn last line (a write cut by a kill) is dropped, a malformed line elsewhere is an error: the
    run's own result, so unlike `io.read_jsonl_lenient` (what a sweep or report polls) corruption must not pass."""
    if not os.path.exists(self.path):
      return []
    with open(self.path, encoding="utf-8", errors="replace") as f:
      lines = f.read().split("\n")
    rows = []
    for n, line in enumerate(lines, 1):
      if not line.strip():
        continue
      try:
        rows.append(json.loads(line))
      except json.JSONDecodeError as e:
        if n >= len(lines) - 1:  # The last line: torn by a kill mid-write.
          break
        raise UserError(f"{self.path}:{n}: malformed metrics line ({e.msg}); remove that line or use a new "
                        "--workdir.") from e
    return rows

  def truncate_after(self, step: int) -> None:
    """On (re)start, keep rows up to the restored checkpoint's step (later ones are logged again), cleanly."""
    if not self.primary:
      return
    rows = [r for r in self.read() if r["step"] <= step]
    io.write_jsonl(self.path, rows)
    self._rebuild_tensorboard(rows)

  def _rebuild_tensorboard(self, rows: list[dict[str, float]]) -> None:
    if not self._tensorboard:
      return
    old = glob.glob(os.path.join(self.tb_dir, "events.out.tfevents.*"))
    if self._tb is not None:
      self._tb.close()
      self._tb = None
    if not rows and not old:
      return
    for row in rows:
      self._write_tb(row)
    tb = self._writer()
    tb.flush()
    for path in old:  # Only once the new file holds every kept row.
      os.remove(path)

  def plot(self, keys: Iterable[str], png: str, title: str = "") -> str:
    """One PNG with a curve per metric key (steps on x); returns the path (written by process 0 only)."""
    if not self.primary:
      return png
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = self.read()
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in keys:
      pts = [(r["step"], r[key]) for r in rows if key in r]
      if pts:
        ax.plot(*zip(*pts), marker="." if len(pts) < 50 else None, label=key)
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    io.save_figure(fig, png)
    plt.close(fig)
    return png

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()
      self._tb = None


def read_tensorboard_scalars(folder: str) -> list[tuple[int, str, float]]:
  """(step, tag, value) of every scalar in a folder's event files (a small TFRecord reader, for tests/checks)."""
  from tensorboardX.proto import event_pb2
  out = []
  for path in sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*"))):
    with open(path, "rb") as f:
      data = f.read()
    pos = 0
    while pos + 12 <= len(data):
      n = int.from_bytes(data[pos:pos + 8], "little")
      record = data[pos + 12:pos + 12 + n]
      pos += 12 + n + 4
      if len(record) < n:
        break  # A torn last record.
      event = event_pb2.Event.FromString(record)
      out += [(int(event.step), v.tag, float(v.simple_value)) for v in event.summary.value]
  return out
