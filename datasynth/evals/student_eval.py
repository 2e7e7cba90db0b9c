"""The student's evaluation: a fine-tuned model's task metric on a test subset, with its standard error and plots.

Shared by `launch/evaluate.py` (SoftSRV's downstream evaluation: one task, one training set) and `nomad/student.py`
(NOMAD's student on X_train + X_synthesis vs X_train alone, scored on several tasks). Cheap to import (no JAX until
an evaluation runs).

  EvalSpec                    how a task is evaluated: zero-shot in the SFT template ("sft") or the harness's
                              standard few-shot prompt ("few_shot"), generation budget, batch, sandbox workers.
  make_eval_fn(model, task, records, spec, out_dir)
                              -> eval_fn(step, params) -> {metric: value}; writes the outputs to
                              <out_dir>/eval/<prefix>step_<N>.jsonl (what `datasynth.train.sft.train` calls).
  multi_task_eval_fn(...)     several tasks in one eval_fn: {"<task>/<metric>": value}.
  standard_error(p, n)        sqrt(p (1 - p) / n), the binomial standard error of an accuracy on n examples.
  results_from_metrics, plot_metric, plot_runs
                              metrics.jsonl rows -> one row per evaluated step; metric-vs-steps PNGs.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Callable, Mapping, Sequence

from datasynth.evals import boolq, gsm8k, lm, mbpp, triviaqa
from datasynth.evals.mauve import random_subset
from datasynth.train import sft
from datasynth.utils import io
from datasynth.utils.errors import UserError

TASK_METRIC = {"mbpp": "pass_at_1", "gsm8k": "accuracy", "boolq": "accuracy", "triviaqa": "exact_match"}
EvalFn = Callable[[int, Any], dict[str, float]]


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


# ---------------------------------------------------------------------------------------------------- evaluation


def _score(task: str, student, eval_records: Sequence, prompts: list[str], spec: EvalSpec) -> tuple[float, list]:
  """(metric value, per-example output rows) of one task for a LoadedModel."""
  few_shot = spec.mode == "few_shot"
  if task in ("mbpp", "gsm8k", "triviaqa"):
    stop = {"triviaqa": ["\n"], "gsm8k": list(gsm8k.STOP) if few_shot else []}.get(task, [])
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
  """The name a multi-task evaluation logs a task's metric under: "<task>/<metric>"."""
  return f"{task}/{TASK_METRIC[task]}"


def multi_task_eval_fn(model, eval_sets: Mapping[str, Sequence], specs: Mapping[str, EvalSpec], out_dir: str, *,
                       prefix: str = "", **kw) -> EvalFn:
  """One eval_fn over several tasks: {"<task>/<metric>": value} (outputs in <out_dir>/eval/<prefix><task>_step_N)."""
  fns = {task: make_eval_fn(model, task, records, specs[task], out_dir, prefix=f"{prefix}{task}_", **kw)
         for task, records in eval_sets.items()}

  def eval_fn(step: int, params) -> dict[str, float]:
    return {metric_key(task): fn(step, params)[TASK_METRIC[task]] for task, fn in fns.items()}

  return eval_fn


# ------------------------------------------------------------------------------------------------------- reports


def results_from_metrics(rows: Sequence[dict], metric: str) -> list[dict[str, float]]:
  """One row per evaluated step: the metric and the training loss logged nearest before it."""
  key, out, loss = f"eval/{metric}", [], None
  for r in sorted(rows, key=lambda r: r["step"]):
    loss = r.get("loss", loss)
    if key in r:
      out.append(dict(step=int(r["step"]), **{metric: float(r[key])}, loss=loss))
  return out


def plot_runs(runs: Mapping[str, Sequence[dict]], metric: str, title: str, path: str) -> str:
  """metric vs fine-tuning step, one line per run ({label: results_from_metrics rows})."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6, 4))
  for name, evals in runs.items():
    ax.plot([e["step"] for e in evals], [e[metric] for e in evals], marker="o", label=name)
  ax.set_xlabel("fine-tuning step")
  ax.set_ylabel(metric)
  ax.set_title(title)
  ax.grid(alpha=0.3)
  if len(runs) > 1:
    ax.legend(fontsize=8)
  fig.tight_layout()
  io.save_figure(fig, path)
  plt.close(fig)
  return path


def plot_metric(evals: Sequence[dict], metric: str, title: str, path: str) -> str:
  return plot_runs({"": evals}, metric, title, path)
