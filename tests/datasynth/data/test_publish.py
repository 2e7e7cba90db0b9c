"""The Hugging Face dataset folder writer: the card's header, size categories, loading with `datasets`, and a folder
that is whole or absent however the write ends (an error, a real kill -9 at either rename)."""
import json
import os
import shlex
import subprocess
import sys

import ml_collections
import pytest

from datasynth.data import publish
from datasynth.utils import cli
from datasynth.utils.errors import UserError
from tests.softsrv.conftest import REPO

ROWS = [dict(prompt=f"Write a function number {i}.", response=f"def f{i}(): return {i}", source_index=i)
        for i in range(5)]


def _card(**over):
  base = dict(title="SS_MC synthetic MBPP data", description="Questions.", method="SoftSRV", variant="SS_MC",
              models=dict(generator="gemma3-270m", answer="smollm2-135m"), source="mbpp", task="mbpp",
              config_hash="abc123def4567890",
              counts=[publish.Count("generated", 8), publish.Count("deduplicated", 7, {"exact_duplicate": 1}),
                      publish.Count("answered", 5, {"empty_answer": 2})],
              command="python launch/pipeline.py --config=configs/mbpp.py", metrics={"MAUVE": "| q | p |"})
  return publish.Card(**{**base, **over})


def _records(tmp_path, rows=ROWS, name="records.jsonl"):
  path = tmp_path / name
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  return str(path)


@pytest.mark.parametrize("n,label", [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (9999, "1K<n<10K"),
                                     (10_000, "10K<n<100K"), (99_999, "10K<n<100K"), (100_000, "100K<n<1M"),
                                     (1_000_000, "1M<n<10M"), (10**9, "n>1B")])
def test_size_category_follows_the_hub_boundaries(n, label):
  assert publish.size_category(n) == label


def test_the_folder_loads_with_datasets_and_its_card_states_licenses_counts_and_command(tmp_path):
  datasets = pytest.importorskip("datasets")
  folder = str(tmp_path / "dataset")
  info = publish.write_dataset(folder, _records(tmp_path), _card())
  assert info == dict(folder=folder, records=5, fields=["prompt", "response", "source_index"])
  ds = datasets.load_dataset(folder, cache_dir=str(tmp_path / "cache"))
  assert list(ds) == ["train"] and ds["train"].num_rows == 5 and ds["train"].to_list() == ROWS
  header = publish.read_card_header(folder)
  assert header["license"] == ["other", "apache-2.0", "cc-by-4.0"]  # Gemma terms, SmolLM2, MBPP.
  assert header["license_name"] == "gemma-terms-of-use" and header["license_link"].startswith("https://ai.google.dev")
  assert header["task_categories"] == ["text-generation"] and header["size_categories"] == ["n<1K"]
  assert header["language"] == ["en"] and header["tags"] == ["synthetic"]
  text = open(os.path.join(folder, "README.md"), encoding="utf-8").read()
  for needed in ("| config hash | `abc123def4567890` |", "| deduplicated | 7 | exact_duplicate: 1 |",
                 "| answered | 5 | empty_answer: 2 |", "python launch/pipeline.py --config=configs/mbpp.py",
                 '.push_to_hub("your-user/your-dataset")', "| generator model | `gemma3-270m` |", "## MAUVE",
                 "[CC-BY-4.0]("):
    assert needed in text, needed
  assert "license above is unknown" not in text


def test_question_answering_tasks_and_unknown_licenses_are_stated():
  card = _card(task="boolq", source="boolq", models=dict(generator="/ckpts/my-llama"))
  header = publish.card_header(card, 20_000)
  assert header["task_categories"] == ["text-generation", "question-answering"]
  assert header["license"] == ["unknown", "cc-by-sa-3.0"] and "license_name" not in header
  assert header["size_categories"] == ["10K<n<100K"]
  assert "state it in this card's `license` field" in publish.card_markdown(card, 20_000, ["prompt"])
  assert publish.model_license("/ckpts/gemma-2-2b-it").id == "other"


