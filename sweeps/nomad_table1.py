r"""NOMAD Table 1 at CPU scale: the unmasked and the prompt-masked teacher, each with and without filters, the
NormSim figure (Figure 2) and a student per synthetic set beside X_train alone.

Command:
  python launch/sweep.py --sweep=sweeps/nomad_table1.py
  python launch/report.py --workdir=workdirs/sweeps/nomad_table1

One run: `launch/nomad.py --config=configs/nomad.py:table1 --table1`, which trains both teachers and the students
in one process (the teachers share the base model and the encoder; the students share X_train's baselines), so
the four cells are one job rather than four. Its metrics in results.md: n and the NormSim medians per teacher and
set, and each student's TriviaQA exact match (160 questions; `student_untrained_triviaqa` is the base student).

Runtime: through `launch/sweep.py` on the idle 2-core CPU (2026-12-03, root /tmp/sw/n3), 1,490 s (24.8 minutes):
unmasked teacher 231 s, its generation 131 s, NormSim 28 s; masked teacher 201 s, its generation 124 s; the student
stage (untrained score, four runs, five scores) 712 s. Two things made it fit, neither changing a result (the same
96 conversations per teacher and the same 160 answers per evaluation, row for row, as the 36.8-minute run):
- every student evaluation prefills the 5 shots once and only its question per row (`lm.greedy_generator`,
  `Batching(share_common_prefix=True)`), at batch 16: ~35 s per 160 questions against ~150 s;
- the teachers sample 32 rows at once (one batch per chunk of 32): 131 s against 167 s.
Earlier the same day, with only the first: 1,595 s (26.6 min); with neither: 2,208 s (36.8 min, slow SFT steps).

| teacher | set | n | prompt NormSim median | TriviaQA EM (n = 160, +- SE) |
|---|---|---:|---:|---|
| unmasked | unfiltered | 42 | 0.301 | 0.056 +- 0.018 |
| unmasked | filtered | 36 | 0.301 | 0.056 +- 0.018 |
| masked | either | 0 | - | not trained: no records |
| (X_train only) | | | | 0.056 +- 0.018 (1 and 2 epochs); untrained 0.062 +- 0.019 |

Agrees with the paper: the masked teacher never learns to write the user turn (0 of 96 valid), the unmasked one
does (42 of 96). Not checkable at this size: the NormSim ordering (no masked samples) and the student gains (all
within one SE). The full table and what it says against the paper are in configs/nomad.py's docstring.
"""
LAUNCHER = "launch/nomad.py"
CONFIG = "configs/nomad.py:table1"
METRICS = ("unmasked_unfiltered_n", "unmasked_filtered_n", "masked_unfiltered_n")


def get_sweep():
  return [{"name": "table1", "--table1": True}]
