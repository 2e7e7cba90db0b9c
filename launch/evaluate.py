"""Fine-tune a student on SFT records (or the task's train set) and evaluate it at checkpoints along the way.

  python launch/evaluate.py --config=configs/evaluate.py --task=mbpp --baseline --workdir=/tmp/eval/mbpp_base
  python launch/evaluate.py --config=configs/evaluate.py --task=gsm8k --records=gen.jsonl --workdir=... --mauve

The SoftSRV paper's downstream evaluation: a student (default the embedded SmolLM2; paper scale Gemma 2B) is
fine-tuned with prompt masking on the synthetic records, and its task metric (MBPP pass@1, GSM8K accuracy, BoolQ
accuracy) is measured on a subset of the test split at step 0, every `sft.eval_every` steps and at the end (Figure 3:
metric vs steps). `--baseline` fine-tunes on the original train set instead. `--mauve` scores the records' prompts
against the train and test folds' prompts (Tables 4 and 5). Outputs: see configs/evaluate.py.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Sequence

from datasynth import sharding
from datasynth.data.mixture import mix_records
from datasynth.data.records import load_records_jsonl, load_task
from datasynth.evals import mauve, student_eval as student
# TASK_METRIC: the launchers' table.
from datasynth.evals.student_eval import TASK_METRIC, EvalSpec, eval_subset, standard_error, with_tests
from datasynth.jobs import compiled
from datasynth.models.loaders import load_model
from datasynth.train import sft
from datasynth.utils import cli, interrupt, io, lock
from datasynth.utils.errors import UserError
from datasynth.utils.io import check_workdir

# ------------------------------------------------------------------------------------------------------ records

_EVAL_SPLITS = {"mbpp": ("test", "validation", "train", "prompt"), "gsm8k": ("test", "train"),
                "boolq": ("test", "dev", "train"), "triviaqa": ("test",), "mawps": ("test", "validation")}
# configs/evaluate.py sizes and counts: field -> smallest allowed value.
_AT_LEAST = {"max_records": 0, "eval.num_examples": 0, "eval.seed": 0, "eval.max_new_tokens": 1,
             "eval.batch_size": 1, "eval.workers": 1, "mauve.num_examples": 2, "mauve.num_clusters": 0,
             "mauve.max_tokens": 1, "mauve.batch_size": 1, "mauve.seed": 0, "mix.num_records": 0, "mix.seed": 0}


def validate(config, *, task: str, workdir: str, records_path: str | None, baseline: bool) -> None:
  """Every field of configs/evaluate.py with a domain, the flags and the work dir, before anything loads."""
  if task not in TASK_METRIC:
    raise UserError(f"Unknown task {task!r}; expected one of {sorted(TASK_METRIC)} (--task or config.task).")
  if bool(records_path) == bool(baseline):
    raise UserError("Pass exactly one of --records=PATH.jsonl (SFT records) or --baseline (the task's train set).")
  if records_path and not os.path.isfile(records_path):
    raise UserError(f"--records={records_path}: no such file; pass the JSON Lines written by generation.")
  if config.data_dir and not os.path.isdir(config.data_dir):
    raise UserError(f"data_dir={config.data_dir!r} is not a folder; point --config.data_dir at the benchmark data.")
  if not config.model:
    raise UserError("model is empty; name a preset (smollm2-135m, gemma3-270m) or a checkpoint folder.")
  for path, low in _AT_LEAST.items():
    section, _, leaf = path.rpartition(".")
    value = (config[section] if section else config)[leaf]
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
      raise UserError(f"{path}={value!r} must be an integer >= {low}; set --config.{path}.")
  if config.eval.mode not in ("sft", "few_shot"):
    raise UserError(f"eval.mode must be 'sft' or 'few_shot', got {config.eval.mode!r}.")
  if task in _EVAL_SPLITS and config.eval.split not in _EVAL_SPLITS[task]:
    raise UserError(f"eval.split={config.eval.split!r} is not an evaluation split of {task} "
                    f"({', '.join(_EVAL_SPLITS[task])}).")
  mix_sources(config)
  try:
    sft.SFTConfig.from_dict(config.sft.to_dict())
  except UserError as e:
    raise UserError(f"config.sft: {e}") from e
  check_workdir(workdir)


def load_train_records(config, *, task: str, records_path: str | None, baseline: bool) -> tuple[list, str]:
  """SFT records from --records, or the task's train split with --baseline; returns (records, source)."""
  if bool(records_path) == bool(baseline):
    raise UserError("Pass exactly one of --records=PATH.jsonl (SFT records) or --baseline (the task's train set).")
  if baseline:
    records, source = load_task(task, "train", config.data_dir or None), f"{task}/train (baseline)"
  else:
    records, source = load_records_jsonl(records_path), os.path.abspath(records_path)
    other = sorted({r.task for r in records} - {task, "custom"})
    if other:
      logging.warning("Records in %s are of task(s) %s, evaluated as %s.", records_path, other, task)
  if config.max_records:
    records = records[:config.max_records]
  records = [with_tests(r, task, config.mbpp_tests_in_prompt) for r in records]
  if config.mix.general:
    records, source = mix_general(config, records), f"{source} + {config.mix.general} (share " \
        f"{config.mix.general_share:g})"
  return records, source


