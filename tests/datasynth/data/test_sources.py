"""Task data from the layouts a new user has on disk: official file names and Hugging Face `datasets` copies
(save_to_disk, parquet, JSON Lines) read to the same records as the shared folder; a missing split names every
accepted layout, the public source and the setting."""
import json
import shutil

import pytest

from datasynth.data import sources
from datasynth.data.files import read_text
from datasynth.data.records import load_task
from datasynth.data.records import read_jsonl
from datasynth.data.sources import data_file
from datasynth.utils.errors import UserError

datasets = pytest.importorskip("datasets")


def _mbpp_rows(data_dir, split, n=3):
  return sources.read_rows("mbpp", split, str(data_dir))[0][:n]


def _copy(data_dir, rel, dest):
  """Data file `rel` of the data folder (stored plain or xz-compressed) written to `dest` as plain text."""
  dest.write_text(read_text(data_file(rel, str(data_dir))))


def _expected(data_dir, split, n=3):
  return load_task("mbpp", split, str(data_dir))[:n]


def test_mbpp_datasetdict_saved_to_disk_reads_to_the_same_records_as_the_jsonl_layout(data_dir, tmp_path):
  splits = {s: datasets.Dataset.from_list(_mbpp_rows(data_dir, s)) for s in ("train", "test")}
  datasets.DatasetDict(splits).save_to_disk(str(tmp_path / "mbpp" / "full"))
  for split in ("train", "test"):
    assert load_task("mbpp", split, str(tmp_path)) == _expected(data_dir, split)


def test_mbpp_single_dataset_of_the_whole_table_is_cut_by_task_id(data_dir, tmp_path):
  rows = _mbpp_rows(data_dir, "test") + _mbpp_rows(data_dir, "train") + _mbpp_rows(data_dir, "prompt")
  datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "mbpp"))
  assert load_task("mbpp", "train", str(tmp_path)) == _expected(data_dir, "train")
  assert load_task("mbpp", "prompt", str(tmp_path)) == _expected(data_dir, "prompt")


@pytest.mark.parametrize("name", ["full/data/train-00000-of-00001.parquet", "full/train.parquet", "train.parquet"])
def test_mbpp_parquet_in_the_hub_layout_or_named_by_split_reads_the_same(data_dir, tmp_path, name):
  path = tmp_path / "mbpp" / name
  path.parent.mkdir(parents=True)
  datasets.Dataset.from_list(_mbpp_rows(data_dir, "train")).to_parquet(str(path))
  assert load_task("mbpp", "train", str(tmp_path)) == _expected(data_dir, "train")


def test_mbpp_json_lines_export_and_the_official_full_file_read_the_same(data_dir, tmp_path):
  (tmp_path / "mbpp").mkdir()
  datasets.Dataset.from_list(_mbpp_rows(data_dir, "train")).to_json(str(tmp_path / "mbpp" / "train.jsonl"))
  assert load_task("mbpp", "train", str(tmp_path)) == _expected(data_dir, "train")
  official = tmp_path / "official" / "mbpp"
  official.mkdir(parents=True)
  _copy(data_dir, "mbpp/mbpp.jsonl", official / "mbpp.jsonl")
  for split in ("train", "validation", "test", "prompt"):
    assert load_task("mbpp", split, str(tmp_path / "official")) == load_task("mbpp", split, str(data_dir))


def test_mbpp_sanitized_release_maps_prompt_and_test_imports(data_dir, tmp_path):
  (tmp_path / "mbpp").mkdir()
  _copy(data_dir, "mbpp/sanitized-mbpp.json", tmp_path / "mbpp" / "sanitized-mbpp.json")
  test = load_task("mbpp", "test", str(tmp_path))
  assert len(test) == 257 and all(11 <= r.meta["task_id"] <= 510 for r in test)
  with_imports = [r for r in test if r.meta["test_setup_code"]]
  assert with_imports and all(r.meta["test_setup_code"].startswith(("import", "from")) for r in with_imports)


def test_gsm8k_hf_main_config_parquet_and_boolq_super_glue_columns(data_dir, tmp_path):
  gsm = read_jsonl(data_file("gsm8k/test.jsonl", str(data_dir)))[:4]
  (tmp_path / "gsm8k" / "main").mkdir(parents=True)
  datasets.Dataset.from_list(gsm).to_parquet(str(tmp_path / "gsm8k" / "main" / "test-00000-of-00001.parquet"))
  assert load_task("gsm8k", "test", str(tmp_path)) == load_task("gsm8k", "test", str(data_dir))[:4]
  rows = read_jsonl(data_file("boolq/train.jsonl", str(data_dir)))[:4]
  glue = [dict(question=r["question"], passage=r["passage"], idx=n, label=int(r["answer"])) for n, r in
          enumerate(rows)]
  datasets.DatasetDict(train=datasets.Dataset.from_list(glue)).save_to_disk(str(tmp_path / "boolq"))
  got = load_task("boolq", "train", str(tmp_path))
  assert [(r.prompt, r.response) for r in got] == [(r.prompt, r.response) for r in
                                                   load_task("boolq", "train", str(data_dir))[:4]]


