"""The benchmark data bundled with the package: what it holds (each set with its license and source), that it reads
to the same records as the shared folder, and the order the readers search the folders in (the config's data dir,
$DATASYNTH_DATA, ../shared/data, the bundled copy), with no fallback past an explicit setting."""
import json
import lzma
import os

import pytest

from datasynth.data import sources
from datasynth.data.files import read_text
from datasynth.data.records import load_task
from datasynth.data.sources import BUNDLED_DIR, data_dirs, data_file
from datasynth.utils.errors import UserError

TASK_SPLITS = [("mbpp", "train"), ("mbpp", "test"), ("mbpp", "validation"), ("mbpp", "prompt"),
               ("gsm8k", "train"), ("gsm8k", "test"), ("boolq", "train"), ("boolq", "test"), ("boolq", "dev")]
SIZES = {("mbpp", "train"): 374, ("mbpp", "test"): 500, ("gsm8k", "test"): 1319, ("boolq", "dev"): 3270}


@pytest.fixture
def no_shared(monkeypatch, tmp_path):
  """A fresh clone: no $DATASYNTH_DATA and no ../shared/data beside the checkout."""
  monkeypatch.delenv("DATASYNTH_DATA", raising=False)
  monkeypatch.setattr(sources, "shared_data_dir", lambda: str(tmp_path / "no-shared" / "data"))


def test_every_bundled_set_has_its_data_license_and_source_and_no_unlicensed_set_is_bundled():
  assert sorted(os.listdir(BUNDLED_DIR)) == sorted(sources.BUNDLED_SETS)
  for name in sources.BUNDLED_SETS:
    files = os.listdir(os.path.join(BUNDLED_DIR, name))
    assert "SOURCE.md" in files and any(f.startswith("LICENSE") for f in files), name
    source = read_text(os.path.join(BUNDLED_DIR, name, "SOURCE.md"))
    assert source.startswith("Source: ") and " @ " in source or "official dev split" in source, name
  licenses = {n: read_text(os.path.join(BUNDLED_DIR, n, "LICENSE")) for n in ("mbpp", "gsm8k", "boolq", "bbh",
                                                                              "truthfulqa")}
  assert "CC BY 4.0" in licenses["mbpp"] and "CC BY-SA 3.0" in licenses["boolq"]
  assert "MIT License" in licenses["gsm8k"] and "MIT License" in licenses["bbh"]
  assert "Apache License" in licenses["truthfulqa"] and "Version 2.0" in licenses["truthfulqa"]
  assert "MIT" in read_text(os.path.join(BUNDLED_DIR, "mawps", "LICENSE.MWPToolkit"))
  total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(BUNDLED_DIR) for f in fs)
  assert total < 5e6  # "A few MB in all."


@pytest.mark.parametrize("task,split", TASK_SPLITS)
def test_the_bundled_copy_reads_to_the_records_of_the_data_folder(task, split, data_dir):
  bundled = load_task(task, split, BUNDLED_DIR)
  assert bundled == load_task(task, split, str(data_dir))  # Same records (data_dir is the bundled copy in a clone).
  if (task, split) in SIZES:
    assert len(bundled) == SIZES[task, split]


def test_the_evaluation_sets_are_bundled_whole():
  bbh = json.loads(read_text(data_file("bbh/bbh/navigate.json", BUNDLED_DIR)))
  assert len(bbh["examples"]) == 250 and {"input", "target"} <= set(bbh["examples"][0])
  assert len(os.listdir(os.path.join(BUNDLED_DIR, "bbh", "bbh"))) == 27
  assert "-----" in read_text(data_file("bbh/cot-prompts/navigate.txt", BUNDLED_DIR))
  tqa = read_text(data_file("truthfulqa/TruthfulQA.csv", BUNDLED_DIR)).splitlines()
  assert tqa[0].startswith("Type,Category,Question,Best Answer")
  mawps = {s: json.loads(read_text(data_file(f"mawps/{s}set.json", BUNDLED_DIR))) for s in ("train", "valid", "test")}
  assert [len(v) for v in mawps.values()] == [1898, 237, 238] and "ans" in mawps["test"][0]


