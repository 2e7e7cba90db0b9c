"""datasynth.jobs.memo: the content-addressed memo behind E's cache, MAUVE's feature cache and the PT call cache."""
import types

import numpy as np

from datasynth.jobs import memo


def _model(source="m", width=4):
  return types.SimpleNamespace(source=source, config=types.SimpleNamespace(to_json=lambda: f'{{"width": {width}}}'))


def test_the_key_changes_with_the_model_the_options_and_every_text():
  m, texts = _model(), ["a", "b"]
  k = memo.key(m, texts, layer=-1)
  assert k == memo.key(_model(), list(texts), layer=-1) and len(k) == 16
  assert len({k, memo.key(_model("other"), texts, layer=-1), memo.key(_model(width=8), texts, layer=-1),
              memo.key(m, texts, layer=0), memo.key(m, ["a", "c"], layer=-1), memo.key(m, ["ab"], layer=-1),
              memo.key(m, ["a", "b", ""], layer=-1)}) == 7


def test_a_hit_returns_the_stored_array_without_computing_and_no_folder_means_no_memo(tmp_path):
  calls = []

  def compute():
    calls.append(1)
    return np.arange(6, dtype=np.float32).reshape(2, 3)

  first = memo.cached(str(tmp_path / "cache"), "z", _model(), ["a", "b"], compute, layer=0)
  again = memo.cached(str(tmp_path / "cache"), "z", _model(), ["a", "b"], compute, layer=0)
  np.testing.assert_array_equal(first, again)
  assert len(calls) == 1
  assert [p.name.startswith("z-") and p.suffix == ".npy" for p in (tmp_path / "cache").iterdir()] == [True]
  memo.cached(str(tmp_path / "cache"), "z", _model(), ["a", "b"], compute, layer=1)  # Other options: a new file.
  assert len(calls) == 2 and len(list((tmp_path / "cache").iterdir())) == 2
  memo.cached(None, "z", _model(), ["a", "b"], compute)
  memo.cached("", "z", _model(), ["a", "b"], compute)
  assert len(calls) == 4


def test_a_stored_array_of_the_wrong_length_is_recomputed(tmp_path):
  m, texts = _model(), ["a", "b", "c"]
  np.save(tmp_path / f"z-{memo.key(m, texts)}.npy", np.zeros((2, 3)))  # E.g. written by an older version.
  got = memo.cached(str(tmp_path), "z", m, texts, lambda: np.ones((3, 3)))
  np.testing.assert_array_equal(got, np.ones((3, 3)))
  np.testing.assert_array_equal(np.load(tmp_path / f"z-{memo.key(m, texts)}.npy"), np.ones((3, 3)))


def test_json_lists_are_memoised_and_a_list_of_the_wrong_length_is_recomputed(tmp_path):
  calls = []

  def compute():
    calls.append(1)
    return [dict(text="x", token_ids=[1, 2], finished=True), dict(text="y", token_ids=[], finished=False)]

  first = memo.cached_json(str(tmp_path), "samples", _model(), ["a", "b"], compute, seed=3, stop=["\n"])
  assert memo.cached_json(str(tmp_path), "samples", _model(), ["a", "b"], compute, seed=3, stop=["\n"]) == first
  assert len(calls) == 1 and [p.suffix for p in tmp_path.iterdir()] == [".json"]
  memo.cached_json(str(tmp_path), "samples", _model(), ["a", "b"], compute, seed=4, stop=["\n"])
  assert len(calls) == 2
  short = memo.cached_json(str(tmp_path), "samples", _model(), ["a", "b", "c"], lambda: [1], seed=3)
  assert short == [1] and memo.cached_json(str(tmp_path), "samples", _model(), ["a", "b", "c"], lambda: [1, 2, 3],
                                           seed=3) == [1, 2, 3]