def mix_sources(config) -> list[str]:
  """The general sources of `config.mix` (raises UserError for an unknown source or a share outside [0, 1))."""
  m = config.mix
  names = [n.strip() for n in m.general.split(",") if n.strip()]
  unknown = sorted(set(names) - {"lima", "alpaca"})
  if unknown:
    raise UserError(f"mix.general={m.general!r}: unknown source(s) {unknown}; use lima and / or alpaca.")
  if not (isinstance(m.general_share, (int, float)) and 0.0 <= m.general_share < 1.0):
    raise UserError(f"mix.general_share={m.general_share!r} must be in [0, 1) (the task records keep the rest).")
  return names


def mix_general(config, records: list) -> list:
  """SoftSRV Table 3: the task records mixed with general instruction data at `mix.general_share` (exact quotas)."""
  m = config.mix
  general = [r for n in mix_sources(config) for r in load_task(n, "train", config.data_dir or None)]
  num = m.num_records or round(len(records) / (1.0 - m.general_share))
  return mix_records({"general": general, "task": records}, {"general": m.general_share,
                                                             "task": 1.0 - m.general_share}, num, m.seed)


# -------------------------------------------------------------------------------------------------------- MAUVE


def mauve_scores(config, model, task: str, records: Sequence, workdir: str) -> dict[str, Any]:
  """MAUVE of the records' prompts (q) against the train and the test fold's prompts (p), with the curves' PNG."""
  mc = config.mauve
  folds = {fold: [r.prompt for r in load_task(task, fold, config.data_dir or None)]
           for fold in ("train", config.eval.split)}
  return mauve.mauve_against([r.prompt for r in records], folds, load_model(mc.model) if mc.model else model,
                             num_examples=mc.num_examples, seed=mc.seed, batch_size=mc.batch_size,
                             max_tokens=mc.max_tokens, num_clusters=mc.num_clusters or None,
                             png=os.path.join(workdir, "mauve.png"), title=f"MAUVE: records vs {task} folds")


# ------------------------------------------------------------------------------------------------------ reports


def write_reports(workdir: str, summary: dict[str, Any]) -> None:
  metric, evals = summary["metric"], summary["evals"]
  lines = [f"# Student evaluation: {summary['task']}", "",
           f"- student: `{summary['model']}`; trained on: `{summary['source']}` ({summary['num_records']} records)",
           f"- evaluated on {summary['num_eval_examples']} `{summary['eval_split']}` examples, mode "
           f"`{summary['eval_mode']}`", ""]
  if evals:
    n = summary["num_eval_examples"]
    se = lambda p: f"{p:.4f} +- {standard_error(p, n):.4f}"  # The binomial standard error on n test examples.
    lines += [f"| step | {metric} (+- SE, n={n}) | train loss |", "|---:|---:|---:|"]
    lines += [f"| {e['step']} | {se(e[metric])} | {'' if e['loss'] is None else format(e['loss'], '.4f')} |"
              for e in evals]
    lines += ["", f"Final {metric}: **{se(summary['final'][metric])}** (step {summary['final']['step']}); best "
              f"{summary['best'][metric]:.4f} (step {summary['best']['step']}).", ""]
  if summary.get("mauve"):
    lines += ["## MAUVE (records' prompts vs the task's folds)", "", "| reference fold | MAUVE | clusters | n_ref | "
              "n_records |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {fold} | {m['mauve']:.4f} | {m['num_clusters']} | {m['num_p']} | {m['num_q']} |"
              for fold, m in summary["mauve"].items()]
    lines.append("")
  for name, text in (("results.json", json.dumps(summary, indent=2, sort_keys=True)), ("results.md",
                                                                                       "\n".join(lines))):
    io.write_text(os.path.join(workdir, name), text + "\n")


# --------------------------------------------------------------------------------------------------------- main