def test_config_overrides_are_the_fields_that_differ_as_flags():
  base = ml_collections.ConfigDict(dict(task="mbpp", train=dict(steps=150, lr=3e-3), mesh=dict(data=-1)))
  config = ml_collections.ConfigDict(dict(task="mbpp", train=dict(steps=2, lr=3e-3), mesh=dict(data=4)))
  assert publish.config_overrides(config, base) == ["--config.mesh.data=4", "--config.train.steps=2"]
  assert publish.command_line(["launch/nomad.py", "--workdir=a b"]) == "python launch/nomad.py '--workdir=a b'"


@pytest.mark.parametrize("bad,match", [("[1, 2]\n", "must be a JSON object"), ("{oops\n", "records.jsonl:2: not JSON"),
                                       (None, "holds no records")])
def test_bad_records_are_a_clear_error_and_leave_the_older_folder_as_it_was(tmp_path, bad, match):
  folder = tmp_path / "dataset"
  publish.write_dataset(str(folder), _records(tmp_path, name="old.jsonl"), _card())
  before = {p: open(folder / p, "rb").read() for p in ("README.md", "data/train.jsonl")}
  path = tmp_path / "records.jsonl"
  path.write_text("" if bad is None else json.dumps(ROWS[0]) + "\n" + bad)
  with pytest.raises(UserError, match=match):
    publish.write_dataset(str(folder), str(path), _card())
  assert {p: open(folder / p, "rb").read() for p in before} == before
  assert sorted(os.listdir(tmp_path)) == ["dataset", "old.jsonl", "records.jsonl"]  # No .tmp / .old left behind.


KILLED = """
import os, signal, sys
from datasynth.data import publish
from tests.datasynth.data.test_publish import _card
folder, records, at = sys.argv[1:]
real = os.replace
def replace(src, dst):
  if at == "records" or (at == "rename" and dst == folder):  # After the copy / after the old folder moved aside.
    os.kill(os.getpid(), signal.SIGKILL)
  real(src, dst)
if at == "rename":
  os.replace = replace
else:
  publish.card_markdown = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
publish.write_dataset(folder, records, _card())
"""


@pytest.mark.parametrize("at", ["records", "rename"])
def test_a_kill_9_leaves_the_folder_whole_or_absent_and_the_next_write_succeeds(tmp_path, at):
  folder, records = str(tmp_path / "dataset"), _records(tmp_path)
  publish.write_dataset(folder, _records(tmp_path, ROWS[:2], "old.jsonl"), _card())
  out = subprocess.run([sys.executable, "-c", KILLED, folder, records, at], cwd=REPO, capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)
  assert out.returncode == -9, out.stderr[-2000:]
  if os.path.exists(folder):  # Killed before the swap: the old folder, whole.
    assert at == "records" and open(os.path.join(folder, "data", "train.jsonl")).read().count("\n") == 2
  else:  # Killed between the renames: absent, never a mix.
    assert at == "rename" and os.path.isdir(folder + ".old")
  info = publish.write_dataset(folder, records, _card())
  assert info["records"] == 5 and sorted(os.listdir(tmp_path)) == ["dataset", "old.jsonl", "records.jsonl"]


def parse_command(command):
  """(config, workdir) that a launcher's absl flags parse out of `command` (the card's reproduce line)."""
  from absl import flags
  from ml_collections import config_flags
  fv = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "", flag_values=fv)
  flags.DEFINE_string("workdir", None, "", flag_values=fv)
  argv = shlex.split(command)
  assert argv[0] == "python"
  cwd = os.getcwd()
  os.chdir(REPO)  # The command names configs/<name>.py from the project root.
  try:
    cli.parse_flags(argv[1:], fv)
  finally:
    os.chdir(cwd)
  return fv.config, fv.workdir
