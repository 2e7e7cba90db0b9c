"""The SoftSRV paper's settings as data (DeSalvo et al., arXiv 2410.16534), and every place this code departs from them.

  SETTINGS     (section, setting, the paper's value, where it lives): every value the paper states that a config
               holds. `where` names a config file, its preset and a field (or a derived value, see `config_value`).
  NOT_STATED   what the paper leaves open, with the value chosen here (no deviation: there is nothing to depart from).
  DEVIATIONS   every departure, with its reason: a config field of a preset whose value is not the paper's, or a
               step of the method done differently (field None). The README's "Deviations from the SoftSRV paper"
               table is `deviations_markdown()`, one row each (`python -m softsrv.paper` prints it).

`tests/softsrv/test_paper.py` builds each preset (configs/{mbpp,gsm8k,boolq}.py:paper and their CPU default,
configs/evaluate.py:paper, :paper,table3 and its CPU default) and asserts that every setting of SETTINGS equals the
paper's value or is listed in DEVIATIONS for that preset, that every listed deviation is real (the value differs),
and that the README's table is this list.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
from typing import Any

from datasynth.evals.student_eval import few_shots

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOFTSRV_TASKS = ("mbpp", "gsm8k", "boolq")
N_S = {"mbpp": 50_000, "gsm8k": 50_000, "boolq": 20_000}  # A.2.


@dataclasses.dataclass(frozen=True)
class Setting:
  section: str  # Where the paper states it.
  setting: str  # What it is, in the paper's words.
  paper: Any  # The paper's value.
  config: str  # "softsrv" (configs/<task>.py) | "student" (configs/evaluate.py) | "table3" (evaluate.py:paper,table3)
  field: str  # The config field (dotted), or a derived value of `config_value` ("baseline.temperature[pt]").
  tasks: tuple[str, ...] = SOFTSRV_TASKS  # SoftSRV configs it applies to.


@dataclasses.dataclass(frozen=True)
class Deviation:
  preset: str  # "paper" | "cpu" | "all" (every preset: a departure of the method itself).
  config: str  # As Setting.config; "" for a step of the method outside any config.
  field: str | None  # The config field, or None.
  paper: str  # What the paper does.
  here: str  # What this code does.
  why: str


def _s(section, setting, paper, field, config="softsrv", tasks=SOFTSRV_TASKS):
  return Setting(section, setting, paper, config, field, tuple(tasks))


SETTINGS: tuple[Setting, ...] = (
    # Eq. 1-3 and Section 3.3 step 1.
    _s("Eq. 1-3, Sec. 3.3", "t, the length of the SoftSRV embedding P in R^{d x t}", 128, "soft_prompt.t"),
    _s("Sec. 3.4", "the parameterisation used after Table 1 (SS_MC)", "mc", "soft_prompt.variant"),
    _s("Eq. 2, Sec. 3.3, A.6", "k, basis embeddings of SS_MPk", 2, "soft_prompt.k"),
    _s("Eq. 3, Sec. 3.3", "SS_MC: feed-forward layers per MLP", 3, "soft_prompt.num_layers"),
    _s("Eq. 3, Sec. 3.3", "SS_MC: hidden dimensions", 128, "soft_prompt.hidden"),
    _s("Sec. 3.3", "training steps", 20_000, "train.steps"),
    _s("Sec. 3.3", "learning rate", 5e-6, "train.lr"),
    _s("Sec. 3.3", "optimizer", "adam", "train.optimizer"),
    _s("Sec. 3.3", "E(x): the average of a small LM's token embeddings (no normalisation)", False,
       "context.normalize"),
    # Step 2 and A.2.
    _s("A.2", "SoftSRV sampling temperature (\"default temp=1\")", 1.0, "generate.temperature"),
    _s("A.2", "questions generated per method", 100_000, "generate.num_samples"),
    _s("A.2", "PT / PT_SR question temperature", 2.0, "baseline.temperature[pt]"),
    _s("A.4", "undiversified PT: the default decoding temperature", 1.0, "baseline.temperature[pt_undiversified]"),
    _s("A.2", "N_s, MBPP and GSM8K", 50_000, "postprocess.num_subsample", tasks=("mbpp", "gsm8k")),
    _s("A.2", "N_s, BoolQ", 20_000, "postprocess.num_subsample", tasks=("boolq",)),
    _s("A.2", "MiniBatch k-means clusters", 700, "postprocess.clusters"),
    _s("A.2", "SVD features", 100, "postprocess.svd_components"),
    _s("A.2", "deduplication: exact duplicates only", False, "postprocess.near_dup"),
    # Step 3 and A.3.
    _s("Sec. 3.3 step 3, A.3", "decontamination of the (question, answer) examples: n-gram length", 13,
       "answer.decontaminate_ngram"),
    # A.7.
    _s("A.7", "MAUVE clusters k", 32, "mauve.num_clusters"),
    _s("A.7", "MAUVE features: the same small LM as E", True, "mauve.model==context.model"),
    _s("Tables 4-5", "MAUVE against the whole fold", 0, "mauve.num_examples"),
    # Step 4, Sections 3.1, 3.5.1, 3.6.1 and A.1: the student.
    _s("Sec. 3.3 step 4", "student: Gemma 2 2B", "gemma-2b", "model", "student", ()),
    _s("Sec. 3.3 step 4", "student batch size", 16, "sft.batch_size", "student", ()),
    _s("Sec. 3.3 step 4", "student sequence length", 8192, "sft.seq_len", "student", ()),
    _s("Sec. 3.5", "sequence packing", True, "sft.pack", "student", ()),
    _s("Sec. 3.3 step 4", "student peak learning rate (linear warmup from 0)", 1e-6, "sft.lr", "student", ()),
    _s("Sec. 3.3 step 4", "student warmup steps", 100, "sft.warmup_steps", "student", ()),
    _s("Sec. 3.3 step 4", "student schedule after warmup: cosine annealing", "cosine", "sft.decay", "student", ()),
    _s("Tables 1-2", "student checkpoint evaluated", 2000, "sft.steps", "student", ()),
    _s("Sec. 3.1, A.1", "MBPP: 3-shot pass@1", 3, "eval.shots[mbpp]", "student", ()),
    _s("Sec. 3.1, A.1", "GSM8K: 5-shot pass@1", 5, "eval.shots[gsm8k]", "student", ()),
    _s("Sec. 3.5.1", "TriviaQA (BoolQ students' OOD task): 5-shot", 5, "eval.shots[triviaqa]", "student", ()),
    _s("Sec. 3.5.1", "MAWPS (GSM8K students' OOD task): 0-shot", 0, "eval.shots[mawps]", "student", ()),
    _s("Figure 3", "evaluated on the whole test fold along the way", 0, "eval.num_examples", "student", ()),
    _s("Table 3", "student checkpoint evaluated", 10_000, "sft.steps", "table3", ()),
    _s("Sec. 3.6.1", "share of the general post-training data in the mixture", 0.8, "mix.general_share", "table3", ()),
    _s("Sec. 3.6.1", "general data: the Gemma 2 post-training dataset", "gemma2-post-training", "mix.general",
       "table3", ()),
)

# What the paper does not state, and the value chosen here (configs/<task>.py:paper unless said).
NOT_STATED: tuple[tuple[str, str], ...] = (
    ("H, the frozen LLM (\"a large foundational decoder-only LM\")", "Gemma 3 270M (model.name: any checkpoint)"),
    ("the answer LLM (\"an off-the-shelf LLM\")", "SmolLM2-135M-Instruct, greedy (answer.*)"),
    ("SoftSRV batch size, sequence length, warmup and schedule", "16, 512 tokens (truncated), none, constant"),
    ("SoftSRV initialisation of P, gradient clipping", "embedded vocabulary tokens; global norm 1.0"),
    ("PT_SR: number of rounds R, critique / refine temperature", "R = 2 (baseline.rounds); greedy (sr_temperature)"),
    ("the student's optimizer, final learning rate, evaluation cadence", "AdamW without weight decay; 0; every 250"),
    ("exact-duplicate test: case", "case kept (postprocess.fold_case)"),
    ("BoolQ shots", "0 (the harness's \"Answer:\" log-likelihood of True / False)"),
)

_CPU = "the 2-core CPU default; `:paper` has the paper's"
DEVIATIONS: tuple[Deviation, ...] = (
    Deviation("all", "softsrv", "context.normalize", "E(x) = the mean of a small LM's token representations",
              "the mean, then a per-example RMS normalisation of z",
              "unit-scale inputs for the SS_MC / SS_MPk MLPs whatever the layer averaged; z keeps its direction"),
    Deviation("all", "", None, "Eq. 3: F_phi_i maps R^{d_e} to R^t",
              "each F_phi_i maps R^{d_e} to R^d (a token vector)",
              "P in R^{d x t} needs d-wide columns; the paper's R^t reads as a typo (softsrv/embeddings.py)"),
    Deviation("all", "", None, "A.2: dedup and subsample; A.3: decontaminate the (question, answer) examples",
              "also drops empty questions and runs a question-level 13-gram pass before subsampling; A.3's pass on "
              "the answered records follows the answer stage",
              "an empty question cannot be answered; the question-level pass keeps N_s clean rows; both counts are "
              "in the stage reports"),
    Deviation("all", "", None, "Figure 11 / Figure 10 prompts go to an instruction-following LLM",
              "critique, refine and undiversified prompts end with a line break; a refinement ends at a blank line",
              "the default question model is a base model that continues text (softsrv/baselines.py)"),
    Deviation("all", "", None, "Figure 10: the undiversified template for GSM8K",
              "MBPP and BoolQ templates derived from it with Figure 8's task phrases",
              "the paper prints GSM8K's only (\"similar results for the other datasets\"); softsrv/templates.py"),
    Deviation("paper", "table3", "mix.general", "the Gemma 2 post-training dataset", "LIMA + Alpaca",
              "the Gemma 2 post-training data is not public"),
    # The CPU defaults.
    Deviation("cpu", "softsrv", "soft_prompt.t", "128", "16", _CPU),
    Deviation("cpu", "softsrv", "train.steps", "20,000", "150 (MBPP), 40 (GSM8K), 30 (BoolQ)", _CPU),
    Deviation("cpu", "softsrv", "train.lr", "5e-6", "3e-3 (10 warmup steps, cosine)",
              "a few hundred steps at 5e-6 barely move P; " + _CPU),
    Deviation("cpu", "softsrv", "generate.num_samples", "100,000", "384", _CPU),
    Deviation("cpu", "softsrv", "postprocess.num_subsample", "50,000 / 20,000", "192", _CPU),
    Deviation("cpu", "softsrv", "baseline.temperature[pt]", "2", "1",
              "at 2 the 270M base model writes nothing parseable (0 questions from 2 MBPP calls; 11 at 1)"),
    Deviation("cpu", "softsrv", "mauve.num_clusters", "32", "one per 10 texts (19 for 192)",
              "192 texts a side cannot fill 32 clusters; " + _CPU),
    Deviation("cpu", "softsrv", "mauve.num_examples", "the whole folds", "192 a side", _CPU),
    Deviation("cpu", "student", "model", "Gemma 2 2B", "SmolLM2-135M-Instruct", "the only instruction model shipped"),
    Deviation("cpu", "student", "sft.batch_size", "16", "2", _CPU),
    Deviation("cpu", "student", "sft.seq_len", "8192", "256", _CPU),
    Deviation("cpu", "student", "sft.lr", "1e-6", "2e-5 (cosine to 0.1 lr)", "20 steps at 1e-6 change nothing"),
    Deviation("cpu", "student", "sft.warmup_steps", "100", "2", _CPU),
    Deviation("cpu", "student", "sft.steps", "2,000", "20", _CPU),
    Deviation("cpu", "student", "eval.shots[mbpp]", "3-shot", "0-shot in the SFT template",
              "the harnesses' few-shot prompts (eval.mode=few_shot) are ~10x longer; " + _CPU),
    Deviation("cpu", "student", "eval.shots[gsm8k]", "5-shot", "0-shot in the SFT template", "as for MBPP"),
    Deviation("cpu", "student", "eval.shots[triviaqa]", "5-shot", "0-shot in the SFT template", "as for MBPP"),
    Deviation("cpu", "student", "eval.num_examples", "the whole test fold", "20 examples", _CPU),
)


# ---------------------------------------------------------------------------------------------------- configs
def load_config_file(name: str, arg: str | None = None):
  """configs/<name>.py's get_config(arg)."""
  spec = importlib.util.spec_from_file_location(f"configs_{name}", os.path.join(REPO, "configs", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg) if arg is not None else module.get_config()


def config_value(config, field: str) -> Any:
  """A config's value of `field`: a dotted path, or a derived value ("baseline.temperature[pt]": the temperature
  the method samples at; "eval.shots[task]": the shots the student's evaluation uses; "a==b": the fields agree)."""
  if "==" in field:
    a, b = field.split("==")
    return config_value(config, a) == config_value(config, b)
  if field.startswith("baseline.temperature["):
    method = field[len("baseline.temperature["):-1]
    b = config.baseline
    return float(b.undiversified_temperature if method == "pt_undiversified" else b.temperature)
  if field.startswith("eval.shots["):
    task = field[len("eval.shots["):-1]
    return few_shots(task) if config.eval.mode == "few_shot" else 0
  node = config
  for part in field.split("."):
    node = node[part]
  return node


def presets() -> dict[tuple[str, str, str], Any]:
  """(config, preset, task) -> the built config, for every preset the settings are held against."""
  out = {}
  for task in SOFTSRV_TASKS:
    out[("softsrv", "paper", task)] = load_config_file(task, "paper")
    out[("softsrv", "cpu", task)] = load_config_file(task, "")
  out[("student", "paper", "")] = load_config_file("evaluate", "paper")
  out[("student", "cpu", "")] = load_config_file("evaluate", "cpu")
  out[("table3", "paper", "")] = load_config_file("evaluate", "paper,table3")
  return out


def deviation_for(config: str, preset: str, field: str) -> Deviation | None:
  return next((d for d in DEVIATIONS if d.config == config and d.field == field and d.preset in (preset, "all")),
              None)


# ------------------------------------------------------------------------------------------------------ README
_HEADER = ("| preset | setting | paper | here | why |", "|---|---|---|---|---|")


def deviation_row(d: Deviation) -> str:
  where = {"softsrv": "configs/<task>.py", "student": "configs/evaluate.py", "table3": "configs/evaluate.py"}
  name = {"all": "every", "paper": ":paper", "cpu": "CPU default"}[d.preset]
  preset = f"{where[d.config]} {name}" if d.config else "the method"
  setting = f"`{d.field}`" if d.field else "-"
  cells = [preset, setting, d.paper, d.here, d.why]
  return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def deviations_markdown() -> str:
  """The README's deviations table: one row per DEVIATIONS entry."""
  return "\n".join([*_HEADER, *(deviation_row(d) for d in DEVIATIONS)])


if __name__ == "__main__":
  print(deviations_markdown())
