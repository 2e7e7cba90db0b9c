"""The NOMAD paper's settings as data (Chen et al., *Rethinking Data Synthesis: A Teacher Model Training Recipe with
Interpretation*), and every place this code departs from them.

  SETTINGS     (section, setting, the paper's value, config field): every value the paper states that
               configs/nomad.py holds; `field` is a dotted path or a derived value of `config_value`.
  NOT_STATED   what the paper leaves open, with the value chosen here (nothing to depart from).
  DEVIATIONS   every departure, with its reason: a field whose value in a preset is not the paper's, or a step of
               the method done differently (field None). The README's "Deviations from the NOMAD paper" table is
               `deviations_markdown()`, one row each (`python -m nomad.paper` prints it).

`tests/nomad/test_nomad_paper.py` builds configs/nomad.py:paper and the CPU default and asserts that every setting
equals the paper's value or is listed in DEVIATIONS for that preset, that every listed deviation is real, and that
the README's table is this list. Tables 2 and B.2 are sweeps over the `paper` preset (sweeps/nomad_table2.py,
sweeps/nomad_b2.py); their settings (student.x_train = pool, 2 student epochs, one baseline) are overrides there.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from nomad import config as config_lib
from nomad import filters
from nomad import student as student_lib

PRESETS = ("paper", "cpu")  # configs/nomad.py presets the settings are held against ("cpu" is the default).


@dataclasses.dataclass(frozen=True)
class Setting:
  section: str  # Where the paper states it.
  setting: str  # What it is, in the paper's words.
  paper: Any  # The paper's value.
  field: str  # configs/nomad.py field (dotted), or a derived value of `config_value`.


@dataclasses.dataclass(frozen=True)
class Deviation:
  preset: str  # "paper" | "cpu" | "all" (every preset: a departure of the method itself, or of the models shipped).
  field: str | None  # The config field, or None for a step of the method.
  paper: str  # What the paper does.
  here: str  # What this code does.
  why: str


SETTINGS: tuple[Setting, ...] = (
    Setting("Sec. 4.1", "M_synthesis: Llama3-8B (a pretrained, not instruction-tuned, model)", "llama3-8b", "model"),
    Setting("Sec. 4.1", "training data: the TULU v2 collection", "tulu_v2", "data.source"),
    Setting("Sec. 4.1", "a 15K randomly sampled subset for M_synthesis", 15_000, "data.subset_size"),
    Setting("Sec. 4.1", "unified template: \"User: [prompt] Assistant: [response]\" (user prefix)", "User: ",
            "format.user_prefix"),
    Setting("Sec. 4.1", "unified template (assistant prefix)", "Assistant: ", "format.assistant_prefix"),
    Setting("Sec. 4.1", "unified template: one space between the prompt and \"Assistant: \"", " ",
            "format.separator"),
    Setting("Sec. 3", "M_synthesis: no prompt masking (loss on every token)", False, "sft.prompt_masking"),
    Setting("Sec. 4.1", "M_synthesis: 2 epochs whatever the data size", 2.0, "teacher.epochs"),
    Setting("A.1", "learning rate (all model training)", 2e-5, "sft.lr"),
    Setting("A.1", "batch size (all model training)", 128, "sft.batch_size"),
    Setting("Sec. 3", "generation input: only \"User: \"", "User: ", "generate.prompt"),
    Setting("Sec. 4.1", "raw generations (~25K valid)", 30_000, "generate.num_samples"),
    Setting("A.2", "generation temperature", 1.0, "generate.temperature"),
    Setting("A.2", "top_p (15K X_train^syn)", 0.9, "generate.top_p"),
    Setting("Sec. 3, A.5", "repeated-words and coding filters applied (NOMASKEDFILTERED)", True, "pipeline.filtered"),
    Setting("Sec. 4.3", "NormSim reference: the whole original set X_TULU", "pool", "normsim.reference"),
    Setting("Sec. 4.3", "NormSim's f: all-mpnet-base-v2", "all-mpnet-base-v2", "normsim.encoder"),
    Setting("Sec. 4.1", "M_s: Phi-mini-v3.1", "phi-mini-v3.1", "student.model"),
    Setting("Sec. 4.1", "M_s: prompt-masked training", True, "student.sft.prompt_masking"),
    Setting("Table 1", "M_s's X_train: the same 15K subset", "subset", "student.x_train"),
    Setting("Sec. 4.1", "M_s: 4 epochs on 15K X_train (equal epochs)", 4.0, "student.epochs"),
    Setting("Sec. 4.1", "baselines: X_train at equal epochs and at a similar budget", "both", "student.baselines"),
    Setting("Sec. 4.1", "equal-compute baseline: 8 epochs", 8.0, "student.epochs[equal_compute]"),
    Setting("A.1", "M_s learning rate", 2e-5, "student.sft.lr"),
    Setting("A.1", "M_s batch size", 128, "student.sft.batch_size"),
    Setting("Sec. 4.1, A.3", "evaluation: TriviaQA, TruthfulQA-gen, BBH-NOCOT-FS, BBH-COT-FS, GSM8K, IFEval",
            config_lib.PAPER_TASKS, "student.tasks"),
    Setting("A.3", "GSM8K scored on its whole test set", True, "student.whole_set[gsm8k]"),
    Setting("A.3", "TriviaQA scored on its whole evaluation set", True, "student.whole_set[triviaqa]"),
    Setting("A.3", "TruthfulQA, BBH, IFEval scored on every document", 0, "student.lm_eval_limit"),
)

_FILTERS = filters.RepetitionConfig()
NOT_STATED: tuple[tuple[str, str], ...] = (
    ("teacher and student sequence length, warmup, schedule, optimizer",
     "2048 tokens (longer conversations cut), 10 warmup steps, the SFT defaults (AdamW, constant after warmup)"),
    ("generation length per conversation", "2048 new tokens; a row that hits it is `incomplete`"),
    ("the repetition filter's thresholds (\"pattern matching\")",
     f"a word run > {_FILTERS.max_word_run}, > {_FILTERS.max_dup_ngram_fraction:.0%} repeated {_FILTERS.ngram}-grams, "
     f"a {_FILTERS.min_substring}+ character substring {_FILTERS.min_repeats}x back to back (nomad/filters.py)"),
    ("the coding filter's keywords (\"keyword searches\")", f"{len(filters.CODE_KEYWORDS)} keywords, "
     "`nomad.filters.CODE_KEYWORDS`"),
    ("how TULU conversations the template cannot hold are treated", "skipped and counted (`read_tulu`)"),
    ("the shots of TriviaQA and GSM8K", "5-shot (GSM8K with chain of thought), the project's harnesses"),
)

_CPU = "the 2-core CPU default; `:paper` has the paper's"
_NOT_SHIPPED = "not shipped (16 GB, gated license); `--config.model` takes a Llama 3 8B Hugging Face folder"
DEVIATIONS: tuple[Deviation, ...] = (
    Deviation("all", "model", "Llama3-8B", "the embedded Gemma 3 270M base (`gemma3-270m`)", _NOT_SHIPPED),
    Deviation("all", "student.model", "Phi-mini-v3.1", "SmolLM2-135M (`smollm2-135m`)",
              "the loader does not read Phi-3's fused qkv / gate-up checkpoints; `--config.student.model` takes any "
              "Llama, Gemma or Qwen2 checkpoint"),
    Deviation("all", "normsim.encoder", "all-mpnet-base-v2", "the embedded all-MiniLM-L6-v2",
              "the only encoder shipped; `--config.normsim.encoder` takes an all-mpnet-base-v2 folder (MPNet is "
              "supported)"),
    Deviation("all", "format.separator", "one space: \"User: [prompt] Assistant: [response]\"",
              "\"\\n\\n\" between a turn and the next role prefix",
              "the first-round parser finds role markers at line starts (nomad/conversations.py)"),
    Deviation("all", "generate.prompt", "\"User: \"", "\"User:\" (generate.strip_prefix_space)",
              "a BPE tokenizer writes the space fused to the first word, as in training; False feeds \"User: \""),
    Deviation("all", None, "M_s trains on the TULU conversations",
              "M_s trains on each conversation's first round (the teacher on every round)",
              "the student SFT renders one (prompt, response) per record; X_synthesis holds first rounds too"),
    Deviation("all", None, "Tables 1-2: each result the average of two trials",
              "one trial per run", "a trial is a teacher, 30K generations and the students; rerun with another "
              "data.seed / generate.seed to average"),
    Deviation("all", None, "A.5: repeated-words filter by pattern matching, coding filter by keyword search",
              "this project's thresholds and keyword list (NOT_STATED above; nomad/filters.py)",
              "the paper gives no numbers"),
    # The CPU default.
    Deviation("cpu", "data.source", "TULU v2 (300K)", "Alpaca (`alpaca`, its 999-row demo in the shared folder)",
              "TULU v2 is not in the shared folder; " + _CPU),
    Deviation("cpu", "data.subset_size", "15,000", "128", _CPU),
    Deviation("cpu", "teacher.epochs", "2", "1", _CPU),
    Deviation("cpu", "sft.batch_size", "128", "4 packed rows of 256 tokens", _CPU),
    Deviation("cpu", "generate.num_samples", "30,000", "256", _CPU),
    Deviation("cpu", "normsim.reference", "the whole X_TULU", "the teacher's subset",
              "a CPU run encodes its 128 conversations, not the source's 999; " + _CPU),
    Deviation("cpu", "student.epochs", "4", "1", _CPU),
    Deviation("cpu", "student.epochs[equal_compute]", "8", "2", _CPU),
    Deviation("cpu", "student.sft.batch_size", "128", "4 packed rows of 256 tokens", _CPU),
    Deviation("cpu", "student.tasks", "Table 1's six", "GSM8K and TriviaQA",
              "lm-eval's tasks take hours on 2 cores; " + _CPU),
    Deviation("cpu", "student.whole_set[gsm8k]", "the whole test set", "48 questions", _CPU),
    Deviation("cpu", "student.whole_set[triviaqa]", "the whole set", "200 questions", _CPU),
    Deviation("cpu", "student.lm_eval_limit", "every document", "100 per sub-task", _CPU),
)


def config_value(config, field: str) -> Any:
  """A config's value of `field`: a dotted path, or a derived value ("generate.prompt": the text generation starts
  from; "student.epochs[equal_compute]": the equal-compute baseline's epochs, None without that baseline;
  "student.whole_set[task]": whether student.num_examples covers the task's whole evaluation set)."""
  if field == "generate.prompt":
    prefix = config.format.user_prefix
    return prefix.rstrip(" ") if config.generate.strip_prefix_space else prefix
  if field == "student.epochs[equal_compute]":
    return 2 * float(config.student.epochs) if config.student.baselines == "both" else None
  if field.startswith("student.whole_set["):
    task = field[len("student.whole_set["):-1]
    return config.student.num_examples[task] >= student_lib.WHOLE_TEST_SETS[task]
  node = config
  for part in field.split("."):
    node = node[part]
  return node


def presets() -> dict[str, Any]:
  """preset -> configs/nomad.py's config (the CPU default is the "cpu" preset)."""
  return {p: config_lib.get_config(p) for p in PRESETS}


def deviation_for(preset: str, field: str) -> Deviation | None:
  return next((d for d in DEVIATIONS if d.field == field and d.preset in (preset, "all")), None)


# ------------------------------------------------------------------------------------------------------ README
def deviations_markdown() -> str:
  """The README's deviations table: one row per DEVIATIONS entry."""
  rows = ["| preset | setting | paper | here | why |", "|---|---|---|---|---|"]
  for d in DEVIATIONS:
    preset = {"all": "every preset", "paper": "`:paper`", "cpu": "CPU default"}[d.preset]
    cells = [preset, f"`{d.field}`" if d.field else "the method", d.paper, d.here, d.why]
    rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
  return "\n".join(rows)


if __name__ == "__main__":
  print(deviations_markdown())
