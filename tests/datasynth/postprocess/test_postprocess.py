"""The post-processing driver end to end (datasynth/postprocess/postprocess.py)."""
import json
import os

import ml_collections
import pytest

from datasynth.postprocess.postprocess import PostprocessConfig, postprocess
from datasynth.utils.errors import UserError

TEST_FOLD = ["A train leaves the station at 3 pm travelling at 60 miles per hour toward a city that is 240 miles away "
             "along the coast.",
             "Write a python function to find the largest prime factor of a given number using only integer "
             "arithmetic and no imports."]
TOPICS = ["apples oranges pears basket fruit market", "python function list string return integer",
          "train station speed miles hour distance", "garden flowers water seeds grow soil"]


def _rows(n: int = 200) -> list[dict]:
  """`n` rows over 4 topics; every 10th repeats an earlier text with other whitespace; 2 copy the test fold."""
  rows = []
  for i in range(n):
    if i % 10 == 9:
      text = "  " + rows[i - 5]["text"].replace(" ", "   ") + "\n"
    else:
      words = TOPICS[i % 4].split()
      text = f"question {i}: " + " ".join(words[(i + j) % len(words)] for j in range(8)) + f" case{i}"
    rows.append(dict(text=text, id=i, meta={"seed": 7}))
  rows[3]["text"] = "Rewrite: " + TEST_FOLD[0].upper().replace("3", "9")  # Digits and case differ: still caught.
  rows[6]["text"] = TEST_FOLD[1] + " Explain."
  return rows


def _read(path):
  with open(path, encoding="utf-8") as f:
    return [json.loads(line) for line in f]


def _load(path):
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def test_postprocess_writes_each_stage_and_its_report_and_keeps_rows_unchanged(tmp_path):
  rows = _rows()
  config = PostprocessConfig(num_subsample=100, svd_components=8, clusters=8, seed=0)
  report = postprocess(iter(rows), test_texts=TEST_FOLD, out_dir=tmp_path, config=config)
  assert sorted(os.listdir(tmp_path)) == sorted(
      ["empty.jsonl", "empty.json", "dedup.jsonl", "dedup.json", "decontaminate.jsonl", "decontaminate.json", "subsample.jsonl", "subsample.json",
       "subsample_selection.jsonl", "kept.jsonl", "postprocess.json"])
  empty, dedup, decon, sub = report["stages"]
  assert empty["dropped"] == {"empty_question": 0}
  assert (dedup["count_in"], dedup["kept"], dedup["dropped"]) == (200, 180, {"exact_duplicate": 20})
  assert (decon["count_in"], decon["kept"], decon["dropped"]) == (180, 178, {"test_13gram_overlap": 2})
  assert decon["rate"] == pytest.approx(2 / 180, abs=1e-6)
  assert (sub["count_in"], sub["kept"], sub["dropped"]) == (178, 100, {"not_selected": 78})
  assert report["count_out"] == 100 and _load(tmp_path / "postprocess.json") == report
  assert report["counts"] == {"in": 200, "out": 100, "dropped": {"empty_question": 0, "exact_duplicate": 20,
                                                                 "test_13gram_overlap": 2, "not_selected": 78}}
  for stage in report["stages"]:
    assert _load(tmp_path / f"{stage['stage']}.json") == stage and stage["seconds"] >= 0
  selected = _read(tmp_path / "subsample.jsonl")
  assert _read(tmp_path / "kept.jsonl") == selected
  side = _read(tmp_path / "subsample_selection.jsonl")
  assert [rows[s["source_index"]] for s in side] == selected  # Unchanged rows, every field kept.
  assert len({r["id"] for r in selected}) == 100 and not {3, 6} & {r["id"] for r in selected}
  assert [s["round"] for s in side[:8]] == [0] * 8 and len({s["cluster"] for s in side[:8]}) == 8


def test_near_dup_stage_runs_between_dedup_and_decontamination(tmp_path):
  long = "the quick brown fox jumps over the lazy dog near the river bank on a cold and windy morning in late autumn"
  other = "a completely different sentence about baking bread in a hot oven"
  rows = [dict(text=f"{long} number{i}") for i in range(5)] + [dict(text=other)]
  report = postprocess(rows, test_texts=TEST_FOLD, out_dir=tmp_path,
                       config=PostprocessConfig(near_dup=True, near_dup_threshold=0.8))
  assert [s["stage"] for s in report["stages"]] == ["empty", "dedup", "near_dup", "decontaminate", "subsample"]
  assert report["stages"][2]["dropped"] == {"near_duplicate": 4}
  assert len(_read(tmp_path / "near_dup.jsonl")) == 2 and report["count_out"] == 2


def _assert_fails_leaving_nothing(tmp_path, match, rows, **kw):
  (tmp_path / "subsample.jsonl").write_text('{"text": "stale"}\n')  # An older run's output must not survive.
  with pytest.raises(UserError, match=match):
    postprocess(rows, out_dir=tmp_path, **{"test_texts": TEST_FOLD, **kw})
  assert [f for f in os.listdir(tmp_path) if ".tmp-" not in f] == []
  assert [f for f in os.listdir(tmp_path) if ".tmp-" in f] == []


def test_empty_input_is_one_clear_error_and_no_output(tmp_path):
  _assert_fails_leaving_nothing(tmp_path, "input is empty", iter([]))


def test_a_row_missing_the_text_key_names_the_row_and_the_fix(tmp_path):
  _assert_fails_leaving_nothing(tmp_path, r"row 1 has no string field 'text'.*text_key=",
                                [dict(text="fine"), dict(question="no text field")])


def test_everything_contaminated_is_an_error_after_later_stages_and_removes_earlier_files(tmp_path):
  rows = [dict(text=TEST_FOLD[0]), dict(text=TEST_FOLD[0] + " again"), dict(text=TEST_FOLD[0])]
  _assert_fails_leaving_nothing(tmp_path, "All 2 generated items reaching the decontaminate stage", rows)


def test_negative_n_s_and_a_missing_test_fold_are_user_errors_before_any_work():
  with pytest.raises(UserError, match="num_subsample must be >= 0"):
    PostprocessConfig(num_subsample=-1)
  with pytest.raises(UserError, match="test_texts"):
    postprocess([dict(text="x")], test_texts=[], out_dir="/nonexistent/never/created")
  assert not os.path.exists("/nonexistent/never/created")


def test_a_config_mapping_is_accepted_and_an_unknown_key_is_a_user_error(tmp_path):
  report = postprocess([dict(text="one question here"), dict(text="one  question here")], test_texts=TEST_FOLD,
                       out_dir=tmp_path, config={"num_subsample": 0, "seed": 3}, progress=False)
  assert report["config"]["seed"] == 3 and report["count_out"] == 1
  with pytest.raises(UserError, match=r"Unknown post-processing config key\(s\) \['clusterz'\]"):
    PostprocessConfig.from_dict({"clusterz": 5})
  section = ml_collections.ConfigDict(dict(num_subsample=0))  # The library takes no ConfigDict: converted by callers.
  with pytest.raises(TypeError, match=r"PostprocessConfig.from_dict\(section.to_dict\(\)\)"):
    postprocess([dict(text="a")], test_texts=TEST_FOLD, out_dir=tmp_path, config=section, progress=False)
