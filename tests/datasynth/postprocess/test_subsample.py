"""Diversity subsampling (datasynth/postprocess/subsample.py, SoftSRV A.2)."""
import collections

import numpy as np
import pytest

from datasynth.postprocess.subsample import diversity_subsample, round_robin
from datasynth.utils.errors import UserError


def _groups(n_groups: int, per_group: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
  """Texts in well-separated topics: group g draws 6 of its own 12 words."""
  rng = np.random.default_rng(seed)
  texts, group = [], []
  for i in range(n_groups * per_group):
    g = i % n_groups
    texts.append(" ".join(f"g{g}w{j}" for j in rng.choice(12, 6, replace=False)))
    group.append(g)
  return texts, np.array(group)


def test_round_robin_takes_one_per_cluster_per_round_in_cluster_order():
  labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])  # Sizes 4, 3, 3.
  indices, rounds = round_robin(labels, 8, seed=0)
  assert labels[indices].tolist() == [0, 1, 2, 0, 1, 2, 0, 1]
  assert rounds.tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
  assert len(set(indices.tolist())) == 8  # Without replacement.


def test_an_exhausted_cluster_drops_out_of_later_rounds():
  labels = np.array([0, 1, 1, 1])
  indices, rounds = round_robin(labels, 4, seed=3)
  assert labels[indices].tolist() == [0, 1, 1, 1] and rounds.tolist() == [0, 0, 1, 2]


def test_two_per_cluster_when_n_s_is_twice_the_clusters_and_every_cluster_has_two():
  texts, _ = _groups(n_groups=5, per_group=6)
  sel = diversity_subsample(texts, 10, svd_components=4, clusters=5, seed=0)
  assert len(sel.indices) == 10 and len(set(sel.indices.tolist())) == 10
  assert collections.Counter(sel.cluster.tolist()) == {c: 2 for c in range(5)}
  assert sel.round.tolist() == [0] * 5 + [1] * 5


def test_clusters_follow_the_topics_and_are_numbered_by_first_appearance():
  texts, group = _groups(n_groups=4, per_group=5)
  sel = diversity_subsample(texts, 8, svd_components=3, clusters=4, seed=1)
  assert sel.cluster.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
  assert group[sel.indices].tolist() == sel.cluster.tolist()  # Group g first appears at index g.


def test_the_same_seed_gives_the_same_selection_and_another_seed_differs():
  texts, _ = _groups(n_groups=6, per_group=10)
  a = diversity_subsample(texts, 20, svd_components=5, clusters=6, seed=0)
  b = diversity_subsample(texts, 20, svd_components=5, clusters=6, seed=0)
  c = diversity_subsample(texts, 20, svd_components=5, clusters=6, seed=1)
  assert a.indices.tolist() == b.indices.tolist()
  assert a.indices.tolist() != c.indices.tolist()


def test_n_s_at_least_the_input_keeps_everything_in_order_unclustered():
  texts, _ = _groups(2, 3)
  for n_s in (0, 6, 100):
    sel = diversity_subsample(texts, n_s)
    assert sel.indices.tolist() == list(range(6)) and sel.n_clusters == 0 and set(sel.cluster.tolist()) == {-1}


def test_fewer_texts_than_components_and_clusters_clamps_both():
  texts, _ = _groups(n_groups=3, per_group=4)  # 12 texts, 36 words: components -> 11, clusters -> 12.
  sel = diversity_subsample(texts, 5, seed=0)  # Paper defaults: 100 components, 700 clusters.
  assert len(sel.indices) == 5
  assert sel.n_components == 11 and sel.n_clusters <= 12


def test_negative_n_s_and_wordless_texts_are_user_errors():
  with pytest.raises(UserError, match="num_subsample"):
    diversity_subsample(["a b"], -1)
  with pytest.raises(UserError, match="no words"):
    diversity_subsample(["!", "?", "."], 1)
