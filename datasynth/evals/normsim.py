"""NormSim: how close each synthetic example sits to the original set (relevance vs novelty).

Paper (Chen et al., Sec. 5, Figure 2): with f a sentence encoder whose outputs are L2-normalised (all-mpnet-base-v2
in the paper; the embedded all-MiniLM-L6-v2 by default here, `datasynth.models.encoder`),

  NormSim(x) = max_{z in X_original} f(z)^T f(x)      (a cosine similarity in [-1, 1])

computed for prompts and responses separately. Figure 2 plots, for each threshold s, the share of synthetic examples
with NormSim > s (one curve per synthetic set); its medians and quartiles summarise relevance (high) vs novelty (low).

`normsim(x, z)` never forms the full [N, M] similarity matrix: x is cut into blocks of `block_x` rows and z into
blocks of `block_z` rows; for each x block one jitted program scans the z blocks, keeping a running max, so memory is
O(block_x * block_z + (N + M) * D) (300K x 300K at D = 768 needs ~1 GB of features and a 32 MB score block at the
defaults). Padding rows of the last z block are masked to -inf; padding rows of the last x block are dropped.
`normsim_reference` is the plain matrix version the tests compare against.
"""
from __future__ import annotations

import os
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from datasynth.utils.errors import UserError
from datasynth.utils.io import save_figure, write_json

FIELDS = ("prompt", "response")
DEFAULT_THRESHOLDS = np.round(np.linspace(0.0, 1.0, 101), 2)


def normsim_reference(x: np.ndarray, z: np.ndarray) -> np.ndarray:
  """max_j z_j . x_i from the full matrix (the plain definition; O(N M) memory)."""
  return (np.asarray(x, np.float32) @ np.asarray(z, np.float32).T).max(axis=1)


@jax.jit
def _block_max(xb: jax.Array, zblocks: jax.Array, zvalid: jax.Array) -> jax.Array:
  """xb [bx, D], zblocks [nz, bz, D], zvalid [nz, bz] -> max over valid z of z . x, [bx]."""
  def step(running, blk):
    z, valid = blk
    s = jnp.einsum("xd,zd->xz", xb, z, preferred_element_type=jnp.float32)
    return jnp.maximum(running, jnp.max(jnp.where(valid[None, :], s, -jnp.inf), axis=1)), None
  init = jnp.full((xb.shape[0],), -jnp.inf, jnp.float32)
  return jax.lax.scan(step, init, (zblocks, zvalid))[0]


def _blocks(a: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
  """a [n, D] -> zero-padded [ceil(n / size), size, D] and its validity mask."""
  n, d = a.shape
  nb = -(-n // size)
  padded = np.zeros((nb * size, d), np.float32)
  padded[:n] = a
  valid = np.arange(nb * size) < n
  return padded.reshape(nb, size, d), valid.reshape(nb, size)


def _check(x: np.ndarray, z: np.ndarray) -> None:
  if x.ndim != 2 or z.ndim != 2 or x.shape[1] != z.shape[1]:
    raise UserError(f"NormSim needs feature matrices [N, D] and [M, D] of one width, got {x.shape} and {z.shape}.")
  if not len(x) or not len(z):
    raise UserError(f"NormSim got an empty set ({len(x)} synthetic, {len(z)} original examples); both need at least "
                    "one example.")


def normsim(x: np.ndarray, z: np.ndarray, *, block_x: int = 2048, block_z: int = 4096) -> np.ndarray:
  """NormSim of each row of x (synthetic features [N, D]) against z (original features [M, D]), float32 [N].

  Rows should be L2-normalised (as `SentenceEncoder.encode` returns them), so the dot product is the cosine.
  """
  x, z = np.asarray(x, np.float32), np.asarray(z, np.float32)
  _check(x, z)
  bx, bz = min(block_x, len(x)), min(block_z, len(z))
  zblocks, zvalid = _blocks(z, bz)
  zblocks, zvalid = jax.device_put(zblocks), jax.device_put(zvalid)
  xblocks, _ = _blocks(x, bx)
  out = np.concatenate([np.asarray(_block_max(xb, zblocks, zvalid)) for xb in xblocks])
  return out[:len(x)]


def prompt_response_normsim(encode: Callable[[list[str]], np.ndarray], synthetic: Sequence, original: Sequence,
                            **blocks) -> dict[str, np.ndarray]:
  """NormSim of the synthetic records' prompts (responses) against the original records' prompts (responses).

  encode: texts -> normalised features (e.g. `load_sentence_encoder().encode`); records have .prompt / .response.
  """
  if not synthetic or not original:
    raise UserError(f"NormSim needs synthetic and original records, got {len(synthetic)} and {len(original)}.")
  return {f: normsim(encode([getattr(r, f) for r in synthetic]), encode([getattr(r, f) for r in original]),
                     **blocks) for f in FIELDS}


# ------------------------------------------------------------------------------------------- curve and summary


def share_above(values: np.ndarray, thresholds: np.ndarray = DEFAULT_THRESHOLDS) -> np.ndarray:
  """Figure 2's curve: for each threshold s, the share of examples with NormSim > s."""
  values = np.asarray(values, np.float64)
  return (values[None, :] > np.asarray(thresholds)[:, None]).mean(axis=1)


def summary(values: np.ndarray) -> dict[str, float]:
  """Median, quartiles, mean and range of one run's NormSim values."""
  v = np.asarray(values, np.float64)
  q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
  return dict(n=int(v.size), median=float(med), q1=float(q1), q3=float(q3), mean=float(v.mean()),
              min=float(v.min()), max=float(v.max()))


def report(runs: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, dict[str, dict[str, float]]]:
  """{run: {field: summary}} for runs {run: {"prompt": values, "response": values}}."""
  return {run: {field: summary(v) for field, v in fields.items()} for run, fields in runs.items()}


def plot_curves(runs: Mapping[str, Mapping[str, np.ndarray]], path: str, *, title: str = "NormSim",
                thresholds: np.ndarray = DEFAULT_THRESHOLDS) -> str:
  """Figure 2 as a PNG: one panel per field (prompt, response), one line per run, medians in the legend."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fields = sorted({f for v in runs.values() for f in v}, key=lambda f: (FIELDS + (f,)).index(f))
  fig, axes = plt.subplots(1, len(fields), figsize=(5 * len(fields), 4), squeeze=False)
  for ax, field in zip(axes[0], fields):
    for run, values in runs.items():
      if field in values:
        med = float(np.median(values[field]))
        ax.plot(thresholds, share_above(values[field], thresholds), label=f"{run} (median {med:.3f})")
    ax.set(xlabel="similarity threshold s", ylabel="share of synthetic data with NormSim > s",
           title=f"{title}: {field}s", ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  fig.tight_layout()
  try:
    return save_figure(fig, path)
  finally:
    plt.close(fig)


def write_report(runs: Mapping[str, Mapping[str, np.ndarray]], folder: str, *, title: str = "NormSim") -> dict:
  """normsim.json ({run: {field: summary}}) and normsim.png (Figure 2) in `folder`; returns the summaries."""
  summaries = report(runs)
  write_json(os.path.join(folder, "normsim.json"), summaries)
  plot_curves(runs, os.path.join(folder, "normsim.png"), title=title)
  return summaries
