"""The student's evaluation: a fine-tuned model's task metric on a test subset, with its standard error and plots.

Shared by `softsrv.evaluate` (SoftSRV's downstream evaluation: one task, one training set) and `nomad/student.py`
(NOMAD's student on X_train + X_synthesis vs X_train alone, scored on several tasks). Cheap to import (no JAX until
an evaluation runs).

  EvalSpec                    how a task is evaluated: zero-shot in the SFT template ("sft") or the harness's
                              standard few-shot prompt ("few_shot"), generation budget, batch, sandbox workers.
  make_eval_fn(model, task, records, spec, out_dir)
                              -> eval_fn(step, params) -> {metric: value}; writes the outputs to
                              <out_dir>/eval/<prefix>step_<N>.jsonl (what `datasynth.train.sft.train` calls).
  multi_task_eval_fn(...)     several tasks in one eval_fn: {"<task>/<metric>": value}.
  make_lm_eval_fn(...)        an lm-eval task ("lm_eval:<task>[:<metric>]", through datasynth.evals.lm_eval_adapter)
                              as an eval_fn: {metric, metric_stderr, metric_n}.
  standard_error(p, n)        sqrt(p (1 - p) / n), the binomial standard error of an accuracy on n examples.
  task_standard_error(task, value, n, stderr)
                              the one printed beside a figure: binomial for a rate, else lm-eval's `stderr`.
  results_from_metrics, plot_metric, plot_runs
                              metrics.jsonl rows -> one row per evaluated step; metric-vs-steps PNGs.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Callable, Mapping, Sequence

from datasynth.evals import boolq, gsm8k, lm, mawps, mbpp, triviaqa
from datasynth.evals.mauve import random_subset
from datasynth.train import sft
from datasynth.utils import io
from datasynth.utils.errors import UserError

TASK_METRIC = {"mbpp": "pass_at_1", "gsm8k": "accuracy", "boolq": "accuracy", "triviaqa": "exact_match",
               "mawps": "accuracy"}
EvalFn = Callable[[int, Any], dict[str, float]]
# lm-eval tasks are named "lm_eval:<task or group>[:<metric>]"; without a metric, this table's (else "acc").
LM_EVAL_PREFIX = "lm_eval:"
LM_EVAL_METRIC = {"bbh_local_cot_fewshot": "exact_match", "bbh_local_fewshot": "exact_match",
                  "bbh_local_fewshot_cpu": "exact_match",
                  "truthfulqa_local_gen": "rougeL_diff", "boolq_local": "acc", "gsm8k_local": "exact_match",
                  "ifeval": "prompt_level_loose_acc", "arc_challenge": "acc_norm", "hellaswag": "acc_norm",
                  "truthfulqa_mc2": "acc", "mmlu": "acc", "winogrande": "acc", "agieval": "acc", "gsm8k": "exact_match"}
# Metrics that are rates in [0, 1] (their binomial standard error is shown); others show lm-eval's own.
_RATE_METRICS = ("acc", "acc_norm", "exact_match", "rougeL_acc", "prompt_level_loose_acc", "prompt_level_strict_acc",
                 "accuracy", "pass_at_1")


def is_lm_eval(task: str) -> bool:
  return task.startswith(LM_EVAL_PREFIX)


def lm_eval_task(task: str) -> tuple[str, str]:
  """"lm_eval:<name>[:<metric>]" -> (name, metric)."""
  name, _, metric = task[len(LM_EVAL_PREFIX):].partition(":")
  if not name:
    raise UserError(f"Task {task!r}: name an lm-eval task after 'lm_eval:' (e.g. lm_eval:bbh_local_fewshot).")
  return name, metric or LM_EVAL_METRIC.get(name, "acc")


def task_metric(task: str) -> str:
  """The metric a task is reported by: the harness's (TASK_METRIC) or the lm-eval task's."""
  return lm_eval_task(task)[1] if is_lm_eval(task) else TASK_METRIC[task]


def is_rate(task: str) -> bool:
  return task_metric(task) in _RATE_METRICS


@dataclasses.dataclass(frozen=True)
class EvalSpec:
  mode: str = "sft"  # "sft": zero-shot in `template` (what the student trained on); "few_shot": the harness's prompt.
  max_new_tokens: int = 192  # Generation budget per example (MBPP, GSM8K, TriviaQA).
  batch_size: int = 4  # Generation / scoring batch.
  workers: int = 2  # MBPP: parallel sandboxed test runs.
  template: str = "plain"  # The SFT template ("sft" mode prompts): an sft.TEMPLATES name or format string.
  mbpp_tests_in_prompt: bool = True  # MBPP: append the record's test asserts to its prompt.

  @classmethod
  def from_config(cls, config) -> "EvalSpec":
    """From configs/evaluate.py's fields (eval.*, sft.template, mbpp_tests_in_prompt)."""
    ec = config.eval
    return cls(mode=ec.mode, max_new_tokens=ec.max_new_tokens, batch_size=ec.batch_size, workers=ec.workers,
               template=config.sft.template, mbpp_tests_in_prompt=config.mbpp_tests_in_prompt)


