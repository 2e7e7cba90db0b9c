r"""NOMAD Appendix B.2 (Figure 3): the student on X_synthesis alone beside the student on X_synthesis + X_train, for
Table 1's cases (X_train = the teacher's 15K subset) and Table 2's (X_train = all 300K, the teacher on 15K or 300K),
masked and unmasked teachers: the paper finds the two scores uncorrelated, so X_synthesis alone is no measure of it.

Command (paper scale: a GPU box and the TULU v2 mixture; CPU scale: the default):
  NOMAD_SCALE=paper NOMAD_TULU=/data/tulu_v2_data.jsonl python launch/sweep.py --sweep=sweeps/nomad_b2.py
  python launch/sweep.py --sweep=sweeps/nomad_b2.py        # CPU scale (sweeps/_nomad_runs.py says what it is)
  python launch/report.py --workdir=workdirs/sweeps/nomad_b2

Runs (`launch/nomad.py`, one pipeline each, student.synthetic_alone = True: every filtered set trains "<set>" on
X_train + X_synthesis and "<set> alone" on X_synthesis alone, at the same epochs; no X_train-alone baselines, which
Tables 1 and 2 train):
  x15k_nomasked_filtered15k, x15k_masked_filtered15k        Table 1's cases (student.x_train = subset, 4 epochs);
  x300k_{nomasked,masked}_filtered{15k,300k}                Table 2's (student.x_train = pool, 2 epochs).
Figure 3 plots GSM8K and BBH-NOCOT-FS (the paper-scale runs score those two: student.tasks =
gsm8k,lm_eval:bbh_local_fewshot); at CPU scale the students are the table1 preset's, on TriviaQA. results.md holds
per run `student_<set>_<task>` (mixture) and `student_<set>_alone_<task>`: one point of Figure 3 per run.

Runtime: not yet measured at either scale; the CPU-scale run is still to be measured (six teachers of ~4 minutes
with their generations, and two students per unmasked run; two of them over the 999-row pool: more than an hour on
2 cores).
"""
from sweeps._nomad_runs import pool_student, scale, teacher_runs

LAUNCHER = "launch/nomad.py"
CONFIG = "configs/nomad.py"
FIGURE3_TASKS = "gsm8k,lm_eval:bbh_local_fewshot"  # Figure 3's two metrics (paper scale).
CPU_TASKS = "lm_eval:bbh_local_fewshot_cpu"  # CPU scale: Figure 3's BBH axis on Table 1's four tasks (the 135M
# student scores 0 on GSM8K).


def get_sweep():
  paper = scale() == "paper"
  alone = {"student.synthetic_alone": True, "student.baselines": "none"}
  tasks = {"student.tasks": FIGURE3_TASKS if paper else CPU_TASKS}
  # At CPU scale the prompt-masked teacher writes no valid first round (Table 1: 0 of 96, sweeps/nomad_table1.py;
  # Table 2's masked runs, sweeps/nomad_table2.py): no X_synthesis to train on, so only the unmasked cases run.
  masks = ("nomasked", "masked") if paper else ("nomasked",)
  small = [{**run, "name": "x15k_" + run["name"], **alone, **tasks} for run in teacher_runs(("15k",), masks)]
  large = [{**run, "name": "x300k_" + run["name"], **pool_student(), **alone, **tasks}
           for run in teacher_runs(("15k", "300k"), masks)]
  return small + large
