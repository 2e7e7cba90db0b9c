r"""SoftSRV Figure 7 at CPU scale: SS_MPk on MBPP for k in 1, 2, 4, 8 basis prompts (4 pipeline runs), held-out
loss and MAUVE against the train and the test fold.

Command:
  python launch/sweep.py --sweep=sweeps/softsrv_figure7.py
  python launch/report.py --workdir=workdirs/sweeps/softsrv_figure7

Each run is `launch/pipeline.py --config=configs/mbpp.py:sweep,mp --config.soft_prompt.k=<k>` (the `sweep` preset: 60 training steps, 256
questions generated, N_s = 128 kept, MAUVE on 128 texts a side, no answer stage).
Runtime: being measured (the queued run of this file on the 2-core CPU); the table follows when it finishes.
"""
from datasynth.sweep import sweep

LAUNCHER = "launch/pipeline.py"
CONFIG = "configs/mbpp.py:sweep,mp"
METRICS = ("heldout_loss", "mauve_train", "mauve_test")
PLOT_AXIS = "soft_prompt.k"


def get_sweep():
  return sweep("soft_prompt.k", [1, 2, 4, 8])  # SS_MPk (Eq. 2): k basis prompts mixed by z.
