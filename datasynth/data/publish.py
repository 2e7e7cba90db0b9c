"""A finished synthetic set as a Hugging Face dataset folder a user can publish: the records plus a dataset card.

`write_dataset(folder, records_path, card)` writes

  <folder>/data/train.jsonl   the records, line for line as the pipeline wrote them (one JSON object a line)
  <folder>/README.md          the dataset card: a YAML header the Hub reads (license, task_categories,
                              size_categories, language, tags, and `configs:` naming data/train.jsonl as split
                              `train`, so `datasets.load_dataset(<folder>)` needs no arguments), then the provenance a
                              reader needs: method and variant, the models, the config hash, the counts through each
                              stage, the metrics, the command that reproduces the set, and a `push_to_hub` snippet.

The folder is built under `<folder>.tmp` and renamed into place (`datasynth.utils.io.atomic_dir`, which moves an older
folder aside first and removes it after), so after a kill -9 the folder is the old one, the new one, or absent, never
half.

This module knows no method: a pipeline passes what it knows as a `Card` (its counts, metrics, command, the models and
source data by name); `model_license` and `data_license` name the licenses of the embedded models and the bundled /
shared data sets, and say "unknown" for anything else, so the card tells the user to state it before publishing.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shlex
from typing import Any, Mapping, Sequence

import yaml

from datasynth.utils import io
from datasynth.utils.errors import UserError

DATA_FILE = "data/train.jsonl"
CARD_FILE = "README.md"


@dataclasses.dataclass(frozen=True)
class License:
  id: str  # Hugging Face Hub license identifier (mit, apache-2.0, cc-by-4.0, ..., other, unknown).
  name: str  # What a reader calls it.
  link: str = ""  # Where its text is.


GEMMA = License("other", "Gemma Terms of Use", "https://ai.google.dev/gemma/terms")
UNKNOWN = License("unknown", "unknown")
# Embedded model presets (datasynth.models.loaders.PRESETS) and model families a checkpoint folder's name reveals.
MODEL_LICENSES = {
    "gemma3-270m": GEMMA,
    "smollm2-135m": License("apache-2.0", "Apache-2.0", "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct"),
}
_MODEL_FAMILIES = (("gemma", GEMMA), ("smollm", MODEL_LICENSES["smollm2-135m"]))
# The task data sets as stated upstream (the bundled sets' LICENSE and SOURCE.md files; the data README).
DATA_LICENSES = {
    "mbpp": License("cc-by-4.0", "CC-BY-4.0", "https://github.com/google-research/google-research/tree/master/mbpp"),
    "gsm8k": License("mit", "MIT", "https://github.com/openai/grade-school-math"),
    "boolq": License("cc-by-sa-3.0", "CC BY-SA 3.0", "https://github.com/google-research-datasets/boolean-questions"),
    "lima": License("cc-by-nc-sa-4.0", "CC BY-NC-SA 4.0 (non-commercial)", "https://huggingface.co/datasets/GAIR/lima"),
    "alpaca": License("cc-by-nc-4.0", "CC BY-NC 4.0 (non-commercial)", "https://github.com/tatsu-lab/stanford_alpaca"),
    "triviaqa": UNKNOWN,
    "tulu_v2": License("odc-by", "ODC-BY (each source data set keeps its own license)",
                       "https://huggingface.co/datasets/allenai/tulu-v2-sft-mixture"),
}
# Hub task categories beyond text-generation, by task.
TASK_CATEGORIES = {"boolq": ("question-answering",), "triviaqa": ("question-answering",)}
# The Hub's size_categories: upper bounds (exclusive) and their labels.
_SIZES = ((10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"), (10**6, "100K<n<1M"), (10**7, "1M<n<10M"),
          (10**8, "10M<n<100M"), (10**9, "100M<n<1B"))


def model_license(name: str) -> License:
  """The license of a model given as a preset name or checkpoint path (UNKNOWN when neither says)."""
  if name in MODEL_LICENSES:
    return MODEL_LICENSES[name]
  base = os.path.basename(os.path.normpath(name)).lower()
  return next((lic for family, lic in _MODEL_FAMILIES if family in base), UNKNOWN)


def data_license(task: str) -> License:
  return DATA_LICENSES.get(task, UNKNOWN)


def task_categories(task: str) -> list[str]:
  return ["text-generation", *TASK_CATEGORIES.get(task, ())]


def size_category(n: int) -> str:
  """The Hub's size_categories label of n records: n<1K below 1000, 1K<n<10K from 1000 to 9999, and so on."""
  if n < 0:
    raise ValueError(f"size_category: n={n} < 0")
  return next((label for bound, label in _SIZES if n < bound), "n>1B")


