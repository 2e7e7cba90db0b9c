"""NormSim on hand-checkable vectors, blocked == unblocked, Figure 2's curve, summaries and the plot."""
import json

import numpy as np
import pytest

from datasynth.data.records import Record
from datasynth.evals import normsim
from datasynth.utils.errors import UserError

S = np.sqrt(0.5)


def test_normsim_on_known_vectors():
  z = np.array([[1, 0, 0], [0, 1, 0]], np.float32)  # The original set: two axes.
  x = np.array([[1, 0, 0], [S, S, 0], [0, 0, 1], [-1, 0, 0], [0, -S, S]], np.float32)
  # Identical; 45 degrees from both; orthogonal to both; opposite one, orthogonal to the other; 135 / 90 degrees.
  np.testing.assert_allclose(normsim.normsim(x, z), [1.0, S, 0.0, 0.0, 0.0], atol=1e-6)
  np.testing.assert_allclose(normsim.normsim(x[3:4], z[:1]), [-1.0], atol=1e-6)  # One original: the cosine itself.


@pytest.mark.parametrize("block_x,block_z", [(1, 1), (3, 7), (64, 5), (4096, 4096)])
def test_blocking_equals_the_full_matrix(block_x, block_z):
  rng = np.random.default_rng(0)
  x, z = rng.normal(size=(37, 16)), rng.normal(size=(53, 16))
  x /= np.linalg.norm(x, axis=1, keepdims=True)
  z /= np.linalg.norm(z, axis=1, keepdims=True)
  got = normsim.normsim(x, z, block_x=block_x, block_z=block_z)
  assert got.shape == (37,)
  np.testing.assert_allclose(got, normsim.normsim_reference(x, z), atol=1e-6)


def test_all_negative_similarities_are_not_lost_to_padding():
  z = -np.eye(3, dtype=np.float32)[:1].repeat(5, axis=0)  # Padding rows (zeros) would score 0 if not masked.
  assert normsim.normsim(np.eye(3, dtype=np.float32)[:1], z, block_z=4)[0] == pytest.approx(-1.0)


def test_share_above_is_figure_2s_curve():
  values = np.array([0.1, 0.4, 0.4, 0.9])
  np.testing.assert_allclose(normsim.share_above(values, np.array([0.0, 0.4, 0.5, 0.95])), [1.0, 0.25, 0.25, 0.0])
  curve = normsim.share_above(np.random.default_rng(1).uniform(size=200))
  assert curve[0] == 1.0 and curve[-1] == 0.0 and np.all(np.diff(curve) <= 0)


def test_summary_gives_median_and_quartiles():
  s = normsim.summary(np.arange(1, 10) / 10)
  assert (s["n"], s["median"], s["q1"], s["q3"]) == (9, pytest.approx(0.5), pytest.approx(0.3), pytest.approx(0.7))


def test_prompts_and_responses_are_scored_separately():
  vectors = {"cat": [1, 0], "dog": [0, 1], "kitten": [S, S]}
  encode = lambda texts: np.array([vectors[t] for t in texts], np.float32)
  synthetic = [Record("s/0", "nomad", "kitten", "cat")]
  original = [Record("o/0", "chat", "cat", "dog")]
  got = normsim.prompt_response_normsim(encode, synthetic, original)
  assert got["prompt"][0] == pytest.approx(S) and got["response"][0] == pytest.approx(0.0)


def test_plot_and_report_have_one_entry_per_run(tmp_path):
  rng = np.random.default_rng(0)
  runs = {name: {"prompt": rng.uniform(lo, 1, 50), "response": rng.uniform(lo, 1, 50)}
          for name, lo in (("masked", 0.1), ("unmasked", 0.5))}
  rep = normsim.write_report(runs, str(tmp_path))
  assert (tmp_path / "normsim.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert json.loads((tmp_path / "normsim.json").read_text()) == rep
  assert set(rep) == {"masked", "unmasked"} and rep["unmasked"]["prompt"]["median"] > rep["masked"]["prompt"]["median"]


def test_bad_input_is_one_clear_error():
  with pytest.raises(UserError, match="empty set"):
    normsim.normsim(np.zeros((0, 4)), np.ones((2, 4)))
  with pytest.raises(UserError, match="one width"):
    normsim.normsim(np.ones((2, 4)), np.ones((2, 5)))
  with pytest.raises(UserError, match="synthetic and original"):
    normsim.prompt_response_normsim(lambda t: None, [], [Record("o", "chat", "p", "r")])
