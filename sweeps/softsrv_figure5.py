r"""SoftSRV Figure 5 at CPU scale: prompt-template questions on MBPP with and without the "10 different questions"
diversification (PT vs undiversified PT), MAUVE against the train and the test fold; 2 pipeline runs.

Command:
  python launch/sweep.py --sweep=sweeps/softsrv_figure5.py
  python launch/report.py --workdir=workdirs/sweeps/softsrv_figure5

Each run is `launch/pipeline.py --config=configs/mbpp.py:sweep --config.pipeline.method=<pt|pt_undiversified>`
(softsrv.baselines: PT asks for 10 different questions per call, undiversified PT for one; 256 questions, N_s = 128
kept, MAUVE on 128 texts a side, no answer stage).

Measured 2026-12-07 with softsrv/templates.py holding Appendix C verbatim (PT: Figure 8, one train example per call,
cycling over the train fold, "Question k:" items, ceil(256 / 10) = 26 calls; undiversified PT: Figure 10's template as
derived for MBPP, 256 calls; both at temperature 1, the CPU preset's): 2,254 s (37.6 minutes) for the sweep, on 2
cores shared with other sessions and two of this rerun's own jobs (load 4-15: the seconds below are that run's, not an
idle machine's; PT's include both folds' MAUVE features).

| run | generated (of 256) | kept | MAUVE vs train | MAUVE vs test | seconds |
|---|---:|---:|---:|---:|---:|
| PT (10 different questions per call) | 105 | 102 | 0.020 | 0.018 | 719 |
| undiversified PT (one per call) | 210 | 128 | 0.006 | 0.006 | 1,518 |
| train vs test (reference) | | | | 0.939 | |

Before the verbatim templates (the reconstructed ones: three random shots per call, "1." items; the undiversified one
saying "similar to"), measured 2026-12-02 on the idle machine in 776 s: PT 166 generated, 128 kept, MAUVE 0.036 vs
train / 0.044 vs test (328 s); undiversified PT 247 generated, 128 kept, 0.009 / 0.009 (440 s).

Against the paper (Figure 5, on GSM8K students: asking for several different questions per call makes the PT set more
diverse and closer to the real distribution, "We found similar results for the other datasets"): the direction still
agrees, PT scores about 3x the undiversified baseline on both folds (before: 4x). The magnitudes do not carry over:
with Gemma 3 270M as H both baselines are far from the data (the paper's H is Gemma 2 2B and larger). With one example
per call, 20 of PT's 26 calls listed questions, many off-task (number lists such as "32,6,7,9,5", "List all possible
arrangement of chicken eggs ..."), and only 102 survive, fewer than N_s = 128 (so its MAUVE is 102 vs 128 texts).
Undiversified calls often answer the instruction instead of writing a question ("Please ...", "I desire that you do a
\"similar\" question ...": 23 of the 128 kept start with "Please"); 46 of 256 gave nothing parseable (a call cut short
at the 512-token budget, before the blank line that ends a question, gives none), against 9 before; the 210 that did
took 22.8K tokens (median 70).
"""
from experiments.sweep import sweep

LAUNCHER = "launch/pipeline.py"
CONFIG = "configs/mbpp.py:sweep"
METRICS = ("mauve_train", "mauve_test", "postprocess_out")


def get_sweep():
  return sweep("pipeline.method", ["pt", "pt_undiversified"])
