r"""NOMAD's student (Chen et al., Sec. 5): prompt-masked SFT on X_train + X_synthesis against X_train alone.

The paper trains the student *with* prompt masking (loss on the response only) on the original data plus the
teacher's synthetic first rounds, and compares it with the original data alone at equal epochs and at equal compute
(the baseline run for twice the epochs). `run_students` trains, in `<out_dir>/runs/<name>/` (each a resumable
`datasynth.train.sft` run; a finished run is read back from its result.json, not retrained):

  train                X_train,                  `student.epochs` passes   (equal epochs)
  train_2x             X_train,              2 x `student.epochs` passes   (equal compute, as in the paper)
  <synthetic set>      X_train + X_synthesis,    `student.epochs` passes   (one run per synthetic set given)
  <set> alone          X_synthesis,              `student.epochs` passes   (student.synthetic_alone: Appendix B.2)

steps = ceil(epochs x packed rows per epoch / batch size), so a run's compute is its number of steps (printed in the
table: the "twice the epochs" baseline matches the mixture's compute exactly when |X_synthesis| ~ |X_train|; the
table shows both so a reader sees how far apart they are).
Every run is scored on each task of `student.tasks` (default GSM8K 5-shot CoT accuracy and TriviaQA 5-shot exact
match over the answer aliases, the harnesses of `datasynth.evals`; lm-eval tasks too, named
"lm_eval:<task or group>[:<metric>]", e.g. lm_eval:bbh_local_cot_fewshot, lm_eval:truthfulqa_local_gen,
lm_eval:ifeval, scored through `datasynth.evals.lm_eval_adapter` on their first `student.lm_eval_limit` documents
per sub-task) on a fixed seeded subset of the test split, at
the end (and every `student.eval_every` steps); the untouched student is scored once ("step 0" of every run).
Each figure is printed with its standard error: a rate's binomial one, another metric's (TruthfulQA's ROUGE-L
difference) the sample standard error over documents that lm-eval reports. Outputs: results.md / results.json and
metric_vs_steps_<task>.png.

X_train is each conversation's first round of the teacher's subset (`student.x_train = "subset"`: Table 1, where
X_train and the teacher's data are the same 15K) or of the whole source (`"pool"`: Table 2, the teacher on 15K and
the student on all 300K; `nomad.pipeline.source_records`), rendered in `student.sft.template` ("chat": the same
"User: ... Assistant: ..." format; the few-shot evaluation prompts do not depend on it). `student.baselines` picks
the X_train-alone runs (both: equal epochs and equal compute, Table 1; equal_epochs: Table 2's one baseline; none:
the mixtures only), `student.synthetic_alone` adds a run on each synthetic set alone ("<set> alone", Appendix B.2:
the student on X_synthesis alone, beside its mixture).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
from typing import Any, Mapping, Sequence

import ml_collections

from datasynth.data.records import Record, load_task
from datasynth.evals import student_eval as student_lib
from datasynth.models import loaders
from datasynth.train import sft
from datasynth.utils import interrupt, io
from datasynth.utils.errors import UserError

TASKS = ("gsm8k", "triviaqa", "mbpp", "boolq")
X_TRAIN_SOURCES = ("subset", "pool")  # student.x_train.
BASELINES = ("both", "equal_epochs", "none")  # student.baselines.
ALONE = " alone"  # Suffix of a run on a synthetic set alone (student.synthetic_alone).
# student.num_examples that score a whole evaluation set: GSM8K's test split (1,319) and the largest TriviaQA split a
# data folder may hold (rc validation, 17,944; the shared folder's 1,000-question file is then read whole).
WHOLE_TEST_SETS = dict(gsm8k=1319, triviaqa=17944)


def student_section() -> ml_collections.ConfigDict:
  """configs/nomad.py's `student` section (the SFT fields start from `datasynth.train.sft.SFTConfig`'s defaults)."""
  s = ml_collections.ConfigDict()
  s.model = "smollm2-135m"  # The student: a preset name or checkpoint folder (paper: Phi-mini-v3.1, Phi-3 mini).
  s.epochs = 1.0  # Passes over each run's data (the equal-compute baseline gets twice as many).
  s.x_train = "subset"  # X_train: subset (the teacher's subset: Table 1) | pool (the whole source: Table 2's 300K).
  s.baselines = "both"  # X_train alone: both (equal epochs and equal compute = 2x epochs: Table 1) | equal_epochs
  # (Table 2's one baseline) | none (the mixtures only: another run trains the baselines).
  s.synthetic_alone = False  # Also train on each synthetic set alone (Appendix B.2, Figure 3).
  # Comma-separated evaluation tasks: gsm8k, triviaqa, mbpp, boolq (the project's harnesses) and lm-eval tasks as
  # "lm_eval:<task or group>[:<metric>]" (e.g. lm_eval:bbh_local_fewshot, lm_eval:truthfulqa_local_gen).
  s.tasks = "gsm8k,triviaqa"
  s.lm_eval_limit = 100  # lm-eval tasks: documents per (sub-)task, the first ones in the task's order; 0 = all.
  s.num_examples = ml_collections.ConfigDict(dict(gsm8k=48, triviaqa=200, mbpp=50, boolq=200))  # Test subset sizes
  # (at least a split's size: the whole split, e.g. WHOLE_TEST_SETS).
  s.max_new_tokens = ml_collections.ConfigDict(dict(gsm8k=160, triviaqa=16, mbpp=192, boolq=1))  # Per task.
  s.mode = "few_shot"  # few_shot: the harnesses' standard prompts; sft: zero-shot in the training template.
  s.batch_size = 8  # Evaluation batch.
  s.seed = 0  # Test-subset choice.
  s.eval_every = 0  # Also evaluate every this many steps (0: at the end only).
  s.sft = ml_collections.ConfigDict(dataclasses.asdict(sft.SFTConfig()))  # datasynth.train.sft.SFTConfig fields.
  s.sft.prompt_masking = True  # NOMAD's student learns the responses only.
  s.sft.template = "chat"  # "User: {prompt}\n\nAssistant: {response}".
  s.sft.batch_size = 4
  s.sft.seq_len = 256
  s.sft.lr = 2e-5
  s.sft.warmup_steps = 2
  s.sft.log_every = 5
  s.sft.save_every = 1000  # The last step is always saved.
  s.sft.keep = 1
  return s


def tasks(config) -> list[str]:
  names = [t.strip() for t in str(config.student.tasks).split(",") if t.strip()]
  unknown = sorted(set(n for n in names if not student_lib.is_lm_eval(n)) - set(TASKS))
  if not names or unknown:
    raise UserError(f"student.tasks={config.student.tasks!r}: expected a comma-separated subset of {list(TASKS)} "
                    "and lm-eval tasks as lm_eval:<task>[:<metric>].")
  for n in names:
    if student_lib.is_lm_eval(n):
      student_lib.lm_eval_task(n)  # A UserError for "lm_eval:" alone.
  return names


def check_lm_eval_tasks(config) -> None:
  """The lm-eval tasks of student.tasks exist (lm-eval installed, task known), before anything trains."""
  names = [student_lib.lm_eval_task(t)[0] for t in tasks(config) if student_lib.is_lm_eval(t)]
  if not names:
    return
  try:  # lm-eval is an optional, heavy dependency: imported only when student.tasks names an lm-eval task.
    from datasynth.evals import lm_eval_adapter  # optional dependency: lm-eval
  except ImportError as e:
    raise UserError(f"student.tasks names lm-eval tasks {names} but lm-eval is not importable ({e}); run "
                    "`bash scripts/setup.sh` (it installs lm-eval with --no-deps and its light dependencies).") from e
  lm_eval_adapter.check_tasks(names, lm_eval_adapter.task_manager(names, data_dir=config.data.data_dir or None))


def validate(config) -> sft.SFTConfig:
  """The student section (raises UserError naming the field); returns its SFTConfig."""
  s = config.student
  if not (isinstance(s.epochs, (int, float)) and math.isfinite(s.epochs) and s.epochs > 0):
    raise UserError(f"student.epochs={s.epochs!r} must be a finite number > 0.")
  for task in tasks(config):
    if student_lib.is_lm_eval(task):
      continue
    for field, low in (("num_examples", 1), ("max_new_tokens", 1)):
      value = s[field].get(task)
      if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserError(f"student.{field}.{task}={value!r} must be an integer >= {low}.")
  for field, low in (("batch_size", 1), ("seed", 0), ("eval_every", 0), ("lm_eval_limit", 0)):
    if isinstance(s[field], bool) or not isinstance(s[field], int) or s[field] < low:
      raise UserError(f"student.{field}={s[field]!r} must be an integer >= {low}.")
  for field, allowed in (("x_train", X_TRAIN_SOURCES), ("baselines", BASELINES)):
    if s[field] not in allowed:
      raise UserError(f"student.{field}={s[field]!r}: expected one of {', '.join(allowed)}.")
  if s.mode not in ("few_shot", "sft"):
    raise UserError(f"student.mode={s.mode!r}: expected few_shot or sft.")
  try:
    return sft.SFTConfig.from_dict(s.sft.to_dict())
  except UserError as e:
    raise UserError(f"student.sft: {e}") from e


def eval_sets(config) -> dict[str, list[Record] | int]:
  """The seeded test subsets, one per harness task; an lm-eval task's document limit."""
  s = config.student
  return {t: int(s.lm_eval_limit) if student_lib.is_lm_eval(t) else
          student_lib.eval_subset(load_task(t, "test", config.data.data_dir or None), s.num_examples[t], s.seed)
          for t in tasks(config)}


