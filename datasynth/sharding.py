"""Device meshes, logical-axis partition rules, and multi-host helpers.

One `jax.sharding.Mesh` spans every device of every host. Parameters carry logical axis names (`vocab`, `embed`,
`heads`, ...; see `datasynth.models.decoder`); a list of rules maps each logical name to a mesh axis (or None:
replicated), so the same module shards on any mesh shape:

- `data`:   batch parallelism (parameters replicated across it).
- `fsdp`:   batch parallelism *and* parameter sharding along `embed` (ZeRO-3 / FSDP style).
- `tensor`: Megatron-style sharding of heads, MLP hidden units and the vocabulary.

A dimension that the mesh axis does not divide (e.g. SmolLM2's 9 heads on tensor=2) is left replicated rather than
failing, so any checkpoint places on any mesh; each such rule is logged once (INFO, as big_vision logs "Failed to
apply"). Multi-host: call `maybe_initialize_distributed(True)` first on each host, build the mesh over
`jax.devices()` (all hosts), and split generation work with `shard_for_process`.
"""
from __future__ import annotations

import functools
import logging
import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from datasynth.models.config import DecoderConfig
from datasynth.models.decoder import Decoder
from datasynth.utils.errors import UserError

Rules = Sequence[tuple[str, Any]]

# Logical name -> mesh axis (or axes, or None for replicated).
DEFAULT_RULES: tuple[tuple[str, Any], ...] = (
    ("batch", ("data", "fsdp")),
    ("vocab", "tensor"),
    ("embed", "fsdp"),
    ("heads", "tensor"),
    ("kv_heads", None),
    ("head_dim", None),
    ("mlp", "tensor"),
    ("layers", None),
    ("length", None),
)

DEFAULT_AXES = {"data": -1, "fsdp": 1, "tensor": 1}


