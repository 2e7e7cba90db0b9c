r"""SoftSRV Figure 5 at CPU scale: prompt-template questions on MBPP with and without the "10 different questions"
diversification (PT vs undiversified PT), MAUVE against the train and the test fold; 2 pipeline runs.

NOTE: the PT / PT_SR / undiversified-PT figures below were measured with the earlier reconstructed templates;
softsrv/templates.py now holds Appendix C verbatim (one train example per call, 'Question k:' items, PT_SR's
Stop in the refine output), so those rows are to be rerun and restated; the SoftSRV rows are unaffected.

Command:
  python launch/sweep.py --sweep=sweeps/softsrv_figure5.py
  python launch/report.py --workdir=workdirs/sweeps/softsrv_figure5

Each run is `launch/pipeline.py --config=configs/mbpp.py:sweep --config.pipeline.method=<pt|pt_undiversified>`
(softsrv.baselines: PT asks for 10 different questions per call, undiversified PT for one; 256 questions, N_s = 128
kept, MAUVE on 128 texts a side, no answer stage).

Measured 2026-12-02 on the 2-core CPU (idle but for this sweep): 776 s (12.9 minutes) for the sweep.

| run | generated (of 256) | kept | MAUVE vs train | MAUVE vs test | seconds |
|---|---:|---:|---:|---:|---:|
| PT (10 different questions per call) | 166 | 128 | 0.036 | 0.044 | 328 |
| undiversified PT (one per call) | 247 | 128 | 0.009 | 0.009 | 440 |
| train vs test (reference) | | | | 0.939 | |

Against the paper (Figure 5: asking for several different questions per call makes the PT set more diverse and
closer to the real distribution): the direction agrees, PT scores about 4x the undiversified baseline on both folds.
The magnitudes do not carry over: with Gemma 3 270M as H both baselines are far from the data (the paper's H is
Gemma 2 2B and larger); undiversified calls often return a preamble instead of a question ("More Python Programming
Question:"), which is most of the gap here.
"""
from experiments.sweep import sweep

LAUNCHER = "launch/pipeline.py"
CONFIG = "configs/mbpp.py:sweep"
METRICS = ("mauve_train", "mauve_test", "postprocess_out")


def get_sweep():
  return sweep("pipeline.method", ["pt", "pt_undiversified"])