@dataclasses.dataclass(frozen=True)
class RunSpec:
  name: str
  records: Sequence[Record]
  epochs: float


def run_specs(config, x_train: Sequence[Record], synthetic: Mapping[str, Sequence[Record]]) -> list[RunSpec]:
  """The baselines student.baselines asks for, then X_train + each non-empty synthetic set (and, with
  student.synthetic_alone, that set alone: Appendix B.2), all at student.epochs but train_2x."""
  if not x_train:
    raise UserError("The student's X_train is empty; the teacher's subset holds no conversations.")
  s = config.student
  e = float(s.epochs)
  specs = [RunSpec("train", list(x_train), e)] if s.baselines in ("both", "equal_epochs") else []
  specs += [RunSpec("train_2x", list(x_train), 2 * e)] if s.baselines == "both" else []
  # An empty set (a teacher that wrote no valid first round) would repeat the `train` run: it is listed, not trained.
  for name, records in synthetic.items():
    if records:
      specs.append(RunSpec(name, list(x_train) + list(records), e))
      specs += [RunSpec(name + ALONE, list(records), e)] if s.synthetic_alone else []
  return specs


def _identity(config, spec: RunSpec, cfg: sft.SFTConfig) -> str:
  h = hashlib.sha256()
  for r in spec.records:
    h.update(json.dumps([r.prompt, r.response]).encode())
  s = config.student.to_dict()
  for field in ("sft", "x_train", "baselines", "synthetic_alone"):  # The run list, not one run (its data is hashed).
    s.pop(field, None)
  return json.dumps(dict(student=s, sft=cfg.identity(), epochs=spec.epochs, data=h.hexdigest()[:16]), sort_keys=True)


