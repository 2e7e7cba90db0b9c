"""Where a task's rows are on disk: the folders searched, the layouts a user may hold in each, read to one schema.

The folders (`data_dirs`): a data dir the config names is searched alone, else `$DATASYNTH_DATA` alone (an explicit
setting that holds no data is an error, never a silent fallback past what the user asked for); with neither set,
`../shared/data` beside the checkout, then the copy bundled with the package (`datasynth/data/bundled/`: MBPP, GSM8K,
BoolQ, MAWPS, BBH and TruthfulQA, the permissively licensed sets, xz-compressed, each with its license and
`SOURCE.md`; built by `scripts/bundle_data.py`). So a fresh clone or a `pip install` runs the main job and the
evaluations with no data folder at all; the instruction sets (non-commercial licenses) and the TriviaQA subset (no
stated license) are not bundled, and what needs them says where to put them. Any file below may also be present as
`<name>.xz` (read decompressed).

`read_rows(task, split, data_dir)` returns the rows of one split as dicts with the official release's field names
(MBPP: task_id, text, code, test_list, test_setup_code, challenge_test_list; GSM8K: question, answer; BoolQ:
question, passage, answer (bool), title; TriviaQA: question, answers (aliases); LIMA / Alpaca: instruction, input,
output, history), whatever layout they came from. The first layout that exists under the data dir D wins:

  mbpp      1. D/mbpp/splits_derived/mbpp_<split>.jsonl           (the shared folder's layout)
            2. D/mbpp/mbpp.jsonl                                   (official full release, cut by task id)
            3. an HF copy of `mbpp` config full in D/mbpp/full/ or D/mbpp/ (split <split>)
            4. D/mbpp/sanitized-mbpp.json                          (official sanitized release, cut by task id)
            5. an HF copy of `mbpp` config sanitized in D/mbpp/sanitized/
  gsm8k     1. D/gsm8k/<split>.jsonl (official names)  2. D/gsm8k/grade_school_math/data/<split>.jsonl (a clone of
            the repository)  3. an HF copy of `gsm8k` config main in D/gsm8k/main/ or D/gsm8k/
  boolq     train: 1. D/boolq/train.jsonl  2. an HF copy (`boolq` or `super_glue` boolq) in D/boolq/, split train.
            dev: 1. D/boolq/dev.jsonl  2. the HF copy's split validation.
            test: 1. D/boolq/test.jsonl  2. the 1,000 dev rows the shared folder's test.jsonl holds, cut from any
            dev layout above (indices shuffled by random.Random(0), the first 1,000, sorted; see the data README).
  triviaqa  1. D/triviaqa/triviaqa_test_1000.jsonl  2. D/triviaqa/unfiltered-web-dev.json (official release)
            3. an HF copy of `trivia_qa` (unfiltered or rc) in D/triviaqa/unfiltered/, D/triviaqa/rc/ or
            D/triviaqa/, split validation
  lima      1. D/instruct/lima.json (LLaMA-Factory)  2. an HF / official copy of GAIR/lima in D/lima/ (train.jsonl)
  alpaca    1. D/instruct/alpaca_en_demo.json (LLaMA-Factory)  2. D/alpaca/alpaca_data.json (official)
            3. an HF copy of tatsu-lab/alpaca in D/alpaca/

"An HF copy in R, split S" is, in this order: R saved by `DatasetDict.save_to_disk` (R/dataset_dict.json, with a
split S); R/S/ saved by `Dataset.save_to_disk`; parquet files in the hub layout R/data/S-*.parquet, or R/S-*.parquet,
or R/S.parquet; JSON Lines R/S.jsonl or R/S.json (what `Dataset.to_json` writes). For MBPP a single
`Dataset.save_to_disk` of the whole table in D/mbpp/ or D/mbpp/full/ is cut by task id too. Only the split asked
for is read. Nothing found is one error line listing, for that task, every layout above, the public source and how
to point the project at the folder (`--config.data.data_dir` or `$DATASYNTH_DATA`).
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import pathlib
import random
from typing import Any, Callable

from datasynth.data.files import read_jsonl, read_text
from datasynth.utils.errors import UserError

Rows = list[dict[str, Any]]

BUNDLED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bundled")
BUNDLED_SETS = ("mbpp", "gsm8k", "boolq", "mawps", "bbh", "truthfulqa")  # What `BUNDLED_DIR` holds.
COMPRESSED = ".xz"  # A data file may be stored xz-compressed under its name plus this suffix.

SOURCES = {
    "mbpp": "https://github.com/google-research/google-research/tree/master/mbpp or "
            "https://huggingface.co/datasets/google-research-datasets/mbpp",
    "gsm8k": "https://github.com/openai/grade-school-math (grade_school_math/data/) or "
             "https://huggingface.co/datasets/openai/gsm8k",
    "boolq": "https://github.com/google-research-datasets/boolean-questions or "
             "https://huggingface.co/datasets/google/boolq",
    "triviaqa": "https://nlp.cs.washington.edu/triviaqa/ or https://huggingface.co/datasets/mandarjoshi/trivia_qa",
    "lima": "https://huggingface.co/datasets/GAIR/lima (or LLaMA-Factory's data/lima.json)",
    "alpaca": "https://github.com/tatsu-lab/stanford_alpaca or https://huggingface.co/datasets/tatsu-lab/alpaca "
              "(or LLaMA-Factory's data/alpaca_en_demo.json)",
}

# MBPP's standard splits by task id (Austin et al., 2021; the HF `mbpp` splits are the same ranges).
MBPP_TASK_IDS = {"prompt": range(1, 11), "test": range(11, 511), "validation": range(511, 601),
                 "train": range(601, 975)}
BOOLQ_TEST_SIZE, BOOLQ_TEST_SEED = 1000, 0
# Columns read from an HF copy when the release has more (trivia_qa rc/unfiltered carry gigabytes of evidence pages).
COLUMNS = {"triviaqa": ("question", "question_id", "answer", "answers", "id")}


@dataclasses.dataclass(frozen=True)
class Layout:
  """One place a split may be: a file (`split` None) or an HF copy in folder `rel` (split `split`).

  `whole`: an HF folder may also be one saved Dataset of the whole table. `cut`: rows of a whole table -> the
  split's rows (MBPP by task id, BoolQ test from dev); None keeps them all.
  """
  rel: str
  split: str | None = None
  whole: bool = False
  cut: Callable[[Rows], Rows] | None = None
  note: str = ""  # Said after the layout in the missing-data error.

  def describe(self) -> str:
    where = self.rel if self.split is None else f"HF copy in {self.rel}/"
    return f"{where} ({self.note})" if self.note else where


def _mbpp_cut(split: str) -> Callable[[Rows], Rows]:
  ids = MBPP_TASK_IDS[split]
  return lambda rows: [r for r in rows if int(r["task_id"]) in ids]


def boolq_test_from_dev(dev: Rows) -> Rows:
  """The shared folder's BoolQ test.jsonl from the official dev rows: Random(0)-shuffled indices, first 1,000."""
  idx = list(range(len(dev)))
  random.Random(BOOLQ_TEST_SEED).shuffle(idx)
  return [dev[i] for i in sorted(idx[:BOOLQ_TEST_SIZE])]


