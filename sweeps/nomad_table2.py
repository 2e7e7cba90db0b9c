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
run the valid rate, `filtered_n`, the NormSim medians `filtered_prompt_normsim` / `filtered_response_normsim` (Figure
2's ordering, the 300K teacher's prompts closest to TULU, is the paper's reading of this table) and
`student_<masked | unmasked>_filtered_<task>` (the mixture; the first run also `student_train_<task>`, the Baseline),
each score with its standard error (`_se`).

Runtime, measured on 2026-12-07 through `launch/sweep.py` in one go on the 2-core CPU (idle but for a few short
tests): 48.3 minutes (2,899 s) for the four runs at CPU scale (sweeps/_nomad_runs.py: the first 128 Alpaca
conversations as the pool, a 64-conversation subset as "15K"). nomasked_filtered15k 17.9 min of stages (teacher 171 s,
generate 83 s, NormSim against the pool 28 s, student 793 s: the untrained student's three scores, the Baseline 24
steps and the mixture 27 steps at ~10 s/step, each scored), nomasked_filtered300k 13.7 min (teacher 169 s, generate
94 s, NormSim 29 s, student 528 s), masked_filtered15k 7.9 min and masked_filtered300k 8.4 min (teacher ~160 s,
generate ~90 s, no valid first round; their student stage still scores the untrained student, ~4 min).

| run (teacher on) | valid / 96 | n | prompt NormSim median (q1-q3) | response NormSim median (q1-q3) | TriviaQA EM (n=160) | BBH no-CoT EM (n=400) | TruthfulQA ROUGE-L diff (n=100) |
|---|---:|---:|---:|---:|---:|---:|---:|
| untrained student | - | - | - | - | 0.062 +- 0.019 | 0.385 +- 0.024 | -2.17 +- 2.13 |
| Baseline (X_train = the 128, 24 steps) | - | 128 | - | - | 0.062 +- 0.019 | 0.393 +- 0.024 | -2.21 +- 1.79 |
| NomaskedFiltered15k (64; 27 steps) | 17 | 17 | 0.389 (0.333-0.429) | 0.327 (0.304-0.353) | 0.056 +- 0.018 | 0.398 +- 0.024 | -3.09 +- 1.79 |
| NomaskedFiltered300k (all 128; 27 steps) | 20 | 20 | 0.399 (0.318-0.444) | 0.309 (0.251-0.361) | 0.056 +- 0.018 | 0.395 +- 0.024 | -2.88 +- 1.78 |
| MaskedFiltered15k (64) | 0 | 0 | - | - | not trained: no records | | |
| MaskedFiltered300k (all 128) | 0 | 0 | - | - | not trained: no records | | |

Parse outcomes (of 96): NomaskedFiltered15k 73 incomplete (the 96-token budget), 3 without an assistant turn, 3 role
switches; NomaskedFiltered300k 62 incomplete, 10 without an assistant turn, 2 empty assistant turns, 2 role switches;
the filters removed none. Masked: 15k 47 incomplete, 48 without an assistant turn, 1 role switch; 300k 62
incomplete, 34 without an assistant turn.

Agrees with the paper: the prompt-masked teacher writes no parseable conversation at either size (as in Table 1,
sweeps/nomad_table1.py). Not checkable at this size: the teacher on the whole pool writes prompts a little closer to
it (median 0.399 against 0.389, Figure 2's reading) and responses a little further (0.309 against 0.327), on 17 and
20 samples whose quartile ranges overlap almost entirely; the students are all within one SE of each other and of the
untrained student on all three tasks (BBH 0.393-0.398 +- 0.024). The synthetic sets add 17-20 conversations to 128
(the paper: 16K to 293.5K); the paper's NomaskedFiltered15k gain over its Baseline (+2.9 TriviaQA, +0.9 BBH-NOCOT
points) would be a tenth of an SE here. Fewer valid first rounds than Table 1's run (17-20 against 42 of 96): a
different 64-conversation subset (drawn from the first 128 rather than all 999) of longer conversations (median 104
words against 83), whose teachers write first rounds that hit the 96-token budget more often.
"""
from sweeps._nomad_runs import plotted, pool_student, table2_tasks, teacher_runs

LAUNCHER = "launch/nomad.py"
CONFIG = "configs/nomad.py"
METRICS = plotted(("unmasked_filtered", "masked_filtered"), table2_tasks())  # A panel per figure, a bar per run.


def get_sweep():
  runs = teacher_runs(("15k", "300k"))
  # One Baseline (X_train alone at equal epochs) for the table, trained by the first run; the others train only
  # their mixture.
  return [{**run, **pool_student(), "student.baselines": "equal_epochs" if i == 0 else "none"}
          for i, run in enumerate(runs)]
