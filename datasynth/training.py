"""Training machinery shared by every trainer (SoftSRV embeddings, SFT of students and teachers).

- `TrainState`: step, trained params (theta), optimizer state and the RNG stream: everything a resume needs.
- `make_optimizer`: optax Adam/AdamW with linear warmup, constant/cosine/linear decay and global-norm clipping.
- `Checkpointer`: an Orbax `CheckpointManager` (atomic saves, keep K) that also pins the run's config: a work dir
  holding a checkpoint of another config is an error, not a silent mix.
- `MetricsWriter`: scalars to JSON Lines and TensorBoard event files, and PNG curves of them.
- `progress`: a tqdm bar with rate and ETA.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any, Iterable

import flax
import jax
import jax.numpy as jnp
import optax

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
    raise ValueError(f"Unknown learning-rate decay {decay!r}; expected constant, cosine or linear.")
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
    raise ValueError(f"Unknown optimizer {optimizer!r}; expected adam or adamw.")
  return optax.chain(optax.clip_by_global_norm(clip_norm), opt) if clip_norm else opt


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
        raise ValueError(
            f"Work dir {self.workdir} holds a run of another config (hash {config_hash(previous)} vs "
            f"{config_hash(identity)}); use a new --workdir or delete the old one.")
    else:
      with open(pinned + ".tmp", "w") as f:
        f.write(identity)
      os.replace(pinned + ".tmp", pinned)
    self.manager = ocp.CheckpointManager(
        os.path.join(self.workdir, "checkpoints"),
        options=ocp.CheckpointManagerOptions(save_interval_steps=save_every, max_to_keep=keep, create=True))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state: TrainState, force: bool = False) -> bool:
    import orbax.checkpoint as ocp
    return self.manager.save(step, args=ocp.args.StandardSave(state), force=force)

  def restore(self, template: TrainState, step: int | None = None) -> TrainState:
    """Restore into the structure, dtypes and shardings of `template` (an abstract or concrete TrainState)."""
    import orbax.checkpoint as ocp
    step = self.latest_step() if step is None else step
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    try:
      return self.manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except (ValueError, KeyError) as e:
      raise ValueError(f"Checkpoint at step {step} in {self.workdir} does not match this model/config ({e}); "
                       "use a new --workdir.") from e

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


class MetricsWriter:
  """Scalars per step to `metrics.jsonl` and TensorBoard event files under the work dir."""

  def __init__(self, workdir: str, tensorboard: bool = True):
    self.workdir = workdir
    os.makedirs(workdir, exist_ok=True)
    self.path = os.path.join(workdir, "metrics.jsonl")
    self._tb = None
    if tensorboard:
      from tensorboardX import SummaryWriter
      self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

  def write(self, step: int, scalars: dict[str, float]) -> None:
    row = {"step": int(step), **{k: float(v) for k, v in scalars.items()}}
    with open(self.path, "a") as f:
      f.write(json.dumps(row) + "\n")
    if self._tb is not None:
      for k, v in scalars.items():
        self._tb.add_scalar(k, float(v), int(step))

  def read(self) -> list[dict[str, float]]:
    if not os.path.exists(self.path):
      return []
    with open(self.path) as f:
      return [json.loads(line) for line in f if line.strip()]

  def truncate_after(self, step: int) -> None:
    """On resume, drop rows logged after the restored checkpoint (they will be logged again)."""
    rows = [r for r in self.read() if r["step"] <= step]
    with open(self.path + ".tmp", "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in rows)
    os.replace(self.path + ".tmp", self.path)

  def plot(self, keys: Iterable[str], png: str, title: str = "") -> str:
    """One PNG with a curve per metric key (steps on x); returns the path."""
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
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()


def progress(total: int, initial: int = 0, desc: str = "", unit: str = "step"):
  """A progress bar with rate and ETA (tqdm)."""
  from tqdm.auto import tqdm
  return tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, mininterval=1.0)


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
