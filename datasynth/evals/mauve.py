"""MAUVE: distance between a model's text distribution and human text (Pillutla et al., NeurIPS 2021).

Written from the paper and SoftSRV's Appendix A.7 (which follows it):
  1. Embed each text: mean of a small LM's per-token final hidden states over the real (unpadded) tokens — the
     same lossy embedding SoftSRV uses for its context `E(x)` — or, as an option, the last real token's state.
  2. Quantise jointly: PCA fit on both sets together, keeping the fewest components that explain 90% of the
     variance, then k-means over both sets together (k clusters). P and Q are the cluster histograms of the two sets.
  3. Divergence curve (paper Eq. 1): for lambda in (0, 1), R_lambda = lambda P + (1 - lambda) Q and the point
     (exp(-c KL(Q || R_lambda)), exp(-c KL(P || R_lambda))) with scaling constant c (paper: 5). MAUVE is the area
     under this curve, closed by the endpoints (0, 1) and (1, 0). Identical distributions give 1; disjoint give ~0.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from datasynth.decode.buckets import round_up
from datasynth.jobs import memo
from datasynth.models.decoder import Decoder
from datasynth.utils import progress as progress_lib
from datasynth.utils.errors import UserError
from datasynth.utils.io import save_figure


@dataclasses.dataclass
class MauveResult:
  mauve: float  # Area under the divergence curve, in [0, 1].
  curve: np.ndarray  # [num_points, 2] divergence curve (x = exp(-c KL(Q||R)), y = exp(-c KL(P||R))), x ascending.
  num_clusters: int  # k used by k-means.
  p_hist: np.ndarray  # [k] cluster histogram of the p set (sums to 1).
  q_hist: np.ndarray  # [k] cluster histogram of the q set.
  pca_dims: int  # Principal components kept.
  scaling: float  # The constant c.


# ----------------------------------------------------------------------------------------------------------------
# Features: mean (or last-token) final hidden state of a decoder.

def sequence_features(model, params, tokenizer, texts: Sequence[str], *, batch_size: int = 8,
                      max_tokens: int = 256, pooling: str = "mean", progress: bool = True) -> np.ndarray:
  """[N, width] float32 features of `texts`: the decoder's final hidden states pooled over real tokens.

  model: a `datasynth.models.decoder.Decoder`; params: its params; tokenizer: its `Tokenizer`. pooling: "mean" (the
  paper's choice, mean over the padding mask) or "last" (the last real token). Texts are truncated to their first
  `max_tokens` tokens, as MAUVE's reference setting truncates long texts; this is the definition of the feature,
  not an error.
  """
  import jax
  import jax.numpy as jnp
  if pooling not in ("mean", "last"):
    raise UserError(f"pooling must be 'mean' or 'last', got {pooling!r}.")
  if not texts:
    raise UserError("sequence_features got no texts; pass at least one.")
  ids = [tokenizer.encode(t)[:max_tokens] for t in texts]
  for i, seq in enumerate(ids):
    if not seq:
      raise UserError(f"Text {i} encodes to no tokens; drop empty texts before computing features.")

  @jax.jit
  def pooled(p, tokens, mask):
    h = model.apply({"params": p}, tokens, input_mask=mask, logits=False).final_hidden.astype(jnp.float32)
    m = mask.astype(jnp.float32)[..., None]
    if pooling == "mean":
      return jnp.sum(h * m, axis=1) / jnp.maximum(jnp.sum(m, axis=1), 1.0)
    last = jnp.sum(mask, axis=1) - 1  # Right padding: the last real token.
    return jnp.take_along_axis(h, last[:, None, None], axis=1)[:, 0]

  order = np.argsort([len(s) for s in ids], kind="stable")  # Similar lengths share a batch: less padding.
  out = np.zeros((len(texts), model.config.width), np.float32)
  for start in progress_lib.bar(iterable=range(0, len(order), batch_size), desc="MAUVE features", unit="batch",
                                enabled=progress):
    rows = order[start:start + batch_size]
    batch = [ids[r] for r in rows]
    batch += [batch[-1]] * (batch_size - len(batch))  # Fixed batch shape; the copies are dropped below.
    tokens, mask = tokenizer.pad_batch(batch, length=round_up(max(len(s) for s in batch), 32))
    out[rows] = np.asarray(pooled(params, tokens, mask))[:len(rows)]
  return out


# ----------------------------------------------------------------------------------------------------------------
# Quantisation and the divergence curve.

def quantize(p_features: np.ndarray, q_features: np.ndarray, *, num_clusters: int, explained_variance: float = 0.9,
             num_redo: int = 5, max_iter: int = 500, seed: int = 25, normalize: bool = True):
  """Joint PCA (explained-variance cut) + joint k-means. Returns (p_hist, q_hist, pca_dims)."""
  from sklearn.cluster import KMeans
  from sklearn.decomposition import PCA

  x = np.concatenate([p_features, q_features]).astype(np.float64)
  if normalize:  # Unit-norm rows: clusters by direction, insensitive to the overall scale of the hidden states.
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
  pca = PCA(n_components=None, svd_solver="full", random_state=seed + 1).fit(x)
  cum = np.cumsum(pca.explained_variance_ratio_)
  dims = int(min(np.searchsorted(cum, explained_variance) + 1, len(cum)))  # Fewest components reaching the cut.
  z = pca.transform(x)[:, :dims]
  km = KMeans(n_clusters=num_clusters, n_init=num_redo, max_iter=max_iter, random_state=seed).fit(z)
  labels = km.labels_
  n_p = len(p_features)
  p_hist = np.bincount(labels[:n_p], minlength=num_clusters) / n_p
  q_hist = np.bincount(labels[n_p:], minlength=num_clusters) / (len(labels) - n_p)
  return p_hist, q_hist, dims


def _kl(a: np.ndarray, b: np.ndarray) -> float:
  """KL(a || b) = sum_i a_i log(a_i / b_i), with 0 log 0 = 0."""
  nz = a > 0
  with np.errstate(divide="ignore"):
    return float(np.sum(a[nz] * (np.log(a[nz]) - np.log(b[nz]))))


def divergence_curve(p_hist: np.ndarray, q_hist: np.ndarray, *, scaling: float = 5.0,
                     num_lambdas: int = 25) -> np.ndarray:
  """Points (exp(-c KL(Q||R_l)), exp(-c KL(P||R_l))), R_l = l P + (1 - l) Q, plus (0, 1) and (1, 0), x ascending."""
  lambdas = np.linspace(1e-6, 1 - 1e-6, num_lambdas)
  pts = [[0.0, 1.0]]
  for lam in lambdas:
    r = lam * p_hist + (1 - lam) * q_hist  # Eq. 1: the mixture R_lambda.
    pts.append([np.exp(-scaling * _kl(q_hist, r)), np.exp(-scaling * _kl(p_hist, r))])
  pts.append([1.0, 0.0])
  pts = np.array(pts)
  return pts[np.argsort(pts[:, 0], kind="stable")]


def area_under(curve: np.ndarray) -> float:
  """Trapezoid area under a curve whose x is ascending."""
  x, y = curve[:, 0], curve[:, 1]
  return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


PAPER_NUM_CLUSTERS = 32  # SoftSRV's setting (App. A.7); pass it as num_clusters at the paper's sample sizes.


def default_num_clusters(n_p: int, n_q: int) -> int:
  """k = one cluster per 10 samples of the smaller set (at least 2), the MAUVE paper's rule of thumb."""
  return max(2, int(round(min(n_p, n_q) / 10)))


def compute_mauve(p_features, q_features, *, num_clusters: int | None = None, scaling: float = 5.0,
                  explained_variance: float = 0.9, num_redo: int = 5, max_iter: int = 500, num_lambdas: int = 25,
                  seed: int = 25, normalize: bool = True) -> MauveResult:
  """MAUVE between two feature sets [N_p, d] and [N_q, d] (p: e.g. human text, q: model text)."""
  p, q = np.asarray(p_features, np.float64), np.asarray(q_features, np.float64)
  for name, a in (("p_features", p), ("q_features", q)):
    if a.ndim != 2 or len(a) < 2:
      raise UserError(f"{name} must be a [N >= 2, d] array, got shape {a.shape}.")
    if not np.all(np.isfinite(a)):
      raise UserError(f"{name} contains NaN or inf; check the feature extractor.")
  if p.shape[1] != q.shape[1]:
    raise UserError(f"p_features and q_features differ in width ({p.shape[1]} vs {q.shape[1]}); "
                    "compute both with the same model.")
  k = default_num_clusters(len(p), len(q)) if num_clusters is None else int(num_clusters)
  if not 2 <= k <= len(p) + len(q):
    raise UserError(f"num_clusters={k} must be in [2, {len(p) + len(q)}] (the number of samples).")
  p_hist, q_hist, dims = quantize(p, q, num_clusters=k, explained_variance=explained_variance, num_redo=num_redo,
                                  max_iter=max_iter, seed=seed, normalize=normalize)
  curve = divergence_curve(p_hist, q_hist, scaling=scaling, num_lambdas=num_lambdas)
  return MauveResult(mauve=area_under(curve), curve=curve, num_clusters=k, p_hist=p_hist, q_hist=q_hist,
                     pca_dims=dims, scaling=scaling)


def plot_divergence_curve(result: MauveResult | Sequence[tuple[str, MauveResult]], path: str,
                          title: str = "MAUVE divergence curve") -> str:
  """Write the divergence curve(s) as a PNG (atomically: temp name, then rename). Returns `path`."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  runs = [("", result)] if isinstance(result, MauveResult) else list(result)
  fig, ax = plt.subplots(figsize=(5, 5))
  for label, r in runs:
    name = f"{label} " if label else ""
    ax.plot(r.curve[:, 0], r.curve[:, 1], marker=".", label=f"{name}MAUVE={r.mauve:.3f}")
  ax.set_xlabel("exp(-c KL(Q || R_lambda))")
  ax.set_ylabel("exp(-c KL(P || R_lambda))")
  ax.set_xlim(0, 1.02)
  ax.set_ylim(0, 1.02)
  ax.set_title(title)
  ax.legend(loc="lower left")
  save_figure(fig, path, dpi=100)
  plt.close(fig)
  return path


def random_subset(texts: Sequence[str], num: int, seed: int) -> list[str]:
  """`num` texts drawn without replacement (kept in their order), fixed by `seed`; all of them when num is 0."""
  if not num or num >= len(texts):
    return list(texts)
  idx = np.sort(np.random.default_rng(seed).choice(len(texts), num, replace=False))
  return [texts[i] for i in idx]


def mauve_against(texts: Sequence[str], references: dict[str, Sequence[str]], feature_model, *, num_examples: int,
                  seed: int = 0, batch_size: int = 8, max_tokens: int = 256, num_clusters: int | None = None,
                  png: str | None = None, title: str = "MAUVE", progress: bool = True,
                  cache_dir: str | None = None) -> dict[str, dict]:
  """MAUVE of `texts` (q) against each reference set (p), e.g. {"train": ..., "test": ...} (SoftSRV Tables 4, 5).

  Both sides are random subsets of `num_examples` (seeded); features are `sequence_features` of `feature_model` (a
  `LoadedModel`), memoised under `cache_dir` when given (`datasynth.jobs.memo`: a reference fold's features are computed
  once for every call, and every run, that shares the folder). Returns {name: {mauve, num_clusters, num_p, num_q}};
  writes the divergence curves to `png`.
  """
  decoder = Decoder(feature_model.config)

  def features(batch):
    return memo.cached(cache_dir, "features", feature_model, batch, lambda: sequence_features(
        decoder, feature_model.params, feature_model.tokenizer, batch, batch_size=batch_size, max_tokens=max_tokens,
        progress=progress), max_tokens=max_tokens)
  q_texts = random_subset(list(texts), num_examples, seed)
  q = features(q_texts)
  out, curves = {}, []
  for name, ref in references.items():
    p_texts = random_subset(list(ref), num_examples, seed)
    res = compute_mauve(features(p_texts), q, num_clusters=num_clusters or None)
    out[name] = dict(mauve=res.mauve, num_clusters=res.num_clusters, num_p=len(p_texts), num_q=len(q_texts))
    curves.append((f"vs {name}", res))
  if png:
    plot_divergence_curve(curves, png, title=title)
  return out