def few_shots(task: str) -> int:
  """The shots of a task's harness prompt in "few_shot" mode (MBPP 3, GSM8K 5, TriviaQA 5; BoolQ and MAWPS 0)."""
  if task == "mbpp":
    return len(mbpp.PROMPT_TASK_IDS)
  if task in ("gsm8k", "triviaqa"):
    return {"gsm8k": gsm8k, "triviaqa": triviaqa}[task].NUM_SHOTS
  if task in ("boolq", "mawps"):
    return 0
  raise UserError(f"Unknown task {task!r}; expected one of {sorted(TASK_METRIC)}.")


def with_tests(record, task: str, enabled: bool):
  """MBPP: the prompt plus its test asserts (when the record has them), so the function name is known."""
  tests = record.meta.get("test_list") if isinstance(record.meta, dict) else None
  if task != "mbpp" or not enabled or not tests:
    return record
  prompt = record.prompt + "\nYour code should pass these tests:\n" + "\n".join(tests)
  return dataclasses.replace(record, prompt=prompt)


def eval_subset(records: Sequence, num: int, seed: int) -> list:
  return random_subset(records, num, seed)


def standard_error(p: float, n: int) -> float:
  """The binomial standard error sqrt(p (1 - p) / n) of a rate p measured on n examples (nan for n = 0)."""
  return math.sqrt(max(p * (1.0 - p), 0.0) / n) if n else math.nan


def task_standard_error(task: str, value: float, n: int, stderr: Any = None) -> float:
  """The standard error printed beside a task's figure: a rate's binomial one on n examples; another metric's (e.g.
  TruthfulQA's ROUGE-L difference) `stderr`, the sample standard error over documents that lm-eval reports (nan
  when none was given)."""
  if is_rate(task):
    return standard_error(value, n)
  return float(stderr) if isinstance(stderr, (int, float)) and not isinstance(stderr, bool) else math.nan


# ---------------------------------------------------------------------------------------------------- evaluation


def _score(task: str, student, eval_records: Sequence, prompts: list[str], spec: EvalSpec) -> tuple[float, list]:
  """(metric value, per-example output rows) of one task for a LoadedModel."""
  few_shot = spec.mode == "few_shot"
  if task in ("mbpp", "gsm8k", "triviaqa", "mawps"):
    stop = {"triviaqa": ["\n"], "gsm8k": list(gsm8k.STOP) if few_shot else [],
            "mawps": list(mawps.STOP) if few_shot else []}.get(task, [])
    generate = lm.greedy_generator(student, max_new_tokens=spec.max_new_tokens, stop=stop,
                                   batch_size=spec.batch_size, progress=False)
  else:
    loglik = lm.loglik_scorer(student, batch_size=spec.batch_size, progress=False)
  if task == "mbpp":
    if few_shot:
      res = mbpp.evaluate_mbpp(eval_records, generate, workers=spec.workers, progress=False)
      completions, verdicts = res.completions, res.verdicts
    else:
      completions = generate(prompts)
      verdicts = mbpp.run_tests(eval_records, [mbpp.extract_code(c) for c in completions], workers=spec.workers,
                                progress=False)
    rows = [dict(uid=r.uid, completion=c, passed=v.passed, status=v.status)
            for r, c, v in zip(eval_records, completions, verdicts)]
    return sum(v.passed for v in verdicts) / len(verdicts), rows
  if task == "gsm8k":
    res = gsm8k.evaluate_gsm8k(eval_records, generate) if few_shot else gsm8k.score(generate(prompts), eval_records)
    rows = [dict(uid=r.uid, completion=c, prediction=p, gold=g)
            for r, c, p, g in zip(eval_records, res.completions, res.predictions, res.golds)]
    return res.accuracy, rows
  if task == "mawps":  # SoftSRV Table 2: 0-shot either way ("few_shot" = the harness's own prompt frame).
    res = mawps.evaluate_mawps(eval_records, generate) if few_shot else mawps.score(generate(prompts), eval_records)
    rows = [dict(uid=r.uid, completion=c, prediction=p, gold=g, correct=k)
            for r, c, p, g, k in zip(eval_records, res.completions, res.predictions, res.golds, res.correct)]
    return res.accuracy, rows
  if task == "triviaqa":
    res = (triviaqa.evaluate_triviaqa(eval_records, generate) if few_shot else
           triviaqa.score(generate(prompts), eval_records))
    rows = [dict(uid=r.uid, completion=c, prediction=p, correct=k)
            for r, c, p, k in zip(eval_records, res.completions, res.predictions, res.correct)]
    return res.exact_match, rows
  if few_shot:
    preds = boolq.evaluate_boolq(eval_records, loglik).predictions
  else:  # Which response did the student learn to give: log p("True" | prompt) vs log p("False" | prompt).
    lls = loglik([(p, "True") for p in prompts] + [(p, "False") for p in prompts])
    preds = [a > b for a, b in zip(lls[:len(prompts)], lls[len(prompts):])]
  golds = [boolq.label(r) for r in eval_records]
  rows = [dict(uid=r.uid, prediction=p, gold=g) for r, p, g in zip(eval_records, preds, golds)]
  return sum(p == g for p, g in zip(preds, golds)) / len(golds), rows