def layouts(task: str, split: str) -> list[Layout]:
  """The layouts of `task` / `split`, in lookup order (see the module docstring)."""
  if task == "mbpp":
    cut = _mbpp_cut(split)
    return [Layout(f"mbpp/splits_derived/mbpp_{split}.jsonl"), Layout("mbpp/mbpp.jsonl", cut=cut),
            Layout("mbpp/full", split, whole=True, cut=cut), Layout("mbpp", split, whole=True, cut=cut),
            Layout("mbpp/sanitized-mbpp.json", cut=cut), Layout("mbpp/sanitized", split, whole=True, cut=cut)]
  if task == "gsm8k":
    return [Layout(f"gsm8k/{split}.jsonl"), Layout(f"gsm8k/grade_school_math/data/{split}.jsonl"),
            Layout("gsm8k/main", split), Layout("gsm8k", split)]
  if task == "boolq":
    if split == "test":
      dev = [dataclasses.replace(d, cut=boolq_test_from_dev, note="test = 1,000 rows cut from dev")
             for d in layouts("boolq", "dev")]
      return [Layout("boolq/test.jsonl")] + dev
    return [Layout(f"boolq/{split}.jsonl"), Layout("boolq", "validation" if split == "dev" else split)]
  if task == "triviaqa":
    return [Layout("triviaqa/triviaqa_test_1000.jsonl"), Layout("triviaqa/unfiltered-web-dev.json"),
            Layout("triviaqa/unfiltered", "validation"), Layout("triviaqa/rc", "validation"),
            Layout("triviaqa", "validation")]
  if task == "lima":
    return [Layout("instruct/lima.json"), Layout("lima", "train")]
  if task == "alpaca":
    return [Layout("instruct/alpaca_en_demo.json"), Layout("alpaca/alpaca_data.json"), Layout("alpaca", "train")]
  raise UserError(f"Unknown task {task!r}; expected one of {tuple(SOURCES)}.")


