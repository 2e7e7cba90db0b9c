"""Training machinery shared by every trainer (SoftSRV embeddings, SFT of students and teachers).

- `TrainState`: step, trained params (theta), optimizer state and the RNG stream: everything a resume needs.
- `make_optimizer`: optax Adam/AdamW with linear warmup, constant/cosine/linear decay and global-norm clipping.
- `Checkpointer`: an Orbax `CheckpointManager` (atomic saves, keep K) that also pins the run's config: a work dir
  holding a checkpoint of another config is an error, not a silent mix.
- `MetricsWriter`: scalars to JSON Lines and TensorBoard event files, and PNG curves of them. Crash-safe: a torn
  last line (kill -9 mid-write) is dropped on read and the file rewritten cleanly on resume; on resume the
  TensorBoard events are rebuilt from the kept rows, so no step appears twice or goes missing.
- `check_finite`: a non-finite loss, gradient norm or state stops the run (`NonFiniteError`) and is never saved.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import math
import os
import time
from typing import Any, Iterable

import flax
import jax
import jax.numpy as jnp
import optax

from datasynth import io
from datasynth.errors import UserError

CONFIG_FILE = "run_config.json"


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any  # Only the trained parameters (theta); frozen weights never live here.
  opt_state: Any
  rng: jax.Array

  @classmethod
  def create(cls, params, tx: optax.GradientTransformation, rng: jax.Array) -> "TrainState":
    return cls(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params), rng=rng)


def make_schedule(lr: float, steps: int, warmup_steps: int = 0, decay: str = "constant",
                  end_factor: float = 0.0) -> optax.Schedule:
  """Linear warmup to `lr`, then constant, cosine or linear decay to `end_factor * lr` at `steps`."""
  warmup_steps = min(warmup_steps, max(steps - 1, 0))
  rest = max(steps - warmup_steps, 1)
  if decay == "constant":
    after = optax.constant_schedule(lr)
  elif decay == "cosine":
    after = optax.cosine_decay_schedule(lr, rest, alpha=end_factor)
  elif decay == "linear":
    after = optax.linear_schedule(lr, lr * end_factor, rest)
  else:
    raise UserError(f"Unknown learning-rate decay {decay!r}; expected constant, cosine or linear.")
  if warmup_steps <= 0:
    return after
  return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup_steps), after], [warmup_steps])


def make_optimizer(*, lr: float, steps: int, warmup_steps: int = 0, decay: str = "constant",
                   end_factor: float = 0.0, optimizer: str = "adam", b1: float = 0.9, b2: float = 0.999,
                   eps: float = 1e-8, weight_decay: float = 0.0, clip_norm: float | None = 1.0
                   ) -> optax.GradientTransformation:
  schedule = make_schedule(lr, steps, warmup_steps, decay, end_factor)
  if optimizer == "adam":
    opt = optax.adam(schedule, b1=b1, b2=b2, eps=eps)
  elif optimizer == "adamw":
    opt = optax.adamw(schedule, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
  else:
    raise UserError(f"Unknown optimizer {optimizer!r}; expected adam or adamw.")
  return optax.chain(optax.clip_by_global_norm(clip_norm), opt) if clip_norm else opt


def is_primary() -> bool:
  """Whether this process writes a run's shared files (process 0 of a multi-process job; always in one process)."""
  return jax.process_index() == 0


def config_hash(config_json: str) -> str:
  return hashlib.sha256(config_json.encode()).hexdigest()[:12]


class Checkpointer:
  """Orbax CheckpointManager over a work dir, pinned to one run config.

  `identity` is the JSON of whatever must match for a resume to be valid (the config minus fields that may change
  between restarts, such as the number of steps or logging cadence).
  """

  def __init__(self, workdir: str, identity: str, *, save_every: int, keep: int = 3):
    import orbax.checkpoint as ocp
    self.workdir = os.path.abspath(workdir)
    os.makedirs(self.workdir, exist_ok=True)
    pinned = os.path.join(self.workdir, CONFIG_FILE)
    if os.path.exists(pinned):
      with open(pinned) as f:
        previous = f.read()
      if previous != identity:
        raise UserError(
            f"Work dir {self.workdir} holds a run of another config (hash {config_hash(previous)} vs "
            f"{config_hash(identity)}); use a new --workdir or delete the old one.")
    elif is_primary():  # One writer in a multi-process job; every process checks the pin above.
      io.write_text(pinned, identity)
    self.manager = ocp.CheckpointManager(
        os.path.join(self.workdir, "checkpoints"),
        options=ocp.CheckpointManagerOptions(save_interval_steps=save_every, max_to_keep=keep, create=True))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state: TrainState, force: bool = False) -> bool:
    """Save `state` as `step` (when due, or `force`); a state holding NaN or inf is refused (NonFiniteError)."""
    import orbax.checkpoint as ocp
    if not force and not self.manager.should_save(step):
      return False
    if not tree_all_finite((state.params, state.opt_state)):
      self.wait()  # The previous (good) save completes and stays the latest.
      raise NonFiniteError(f"non-finite parameters or optimizer state at step {step}; not saved. "
                           f"{self.kept_message()}")
    try:
      with io.disk_errors(str(self.manager.directory)):
        return self.manager.save(step, args=ocp.args.StandardSave(state), force=force)
    except io.DiskError:  # A full disk: one line, once the earlier (asynchronous) saves are complete and kept.
      with contextlib.suppress(Exception):
        self.manager.wait_until_finished()
      raise

  def kept_message(self) -> str:
    latest = self.latest_step()
    if latest is None:
      return "No checkpoint was saved before it."
    return f"The last good checkpoint, step {latest}, is kept in {self.workdir}/checkpoints."

  def restore(self, template: TrainState, step: int | None = None) -> TrainState:
    """Restore into the structure, dtypes and shardings of `template` (an abstract or concrete TrainState)."""
    import orbax.checkpoint as ocp
    step = self.latest_step() if step is None else step
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    try:
      return self.manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except (ValueError, KeyError) as e:
      raise UserError(f"Checkpoint at step {step} in {self.workdir} does not match this model/config ({e}); "
                       "use a new --workdir.") from e

  def wait(self) -> None:
    with io.disk_errors(str(self.manager.directory)):  # An asynchronous save's error surfaces here.
      self.manager.wait_until_finished()

  def close(self) -> None:
    self.wait()
    self.manager.close()


