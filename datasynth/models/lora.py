"""LoRA (Hu et al., 2021) for the stacked-layer Decoder: low-rank deltas on frozen projection weights.

For a frozen weight W (input dims -> output dims) LoRA trains A [in, r] and B [r, out] and uses

  W_eff = W + (alpha / r) * A @ B                                    (LoRA, Eq. 3)

with A random and B = 0 at init, so the adapted model starts as the base model. The trainer keeps the base params as
a non-differentiated argument and differentiates only the factors: `merge(base, lora)` runs inside the loss, so no
gradient or optimizer state ever exists for W.

The Decoder's layer params are stacked on a leading [num_layers] axis (one nn.scan); the factors carry that axis too.
Targets are named by projection: attention "q", "k", "v", "o" and MLP "gate", "up", "down".
"""
from __future__ import annotations

import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from datasynth.utils.errors import UserError

# Projection -> (path in params["layers"], number of input dims after the layer axis).
TARGETS = {
    "q": (("attn", "q"), 1),  # [layers, width, heads, head_dim]
    "k": (("attn", "k"), 1),
    "v": (("attn", "v"), 1),
    "o": (("attn", "o"), 2),  # [layers, heads, head_dim, width]
    "gate": (("mlp", "gate"), 1),  # [layers, width, mlp]
    "up": (("mlp", "up"), 1),
    "down": (("mlp", "down"), 1),  # [layers, mlp, width]
}


def _get(tree: dict, path: Sequence[str]):
  for key in path:
    tree = tree[key]
  return tree


def _check_targets(targets: Sequence[str]) -> None:
  unknown = [t for t in targets if t not in TARGETS]
  if unknown or not targets:
    raise UserError(f"Unknown or empty LoRA targets {list(targets)}; choose from {sorted(TARGETS)}.")


def init_lora(base: dict, targets: Sequence[str], rank: int, rng: jax.Array) -> dict[str, dict[str, jax.Array]]:
  """Float32 factors {target: {"a": [layers, in, r], "b": [layers, r, out]}}; B = 0 so W_eff = W at init."""
  _check_targets(targets)
  if rank <= 0:
    raise UserError(f"LoRA rank must be positive, got {rank}.")
  lora = {}
  for name, key in zip(targets, jax.random.split(rng, len(targets))):
    path, n_in = TARGETS[name]
    shape = np.shape(_get(base["layers"], path))
    layers, d_in, d_out = shape[0], math.prod(shape[1:1 + n_in]), math.prod(shape[1 + n_in:])
    # A ~ N(0, 1/d_in): the low-rank projection keeps the input's scale (PEFT uses Kaiming-uniform, same variance).
    lora[name] = dict(a=jax.random.normal(key, (layers, d_in, rank), jnp.float32) / math.sqrt(d_in),
                      b=jnp.zeros((layers, rank, d_out), jnp.float32))
  return lora


def delta(lora_w: dict[str, jax.Array], shape: Sequence[int], scale: float) -> jax.Array:
  """(alpha / r) * A @ B per layer, reshaped to the frozen weight's shape."""
  return (scale * jnp.einsum("nir,nro->nio", lora_w["a"], lora_w["b"])).reshape(shape)


def merge(base: dict, lora: dict[str, dict[str, jax.Array]], alpha: float) -> dict:
  """A copy of `base` with W + (alpha / r) A B on each target.

  The sum is float32 (promoted from the factors) even for a bfloat16 base, so small deltas are not rounded away
  before the Decoder casts weights to its compute dtype.
  """
  layers = jax.tree.map(lambda x: x, base["layers"])  # Shallow copy of the nested dicts; leaves shared.
  for name, w in lora.items():
    path, _ = TARGETS[name]
    rank = w["a"].shape[-1]
    parent = _get(layers, path[:-1])
    frozen = parent[path[-1]]
    parent[path[-1]] = frozen + delta(w, frozen.shape, alpha / rank)
  return {**base, "layers": layers}


def num_params(lora: dict) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(lora))
