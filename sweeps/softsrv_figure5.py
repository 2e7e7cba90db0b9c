r"""SoftSRV Figure 5 at CPU scale: prompt-template questions on MBPP with and without the "10 different questions"
diversification (PT vs undiversified PT), MAUVE against the train and the test fold; 2 pipeline runs.

Command:
  python launch/sweep.py --sweep=sweeps/softsrv_figure5.py
  python launch/report.py --workdir=workdirs/sweeps/softsrv_figure5

Each run is `launch/pipeline.py --config=configs/mbpp.py:sweep --config.pipeline.method=<pt|pt_undiversified>`
(softsrv.baselines: PT asks for 10 different questions per call, undiversified PT for one; 256 questions, N_s = 128
kept, MAUVE on 128 texts a side, no answer stage).
Runtime: being measured (the queued run of this file on the 2-core CPU); the table follows when it finishes.
"""
from datasynth.sweep import sweep

LAUNCHER = "launch/pipeline.py"
CONFIG = "configs/mbpp.py:sweep"
METRICS = ("mauve_train", "mauve_test", "postprocess_out")


def get_sweep():
  return sweep("pipeline.method", ["pt", "pt_undiversified"])