def test_a_fresh_clone_reads_the_bundled_copy(no_shared):
  assert data_dirs() == [BUNDLED_DIR]
  rows, path = sources.read_rows("gsm8k", "test")
  assert len(rows) == 1319 and path == os.path.join(BUNDLED_DIR, "gsm8k", "test.jsonl.xz")
  assert len(load_task("mbpp", "train")) == 374
  assert data_file("bbh/bbh/navigate.json").startswith(BUNDLED_DIR)


def test_shared_data_beside_the_checkout_comes_before_the_bundled_copy(monkeypatch, tmp_path):
  monkeypatch.delenv("DATASYNTH_DATA", raising=False)
  shared = tmp_path / "shared" / "data"
  (shared / "gsm8k").mkdir(parents=True)
  (shared / "gsm8k" / "test.jsonl").write_text(json.dumps(dict(question="Q?", answer="#### 4")) + "\n")
  monkeypatch.setattr(sources, "shared_data_dir", lambda: str(shared))
  assert data_dirs() == [str(shared), BUNDLED_DIR]
  assert [r.prompt for r in load_task("gsm8k", "test")] == ["Q?"]
  assert len(load_task("gsm8k", "train")) == 7473  # A set the shared folder lacks comes from the bundled copy.


def test_an_explicit_folder_is_searched_alone_and_one_without_the_data_is_an_error(monkeypatch, tmp_path):
  (tmp_path / "mine" / "gsm8k").mkdir(parents=True)
  (tmp_path / "mine" / "gsm8k" / "test.jsonl").write_text(json.dumps(dict(question="Mine?", answer="#### 1")) + "\n")
  mine = str(tmp_path / "mine")
  assert data_dirs(mine) == [mine]
  assert [r.prompt for r in load_task("gsm8k", "test", mine)] == ["Mine?"]
  with pytest.raises(UserError) as e:  # Bundled, but the user asked for their folder: no silent fallback.
    load_task("gsm8k", "train", mine)
  assert "\n" not in str(e.value) and f"No gsm8k train data under {mine}." in str(e.value)
  monkeypatch.setenv("DATASYNTH_DATA", mine)
  assert data_dirs() == [mine] and data_dirs(str(tmp_path)) == [str(tmp_path)]  # The config's folder wins.
  with pytest.raises(UserError, match=r"No mbpp train data under .*mine \(\$DATASYNTH_DATA\)"):
    load_task("mbpp", "train")
  with pytest.raises(UserError, match="Data file bbh/bbh/navigate.json not found under"):
    data_file("bbh/bbh/navigate.json")


def test_what_is_not_bundled_says_where_it_looked_and_where_to_put_it(no_shared):
  for task, split in (("triviaqa", "test"), ("lima", "train"), ("alpaca", "train")):
    with pytest.raises(UserError) as e:
      load_task(task, split)
    msg = str(e.value)
    assert "\n" not in msg and "(absent) nor in the bundled copy (which holds mbpp, gsm8k" in msg, msg
    assert "--config.data.data_dir=DIR or $DATASYNTH_DATA=DIR" in msg and "Public source" in msg


def test_compressed_files_are_read_anywhere_and_a_torn_one_is_one_error(tmp_path):
  (tmp_path / "gsm8k").mkdir()
  rows = [dict(question=f"Q{i}?", answer=f"#### {i}") for i in range(3)]
  blob = lzma.compress("".join(json.dumps(r) + "\n" for r in rows).encode())
  (tmp_path / "gsm8k" / "test.jsonl.xz").write_bytes(blob)
  assert [r.meta["final_answer"] for r in load_task("gsm8k", "test", str(tmp_path))] == ["0", "1", "2"]
  (tmp_path / "gsm8k" / "test.jsonl.xz").write_bytes(blob[:len(blob) // 2])
  with pytest.raises(UserError, match=r"test\.jsonl\.xz: not a readable xz file"):
    load_task("gsm8k", "test", str(tmp_path))