class MetricsWriter:
  """Scalars per step to `metrics.jsonl` and TensorBoard event files under the work dir.

  Rows are appended one line per write. A kill -9 can tear only the last line: `read` drops it, and `truncate_after`
  (called on every start) rewrites the file atomically with the rows kept. TensorBoard events buffer in memory, so a
  kill may lose some, and a resume would log steps after the checkpoint again: `truncate_after` therefore rebuilds
  the event files from the kept rows (new file written and flushed first, then the old files removed), which makes
  the events equal to metrics.jsonl after every start.

  In a multi-process job only process 0 writes (`is_primary`); the others' writes are no-ops and their reads see its
  file.
  """

  def __init__(self, workdir: str, tensorboard: bool = True):
    self.workdir = workdir
    self.primary = is_primary()
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
    """The rows; a torn last line (a write cut by a kill) is dropped, a malformed line elsewhere is an error."""
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


# ------------------------------------------------------------------------------------------------- non-finite


class NonFiniteError(UserError):
  """A NaN or inf loss, gradient norm or state: the run stops and the last good checkpoint stays the latest."""


@jax.jit
def _all_finite(tree) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def tree_all_finite(tree) -> bool:
  """Whether every float leaf of a pytree is finite (one device reduction, one host sync)."""
  return bool(_all_finite(tree))


def check_finite(step: int, loss: float, grad_norm: float, hint: str, checkpointer: "Checkpointer | None") -> None:
  """Stop with a clear error naming the step when the loss or gradient norm is NaN or infinite."""
  if math.isfinite(loss) and math.isfinite(grad_norm):
    return
  kept = checkpointer.kept_message() if checkpointer is not None else ""
  if checkpointer is not None:
    checkpointer.wait()
  raise NonFiniteError(f"non-finite loss at step {step} (loss {loss}, grad norm {grad_norm}); {hint}. {kept}")


# ------------------------------------------------------------------------------------------ reading a trained run
def latest_checkpoint_step(workdir: str) -> int | None:
  """The newest saved step under `<workdir>/checkpoints`, or None; reads only the folder names (nothing loads)."""
  folder = os.path.join(os.path.abspath(workdir), "checkpoints")
  steps = [int(n) for n in os.listdir(folder) if n.isdigit()] if os.path.isdir(folder) else []
  return max(steps) if steps else None


def restore_params(workdir: str, identity: str, template: Any, step: int | None = None) -> tuple[Any, int]:
  """(theta, step) of a trained run, read only: no optimizer, no state template, nothing written.

  `identity` must equal the run's pinned `run_config.json` (as for a resume); `template` gives theta's structure,
  shapes and dtypes (e.g. `jax.eval_shape` of the module's init). The optimizer state in the checkpoint is skipped.
  """
  import orbax.checkpoint as ocp
  from datasynth.errors import UserError
  workdir = os.path.abspath(workdir)
  step = latest_checkpoint_step(workdir) if step is None else step
  pinned = os.path.join(workdir, CONFIG_FILE)
  if step is None or not os.path.exists(pinned):
    raise UserError(f"No trained checkpoint in {workdir}; train first.")
  with open(pinned) as f:
    previous = f.read()
  if previous != identity:
    raise UserError(f"Work dir {workdir} holds a run of another config (hash {config_hash(previous)} vs "
                    f"{config_hash(identity)}); pass the config it was trained with, or another --workdir.")
  item = {"step": jax.ShapeDtypeStruct((), jnp.int32),
          "params": jax.tree.map(ocp.utils.to_shape_dtype_struct, template)}
  options = ocp.CheckpointManagerOptions(read_only=True, create=False, save_interval_steps=0)
  absl_log = logging.getLogger("absl")
  level = absl_log.level
  absl_log.setLevel(logging.ERROR)  # Orbax warns that a read-only folder is read only.
  try:
    manager = ocp.CheckpointManager(os.path.join(workdir, "checkpoints"), options=options)
  finally:
    absl_log.setLevel(level)
  try:
    args = ocp.args.PyTreeRestore(item, restore_args=ocp.checkpoint_utils.construct_restore_args(item),
                                  partial_restore=True)
    out = manager.restore(step, args=args)
  except (ValueError, KeyError) as e:
    raise UserError(f"Checkpoint at step {step} in {workdir} does not match this model/config ({e}); use the "
                    "config it was trained with.") from e
  finally:
    manager.close()
  return out["params"], int(out["step"])
