r"""NOMAD Table 2: the teacher on a 15K subset or on all 300K of TULU v2, masked or not; the student on all 300K
(X_train = the whole pool) plus each filtered synthetic set, against X_train alone at equal epochs.

Command (paper scale: a GPU box and the TULU v2 mixture; CPU scale: the default):
  NOMAD_SCALE=paper NOMAD_TULU=/data/tulu_v2_data.jsonl python launch/sweep.py --sweep=sweeps/nomad_table2.py
  python launch/sweep.py --sweep=sweeps/nomad_table2.py        # CPU scale (sweeps/_nomad_runs.py says what it is)
  python launch/report.py --workdir=workdirs/sweeps/nomad_table2

Runs (`launch/nomad.py --config=configs/nomad.py:<paper | table1>,<unmasked | masked>`, one pipeline each: teacher
-> 30K generations from "User: " -> parse + filters -> NormSim against the whole pool -> students):
  nomasked_filtered15k   the unmasked teacher on the 15K subset; it also trains the Baseline (X_train alone, 2
                         epochs: student.baselines = equal_epochs), Table 2's first row;
  nomasked_filtered300k  the unmasked teacher on all 300K (subset0);
  masked_filtered15k, masked_filtered300k   the prompt-masked teacher on each.
Every student trains on X_train (the whole pool's first rounds) + that run's filtered set for 2 epochs at lr 2e-5,
batch 128 (configs/nomad.py:paper), scored on Table 2's suite (Table 1's without IFEval, A.4). results.md holds per
run `student_<run>_<task>` (the mixture; the first run also `student_train_<task>`, the Baseline) and the NormSim
medians, whose Figure 2 ordering (the 300K teacher's prompts closest to TULU) is the paper's reading of this table.

Runtime: not yet measured at either scale. The CPU-scale run is still to be measured (five student runs over the
999-row pool at the table1 preset's LoRA settings, on top of four teachers of ~4 minutes and their generations: more
than an hour on 2 cores).
"""
from sweeps._nomad_runs import pool_student, teacher_runs

LAUNCHER = "launch/nomad.py"
CONFIG = "configs/nomad.py"


def get_sweep():
  runs = teacher_runs(("15k", "300k"))
  # One Baseline (X_train alone at equal epochs) for the table, trained by the first run; the others train only
  # their mixture.
  return [{**run, **pool_student(), "student.baselines": "equal_epochs" if i == 0 else "none"}
          for i, run in enumerate(runs)]
