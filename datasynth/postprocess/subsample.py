"""Diversity subsampling (SoftSRV Appendix A.2).

Paper -> code (`diversity_subsample`):
- Features: scikit-learn `TfidfVectorizer` (defaults: lower-case, word tokens of 2+ word characters) ->
  `TruncatedSVD(n_components=100)` -> `MiniBatchKMeans(n_clusters=700)`.
- Selection: one example drawn uniformly at random without replacement from each cluster, cycling over the clusters
  (round-robin), until N_s are chosen (paper: N_s = 50K for MBPP and GSM8K, 20K for BoolQ). A cluster that runs out
  simply drops out of later rounds. Implemented without a Python loop: shuffle each cluster's members (a seeded
  permutation, then a stable sort by cluster), call a member's position inside its cluster its `round`, and take the
  first N_s by (round, cluster order).

Where the code departs from the paper, and why:
- N_s >= N (or N_s = 0 from the driver): every text is kept in input order and nothing is clustered (the paper's
  sets always exceed N_s); `cluster` and `round` are then -1.
- Small inputs: `TruncatedSVD` needs fewer components than features and documents, and k-means fewer clusters than
  documents, so both are clamped: components = min(100, n_features - 1, N - 1), clusters = min(700, N). With fewer
  than 2 usable features the TF-IDF matrix is clustered directly. The values used are returned.
- Determinism: SVD and k-means are seeded with `seed`, and k-means label numbers (arbitrary) are replaced by the
  cluster order: clusters are numbered by the first input index they contain, so the same input and seed give the
  same selection on every run, and round 0 visits clusters in input order.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from datasynth.utils.errors import UserError


@dataclasses.dataclass(frozen=True)
class Selection:
  indices: np.ndarray  # [N_s] int64 input positions, in selection order.
  cluster: np.ndarray  # [N_s] the chosen text's cluster (0 = the cluster holding the first input text); -1: none.
  round: np.ndarray  # [N_s] the round-robin round that chose it (0-based); -1 when nothing was clustered.
  n_components: int  # SVD components actually used (0: none).
  n_clusters: int  # Non-empty clusters (0: not clustered).


def _features(texts: Sequence[str], svd_components: int, seed: int) -> tuple[np.ndarray, int]:
  """TF-IDF -> TruncatedSVD; returns the [N, c] features and c (0 when the TF-IDF matrix is used as is)."""
  from sklearn.decomposition import TruncatedSVD
  from sklearn.feature_extraction.text import TfidfVectorizer
  try:
    tfidf = TfidfVectorizer().fit_transform(texts)  # float64: sklearn's float32 distance path is ~6x slower.
  except ValueError as e:  # "empty vocabulary": no text has a word of 2+ characters.
    raise UserError(f"Diversity subsampling: no words in the {len(texts)} texts ({e}); check the text field of "
                    "the generated rows.") from e
  c = min(svd_components, tfidf.shape[1] - 1, tfidf.shape[0] - 1)
  if c < 1:
    return tfidf.toarray(), 0
  return TruncatedSVD(n_components=c, random_state=seed).fit_transform(tfidf), c


def _cluster(x: np.ndarray, clusters: int, seed: int) -> np.ndarray:
  """MiniBatchKMeans labels renumbered by first appearance (cluster 0 holds text 0)."""
  from sklearn.cluster import MiniBatchKMeans
  k = min(clusters, x.shape[0])
  labels = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=1).fit_predict(x)
  used, first = np.unique(labels, return_index=True)  # Each used label and its first position.
  order = np.empty(labels.max() + 1, np.int64)
  order[used] = np.argsort(np.argsort(first))
  return order[labels]


def round_robin(labels: np.ndarray, num_subsample: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """A.2's draw: one random member per cluster per round; returns (indices, rounds) in selection order."""
  rng = np.random.default_rng(seed)
  shuffled = rng.permutation(labels.shape[0])
  by_cluster = shuffled[np.argsort(labels[shuffled], kind="stable")]  # Clusters in order, members shuffled.
  sizes = np.bincount(labels)
  starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
  rounds = np.arange(labels.shape[0]) - starts
  take = np.lexsort((labels[by_cluster], rounds))[:num_subsample]
  return by_cluster[take], rounds[take]


def diversity_subsample(texts: Sequence[str], num_subsample: int, *, svd_components: int = 100, clusters: int = 700,
                        seed: int = 0) -> Selection:
  """Choose `num_subsample` (N_s) diverse texts: TF-IDF -> SVD -> MiniBatchKMeans -> round-robin draw (A.2)."""
  if num_subsample < 0:
    raise UserError(f"num_subsample (N_s) is {num_subsample}; use a positive count, or 0 to keep every text.")
  if svd_components < 1 or clusters < 1:
    raise UserError(f"svd_components={svd_components}, clusters={clusters}: both must be >= 1 (paper: 100, 700).")
  n = len(texts)
  if num_subsample == 0 or num_subsample >= n:
    keep = np.arange(n, dtype=np.int64)
    return Selection(keep, np.full(n, -1), np.full(n, -1), 0, 0)
  x, c = _features(texts, svd_components, seed)
  labels = _cluster(x, clusters, seed)
  indices, rounds = round_robin(labels, num_subsample, seed)
  return Selection(indices.astype(np.int64), labels[indices], rounds, c, int(labels.max()) + 1)
