"""The non-finite guard: a NaN or inf loss, gradient norm or state stops the run (`NonFiniteError`) and is never
saved, so the last good checkpoint stays the latest."""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from datasynth.utils.errors import UserError


class NonFiniteError(UserError):
  """A NaN or inf loss, gradient norm or state: the run stops and the last good checkpoint stays the latest."""


@jax.jit
def _all_finite(tree) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def tree_all_finite(tree) -> bool:
  """Whether every float leaf of a pytree is finite (one device reduction, one host sync)."""
  return bool(_all_finite(tree))


def check_finite(step: int, loss: float, grad_norm: float, hint: str, checkpointer: Any) -> None:
  """Stop with a clear error naming the step when the loss or gradient norm is NaN or infinite.

  checkpointer: the run's `datasynth.train.checkpoint.Checkpointer` (its saves are waited for and its kept step
    named in the error) or None."""
  if math.isfinite(loss) and math.isfinite(grad_norm):
    return
  kept = checkpointer.kept_message() if checkpointer is not None else ""
  if checkpointer is not None:
    checkpointer.wait()
  raise NonFiniteError(f"non-finite loss at step {step} (loss {loss}, grad norm {grad_norm}); {hint}. {kept}")