# --------------------------------------------------------------------------------------------- finding a layout
def _hf_split(root: str, split: str) -> tuple[str, list[str]] | None:
  """(format, paths) of split `split` of the HF copy in `root`, or None (order: module docstring)."""
  if os.path.isfile(os.path.join(root, "dataset_dict.json")) and os.path.isdir(os.path.join(root, split)):
    return "disk", [os.path.join(root, split)]
  if os.path.isfile(os.path.join(root, split, "state.json")):
    return "disk", [os.path.join(root, split)]
  for pattern in (f"data/{split}-*.parquet", f"{split}-*.parquet", f"{split}.parquet"):
    files = sorted(glob.glob(os.path.join(glob.escape(root), pattern)))
    if files:
      return "parquet", files
  for name in (f"{split}.jsonl", f"{split}.json"):
    if os.path.isfile(os.path.join(root, name)):
      return "file", [os.path.join(root, name)]
  return None


def existing_file(path: str) -> str | None:
  """`path` if it is a file, else `path + COMPRESSED` if that is one, else None."""
  for p in (path, path + COMPRESSED):
    if os.path.isfile(p):
      return p
  return None


def find(layout: Layout, data_dir: str) -> tuple[str, list[str]] | None:
  """(format, paths) when `layout` exists under `data_dir`, else None."""
  path = os.path.join(data_dir, layout.rel)
  if layout.split is None:
    path = existing_file(path)
    return None if path is None else ("file", [path])
  if not os.path.isdir(path):
    return None
  found = _hf_split(path, layout.split)
  if found is None and layout.whole and os.path.isfile(os.path.join(path, "state.json")):
    return "disk", [path]
  return found


def shared_data_dir() -> str:
  """`../shared/data` beside the project checkout (absent in a user's clone and in an installed package)."""
  return str(pathlib.Path(__file__).resolve().parents[3] / "shared" / "data")


def data_dirs(data_dir: str | None = None) -> list[str]:
  """The folders searched for data, in order: `data_dir` (the config's) alone when given, else `$DATASYNTH_DATA`
  alone when set, else `../shared/data` (when it exists) and then the bundled copy."""
  explicit = data_dir or os.environ.get("DATASYNTH_DATA")
  if explicit:
    return [explicit]
  shared = shared_data_dir()
  return ([shared] if os.path.isdir(shared) else []) + [BUNDLED_DIR]


def _searched(data_dir: str | None) -> str:
  """Where `data_dirs(data_dir)` looked, for an error line."""
  if data_dir:
    return data_dir
  if os.environ.get("DATASYNTH_DATA"):
    return f"{os.environ['DATASYNTH_DATA']} ($DATASYNTH_DATA)"
  shared = shared_data_dir()
  return (f"{shared}{'' if os.path.isdir(shared) else ' (absent)'} nor in the bundled copy (which holds "
          f"{', '.join(BUNDLED_SETS)})")