def _train_one(config, spec: RunSpec, model, cfg: sft.SFTConfig, evaluate, base_scores: dict[str, float],
               out_dir: str) -> dict[str, Any]:
  """One student run (or its saved result when its identity is unchanged)."""
  run_dir = os.path.join(out_dir, "runs", spec.name.replace(" ", "_"))
  identity = _identity(config, spec, cfg)
  saved = io.read_json(os.path.join(run_dir, "result.json"))
  if saved and saved.get("identity") == identity:
    return saved
  if saved:  # Trained or scored under other settings: its checkpoints and metrics hold the old scores, which a resumed
    # run would return as they are. Moved aside in one step, then removed (a kill between leaves only the stale copy).
    stale = run_dir + ".stale"
    shutil.rmtree(stale, ignore_errors=True)
    os.replace(run_dir, stale)
    shutil.rmtree(stale)
  examples = sft.tokenize(spec.records, model.tokenizer, template=cfg.template, prompt_masking=cfg.prompt_masking,
                          add_eos=cfg.add_eos, max_len=cfg.seq_len, truncate=cfg.truncate)
  rows = sft.BatchStream(examples, seq_len=cfg.seq_len, batch_size=1, packed=cfg.pack).rows_per_epoch()
  steps = max(1, math.ceil(spec.epochs * rows / cfg.batch_size))
  run_cfg = dataclasses.replace(cfg, steps=steps, eval_every=int(config.student.eval_every))

  def eval_fn(step: int, params) -> dict[str, float]:
    return dict(base_scores) if step == 0 else evaluate(step, params, prefix=spec.name.replace(" ", "_") + "_")

  result = sft.train(examples, model.config, model.params, run_cfg, run_dir, eval_fn=eval_fn,
                     show_progress=bool(config.show_progress), model_id=getattr(model, "source", ""))
  evals = {}
  for t in tasks(config):
    m = student_lib.metric_key(t)
    scored = student_lib.results_from_metrics(result.metrics, m)
    step0 = {k: base_scores[k] for k in (m, f"{m}_stderr") if k in base_scores}
    evals[t] = ([] if scored and scored[0]["step"] == 0 else [dict(step=0, **step0)]) + scored
  summary = dict(identity=identity, name=spec.name, records=len(spec.records), epochs=spec.epochs, steps=steps,
                 rows_per_epoch=rows, tokens=int(sum(len(e.ids) for e in examples)), evals=evals)
  io.write_json(os.path.join(run_dir, "result.json"), summary)
  return summary


