r"""SoftSRV Figure 4 at CPU scale: the student's BoolQ accuracy as the synthetic set grows (N_s = 32, 64, 128).

Command:
  python launch/sweep.py --sweep=sweeps/softsrv_figure4.py
  python launch/report.py --workdir=workdirs/sweeps/softsrv_figure4

Runs (4, in two waves; `launch/sweep.py --dry_run` lists them):
- `ss_mc`: `launch/pipeline.py --config=configs/boolq.py:sweep` with the answer stage on: SS_MC (30 steps) writes 256
  passage + question pairs, post-processing keeps N_s = 128, SmolLM2-135M-Instruct answers each (up to 48 tokens),
  giving `answer/records.jsonl`. MAUVE is off here (Table 5 measures it).
- `ns-32`, `ns-64`, `ns-128`: `launch/evaluate.py --task=boolq` fine-tunes SmolLM2-135M fully on the first N_s of
  those records for about two epochs (N_s / 3 steps of 2 x 256 packed tokens), then scores 200 BoolQ test
  questions by log-likelihood (" True" vs " False" after "Answer:", the harness's zero-shot prompt, so the score
  does not depend on the answer model's wording). `ns-32` also scores the untrained student (`accuracy_step0`).
  `accuracy_se` is the binomial standard error of each figure (about 0.035 at n = 200).
Each student run starts once `ss_mc` has finished (it reads `{workdir:ss_mc}`); a cluster runs them as a second wave.

Measured 2026-12-02 on the 2-core CPU: 1,627 s (27.1 minutes) for the sweep; a 6-minute test job shared the
machine during the pipeline's first stage. Stages of `ss_mc`: train 505 s (E over 660 passages, then 30 steps),
generate 229 s, postprocess 3 s (0 duplicates, 0 sharing a 13-gram with the test fold), answer 193 s; each student
about 2-4 minutes, most of it the 200-question evaluation.

| student trained on | steps | train loss | BoolQ accuracy (n = 200) |
|---|---:|---:|---|
| nothing (untrained SmolLM2-135M) | 0 | - | 0.525 +- 0.035 |
| first 32 SS_MC records | 10 | 1.169 | 0.535 +- 0.035 |
| first 64 | 21 | 1.393 | 0.560 +- 0.035 |
| first 128 | 42 | 0.945 | 0.575 +- 0.035 |

Against the paper (Figure 4: downstream accuracy grows with N_s): the direction agrees, accuracy rises with every
doubling of N_s, but the whole rise (+0.05 from the untrained student to N_s = 128) is 1.4 standard errors, so this
scale cannot tell it from noise; the paper's curves span up to 100K examples per task on Gemma 2B. The 270M
generator after 30 CPU steps writes fluent but often incoherent passages with several questions (held-out loss
2.83), and SmolLM2-135M's answers are free text, so the records teach reading more than the True / False decision.
Deviation from the paper: one task (BoolQ: a 135M student scores ~0 on MBPP and GSM8K), hundreds of examples, a
135M student instead of Gemma 2B.
"""
from experiments.sweep import chain
from sweeps._boolq_students import RECORDS, pipeline, student

LAUNCHER = "launch/pipeline.py"
CONFIG = "configs/boolq.py:sweep"
METRICS = ("accuracy",)
PLOT_AXIS = "max_records"
SIZES = (32, 64, 128)  # N_s: the first N of the 128 kept and answered questions.


def get_sweep():
  # About two epochs each: N_s / 3 steps of 2 x 256 packed tokens.
  return chain([pipeline()], [student(f"ns-{n}", max(1, n // 3), first=i == 0, **{"--records": RECORDS},
                                      max_records=n) for i, n in enumerate(SIZES)])