def missing_data_message(task: str, split: str, data_dir: str | None) -> str:
  """The one line a user without the data reads: where it looked, every accepted layout, the public source, the
  setting."""
  found = layouts(task, split)
  places = "; ".join(d.describe() for d in found)
  hf = sorted({d.split for d in found if d.split is not None})
  hf_note = ""
  if hf:
    s = hf[0]
    hf_note = (f" (an HF copy in R/ is R saved by DatasetDict.save_to_disk with a split {s!r}, R/{s}/ saved by "
               f"Dataset.save_to_disk, R/data/{s}-*.parquet, R/{s}.parquet or R/{s}.jsonl)")
  return (f"No {task} {split} data under {_searched(data_dir)}. Put one of these in a folder (paths relative to it, "
          f"first found wins): {places}{hf_note}. Public source: {SOURCES[task]}. Point the project at the folder "
          f"with --config.data.data_dir=DIR or $DATASYNTH_DATA=DIR.")


def data_file(rel: str, data_dir: str | None = None) -> str:
  """The path of data file `rel` (e.g. "bbh/bbh/navigate.json", maybe stored as `rel + COMPRESSED`) in the first of
  `data_dirs(data_dir)` that holds it; none is a one-line UserError naming where it looked. Read it with
  `datasynth.data.files.read_text`, which decompresses."""
  for d in data_dirs(data_dir):
    path = existing_file(os.path.join(d, rel))
    if path is not None:
      return path
  raise UserError(f"Data file {rel} not found under {_searched(data_dir)}; put it there (relative to the data "
                  "folder) and point the project at the folder with --config.data.data_dir=DIR or "
                  "$DATASYNTH_DATA=DIR.")


# ----------------------------------------------------------------------------------------------------- reading
def _read_file(path: str) -> Rows:
  """A JSON Lines file, a JSON list, or TriviaQA's official {"Data": [...]} file (any of them xz-compressed)."""
  if path.removesuffix(COMPRESSED).endswith(".jsonl"):
    return read_jsonl(path)
  text = read_text(path)
  try:
    data = json.loads(text)
  except json.JSONDecodeError:
    return read_jsonl(path)  # An HF `to_json` export named .json is JSON Lines.
  if isinstance(data, dict) and isinstance(data.get("Data"), list):
    data = data["Data"]
  if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
    raise UserError(f"{path}: expected a JSON list of objects (or JSON Lines).")
  return data


def _read_disk(path: str, columns: tuple[str, ...] | None) -> Rows:
  """A `Dataset.save_to_disk` folder through `datasets` (memory-mapped Arrow)."""
  try:
    import datasets
  except ImportError as e:
    raise UserError(f"{path} is a Hugging Face `save_to_disk` folder; reading it needs the `datasets` package "
                    "(pip install datasets==4.8.5), or export it as JSON Lines.") from e
  ds = datasets.load_from_disk(path)
  if isinstance(ds, datasets.DatasetDict):
    raise UserError(f"{path} holds a DatasetDict with splits {sorted(ds)}; expected one split here.")
  if columns:
    ds = ds.select_columns([c for c in ds.column_names if c in columns])
  return ds.to_list()


def _read_parquet(paths: list[str], columns: tuple[str, ...] | None) -> Rows:
  """The rows of parquet shards, in order (the hub's train-00000-of-0000N.parquet sort by shard)."""
  try:
    import pyarrow.parquet as pq
  except ImportError as e:
    raise UserError(f"{paths[0]}: reading parquet needs `pyarrow` (pip install pyarrow).") from e
  rows: Rows = []
  for p in paths:
    try:
      names = [c for c in pq.read_schema(p).names if not columns or c in columns]
      rows.extend(pq.read_table(p, columns=names).to_pylist())
    except Exception as e:  # pyarrow raises several types for a damaged file.
      raise UserError(f"{p}: not a readable parquet file ({e}); download it again.") from e
  return rows


def _read(fmt: str, paths: list[str], columns: tuple[str, ...] | None = None) -> Rows:
  """Rows of a found layout (`find`'s format and paths), only `columns` where the format can select them."""
  if fmt == "disk":
    return _read_disk(paths[0], columns)
  if fmt == "parquet":
    return _read_parquet(paths, columns)
  return _read_file(paths[0])


