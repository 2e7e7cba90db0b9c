"""A SoftSRV work dir read back: whether a run of each SoftSRV command has finished, and its final metrics.

The formats are SoftSRV's own, and this module is the one place that reads them for others (`experiments.kinds`
ties each launcher to these readers; the sweep and the report ask it):
- training (launch/train.py): finished when metrics.jsonl's last step >= the config's train.steps, or
  checkpoints/<train.steps>/ exists; final metrics: the last loss and heldout_loss, the last step.
- the pipeline (launch/pipeline.py): finished when summary.json lists its stages and stages/<name>.json exists for
  each; final metrics: the held-out loss, each stage's kept count, MAUVE per fold, the total time.
- the student evaluation (launch/evaluate.py, `softsrv.evaluate`): finished when results.json is there; final
  metrics: the task metric with its standard error and the untrained student's, MAUVE per fold.
Reads are lenient: an absent file, or one cut off by a kill, is a run not finished (or no metrics yet), never an
error, so a sweep can poll work dirs that are being written. `is_pipeline_workdir`, `is_evaluate_workdir` and
`is_train_workdir` say whether a work dir holds such a run at all (the report's detection).
"""
from __future__ import annotations

import os
from typing import Any

from datasynth.evals.student_eval import standard_error
from datasynth.jobs import stages
from datasynth.utils import io

SUMMARY = "summary.json"  # The pipeline's summary (softsrv.pipeline.run writes it when the run ends).
RESULTS = "results.json"  # The student evaluation's summary (softsrv.evaluate.run).
METRICS = "metrics.jsonl"  # The training loop's scalars per step (datasynth.train.metrics).


# ----------------------------------------------------------------------------------------------------- training


def read_metrics(workdir: str) -> list[dict[str, Any]]:
  """The rows of the work dir's metrics.jsonl (none when it is absent); a line cut by a kill is skipped."""
  return io.read_jsonl_lenient(os.path.join(workdir, METRICS))


def train_finished(workdir: str, steps: int) -> bool:
  """metrics.jsonl's last step is `steps` (the config's train.steps) or later, or the checkpoint at `steps` exists."""
  rows = [r for r in read_metrics(workdir) if "step" in r]
  if rows and rows[-1]["step"] >= steps:
    return True
  return os.path.isdir(os.path.join(workdir, "checkpoints", str(steps)))


def train_metrics(workdir: str) -> dict[str, float]:
  """The last logged loss and heldout_loss, and the last row's step."""
  rows = read_metrics(workdir)
  out: dict[str, float] = {}
  for key in ("loss", "heldout_loss"):
    last = [r for r in rows if isinstance(r.get(key), (int, float))]
    if last:
      out[key] = last[-1][key]
  if rows:
    out["step"] = rows[-1].get("step")
  return out


def is_train_workdir(workdir: str) -> bool:
  return os.path.exists(os.path.join(workdir, METRICS))


# ----------------------------------------------------------------------------------------------------- pipeline


def mauve_metrics(mauve: Any) -> dict[str, float]:
  """{"mauve_<reference fold>": MAUVE} of a summary's MAUVE table (SoftSRV Tables 4-5)."""
  if not isinstance(mauve, dict):
    return {}
  return {f"mauve_{k}": v["mauve"] for k, v in mauve.items() if isinstance(v, dict) and "mauve" in v}


def pipeline_finished(workdir: str) -> bool:
  return stages.summary_finished(workdir, io.read_json(os.path.join(workdir, SUMMARY)))


def pipeline_metrics(workdir: str) -> dict[str, float]:
  """The training stage's held-out loss, each stage's kept count (`<stage>_out`), MAUVE per fold, total seconds."""
  summary = io.read_json(os.path.join(workdir, SUMMARY)) or {}
  out: dict[str, float] = {}
  for m in summary.get("stages") or []:
    final = m.get("final") or {}
    if isinstance(final.get("heldout_loss"), (int, float)):
      out["heldout_loss"] = final["heldout_loss"]
    out[f"{m['name']}_out"] = (m.get("counts") or {}).get("out")
  out.update(mauve_metrics(summary.get("mauve")))
  out["seconds"] = stages.total_seconds(summary.get("stages"))
  return out


def is_pipeline_workdir(workdir: str) -> bool:
  """A staged pipeline's work dir (SoftSRV's, or another method's with the same layout): summary.json or stages/."""
  return os.path.exists(os.path.join(workdir, SUMMARY)) or os.path.exists(os.path.join(workdir, stages.STAGES_DIR))


# --------------------------------------------------------------------------------------------------- evaluation


def evaluate_finished(workdir: str) -> bool:
  return isinstance(io.read_json(os.path.join(workdir, RESULTS)), dict)


def evaluate_metrics(workdir: str) -> dict[str, float]:
  """The final evaluation's numbers, the metric's binomial standard error (`<metric>_se`) when the test-subset size
  is known, the untrained student's metric (`<metric>_step0`) when step 0 was evaluated, and MAUVE per fold."""
  results = io.read_json(os.path.join(workdir, RESULTS)) or {}
  final = results.get("final") or {}
  out = {k: v for k, v in final.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
  metric, n = results.get("metric"), results.get("num_eval_examples")
  if io.is_number(out.get(metric)) and isinstance(n, int) and n > 0:  # The binomial SE, printed beside the figure.
    out[f"{metric}_se"] = standard_error(out[metric], n)
  evals = results.get("evals") or []
  if len(evals) > 1 and evals[0].get("step") == 0 and io.is_number(evals[0].get(metric)):
    out[f"{metric}_step0"] = evals[0][metric]  # The untrained student (when this run evaluated step 0).
  out.update(mauve_metrics(results.get("mauve")))
  return out


def is_evaluate_workdir(workdir: str) -> bool:
  return os.path.exists(os.path.join(workdir, RESULTS))
