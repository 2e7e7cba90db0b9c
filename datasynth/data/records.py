"""One record type for every task, and the readers that make records from the benchmark files.

A `Record` is a (prompt, response) pair plus the task-specific fields evaluators need (`meta`). SoftSRV learns to
generate the `prompt` side (an MBPP question, a GSM8K problem, a BoolQ passage + question); a student is fine-tuned on
prompt -> response; NOMAD's teacher sees both as one "User: ... Assistant: ..." conversation.

The rows come from `datasynth.data.sources`, which finds a split in whichever layout is on disk (the shared folder,
the official file names, a Hugging Face `datasets` copy) and maps its columns to the official fields.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Iterable

from datasynth.data import mawps_data, sources, triviaqa_data
from datasynth.data.files import read_jsonl, read_text  # noqa: F401  (re-exported)
from datasynth.utils.errors import UserError

TASKS = ("mbpp", "gsm8k", "boolq", "lima", "alpaca", "triviaqa")


@dataclasses.dataclass(frozen=True)
class Record:
  uid: str  # "<task>/<split>/<index or id>": stable provenance.
  task: str
  prompt: str  # What the model is asked (question, passage + question, user turn).
  response: str  # The target answer (code, chain of thought ending "#### N", "True"/"False", assistant turn).
  meta: dict[str, Any] = dataclasses.field(default_factory=dict)  # test_list, label, history, ...

  def to_json(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


def _need(row: dict[str, Any], fields: Iterable[str], path: str, n: int) -> None:
  missing = [k for k in fields if k not in row]
  if missing:
    raise UserError(f"{path}: record {n} lacks field(s) {missing}; is this the right file for the task?")


def _mbpp(rows, path, split):
  out = []
  for n, r in enumerate(rows):
    _need(r, ("task_id", "text", "code", "test_list"), path, n)
    code = r["code"].replace("\r\n", "\n")
    meta = dict(task_id=r["task_id"], test_list=r["test_list"], test_setup_code=r.get("test_setup_code", ""),
                challenge_test_list=r.get("challenge_test_list", []))
    out.append(Record(f"mbpp/{split}/{r['task_id']}", "mbpp", r["text"], code, meta))
  return out


def _gsm8k(rows, path, split):
  out = []
  for n, r in enumerate(rows):
    _need(r, ("question", "answer"), path, n)
    final = r["answer"].rsplit("####", 1)[-1].strip().replace(",", "")
    out.append(Record(f"gsm8k/{split}/{n}", "gsm8k", r["question"], r["answer"], dict(final_answer=final)))
  return out


def boolq_prompt(passage: str, question: str) -> str:
  """The BoolQ prompt side: passage then question (the unit SoftSRV generates and a student answers)."""
  return f"{passage}\nQuestion: {question}?"


def _boolq(rows, path, split):
  out = []
  for n, r in enumerate(rows):
    _need(r, ("question", "passage", "answer"), path, n)
    label = bool(r["answer"])
    out.append(Record(f"boolq/{split}/{n}", "boolq", boolq_prompt(r["passage"], r["question"]),
                      "True" if label else "False",
                      dict(question=r["question"], passage=r["passage"], title=r.get("title", ""), label=label)))
  return out


def _instruct(rows, path, task):
  out = []
  for n, r in enumerate(rows):
    _need(r, ("instruction", "output"), path, n)
    prompt = r["instruction"] + (("\n" + r["input"]) if r.get("input") else "")
    out.append(Record(f"{task}/train/{n}", task, prompt, r["output"], dict(history=r.get("history") or [])))
  return out


_SPLITS = {"mbpp": ("train", "validation", "test", "prompt"), "gsm8k": ("train", "test"),
           "boolq": ("train", "test", "dev"), "lima": ("train",), "alpaca": ("train",)}
_READERS = {"mbpp": _mbpp, "gsm8k": _gsm8k, "boolq": _boolq, "lima": _instruct, "alpaca": _instruct}


def read_split_rows(task: str, split: str, data_dir: str | None = None) -> tuple[list[dict[str, Any]], str]:
  """(rows in the official release's schema, the path read) of `task` / `split`, from any layout on disk.

  The layouts and their lookup order are in `datasynth.data.sources`: the shared folder's files, the official file
  names, and Hugging Face `datasets` copies (a `save_to_disk` folder, parquet, JSON Lines). A split with no layout
  on disk is one error naming every accepted layout and the public source.
  """
  if task not in _SPLITS and task != "triviaqa":
    raise UserError(f"Unknown task {task!r}; expected one of {TASKS}.")
  if task in _SPLITS and split not in _SPLITS[task]:
    raise UserError(f"Unknown {task} split {split!r}; expected one of {_SPLITS[task]}.")
  return sources.read_rows(task, split, data_dir or None)


def _triviaqa(split: str, data_dir: str | None) -> list[Record]:
  """`triviaqa_data.read_split` rows as records: prompt = question, response = the shot answer, meta["answers"] =
  the aliases."""
  return [Record(f"triviaqa/{split}/{r.get('id', n)}", "triviaqa", r["question"], triviaqa_data.shot_answer(r),
                 dict(answers=list(r["answers"]))) for n, r in enumerate(triviaqa_data.read_split(split, data_dir))]


def _mawps(split: str, data_dir: str | None) -> list[Record]:
  """`mawps_data.read_split` rows as records: prompt = the problem, response = the answer, meta = equation, ans."""
  return [Record(f"mawps/{split}/{r.get('id', n)}", "mawps", r["original_text"].strip(),
                 mawps_data.format_number(r["ans"]), dict(equation=r.get("equation"), ans=float(r["ans"])))
          for n, r in enumerate(mawps_data.read_split(split, data_dir))]


def load_task(task: str, split: str, data_dir: str | None = None) -> list[Record]:
  """Records of `task` / `split` from the data folder (any layout of `datasynth.data.sources`).

  mbpp: train | validation | test | prompt (standard task-id splits); gsm8k: train | test;
  boolq: train | test | dev (dev is the official dev set; test is 1,000 rows of it, train the other 2,270 in the
  shared folder (see the data README); the official train.jsonl is accepted in its place); lima, alpaca: train;
  triviaqa: test | shots; mawps: test | train | validation.
  """
  if task == "triviaqa":  # Evaluation only: test (995 questions) | shots (the 5 held-out prompt shots).
    path, records = "triviaqa", _triviaqa(split, data_dir)
  elif task == "mawps":  # Evaluation only (SoftSRV Table 2): test (238) | train | validation.
    path, records = "mawps", _mawps(split, data_dir)
  else:
    rows, path = read_split_rows(task, split, data_dir)
    records = _READERS[task](rows, path, task if task in ("lima", "alpaca") else split)
  if not records:
    raise UserError(f"{path} holds no {task} {split} records; an empty data set cannot be used.")
  return records


def load_records_jsonl(path: str) -> list[Record]:
  """Records previously written by `write_jsonl(path, [r.to_json() ...])` (e.g. generated SFT data)."""
  rows = read_jsonl(path)
  out = []
  for n, r in enumerate(rows):
    _need(r, ("prompt", "response"), path, n)
    out.append(Record(r.get("uid", f"{os.path.basename(path)}/{n}"), r.get("task", "custom"), r["prompt"],
                      r["response"], r.get("meta", {})))
  if not out:
    raise UserError(f"{path} holds no records; an empty data set cannot be used.")
  return out
