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
first 100 items each) and TruthfulQA generation (ROUGE-L true minus false, in points, the first 100 questions);
`student_untrained_*` is the base student. A rate's SE is binomial; the ROUGE-L difference's is lm-eval's sample SE.

Runtime, measured on 2026-12-07 in two parts. Teachers, generation and NormSim through `launch/sweep.py` on the 2-core
CPU shared with other jobs (load average 5-12; SFT steps ~16-21 s against ~6.5 s idle): teacher 658 s / 565 s
(unmasked / masked), generate 334 s / 200 s, NormSim 75 s. The student stage at 100 documents per lm-eval task, rerun
on the same teachers' sets on the otherwise idle machine: the untrained student's three scores 3.7 min, then the four
runs with their scores 14.6 min (train 4.6 min at ~21 s/step, train_2x ~6 min, each mixture ~3 min at ~12 s/step;
BBH's 400 and TruthfulQA's 100 items take ~1.5 min per student). About 50 minutes for the whole run on an idle
machine; not measured in one go.

| teacher | set | n | valid rate | prompt NormSim median | response NormSim median | removed by filters |
|---|---|---:|---:|---:|---:|---|
| unmasked | unfiltered | 42 | 43.8% | 0.301 | 0.273 | - |
| unmasked | filtered | 36 | 43.8% | 0.301 | 0.280 | repetition 3, coding 3 |
| masked | either | 0 | 0.0% | - | - | - |

Parse outcomes: unmasked: 42 kept, 48 incomplete (hit the 96-token budget), 4 without an assistant turn, 1 role
switch, 1 empty assistant turn; masked: 0 kept, 49 without an assistant turn, 47 incomplete.

| student run | steps | TriviaQA EM (n=160) | BBH no-CoT EM (n=400) | TruthfulQA ROUGE-L diff (n=100) |
|---|---:|---:|---:|---:|
| untrained | 0 | 0.062 +- 0.019 | 0.385 +- 0.024 | -2.17 +- 2.13 |
| train (X_train, 1 epoch) | 13 | 0.056 +- 0.018 | 0.405 +- 0.025 | -1.67 +- 1.84 |
| train_2x (equal compute) | 25 | 0.056 +- 0.018 | 0.417 +- 0.025 | -2.94 +- 1.70 |
| X_train + unmasked unfiltered | 15 | 0.056 +- 0.018 | 0.417 +- 0.025 | -2.71 +- 1.66 |
| X_train + unmasked filtered | 15 | 0.056 +- 0.018 | 0.412 +- 0.025 | -3.29 +- 1.76 |
| X_train + masked (either) | - | not trained: no records | | |

Agrees with the paper: a prompt-masked teacher never learns to write the user turn; sampled from "User: " it writes
one long assistant-style monologue without ever writing "Assistant:" (0 of 96 valid), while the unmasked one writes
parseable first rounds (42 of 96) that mostly survive the filters (36). Not checkable at this size: the NormSim
ordering (no masked samples) and every student comparison. TriviaQA: every run within one SE of the untrained
0.062. BBH: every fine-tuned student sits 0.02-0.03 above the untrained 0.385 (about one SE), the mixtures level with
the X_train baselines (0.412-0.417 against 0.405-0.417), on four tasks where chance is 0.5 for three. TruthfulQA: all
within one SE of each other (-3.3 to -1.7 points, +- 1.7-2.1). The paper's NomaskedFiltered gains over its 4-epoch
baseline (+4.3 TriviaQA, +0.4 BBH-NOCOT points; +3.7 TruthfulQA on its own scale) are below one SE here, so the run
could not show them even if they held at this scale. GSM8K is not scored: the untrained student scored 0 of 48. A
run worth comparing with the paper's numbers needs the `paper` preset's scale (15K conversations, a 7B student) on a
GPU, and BBH's 27 tasks and TruthfulQA's 817 questions.
"""
LAUNCHER = "launch/nomad.py"
CONFIG = "configs/nomad.py:table1"
METRICS = ("unmasked_unfiltered_n", "unmasked_filtered_n", "masked_unfiltered_n")


def get_sweep():
  return [{"name": "table1", "--table1": True}]
