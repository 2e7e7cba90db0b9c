"""One lazy cache of the models a pipeline uses, by role: each is loaded on first use, once.

A method declares its roles as {role: Role(checkpoint, loader)} (SoftSRV: generator, context, answer, mauve; NOMAD:
teacher, student, encoder). Loading a decoder takes seconds to minutes and holds its weights in memory, so a stage
that never runs never loads its model, and roles naming the same checkpoint with the same loader share one object
(SoftSRV's context embedder, answer model and MAUVE featuriser are all SmolLM2 by default). Objects passed in already
loaded (tests, notebooks, a driver running several pipelines on one base model) are used as they are and never
reloaded. `put` adds an object made in this process under a new role (NOMAD's teacher trained a stage earlier);
`release` drops loaded objects so their memory can be freed (a later use loads again).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from datasynth.models.loaders import load_model


@dataclasses.dataclass(frozen=True)
class Role:
  """What a role loads: `load(checkpoint)` (a preset name or a path; None means the loader's default)."""
  checkpoint: str | None
  load: Callable[[Any], Any] = load_model


class ModelCache:
  """The models of `roles`, each loaded on first `cache[role]`; `given` holds roles passed in already loaded."""

  def __init__(self, roles: Mapping[str, Role], **given: Any):
    unknown = sorted(set(given) - set(roles))
    if unknown:
      raise TypeError(f"Unknown model roles {unknown}; this pipeline's roles are {sorted(roles)}.")
    self.roles = dict(roles)
    self._loaded = {r: m for r, m in given.items() if m is not None}
    self._given = frozenset(self._loaded)

  def loaded(self, role: str) -> bool:
    """Whether `role` is in memory (passed in, put, or used once): nothing loads."""
    return role in self._loaded

  def __getitem__(self, role: str) -> Any:
    if role not in self._loaded:
      if role not in self.roles:
        raise KeyError(f"No model role {role!r}; known: {sorted(self.roles)} and put {sorted(self._loaded)}.")
      spec = self.roles[role]
      same = [r for r in self._loaded if r in self.roles and self.roles[r] == spec]
      self._loaded[role] = self._loaded[same[0]] if same else spec.load(spec.checkpoint)
    return self._loaded[role]

  def put(self, role: str, model: Any) -> None:
    """Hold `model` (made in this process, e.g. a model just trained) under `role`, a name outside `roles`."""
    if role in self.roles:
      raise ValueError(f"{role!r} is a declared role; pass its model to the constructor instead.")
    self._loaded[role] = model

  def release(self, *roles: str) -> None:
    """Drop the objects this cache loaded or was put for `roles` (all when none named); a later use loads again.
    Objects passed to the constructor stay: the caller owns them and nothing could load them again."""
    for role in roles or list(self._loaded):
      if role not in self._given:
        self._loaded.pop(role, None)
