"""Pytree comparisons shared by the SoftSRV tests."""
import jax
import numpy as np


def assert_trees_equal(a, b, **tol):
  """Leaf by leaf: bitwise equal, or within `assert_allclose` tolerances when given (rtol=..., atol=...)."""
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    if tol:
      np.testing.assert_allclose(x, y, **tol)
    else:
      np.testing.assert_array_equal(x, y)