def run_students(config, out_dir: str, x_train: Sequence[Record], synthetic: Mapping[str, Sequence[Record]], *,
                 model=None) -> dict[str, Any]:
  """Train and score the baselines and one mixture per synthetic set; writes the table and the plots."""
  cfg = validate(config)
  check_lm_eval_tasks(config)
  specs = run_specs(config, x_train, synthetic)
  sets = eval_sets(config)
  if model is None:
    model = loaders.load_model(config.student.model)
  s = config.student
  specs_by_task = {t: student_lib.EvalSpec(mode=s.mode, max_new_tokens=s.max_new_tokens.get(t, 256),
                                           batch_size=s.batch_size, template=cfg.template) for t in sets}
  os.makedirs(out_dir, exist_ok=True)

  def evaluate(step: int, params, prefix: str = "") -> dict[str, float]:
    return student_lib.multi_task_eval_fn(model, sets, specs_by_task, out_dir, prefix=prefix, verbose=False,
                                          data_dir=config.data.data_dir or None)(step, params)

  base_path = os.path.join(out_dir, "base_scores.json")
  base = io.read_json(base_path)
  base_id = json.dumps(dict(model=s.model, sets={t: rs if isinstance(rs, int) else [r.uid for r in rs]
                                                 for t, rs in sets.items()},
                            specs={t: dataclasses.asdict(v) for t, v in specs_by_task.items()}), sort_keys=True)
  # SIGTERM / SIGINT: the base scoring and each run are units; a unit that started is finished (a run stops at its
  # own next step) or, past the grace period, abandoned; then exit 75 and the rerun goes on from the saved units.
  with interrupt.StopSignals(cfg.stop_grace_s) as stop:
    if not base or base.get("identity") != base_id:
      base = dict(identity=base_id, scores=evaluate(0, model.params, prefix="base_"))
      io.write_json(base_path, base)
    stop.stop_if_asked(0, f"writing {base_path}")
    runs = []
    for i, spec in enumerate(specs, 1):
      runs.append(_train_one(config, spec, model, cfg, evaluate, base["scores"], out_dir))
      stop.stop_if_asked(i, f"student run {spec.name!r}")
  table = dict(tasks={t: dict(metric=student_lib.task_metric(t),
                              num_examples=int(base["scores"].get(student_lib.metric_key(t) + "_n", 0))
                              if isinstance(rs, int) else len(rs)) for t, rs in sets.items()},
               base=base["scores"], runs=runs, empty_sets=[name for name, records in synthetic.items() if not records])
  for t in sets:
    m = student_lib.metric_key(t)
    student_lib.plot_runs({r["name"]: r["evals"][t] for r in runs}, m, f"NOMAD student: {t}",
                          os.path.join(out_dir, f"metric_vs_steps_{t.replace(':', '_')}.png"))
  io.write_json(os.path.join(out_dir, "results.json"), table)
  io.write_text(os.path.join(out_dir, "results.md"), markdown(table))
  return table


