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
gsm8k,lm_eval:bbh_local_fewshot); at CPU scale the students are the table1 preset's, scored on BBH-NOCOT-FS over
Table 1's four tasks (`bbh_local_fewshot_cpu`, CPU_TASKS; the 135M student scores 0 on GSM8K). results.md holds per
run `student_<set>_<task>` (mixture) and `student_<set>_alone_<task>`: one point of Figure 3 per run.

Runtime, measured on 2026-12-07 through `launch/sweep.py` in one go on the idle 2-core CPU: 33.8 minutes (2,028 s)
for the three CPU-scale runs (sweeps/_nomad_runs.py; the unmasked cases only: the masked teacher writes no valid
first round at this scale, sweeps/nomad_table2.py). Per run the teacher ~157 s, generate ~78 s, NormSim ~25 s, and the
student stage (the untrained student's BBH score, then the mixture and the set alone, each trained and scored) 352 s
(x15k), 422 s and 454 s (x300k).

| run | X_train | n (filtered) | mixture: records, steps | BBH no-CoT EM, mixture (n=400) | alone: records, steps | BBH no-CoT EM, alone (n=400) |
|---|---|---:|---:|---:|---:|---:|
| untrained student | - | - | - | 0.385 +- 0.024 | - | 0.385 +- 0.024 |
| x15k_nomasked_filtered15k | the 64-subset | 17 | 81, 14 | 0.405 +- 0.025 | 17, 2 | 0.385 +- 0.024 |
| x300k_nomasked_filtered15k | the 128-pool | 17 | 145, 27 | 0.398 +- 0.024 | 17, 2 | 0.385 +- 0.024 |
| x300k_nomasked_filtered300k | the 128-pool | 20 | 148, 27 | 0.395 +- 0.024 | 20, 2 | 0.383 +- 0.024 |

The teachers and their sets are Table 2's (same configs, same seeds: the same 17 and 20 first rounds, and the x300k
mixtures score what Table 2's do, 0.398 and 0.395). What it says: nothing about Figure 3's question. A set alone is
17-20 conversations, two student steps, and leaves the student where it started (0.383-0.385 against the untrained
0.385); the mixtures sit 0.01-0.02 above it, within one SE. Three points whose x-values are all the untrained score
carry no correlation either way; the paper's finding (alone and mixture scores uncorrelated across its 15K / 300K,
masked / unmasked cases) needs its scale, where a set alone is 16-25K conversations.
"""
from sweeps._nomad_runs import plotted, pool_student, scale, teacher_runs

LAUNCHER = "launch/nomad.py"
CONFIG = "configs/nomad.py"
FIGURE3_TASKS = "gsm8k,lm_eval:bbh_local_fewshot"  # Figure 3's two metrics (paper scale).
CPU_TASKS = "lm_eval:bbh_local_fewshot_cpu"  # CPU scale: Figure 3's BBH axis on Table 1's four tasks (the 135M
# student scores 0 on GSM8K).
METRICS = plotted(("unmasked_filtered", "unmasked_filtered_alone", "masked_filtered", "masked_filtered_alone"),
                  FIGURE3_TASKS if scale() == "paper" else CPU_TASKS)  # Figure 3's two coordinates per run.


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
