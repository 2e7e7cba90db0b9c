"""A NOMAD work dir read back: whether a run of launch/nomad.py has finished, its final metrics, and whether a work dir
is NOMAD's at all.

The formats are NOMAD's own (`nomad.pipeline` writes them), and this module is the one place that reads them for
others (`experiments.kinds` ties launch/nomad.py to these readers; the sweep and the report ask it):
- the pipeline: finished when summary.json lists its stages and stages/<name>.json exists for each; final metrics:
  the valid rate, the total time, per set (unfiltered, filtered) n and the NormSim medians (`<set>_n`,
  `<set>_prompt_normsim`, `<set>_response_normsim`: n = 0 and no medians for an empty set), then the student table's
  scores.
- Table 1 (--table1): finished when table1.json is there; final metrics: per teacher and set, n and the NormSim
  medians of prompts and responses (`<teacher>_<set>_n`, `..._prompt_normsim`, `..._response_normsim`), then the
  student table's scores.
Reads are lenient (an absent or cut-off file is a run not finished, or no metrics yet), except `is_workdir`, which
shows results and so names a summary.json that is there but unreadable (`io.read_json_checked`).
"""
from __future__ import annotations

import math
import os
import re
from typing import Any

from datasynth.evals.student_eval import metric_key
from datasynth.jobs import stages
from datasynth.utils import io
from nomad.pipeline import SETS
from nomad.student import standard_error

SUMMARY = "summary.json"  # The pipeline's summary (nomad.pipeline.run writes it when the run ends).
TABLE1 = "table1.json"  # Table 1's cells and students (nomad.pipeline.run_table1).
_UNSAFE = re.compile(r"[^A-Za-z0-9.+-]")  # Characters of a student run's name left out of its metric names.


def finished(workdir: str, table1: bool) -> bool:
  """With `table1` (launch/nomad.py --table1): table1.json is there; else the pipeline's summary and manifests."""
  if table1:
    return isinstance(io.read_json(os.path.join(workdir, TABLE1)), dict)
  return stages.summary_finished(workdir, io.read_json(os.path.join(workdir, SUMMARY)))


def student_metrics(student: Any) -> dict[str, float]:
  """NOMAD's student table -> {"student_<run>_<task>": final metric, "..._se": its standard error} and the untrained
  student's (`nomad.student.standard_error`: binomial for a rate, lm-eval's sample standard error for another
  metric)."""
  if not isinstance(student, dict):
    return {}
  tasks, base = student.get("tasks") or {}, student.get("base") or {}
  out = {}
  for run, scores in [(None, base)] + list((student.get("runs") or {}).items()):
    name = "untrained" if run is None else _UNSAFE.sub("_", run)
    for task in tasks:
      key = metric_key(task) if run is None else task
      if io.is_number(scores.get(key)):
        out[f"student_{name}_{task}"] = scores[key]
        se = standard_error(student, task, run)
        if not math.isnan(se):
          out[f"student_{name}_{task}_se"] = se
  return out


def set_metrics(cell: str, n: Any, parts: dict[str, Any]) -> dict[str, float]:
  """One synthetic set's n and NormSim medians: {"<cell>_n", "<cell>_prompt_normsim", "<cell>_response_normsim"}
  (`parts`: {"prompt": stats, "response": stats}; a part without a median, as for an empty set, is left out)."""
  out = {f"{cell}_n": n}
  for part in ("prompt", "response"):
    stats = parts.get(part)
    if isinstance(stats, dict) and io.is_number(stats.get("median")):
      out[f"{cell}_{part}_normsim"] = stats["median"]
  return out


def final_metrics(workdir: str, table1: bool) -> dict[str, float]:
  """Table 1 (`table1`): per teacher and set, n and the NormSim medians, then the students; else the pipeline's:
  its valid rate and time, per set n and the NormSim medians, then the students."""
  if not table1:
    summary = io.read_json(os.path.join(workdir, SUMMARY)) or {}
    out = dict(valid_rate=summary.get("valid_rate"), seconds=stages.total_seconds(summary.get("stages")))
    normsim = summary.get("normsim") or {}
    if "label" in summary:  # nomad.pipeline keys its NormSim runs "<label> <set>"; an empty set has none.
      for name in SETS:
        parts = normsim.get(f"{summary['label']} {name}") or {}
        out.update(set_metrics(name, (parts.get("prompt") or {}).get("n", 0), parts))
    return {**out, **student_metrics(summary.get("student"))}
  table = io.read_json(os.path.join(workdir, TABLE1)) or {}
  out: dict[str, float] = {}
  for row in table.get("rows") or []:
    out.update(set_metrics(f"{row['teacher']}_{row['set']}", row.get("n"), row))
  return {**out, **student_metrics(table.get("student"))}


def is_workdir(workdir: str) -> bool:
  """A NOMAD pipeline's work dir: summary.json or stages/, and either summary.json's method "nomad" or a NormSim
  figure (a run still in progress has no summary yet)."""
  if not (os.path.exists(os.path.join(workdir, SUMMARY)) or os.path.exists(os.path.join(workdir, stages.STAGES_DIR))):
    return False
  summary = io.read_json_checked(os.path.join(workdir, SUMMARY)) or {}
  normsim = any("normsim" in os.path.basename(p).lower() for p in io.result_files(workdir, ".png"))
  return summary.get("method") == "nomad" or normsim
