"""Train state and optimizer shared by every trainer (SoftSRV embeddings, SFT of students and teachers).

- `TrainState`: step, trained params (theta), optimizer state and the RNG stream: everything a resume needs.
- `make_optimizer`: optax Adam/AdamW with linear warmup, constant/cosine/linear decay and global-norm clipping.
"""
from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from datasynth.utils.errors import UserError


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
