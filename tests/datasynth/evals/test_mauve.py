"""MAUVE: limits (identical -> 1, disjoint -> ~0), monotone in a shift, agreement with the `mauve-text` package, and
features from the embedded SmolLM2."""

import numpy as np
import pytest

from datasynth.data.records import load_task
from datasynth.evals import mauve as M
from datasynth.models.decoder import Decoder


def _blobs(rng, n, weights, centers, std=0.05):
  """n points from a mixture of tight Gaussian blobs around `centers` with mixture `weights`."""
  idx = rng.choice(len(centers), size=n, p=np.asarray(weights) / np.sum(weights))
  return centers[idx] + std * rng.normal(size=(n, centers.shape[1]))


@pytest.fixture(scope="module")
def centers():
  # 8 well-separated clusters in 24 dims, on 8 orthogonal directions: PCA at 90% variance keeps them all apart.
  return np.concatenate([5.0 * np.eye(8), np.zeros((8, 16))], axis=1)


def test_identical_samples_score_one():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(300, 32))
  r = M.compute_mauve(x, x.copy(), num_clusters=16)
  assert r.mauve >= 0.99
  np.testing.assert_allclose(r.p_hist, r.q_hist)
  assert r.curve.shape[1] == 2 and np.all(np.diff(r.curve[:, 0]) >= 0)


def test_disjoint_distributions_score_near_zero():
  rng = np.random.default_rng(1)
  p = rng.normal(size=(200, 16))
  q = rng.normal(size=(200, 16)) + 50.0
  r = M.compute_mauve(p, q, num_clusters=10, normalize=False)
  assert r.mauve < 0.02
  # Every cluster holds one set only.
  assert np.all((r.p_hist == 0) | (r.q_hist == 0))


def test_monotone_drop_as_q_is_shifted():
  rng = np.random.default_rng(2)
  p = rng.normal(size=(400, 16))
  base = rng.normal(size=(400, 16))
  scores = []
  for shift in [0.0, 0.5, 1.0, 2.0, 4.0]:
    q = base.copy()
    q[:, :4] += shift
    scores.append(M.compute_mauve(p, q, num_clusters=10, normalize=False).mauve)
  assert scores[0] > 0.9 and scores[-1] < 0.1, scores
  assert all(a > b for a, b in zip(scores, scores[1:])), scores


def test_monotone_drop_as_q_moves_to_new_modes(centers):
  rng = np.random.default_rng(3)
  p = _blobs(rng, 400, [1] * 4 + [0] * 4, centers)
  scores = []
  for frac in [0.0, 0.25, 0.5, 0.75, 1.0]:
    q = _blobs(rng, 400, [1 - frac] * 4 + [frac] * 4, centers)
    scores.append(M.compute_mauve(p, q, num_clusters=8).mauve)
  assert all(a > b for a, b in zip(scores, scores[1:])), scores
  assert scores[0] > 0.95 and scores[-1] < 0.02, scores


def test_divergence_curve_closed_form():
  # Disjoint supports: R_l has mass l on P's support, so the curve is ((1-l)^c, l^c) and the area is c B(c+1, c).
  p, q = np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.0, 1.0])
  curve = M.divergence_curve(p, q, scaling=5.0, num_lambdas=2001)
  assert M.area_under(curve) == pytest.approx(5 * 120 * 24 / 3628800, abs=1e-4)


def test_bad_input_errors():
  with pytest.raises(ValueError, match="differ in width"):
    M.compute_mauve(np.zeros((5, 3)), np.zeros((5, 4)))
  with pytest.raises(ValueError, match="NaN"):
    M.compute_mauve(np.full((5, 3), np.nan), np.zeros((5, 3)))


@pytest.mark.parametrize("weights_q", [[1, 1, 1, 1, 1, 1, 1, 1], [3, 1, 1, 1, 1, 1, 1, 0.2], [1, 1, 1, 1, 0, 0, 2, 4],
                                       [0, 0, 0, 1, 2, 3, 4, 5]])