def config_overrides(config: Any, base: Any) -> list[str]:
  """`--config.a.b=value` flags that turn the `base` ConfigDict into `config` (fields that differ, sorted)."""
  flat, flat_base = _flatten(config.to_dict()), _flatten(base.to_dict())
  return [f"--config.{k}={_flag_value(v)}" for k, v in sorted(flat.items()) if k not in flat_base or flat_base[k] != v]


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  out = {}
  for k, v in d.items():
    out.update(_flatten(v, f"{prefix}{k}.") if isinstance(v, Mapping) else {f"{prefix}{k}": v})
  return out


def _flag_value(v: Any) -> str:
  return repr(tuple(v)) if isinstance(v, (list, tuple)) else str(v)


def command_line(argv: Sequence[str]) -> str:
  """A shell-quoted command from argv (`sys.argv` of a launcher), starting with `python`."""
  return " ".join(["python", *map(shlex.quote, argv)])


@dataclasses.dataclass
class Count:
  stage: str  # What the rows went through: generated, deduplicated, decontaminated, subsampled, answered, ...
  rows: int  # Rows after it.
  dropped: Mapping[str, int] = dataclasses.field(default_factory=dict)  # Rows it removed, by reason.


@dataclasses.dataclass
class Card:
  """What a reader of the published set needs to know; a pipeline fills it from its manifests and summary."""
  title: str  # e.g. "SS_MC synthetic MBPP questions".
  description: str  # One paragraph: what the records are and how they were made.
  method: str  # e.g. "SoftSRV", "NOMAD".
  variant: str  # e.g. "SS_MC", "unmasked teacher, filtered".
  models: Mapping[str, str]  # Role -> model name or path, e.g. {"generator": "gemma3-270m", "answer": ...}.
  source: str  # The source data the method learned from: a task name (its license is known) or a file.
  config_hash: str  # The run's config fingerprint.
  counts: Sequence[Count]  # Through each stage, in order.
  command: str  # The command that reproduces the set.
  metrics: Mapping[str, str] = dataclasses.field(default_factory=dict)  # Section title -> Markdown (a table).
  task: str = ""  # Task name for the task categories ("" = source).
  tags: Sequence[str] = ()  # Beyond "synthetic".
  details: Mapping[str, str] = dataclasses.field(default_factory=dict)  # More provenance rows (name -> value).

  def licenses(self) -> list[tuple[str, str, License]]:
    """(role, what, license) for every model and the source data."""
    rows = [(role, name, model_license(name)) for role, name in self.models.items()]
    return rows + [("source data", self.source, data_license(self.source))]


def write_dataset(folder: str, records_path: str, card: Card) -> dict[str, Any]:
  """Write `records_path` (JSON Lines) and `card` as a Hugging Face dataset folder, atomically; returns
  {"folder", "records", "fields"}. An empty or malformed records file is a `UserError` and leaves `folder` as it was."""
  folder = os.path.abspath(folder)
  with io.atomic_dir(folder) as tmp:
    n, fields = _copy_records(records_path, os.path.join(tmp, DATA_FILE))
    io.write_text(os.path.join(tmp, CARD_FILE), card_markdown(card, n, fields))
  return dict(folder=folder, records=n, fields=fields)


def _copy_records(src: str, dst: str) -> tuple[int, list[str]]:
  """Copy the records line by line, checking each is a JSON object; returns (count, field names in first-seen order)."""
  if not os.path.isfile(src):
    raise UserError(f"{src}: records file not found; finish the pipeline's last stage before publishing.")
  n, fields = 0, {}
  with open(src, encoding="utf-8") as f_in, io.atomic_write(dst) as f_out:
    for n, line in enumerate(f_in, 1):
      try:
        row = json.loads(line)
      except json.JSONDecodeError as e:
        raise UserError(f"{src}:{n}: not JSON ({e.msg}); rerun the stage that wrote it.") from None
      if not isinstance(row, dict):
        raise UserError(f"{src}:{n}: a record must be a JSON object; rerun the stage that wrote it.")
      fields.update(dict.fromkeys(row))
      f_out.write(line if line.endswith("\n") else line + "\n")
  if n == 0:
    raise UserError(f"{src} holds no records: there is nothing to publish (check the pipeline's stage counts).")
  return n, list(fields)


