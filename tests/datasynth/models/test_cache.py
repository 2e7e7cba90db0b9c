"""ModelCache: each role loads once on first use, roles naming one checkpoint share it, given objects are kept."""
import pytest

from datasynth.models.cache import ModelCache, Role


def _counting_loader():
  calls = []

  def load(checkpoint):
    calls.append(checkpoint)
    return {"checkpoint": checkpoint, "n": len(calls)}
  return load, calls


def test_roles_load_once_on_first_use_and_share_one_checkpoint():
  load, calls = _counting_loader()
  cache = ModelCache(dict(a=Role("x", load), b=Role("x", load), c=Role("y", load)))
  assert not any(cache.loaded(r) for r in "abc") and calls == []
  assert cache["a"] is cache["a"] and calls == ["x"]
  assert cache["b"] is cache["a"] and calls == ["x"]  # Same checkpoint and loader: one object.
  assert cache["c"]["checkpoint"] == "y" and calls == ["x", "y"]
  other, other_calls = _counting_loader()
  cache = ModelCache(dict(a=Role("x", load), b=Role("x", other)))
  assert cache["a"] is not cache["b"] and other_calls == ["x"]  # Another loader (an encoder vs a decoder): its own.


def test_given_objects_are_used_shared_and_survive_release():
  load, calls = _counting_loader()
  given = object()
  cache = ModelCache(dict(a=Role("x", load), b=Role("x", load), c=Role("z", load)), a=given, c=None)
  assert cache.loaded("a") and not cache.loaded("c")  # None: not given, loads on use.
  assert cache["a"] is given and cache["b"] is given and calls == []
  cache.put("trained", 42)
  assert cache.loaded("trained") and cache["trained"] == 42
  cache["c"]
  cache.release()
  assert cache.loaded("a") and not cache.loaded("b") and not cache.loaded("c") and not cache.loaded("trained")
  assert cache["c"] is not None and calls == ["z", "z"]  # Released: a later use loads again.
  cache.release("c")
  assert not cache.loaded("c")


def test_unknown_and_declared_roles_are_refused():
  load, _ = _counting_loader()
  with pytest.raises(TypeError, match="Unknown model roles \\['typo'\\]"):
    ModelCache(dict(a=Role("x", load)), typo=object())
  cache = ModelCache(dict(a=Role("x", load)))
  with pytest.raises(KeyError, match="No model role 'b'"):
    cache["b"]
  with pytest.raises(ValueError, match="declared role"):
    cache.put("a", object())