def test_boolq_test_is_cut_from_the_official_dev_file_as_the_shared_folder_cut_it(data_dir, tmp_path):
  (tmp_path / "boolq").mkdir()
  _copy(data_dir, "boolq/dev.jsonl", tmp_path / "boolq" / "dev.jsonl")
  assert load_task("boolq", "test", str(tmp_path)) == load_task("boolq", "test", str(data_dir))


def test_triviaqa_hf_columns_and_lima_conversations_map_to_the_official_fields(tmp_path):
  (tmp_path / "triviaqa").mkdir()
  hf = [dict(question=f"Q{i}?", question_id=f"id{i}", answer=dict(aliases=["Paris", "paris"], value="Paris",
                                                                  normalized_aliases=["paris"])) for i in range(7)]
  datasets.Dataset.from_list(hf).to_json(str(tmp_path / "triviaqa" / "validation.jsonl"))
  test = load_task("triviaqa", "test", str(tmp_path))
  assert len(test) == 2 and test[0].prompt == "Q5?" and test[0].meta["answers"] == ["Paris", "paris"]
  (tmp_path / "lima").mkdir()
  convs = [dict(conversations=["hi", "hello"], source="x"), dict(conversations=["a", "b", "c", "d"], source="y")]
  (tmp_path / "lima" / "train.jsonl").write_text("\n".join(json.dumps(c) for c in convs) + "\n")
  lima = load_task("lima", "train", str(tmp_path))
  assert [(r.prompt, r.response, r.meta["history"]) for r in lima] == [("hi", "hello", []), ("c", "d", [["a", "b"]])]


def test_triviaqa_hub_parquet_reads_only_the_columns_it_needs(tmp_path):
  (tmp_path / "triviaqa" / "unfiltered").mkdir(parents=True)
  hf = [dict(question=f"Q{i}?", question_id=f"id{i}", answer=dict(aliases=["Rome"], normalized_aliases=["rome"]),
             search_results=dict(search_context=["a long evidence page"])) for i in range(6)]
  datasets.Dataset.from_list(hf).to_parquet(str(tmp_path / "triviaqa" / "unfiltered" /
                                                "validation-00000-of-00001.parquet"))
  rows, path = sources.read_rows("triviaqa", "dev", str(tmp_path))
  assert path.endswith("validation-00000-of-00001.parquet") and len(rows) == 6
  assert set(rows[0]) == {"id", "question", "question_id", "answers"} and rows[0]["answers"] == ["Rome", "rome"]


def test_missing_data_is_one_line_naming_every_layout_the_source_and_the_setting(tmp_path):
  with pytest.raises(UserError) as e:
    load_task("mbpp", "train", str(tmp_path))
  msg = str(e.value)
  assert "\n" not in msg and str(tmp_path) in msg
  for part in ("mbpp/splits_derived/mbpp_train.jsonl", "mbpp/mbpp.jsonl", "mbpp/sanitized-mbpp.json",
               "HF copy in mbpp/full/", "R/data/train-*.parquet", "R/train.parquet", "R/train.jsonl",
               "https://github.com/google-research/google-research/tree/master/mbpp",
               "https://huggingface.co/datasets/google-research-datasets/mbpp", "--config.data.data_dir",
               "$DATASYNTH_DATA"):
    assert part in msg, part
  for task, split, url in [("gsm8k", "test", "openai/grade-school-math"), ("boolq", "dev", "google/boolq"),
                           ("triviaqa", "test", "mandarjoshi/trivia_qa"), ("alpaca", "train", "tatsu-lab/alpaca")]:
    with pytest.raises(UserError, match=f"No {task} .*{url}"):
      load_task(task, split, str(tmp_path))


def test_the_layouts_are_tried_in_the_documented_order(data_dir, tmp_path):
  # The shared layout wins over an HF copy beside it: one file's rows, not both.
  (tmp_path / "mbpp" / "splits_derived").mkdir(parents=True)
  train = sources.read_rows("mbpp", "train", str(data_dir))[0]
  (tmp_path / "mbpp" / "splits_derived" / "mbpp_train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))
  datasets.Dataset.from_list(_mbpp_rows(data_dir, "train")).to_json(str(tmp_path / "mbpp" / "train.jsonl"))
  rows, path = sources.read_rows("mbpp", "train", str(tmp_path))
  assert len(rows) == 374 and path.endswith("splits_derived/mbpp_train.jsonl")
  assert [layout.rel for layout in sources.layouts("mbpp", "train")][:2] == [
      "mbpp/splits_derived/mbpp_train.jsonl", "mbpp/mbpp.jsonl"]