# ------------------------------------------------------------------------------------------ one schema per task
def _mbpp_row(r: dict[str, Any]) -> dict[str, Any]:
  """The sanitized release names the question `prompt` and lists its imports in `test_imports`."""
  r = dict(r)
  if "text" not in r and "prompt" in r:
    r["text"] = r.pop("prompt")
  if "test_setup_code" not in r:
    r["test_setup_code"] = "\n".join(r.pop("test_imports", None) or [])
  r.setdefault("challenge_test_list", [])
  return r


def _boolq_row(r: dict[str, Any]) -> dict[str, Any]:
  """super_glue's boolq names the answer `label` (0/1; -1 on its unlabelled test split)."""
  r = dict(r)
  if "answer" not in r and "label" in r:
    if r["label"] not in (0, 1, True, False):
      raise UserError(f"BoolQ row {r.get('idx', '?')} has label {r['label']!r} (unlabelled split); use the train or "
                      "validation split.")
    r["answer"] = bool(r.pop("label"))
  r.setdefault("title", "")
  return r


def _triviaqa_row(r: dict[str, Any]) -> dict[str, Any]:
  """HF `trivia_qa` (answer: {aliases, normalized_aliases, ...}) and the official file (Question, Answer.Aliases)."""
  if "answers" in r:
    return r
  answer = r.get("answer") or r.get("Answer") or {}
  names = list(answer.get("aliases") or answer.get("Aliases") or [])
  names += list(answer.get("normalized_aliases") or answer.get("NormalizedAliases") or [])
  qid = r.get("question_id", r.get("QuestionId", ""))
  return dict(id=qid, question=r.get("question", r.get("Question")), question_id=qid,
              answers=list(dict.fromkeys(names)))


def _instruct_row(r: dict[str, Any]) -> dict[str, Any]:
  """GAIR/lima rows are `conversations` (user, assistant, user, ...): the last pair, earlier pairs as history."""
  if "conversations" not in r or "instruction" in r:
    return r
  turns = list(r["conversations"])
  if len(turns) < 2:
    raise UserError(f"A LIMA conversation has {len(turns)} turn(s) ({str(turns)[:60]}); the train split has a user "
                    "and an assistant turn in each (the test split has prompts only).")
  turns = turns[:len(turns) // 2 * 2]
  history = [[turns[i], turns[i + 1]] for i in range(0, len(turns) - 2, 2)]
  return dict(instruction=turns[-2], input="", output=turns[-1], history=history)


_NORMALISE = {"mbpp": _mbpp_row, "boolq": _boolq_row, "triviaqa": _triviaqa_row, "lima": _instruct_row,
              "alpaca": _instruct_row}


def locate(task: str, split: str, data_dir: str | None = None) -> tuple[Layout, str, list[str]]:
  """(layout, format, paths) of the first layout of `task` / `split` in the first of `data_dirs(data_dir)` that has
  one; none is the missing-data UserError.

  Cheap (existence checks only): configs call it in validation, before anything heavy loads.
  """
  for folder in data_dirs(data_dir):
    for layout in layouts(task, split):
      found = find(layout, folder)
      if found is not None:
        return (layout, *found)
  raise UserError(missing_data_message(task, split, data_dir))


def read_hf_copy(root: str, split: str = "train") -> Rows | None:
  """The rows of split `split` of the HF copy in folder `root` ("an HF copy in R, split S" of the module docstring,
  or one `Dataset.save_to_disk` of the whole table), or None when `root` holds none."""
  found = _hf_split(root, split)
  if found is None and os.path.isfile(os.path.join(root, "state.json")):
    found = ("disk", [root])
  return None if found is None else _read(*found)


def read_parquet(paths: list[str]) -> Rows:
  """The rows of parquet files, in order (a UserError naming a damaged one)."""
  return _read_parquet(paths, None)


def read_rows(task: str, split: str, data_dir: str | None = None) -> tuple[Rows, str]:
  """(rows of `task` / `split` in the official schema, the path they came from) from the first layout found."""
  layout, fmt, paths = locate(task, split, data_dir)
  rows = _read(fmt, paths, COLUMNS.get(task))
  if layout.cut is not None:
    rows = layout.cut(rows)
  normalise = _NORMALISE.get(task)
  return ([normalise(r) for r in rows] if normalise else rows), paths[0]