def make_eval_fn(model, task: str, eval_records: Sequence, spec: EvalSpec, out_dir: str, *, prefix: str = "",
                 verbose: bool = True) -> EvalFn:
  """eval_fn(step, params) -> {metric: value}; also writes the outputs to <out_dir>/eval/<prefix>step_<N>.jsonl."""
  if task not in TASK_METRIC:
    raise UserError(f"Unknown task {task!r}; expected one of {sorted(TASK_METRIC)}.")
  if spec.mode not in ("sft", "few_shot"):
    raise UserError(f"eval.mode must be 'sft' or 'few_shot', got {spec.mode!r}.")
  if not eval_records:
    raise UserError(f"No {task} examples to evaluate; set eval.num_examples >= 1 (0 = the whole split).")
  fmt = sft.make_template(spec.template)
  prompts = [fmt(with_tests(r, task, spec.mbpp_tests_in_prompt))[0] for r in eval_records]
  os.makedirs(os.path.join(out_dir, "eval"), exist_ok=True)

  def eval_fn(step: int, params) -> dict[str, float]:
    value, rows = _score(task, dataclasses.replace(model, params=params), eval_records, prompts, spec)
    io.write_jsonl(os.path.join(out_dir, "eval", f"{prefix}step_{step:06d}.jsonl"), rows)
    if verbose:
      print(f"step {step}: {task} {TASK_METRIC[task]} = {value:.4f} +- {standard_error(value, len(rows)):.4f} "
            f"on {len(rows)} examples", flush=True)
    return {TASK_METRIC[task]: value}

  return eval_fn


def metric_key(task: str) -> str:
  """The name a multi-task evaluation logs a task's metric under: "<task>/<metric>" ("lm_eval:<name>/<metric>")."""
  if is_lm_eval(task):
    name, metric = lm_eval_task(task)
    return f"{LM_EVAL_PREFIX}{name}/{metric}"
  return f"{task}/{TASK_METRIC[task]}"