# ---------------------------------------------------------------------------------------------------------- card
def card_header(card: Card, n: int) -> dict[str, Any]:
  """The card's YAML metadata (the Hub's dataset card fields)."""
  licenses = card.licenses()
  ids = list(dict.fromkeys(lic.id for _, _, lic in licenses))
  header: dict[str, Any] = dict(license=ids[0] if len(ids) == 1 else ids)
  other = next((lic for _, _, lic in licenses if lic.id == "other"), None)
  if other is not None:  # The Hub names one custom license; every license is in the card's table.
    header.update(license_name=other.name.lower().replace(" ", "-"), license_link=other.link)
  header.update(language=["en"], task_categories=task_categories(card.task or card.source),
                size_categories=[size_category(n)], tags=["synthetic", *card.tags],
                pretty_name=card.title,
                configs=[dict(config_name="default", data_files=[dict(split="train", path=DATA_FILE)])])
  return header


def card_markdown(card: Card, n: int, fields: Sequence[str]) -> str:
  """README.md: the YAML header, then the provenance and how to load, reproduce and publish the set."""
  head = yaml.safe_dump(card_header(card, n), sort_keys=False, allow_unicode=True, width=1000)
  provenance = [("method", card.method), ("variant", card.variant),
                *((f"{role} model", f"`{name}`") for role, name in card.models.items()),
                ("source data", f"`{card.source}`"), ("config hash", f"`{card.config_hash}`"),
                ("records", str(n)), ("fields", ", ".join(f"`{f}`" for f in fields)), *card.details.items()]
  lines = ["---", head.rstrip(), "---", "", f"# {card.title}", "", card.description, "", "## Provenance", "",
           "| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in provenance), "",
           "## Counts through each stage", "", "| stage | rows | dropped (by reason) |", "|---|---:|---|",
           *(f"| {c.stage} | {c.rows} | {_reasons(c.dropped)} |" for c in card.counts), ""]
  for title, body in card.metrics.items():
    lines += [f"## {title}", "", body, ""]
  lines += ["## Licenses", "", "The records are written by the models below from the source data; using them means "
            "complying with every license in this table.", "", "| role | name | license |", "|---|---|---|",
            *(f"| {role} | `{name}` | {_license_cell(lic)} |" for role, name, lic in card.licenses()), ""]
  if any(lic.id == "unknown" for _, _, lic in card.licenses()):
    lines += ["A license above is unknown to the pipeline: state it in this card's `license` field before publishing.",
              ""]
  lines += ["## Reproduce", "", "```bash", card.command, "```", "",
            "## Load and publish", "", "```python", "import datasets", "",
            'ds = datasets.load_dataset("path/to/this/folder")  # DatasetDict with one split, "train".',
            'ds["train"].push_to_hub("your-user/your-dataset")  # Needs `huggingface-cli login`.', "```", "",
            "Or upload the folder as it is, card included: `huggingface-cli upload --repo-type=dataset "
            "your-user/your-dataset path/to/this/folder`.", ""]
  return "\n".join(lines)


def _reasons(dropped: Mapping[str, int]) -> str:
  return ", ".join(f"{k}: {v}" for k, v in dropped.items()) or "-"


def _license_cell(lic: License) -> str:
  return f"[{lic.name}]({lic.link})" if lic.link else lic.name


def read_card_header(folder: str) -> dict[str, Any]:
  """The YAML header of `<folder>/README.md` (what the Hub reads)."""
  with open(os.path.join(folder, CARD_FILE), encoding="utf-8") as f:
    text = f.read()
  if not text.startswith("---\n") or "\n---\n" not in text[4:]:
    raise UserError(f"{folder}/{CARD_FILE}: no YAML header between '---' lines.")
  return yaml.safe_load(text[4:text.index("\n---\n", 4)])
