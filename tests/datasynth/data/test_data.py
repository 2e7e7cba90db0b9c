"""Task records from the shared data, and clear errors for bad data files."""
import json
import os

import pytest

from datasynth.data.files import read_jsonl
from datasynth.data.records import load_records_jsonl, load_task
from datasynth.utils.errors import UserError
from datasynth.utils.io import write_jsonl


@pytest.mark.parametrize("task,split,count", [("mbpp", "train", 374), ("mbpp", "test", 500), ("mbpp", "prompt", 10),
                                              ("gsm8k", "test", 1319), ("boolq", "train", 2270), ("lima", "train", 1029)])
def test_splits_have_the_documented_sizes(data_dir, task, split, count, request):
  if task == "lima":  # Not bundled: skipped with the reason without ../shared/data or $DATASYNTH_DATA.
    data_dir = request.getfixturevalue("full_data_dir")
  records = load_task(task, split, str(data_dir))
  assert len(records) == count and len({r.uid for r in records}) == count
  assert all(r.prompt and r.response for r in records)


def test_record_fields(data_dir):
  mbpp = load_task("mbpp", "test", str(data_dir))[0]
  assert mbpp.meta["task_id"] == 11 and mbpp.meta["test_list"] and "\r\n" not in mbpp.response
  gsm = load_task("gsm8k", "train", str(data_dir))[0]
  assert gsm.meta["final_answer"] == "72"
  boolq = load_task("boolq", "test", str(data_dir))[0]
  assert boolq.response in ("True", "False") and boolq.prompt.endswith("?")


def test_bad_files_give_one_clear_error(tmp_path):
  bad = tmp_path / "bad.jsonl"
  bad.write_text('{"prompt": "a", "response": "b"}\n{not json\n')
  with pytest.raises(ValueError, match=r"bad.jsonl:2: malformed JSON line"):
    read_jsonl(bad)
  empty = tmp_path / "empty.jsonl"
  empty.write_text("\n")
  with pytest.raises(ValueError, match="holds no records"):
    load_records_jsonl(str(empty))
  with pytest.raises(UserError, match="missing.jsonl"):
    load_records_jsonl(str(tmp_path / "missing.jsonl"))
  with pytest.raises(ValueError, match="Unknown task 'squad'"):
    load_task("squad", "train", str(tmp_path))


def test_write_jsonl_round_trip_leaves_no_temp_file(tmp_path):
  path = str(tmp_path / "out" / "records.jsonl")
  rows = [dict(prompt=f"q{i}", response=f"a{i}") for i in range(3)]
  assert write_jsonl(path, rows) == 3
  assert os.listdir(tmp_path / "out") == ["records.jsonl"]
  assert [r.prompt for r in load_records_jsonl(path)] == ["q0", "q1", "q2"]
  with open(path) as f:
    assert json.loads(f.readline()) == rows[0]