def make_lm_eval_fn(model, task: str, limit: int, spec: EvalSpec, out_dir: str, *, prefix: str = "",
                    verbose: bool = True, data_dir: str | None = None) -> EvalFn:
  """eval_fn(step, params) -> {metric, metric_stderr, metric_n} of the lm-eval task `task` ("lm_eval:<name>
  [:<metric>]") on its first `limit` documents (per sub-task of a group; 0: every document), through the adapter;
  the per-document outputs go to <out_dir>/eval/<prefix>step_<N>.jsonl."""
  # lm-eval is an optional, heavy dependency (the adapter imports it): imported only when a run names an lm-eval task.
  from datasynth.evals import lm_eval_adapter  # optional dependency: lm-eval
  name, metric = lm_eval_task(task)
  manager = lm_eval_adapter.task_manager([name], data_dir=data_dir)
  lm_eval_adapter.check_tasks([name], manager)
  os.makedirs(os.path.join(out_dir, "eval"), exist_ok=True)

  def eval_fn(step: int, params) -> dict[str, float]:
    lm = lm_eval_adapter.DatasynthLM(dataclasses.replace(model, params=params), batch_size=spec.batch_size,
                                     max_gen_toks=spec.max_new_tokens, progress=False)
    results = lm_eval_adapter.evaluate(lm, [name], limit=limit or None, log_samples=True, manager=manager)
    values = lm_eval_adapter.metrics(results).get(name, {})
    if metric not in values:
      raise UserError(f"lm-eval task {name} reports no metric {metric!r} (it reports {sorted(values)}); name one "
                      f"as lm_eval:{name}:<metric>.")
    samples = results.get("samples") or {}
    rows = [dict(task=t, doc_id=r.get("doc_id"), resps=r.get("filtered_resps"),
                 **{k: r[k] for k in r if k in values}) for t, rs in samples.items() for r in rs]
    io.write_jsonl(os.path.join(out_dir, "eval", f"{prefix}step_{step:06d}.jsonl"), rows)
    n = sum(v.get("effective", 0) for v in results.get("n-samples", {}).values()) or len(rows)
    if verbose:
      print(f"step {step}: {name} {metric} = {values[metric]:.4f} on {n} documents", flush=True)
    return {metric: values[metric], f"{metric}_stderr": values.get(f"{metric}_stderr", math.nan), f"{metric}_n": n}

  return eval_fn


def multi_task_eval_fn(model, eval_sets: Mapping[str, Sequence | int], specs: Mapping[str, EvalSpec], out_dir: str,
                       *, prefix: str = "", data_dir: str | None = None, **kw) -> EvalFn:
  """One eval_fn over several tasks: {"<task>/<metric>": value} (outputs in <out_dir>/eval/<prefix><task>_step_N).
  An lm-eval task's set is its document limit (an int); its standard error and count come as
  "<task>/<metric>_stderr" and "_n"."""
  fns = {task: (make_lm_eval_fn(model, task, records, specs[task], out_dir, prefix=f"{prefix}{_file_name(task)}_",
                                data_dir=data_dir, **kw) if is_lm_eval(task) else
                make_eval_fn(model, task, records, specs[task], out_dir, prefix=f"{prefix}{task}_", **kw))
         for task, records in eval_sets.items()}

  def eval_fn(step: int, params) -> dict[str, float]:
    out = {}
    for task, fn in fns.items():
      metric = task_metric(task)
      for k, v in fn(step, params).items():
        out[metric_key(task) + k[len(metric):]] = v
    return out

  return eval_fn


def _file_name(task: str) -> str:
  return task.replace(":", "_")


# ------------------------------------------------------------------------------------------------------- reports


def results_from_metrics(rows: Sequence[dict], metric: str) -> list[dict[str, float]]:
  """One row per evaluated step: the metric, its standard error "<metric>_stderr" where the evaluation logged one
  (an lm-eval task's), and the training loss logged nearest before it."""
  key, out, loss = f"eval/{metric}", [], None
  for r in sorted(rows, key=lambda r: r["step"]):
    loss = r.get("loss", loss)
    if key in r:
      se = {f"{metric}_stderr": float(r[f"{key}_stderr"])} if f"{key}_stderr" in r else {}
      out.append(dict(step=int(r["step"]), **{metric: float(r[key])}, **se, loss=loss))
  return out


def plot_runs(runs: Mapping[str, Sequence[dict]], metric: str, title: str, path: str, *,
              epochs_per_step: float | None = None) -> str:
  """metric vs fine-tuning step, one line per run ({label: results_from_metrics rows}).

  epochs_per_step: with it, the x-axis is steps x batch / training-set size (SoftSRV Figure 3: "the number of
  fine-tuning steps times batch size normalized by training set size"); pass batch / training-set size.
  """
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6, 4))
  scale = 1.0 if epochs_per_step is None else float(epochs_per_step)
  for name, evals in runs.items():
    ax.plot([e["step"] * scale for e in evals], [e[metric] for e in evals], marker="o", label=name)
  ax.set_xlabel("fine-tuning step" if epochs_per_step is None else "steps x batch / training-set size")
  ax.set_ylabel(metric)
  ax.set_title(title)
  ax.grid(alpha=0.3)
  if len(runs) > 1:
    ax.legend(fontsize=8)
  fig.tight_layout()
  io.save_figure(fig, path)
  plt.close(fig)
  return path


def plot_metric(evals: Sequence[dict], metric: str, title: str, path: str, *,
                epochs_per_step: float | None = None) -> str:
  return plot_runs({"": evals}, metric, title, path, epochs_per_step=epochs_per_step)
