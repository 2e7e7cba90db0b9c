r"""NOMAD Table 1 at CPU scale: the unmasked and the prompt-masked teacher, each with and without filters, the
NormSim figure (Figure 2) and a student per synthetic set beside X_train alone.

Command:
  python launch/sweep.py --sweep=sweeps/nomad_table1.py
  python launch/report.py --workdir=workdirs/sweeps/nomad_table1

One run: `launch/nomad.py --config=configs/nomad.py:table1 --table1`, which trains both teachers and the students
in one process (the teachers share the base model and the encoder; the students share X_train's baselines), so
the four cells are one job rather than four. Its metrics in results.md: n and the NormSim medians per teacher and
set, and each student's scores with their standard errors (`_se`): TriviaQA exact match (160 questions), BBH 3-shot
without CoT (`bbh_local_fewshot_cpu`: boolean_expressions, date_understanding, sports_understanding, web_of_lies, the
first 20 items each) and TruthfulQA generation (ROUGE-L true minus false, in points, the first 20 questions);
`student_untrained_*` is the base student. A rate's SE is binomial; the ROUGE-L difference's is lm-eval's sample SE.

Runtime: through `launch/sweep.py --root=/tmp/table1bbh` on the shared 2-core CPU (2026-12-07, load average 5-12
from other jobs: SFT steps ~16-21 s against ~6.5 s idle), 3,428 s (57.1 minutes) of running, in three attempts of one
resumable run (each stage's output kept): teacher 658 s / 565 s (unmasked / masked), generate 334 s / 200 s, NormSim
75 s; the student stage 1,536 s (untrained scores ~5 min, then per run its training and its three scores: train 4
min, train_2x 6.6 min, each mixture ~5 min; BBH and TruthfulQA add 20-50 s after a run's TriviaQA score). Wall clock
from start to end 61 minutes, including ~3 minutes between attempts.

| teacher | set | n | valid rate | prompt NormSim median | response NormSim median | removed by filters |
|---|---|---:|---:|---:|---:|---|
| unmasked | unfiltered | 42 | 43.8% | 0.301 | 0.273 | - |
| unmasked | filtered | 36 | 43.8% | 0.301 | 0.280 | repetition 3, coding 3 |
| masked | either | 0 | 0.0% | - | - | - |

Parse outcomes: unmasked: 42 kept, 48 incomplete (hit the 96-token budget), 4 without an assistant turn, 1 role
switch, 1 empty assistant turn; masked: 0 kept, 49 without an assistant turn, 47 incomplete.

| student run | steps | TriviaQA EM (n=160) | BBH no-CoT EM (n=80) | TruthfulQA ROUGE-L diff (n=20) |
|---|---:|---:|---:|---:|
| untrained | 0 | 0.062 +- 0.019 | 0.425 +- 0.055 | 1.18 +- 3.84 |
| train (X_train, 1 epoch) | 13 | 0.056 +- 0.018 | 0.450 +- 0.056 | -0.98 +- 3.14 |
| train_2x (equal compute) | 25 | 0.056 +- 0.018 | 0.463 +- 0.056 | -1.97 +- 2.69 |
| X_train + unmasked unfiltered | 15 | 0.056 +- 0.018 | 0.438 +- 0.055 | -0.73 +- 2.70 |
| X_train + unmasked filtered | 15 | 0.056 +- 0.018 | 0.450 +- 0.056 | -2.31 +- 2.80 |
| X_train + masked (either) | - | not trained: no records | | |

Agrees with the paper: a prompt-masked teacher never learns to write the user turn; sampled from "User: " it writes
one long assistant-style monologue without ever writing "Assistant:" (0 of 96 valid), while the unmasked one writes
parseable first rounds (42 of 96) that mostly survive the filters (36). Not checkable at this size: the NormSim ordering (no masked samples) and every student comparison:
all runs sit within one SE of each other and of the untrained student on all three tasks (BBH at chance: the untrained
student scores 0.40 / 0.10 / 0.50 / 0.70 on the four tasks; three have two answers). The paper's NomaskedFiltered
gains over its 4-epoch baseline (+4.3 TriviaQA, +0.4 BBH-NOCOT points; +3.7 TruthfulQA on its own scale) are smaller
than one SE here, so the run could not show them even if they held at this scale. GSM8K is not scored: the untrained
student scored 0 of 48. A run worth comparing with the paper's numbers needs the `paper` preset's scale (15K
conversations, a 7B student) on a GPU, and BBH's 27 tasks and TruthfulQA's 817 questions.
"""
LAUNCHER = "launch/nomad.py"
CONFIG = "configs/nomad.py:table1"
METRICS = ("unmasked_unfiltered_n", "unmasked_filtered_n", "masked_unfiltered_n")


def get_sweep():
  return [{"name": "table1", "--table1": True}]