def run(config, *, workdir: str, task: str | None = None, records_path: str | None = None, baseline: bool = False,
        mauve: bool = False, finetune: bool = True) -> dict[str, Any]:
  """The whole job; returns the summary written to results.json."""
  task = task or config.task
  validate(config, task=task, workdir=workdir, records_path=records_path, baseline=baseline)
  os.makedirs(workdir, exist_ok=True)
  cache = os.path.join(os.path.abspath(workdir), "jax_cache") if config.compilation_cache else None
  # One writer for the whole job, results included. SIGTERM / SIGINT: training stops at its next step after saving
  # it; MAUVE and the report are finished within the grace period or abandoned; exit 75 either way.
  with (lock.hold(workdir), compiled.persistent_cache(cache),
        interrupt.StopSignals(float(config.sft.get("stop_grace_s", 20.0))) as stop):
    return _run(config, workdir, task, records_path, baseline, mauve, finetune, stop)


def _run(config, workdir, task, records_path, baseline, mauve, finetune, stop: interrupt.StopSignals) -> dict[str, Any]:
  import jax

  records, source = load_train_records(config, task=task, records_path=records_path, baseline=baseline)
  eval_records = eval_subset(load_task(task, config.eval.split, config.data_dir or None), config.eval.num_examples,
                             config.eval.seed)
  model = load_model(config.model)
  summary: dict[str, Any] = dict(task=task, metric=TASK_METRIC[task], model=config.model, source=source,
                                 num_records=len(records), eval_split=config.eval.split, eval_mode=config.eval.mode,
                                 num_eval_examples=len(eval_records), config=json.loads(config.to_json()),
                                 evals=[], final=None, best=None)
  if mauve:
    summary["mauve"] = mauve_scores(config, model, task, records, workdir)
    stop.stop_if_asked(0, "scoring MAUVE (not kept: the rerun scores it again)")
  if finetune:
    cfg = sft.SFTConfig.from_dict(config.sft.to_dict())
    mesh, shardings = None, None
    n = jax.device_count()
    if n > 1 and cfg.batch_size % n == 0:  # Data parallel over every device; weights placed by the logical rules.
      mesh = sharding.make_mesh({"data": -1, "fsdp": 1, "tensor": 1})
      shardings = sharding.param_shardings(model.config, mesh)
    eval_fn = student.make_eval_fn(model, task, eval_records, EvalSpec.from_config(config), workdir)
    result = sft.train_sft(records, model, cfg, workdir, mesh=mesh, param_shardings=shardings, eval_fn=eval_fn)
    evals = student.results_from_metrics(result.metrics, TASK_METRIC[task])
    metric = TASK_METRIC[task]
    summary.update(evals=evals, final=evals[-1] if evals else None,
                   best=max(evals, key=lambda e: e[metric]) if evals else None)
    if evals:
      label = os.path.basename(source) if records_path else "baseline: original train set"
      # Figure 3's x-axis: steps x batch / training-set size (an epoch up to the packing factor).
      student.plot_metric(evals, metric, f"{task} {metric} vs steps x batch / N ({label})",
                          os.path.join(workdir, "metric_vs_steps.png"), epochs_per_step=cfg.batch_size / len(records))
      summary["epochs_per_step"] = cfg.batch_size / len(records)
  write_reports(workdir, summary)
  return summary


def main(argv: Sequence[str]) -> None:
  from absl import flags
  from absl import logging as absl_logging
  del argv
  f = flags.FLAGS
  if not f.is_parsed() or f["verbosity"].present == 0:
    absl_logging.set_verbosity(absl_logging.WARNING)  # Orbax logs every file at INFO; --verbosity=0 shows it.
  sharding.maybe_initialize_distributed(f.jax_distributed)  # Before any other JAX call.
  run(f.config, workdir=f.workdir, task=f.task, records_path=f.records, baseline=f.baseline, mauve=f.mauve,
      finetune=f.finetune)


def define_flags() -> None:
  from absl import flags
  default = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "evaluate.py")
  cli.define_config_file("config", default, "Evaluation config (default configs/evaluate.py).")
  flags.DEFINE_string("workdir", None, "Output folder (results, metrics, checkpoints); reruns resume.")
  flags.DEFINE_string("task", None, "mbpp | gsm8k | boolq | triviaqa | mawps (default: config.task).")
  flags.DEFINE_string("records", None, "SFT records (JSON Lines written by datasynth.utils.io.write_jsonl).")
  flags.DEFINE_bool("baseline", False, "Fine-tune on the task's original train set instead of --records.")
  flags.DEFINE_bool("mauve", False, "Also score the records' prompts against the train and test folds (MAUVE).")
  flags.DEFINE_bool("finetune", True, "Fine-tune and evaluate (--nofinetune with --mauve: MAUVE only).")
  flags.DEFINE_bool("jax_distributed", False, "Call jax.distributed.initialize() first (multi-host TPU/GPU).")
  flags.mark_flag_as_required("workdir")


if __name__ == "__main__":
  define_flags()
  cli.run(main)