def test_agrees_with_mauve_text_package(centers, weights_q):
  mauve_ref = pytest.importorskip("mauve")  # GPL reference, used only as a test oracle.
  rng = np.random.default_rng(sum(int(10 * w) for w in weights_q))
  p = _blobs(rng, 300, [1] * 8, centers)
  q = _blobs(rng, 300, weights_q, centers)
  ours = M.compute_mauve(p, q, num_clusters=8)
  ref = mauve_ref.compute_mauve(p_features=p, q_features=q, num_buckets=8, kmeans_explained_var=0.9,
                                kmeans_num_redo=5, mauve_scaling_factor=5, verbose=False)
  assert abs(ours.mauve - ref.mauve) < 0.05, (ours.mauve, ref.mauve)
  # Same histograms -> the same curve: our curve on the package's histograms reproduces its score exactly.
  curve = M.divergence_curve(np.asarray(ref.p_hist), np.asarray(ref.q_hist))
  assert M.area_under(curve) == pytest.approx(ref.mauve, abs=1e-6)


def test_plot_writes_png(tmp_path):
  rng = np.random.default_rng(4)
  r = M.compute_mauve(rng.normal(size=(60, 8)), rng.normal(size=(60, 8)) + 0.5, num_clusters=6)
  path = M.plot_divergence_curve([("shifted", r)], str(tmp_path / "curve.png"))
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]  # No temp file left behind.


def test_smollm2_features_on_mbpp(smollm2, data_dir):
  texts = [r.prompt for r in load_task("mbpp", "prompt", str(data_dir))][:5]
  model = Decoder(smollm2.config)
  feats = M.sequence_features(model, smollm2.params, smollm2.tokenizer, texts, batch_size=4, progress=False)
  assert feats.shape == (5, smollm2.config.width) and np.all(np.isfinite(feats))
  # Padding invariance: the shortest text alone (no padding partner) gives the same mean feature.
  i = int(np.argmin([len(smollm2.tokenizer.encode(t)) for t in texts]))
  alone = M.sequence_features(model, smollm2.params, smollm2.tokenizer, [texts[i]], batch_size=1, progress=False)
  np.testing.assert_allclose(alone[0], feats[i], atol=2e-4, rtol=1e-3)
  last = M.sequence_features(model, smollm2.params, smollm2.tokenizer, texts, batch_size=4, pooling="last",
                             progress=False)
  assert not np.allclose(last, feats)
  # Different texts get different features, and MAUVE of a set with itself is 1.
  assert np.min(np.linalg.norm(feats[:, None] - feats[None], axis=-1) + np.eye(5) * 1e9) > 1e-3
  assert M.compute_mauve(feats, feats, num_clusters=2).mauve >= 0.99


def test_mauve_against_memoises_features_so_a_shared_fold_is_computed_once(smollm2, data_dir, tmp_path, monkeypatch):
  texts = [r.prompt for r in load_task("mbpp", "prompt", str(data_dir))]
  q, train, test = texts[:4], texts[4:7], texts[7:10]
  first = M.mauve_against(q, {"train": train, "test": test}, smollm2, num_examples=0, batch_size=4,
                          num_clusters=2, progress=False, cache_dir=str(tmp_path))
  assert len(list(tmp_path.glob("features-*.npy"))) == 3  # q, train, test.
  uncached = M.mauve_against(q, {"train": train, "test": test}, smollm2, num_examples=0, batch_size=4,
                             num_clusters=2, progress=False)
  assert first == uncached
  monkeypatch.setattr(M, "sequence_features", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
  again = M.mauve_against(train, {"test": test}, smollm2, num_examples=0, batch_size=4, num_clusters=2,
                          progress=False, cache_dir=str(tmp_path))  # train vs test: both folds from the memo.
  assert (again["test"]["num_p"], again["test"]["num_q"]) == (3, 3) and np.isfinite(again["test"]["mauve"])