def make_mesh(axes: dict[str, int] | None = None, devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A Mesh over `devices` (default: all devices of all hosts) with named axis sizes; one size may be -1 (the rest).

  make_mesh({"data": -1, "fsdp": 1, "tensor": 1}) is pure data parallelism over everything JAX sees.
  """
  axes = dict(DEFAULT_AXES if axes is None else axes)
  devices = list(jax.devices() if devices is None else devices)
  n = len(devices)
  free = [k for k, v in axes.items() if v == -1]
  if len(free) > 1 or any(v == 0 or v < -1 for v in axes.values()):
    raise UserError(f"Mesh axes {axes}: sizes must be positive, with at most one -1 (fill the remaining devices).")
  known = math.prod(v for v in axes.values() if v != -1)
  if free:
    if n % known:
      raise UserError(f"Mesh axes {axes} need a multiple of {known} devices, but {n} are available.")
    axes[free[0]] = n // known
  if math.prod(axes.values()) != n:
    raise UserError(f"Mesh axes {axes} use {math.prod(axes.values())} devices, but {n} are available; "
                    "make the sizes multiply to the device count or use -1 for one axis.")
  grid = np.asarray(devices, dtype=object).reshape(tuple(axes.values()))
  return Mesh(grid, tuple(axes.keys()))


def _mesh_axes(logical: Sequence[str | None], rules: Rules) -> tuple:
  table = dict(rules)
  return tuple(table.get(name) if name is not None else None for name in logical)


def _fit(spec: tuple, shape: Sequence[int], mesh: Mesh, logical: Sequence[str | None] = ()) -> P:
  """Drop mesh axes that are absent from the mesh or do not divide their dimension (replicate it instead, and log
  that the rule could not apply)."""
  out = []
  for i, (axis, dim) in enumerate(zip(spec, shape)):
    names = (axis,) if isinstance(axis, str) else tuple(axis or ())
    names = tuple(a for a in names if a in mesh.shape)
    size = math.prod(mesh.shape[a] for a in names)
    if names and dim % size:
      name = logical[i] if i < len(logical) else None
      _log_replicated(name, names, size, dim)
    out.append(None if not names or dim % size else (names[0] if len(names) == 1 else names))
  return P(*out)


_LOGGED: set[tuple] = set()


def _log_replicated(logical: str | None, mesh_axes: tuple[str, ...], size: int, dim: int) -> None:
  """Once per (rule, mesh axes, dimension) and process: the rule could not apply, the dimension is replicated."""
  key = (logical, mesh_axes, size, dim)
  if key not in _LOGGED:
    _LOGGED.add(key)
    logging.info("sharding: failed to apply rule %s -> %s (%d shards) to a dimension of %d; replicated instead.",
                 logical or "?", "+".join(mesh_axes), size, dim)


def logical_sharding(logical: Sequence[str | None], shape: Sequence[int], mesh: Mesh,
                     rules: Rules = DEFAULT_RULES) -> NamedSharding:
  """The NamedSharding of one array with the given logical axis names (non-dividing axes replicated)."""
  return NamedSharding(mesh, _fit(_mesh_axes(logical, rules), shape, mesh, tuple(logical)))


def replicated(mesh: Mesh) -> NamedSharding:
  """The same whole array on every device of the mesh (small trained params, optimizer state, scalars)."""
  return NamedSharding(mesh, P())


def batch_shards(mesh: Mesh, rules: Rules = DEFAULT_RULES) -> int:
  """How many ways the `batch` rule splits a batch on this mesh (the product of its mesh axes present)."""
  axes = dict(rules).get("batch")
  names = (axes,) if isinstance(axes, str) else tuple(axes or ())
  return math.prod(mesh.shape[a] for a in names if a in mesh.shape)


@functools.lru_cache(maxsize=16)
def param_logical_axes(config: DecoderConfig) -> Any:
  """(Logical PartitionSpecs, shapes): trees with the Decoder's param structure, from an abstract init (no FLOPs)."""
  abstract = jax.eval_shape(lambda: Decoder(config).init(jax.random.key(0), jnp.zeros((1, 1), jnp.int32)))
  return nn.get_partition_spec(abstract)["params"], jax.tree.map(lambda x: x.shape, nn.meta.unbox(abstract))["params"]


def param_shardings(config: DecoderConfig, mesh: Mesh, rules: Rules = DEFAULT_RULES) -> Any:
  """NamedSharding per parameter, as a plain nested dict matching loaded (or unboxed initialised) params."""
  specs, shapes = param_logical_axes(config)
  is_spec = lambda x: isinstance(x, P)
  return jax.tree.map(lambda s, shape: logical_sharding(tuple(s), shape, mesh, rules), specs, shapes,
                      is_leaf=is_spec)


def shard_params(params: Any, config: DecoderConfig, mesh: Mesh, rules: Rules = DEFAULT_RULES) -> Any:
  """Place a plain parameter tree (numpy or jax arrays; boxed metadata is removed) onto the mesh."""
  params = nn.meta.unbox(params)
  return jax.device_put(params, param_shardings(config, mesh, rules))


def batch_sharding(mesh: Mesh, ndim: int, rules: Rules = DEFAULT_RULES, batch_size: int | None = None
                   ) -> NamedSharding:
  """Leading (batch) axis over the batch mesh axes, the rest replicated (e.g. tokens [B, L], prefixes [B, t, d])."""
  shape = (batch_size if batch_size is not None else math.prod(mesh.shape.values()),) + (1,) * (ndim - 1)
  return logical_sharding(("batch",) + (None,) * (ndim - 1), shape, mesh, rules)


def shard_batch(tree: Any, mesh: Mesh, rules: Rules = DEFAULT_RULES) -> Any:
  """device_put every array of a batch with its leading axis over the batch mesh axes."""
  return jax.tree.map(lambda x: jax.device_put(x, batch_sharding(mesh, np.ndim(x), rules, np.shape(x)[0])), tree)


def cache_shardings(mesh: Mesh, cache: dict[str, Any], rules: Rules = DEFAULT_RULES) -> dict[str, Any]:
  """Shardings of a KV cache from `init_cache` (arrays or shape structs): batch over the batch axes, kv heads per the
  `kv_heads` rule, layers / slots / head_dim per theirs. A shared prefix (`attach_prefix`, batch 1) is replicated
  over the batch axes."""
  def slots(c):  # k, v, pos, valid of one cache segment.
    kv = logical_sharding(("layers", "batch", "kv_heads", "length", "head_dim"), c["k"].shape, mesh, rules)
    row = logical_sharding(("batch", "length"), c["pos"].shape, mesh, rules)
    return dict(k=kv, v=kv, pos=row, valid=row)
  out = dict(slots(cache), index=NamedSharding(mesh, P()))
  if "prefix" in cache:
    out["prefix"] = slots(cache["prefix"])
  return out


# ------------------------------------------------------------------------------------------------ multi-host
def maybe_initialize_distributed(flag: bool) -> bool:
  """Call `jax.distributed.initialize()` (coordinator, process count and id from the TPU/GPU cluster environment)
  when `flag` is set; a no-op otherwise or when already initialised. Must run before any other JAX call.

  Returns whether the distributed runtime is (now) initialised.
  """
  if not flag:
    return False
  from jax._src import distributed as _dist  # The public API has no "is initialised" query.
  if getattr(_dist.global_state, "client", None) is not None:
    return True
  jax.distributed.initialize()
  return True


def is_primary() -> bool:
  """Whether this process writes a run's shared files (process 0 of a multi-process job; always in one process)."""
  return jax.process_index() == 0


def shard_for_process(n_items: int, process_index: int | None = None, process_count: int | None = None) -> range:
  """The contiguous block of item indices [0, n_items) this process generates (blocks differ in size by <= 1).

  Every process writes its own output shard; concatenating shards in process order gives items 0..n_items-1.
  """
  i = jax.process_index() if process_index is None else process_index
  n = jax.process_count() if process_count is None else process_count
  if not 0 <= i < n:
    raise UserError(f"process_index {i} is outside [0, {n}).")
  base, extra = divmod(n_items, n)
  start = i * base + min(i, extra)
  return range(start, start + base + (1 if i < extra else 0))
