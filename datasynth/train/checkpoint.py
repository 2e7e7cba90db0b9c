"""Checkpoints: an Orbax `CheckpointManager` (atomic saves, keep K) that also pins the run's config (a work dir
holding a checkpoint of another config is an error, not a silent mix), and read-only access to a trained run
(`latest_checkpoint_step`, `restore_params`).
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from typing import Any

import jax
import jax.numpy as jnp

from datasynth import sharding
from datasynth.train.finite import NonFiniteError, tree_all_finite
from datasynth.train.state import TrainState
from datasynth.utils import io
from datasynth.utils.errors import UserError

CONFIG_FILE = "run_config.json"


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
    elif sharding.is_primary():  # One writer in a multi-process job; every process checks the pin above.
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
