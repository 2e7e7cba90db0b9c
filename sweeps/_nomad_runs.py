"""What the NOMAD sweeps of Table 2 and Appendix B.2 share (not a sweep itself: a leading underscore).

`scale()` is the environment variable NOMAD_SCALE: `paper` (the default is `cpu`) runs every run on
configs/nomad.py:paper, the paper's recipe on the TULU v2 mixture (point `--config.data.file` at it, e.g. through
NOMAD_TULU=<file or folder>, or put it in <data dir>/tulu_v2/); `cpu` runs them on the `table1` preset (LoRA teacher
and student, 96 generations of <= 96 tokens, students scored as in Table 1), with the first 128 conversations of
Alpaca's 999-row demo as the whole pool (`data.pool_size`: a student epoch over it is 24 steps, 4 minutes here,
measured in sweeps/nomad_table2.py; over all 999 it would be ~190 steps, ~30 minutes a student) and a 64-conversation subset as the "15K" one. Both scales compute NormSim
against the whole pool, as the paper does (Sec. 4.3).

- `teacher_runs(sizes)`: one launch/nomad.py run per (masking, teacher set size), named as the paper's rows ("15k":
  the random subset, "300k": the whole pool, subset0).
- `pool_student()`: the student of Table 2 (X_train = the whole pool, `student.x_train = pool`; 2 epochs on 300K at
  paper scale, Sec. 4.1, 1 at CPU scale, the table1 preset's; the suite without IFEval, which Table 2 drops, A.4).
- `plotted(sets, tasks)`: the results columns comparison.png draws (METRICS): each run's n and NormSim medians, then
  `student_<set>_<task>` per student set and task, named as `nomad.results` writes them.
"""
import os

from datasynth.utils.errors import UserError
from nomad.config import PAPER_TASKS, get_config

CPU_POOL = 128  # CPU scale: the first 128 Alpaca conversations stand for TULU v2's 300K (data.pool_size).


def scale() -> str:
  """NOMAD_SCALE: cpu (default) or paper; read when a sweep builds its runs."""
  value = os.environ.get("NOMAD_SCALE", "cpu")
  if value not in ("cpu", "paper"):
    raise UserError(f"NOMAD_SCALE={value!r}: expected cpu or paper.")
  return value


def table2_tasks() -> str:
  """Table 2's suite: Table 1's without IFEval (A.4) at paper scale; the table1 preset's at CPU scale."""
  if scale() == "cpu":
    return get_config("table1").student.tasks
  return ",".join(t for t in PAPER_TASKS.split(",") if t != "lm_eval:ifeval")


def pool_student() -> dict:
  """Table 2's student: X_train = the whole pool; at paper scale 2 epochs and the suite without IFEval (A.4)."""
  if scale() == "cpu":
    return {"student.x_train": "pool"}
  return {"student.x_train": "pool", "student.epochs": 2.0, "student.tasks": table2_tasks()}


def plotted(sets, tasks: str) -> tuple[str, ...]:
  """comparison.png's panels: the downstream set's n and NormSim medians, then each student set's score per task."""
  return ("filtered_n", "filtered_prompt_normsim", "filtered_response_normsim") + tuple(
      f"student_{s}_{t}" for s in sets for t in tasks.split(","))


def teacher_runs(sizes, masks=("nomasked", "masked")) -> list[dict]:
  """[{name, preset, data.subset_size[, data.file | data.pool_size, normsim.reference]}] per (mask, size): e.g.
  "nomasked_filtered15k" on `<paper | table1>,unmasked`, the teacher on the "15k" subset (15,000 at paper scale, 64
  at CPU scale; "300k": subset0, the whole pool)."""
  paper = scale() == "paper"
  subset = {"15k": 15000 if paper else 64, "300k": 0}
  if paper:
    data = {"data.file": os.environ["NOMAD_TULU"]} if os.environ.get("NOMAD_TULU") else {}
  else:
    data = {"data.pool_size": CPU_POOL, "normsim.reference": "pool"}
  return [{"name": f"{mask}_filtered{size}",
           "preset": f"{'paper' if paper else 'table1'},{'masked' if mask == 'masked' else 'unmasked'}",
           "data.subset_size": subset[size], **data} for mask in masks for size in sizes]