def final_scores(run: Mapping[str, Any]) -> dict[str, float]:
  """{task: final metric} and, where the evaluation gave one (lm-eval tasks), {"<task>_stderr": its standard error}."""
  out = {}
  for t, evals in run["evals"].items():
    key = student_lib.metric_key(t)
    out[t] = evals[-1][key]
    if f"{key}_stderr" in evals[-1]:
      out[f"{t}_stderr"] = evals[-1][f"{key}_stderr"]
  return out


def standard_error(s: Mapping[str, Any], task: str, run: str | None = None) -> float:
  """The standard error of a figure of a `summary` table (the untrained student's when `run` is None): a rate's
  binomial one on the task's num_examples; another metric's (e.g. TruthfulQA's ROUGE-L difference) the sample
  standard error over documents that lm-eval reports ("<metric>_stderr"; nan when none was logged)."""
  key = student_lib.metric_key(task) if run is None else task
  scores = s["base"] if run is None else s["runs"][run]
  return student_lib.task_standard_error(task, scores[key], (s["tasks"][task] or {}).get("num_examples") or 0,
                                         scores.get(f"{key}_stderr"))


def summary(table: Mapping[str, Any]) -> dict[str, Any]:
  """The results table as summaries keep it: {tasks, base, runs: {name: {records, epochs, steps, <task>: final
  metric, <task>_stderr: lm-eval's standard error where given}}, empty_sets}; `score_table` renders it (results.md,
  the pipeline's summary.md and table1.md alike)."""
  return dict(base=table["base"], tasks=table["tasks"],
              runs={r["name"]: dict(steps=r["steps"], records=r["records"], epochs=r["epochs"], **final_scores(r))
                    for r in table["runs"]}, empty_sets=list(table.get("empty_sets", [])))


def score_table(s: Mapping[str, Any]) -> str:
  """One row per student run (final score +- its standard error, `standard_error`), the untrained student first and
  the empty synthetic sets (not trained) last."""
  tasks_ = list(s["tasks"])

  def cell(p, t, run=None):  # The figure with its standard error (the figure alone when none was logged).
    se = standard_error(s, t, run)
    return f"{p:.3f}" if math.isnan(se) else f"{p:.3f} +- {se:.3f}"

  head = " | ".join(f"{t} {s['tasks'][t]['metric']} (n={s['tasks'][t]['num_examples']})" for t in tasks_)
  lines = [f"| run | records | epochs | steps | {head} |", "|---|---:|---:|---:|" + "---:|" * len(tasks_),
           "| untrained student | - | - | 0 | " + " | ".join(cell(s["base"][student_lib.metric_key(t)], t)
                                                        for t in tasks_) + " |"]
  for name, r in s["runs"].items():
    epochs = f"{r['epochs']:g}" if isinstance(r.get("epochs"), (int, float)) else "-"
    lines.append(f"| {name} | {r['records']} | {epochs} | {r['steps']} | " + " | ".join(cell(r[t], t, name)
                                                                                    for t in tasks_) + " |")
  lines += [f"| {name} | 0 | - | - | " + " | ".join("not trained: no records" for _ in tasks_) + " |"
            for name in s.get("empty_sets", [])]
  return "\n".join(lines)


def markdown(table: Mapping[str, Any]) -> str:
  tasks_ = list(table["tasks"])
  lines = ["# NOMAD student: X_train + X_synthesis vs X_train", "", score_table(summary(table)), "",
           "train: X_train at equal epochs; train_2x: X_train for twice the epochs (equal compute, the paper's "
           "setting); the other rows: X_train + that synthetic set. +- is the standard error: binomial for a rate, the "
           "sample standard error over documents (lm-eval's) for another metric.", ""]
  lines += [f"![{t}](metric_vs_steps_{t.replace(':', '_')}.png)" for t in tasks_] + [""]
  return "\n".join(lines)
