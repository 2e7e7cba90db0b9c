r"""NOMAD Table 1 at CPU scale: the unmasked and the prompt-masked teacher, each with and without filters, the
NormSim figure (Figure 2) and a student per synthetic set beside X_train alone.

Command:
  python launch/sweep.py --sweep=sweeps/nomad_table1.py
  python launch/report.py --workdir=workdirs/sweeps/nomad_table1

One run: `launch/nomad.py --config=configs/nomad.py:table1 --table1`, which trains both teachers and the students
in one process (the teachers share the base model and the encoder; the students share X_train's baselines), so
the four cells are one job rather than four. Its metrics in results.md: n and the NormSim medians per teacher and
set, and each student's TriviaQA exact match (160 questions; `student_untrained_triviaqa` is the base student).

Runtime: through `launch/sweep.py` on 2026-12-03, 2,208 s (36.8 minutes; SFT steps at 11.7 s against ~6 s on
12-02: a slow day), so it needs lighter student settings to be sure of 30 minutes. On 12-02,
through `launch/nomad.py` directly (the same command), 21.6 minutes on the idle 2-core CPU; the
table and what it says against the paper are in configs/nomad.py's docstring. In short, from that run:

| teacher | set | n | prompt NormSim median | TriviaQA EM (n = 160, +- SE) |
|---|---|---:|---:|---|
| unmasked | unfiltered | 42 | 0.301 | 0.056 +- 0.018 |
| unmasked | filtered | 36 | 0.301 | 0.056 +- 0.018 |
| masked | either | 0 | - | not trained: no records |
| (X_train only) | | | | 0.056 +- 0.018; untrained 0.062 +- 0.019 |

Agrees with the paper: the masked teacher never learns to write the user turn (0 of 96 valid), the unmasked one
does (42 of 96). Not checkable at this size: the NormSim ordering (no masked samples) and the student gains (all
within one SE).
"""
LAUNCHER = "launch/nomad.py"
CONFIG = "configs/nomad.py:table1"
METRICS = ("unmasked_unfiltered_n", "unmasked_filtered_n", "masked_unfiltered_n")


def get_sweep():
  return [{"name": "table1", "--table1": True}]
