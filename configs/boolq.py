r"""SoftSRV on BoolQ: learn to generate passage + yes/no question pairs (x = passage + "\nQuestion: ...?").

Command:
  python launch/train.py --config=configs/boolq.py --workdir=workdirs/boolq

Default (CPU) preset: SS_MC, t=16, x up to 96 Gemma tokens (longer passages skipped: ~660 of 2,270 remain), batch
8, 30 steps at lr 3e-3. Runtime: estimated ~13 minutes on 2 shared CPU cores (steps ~2.3x the cost of MBPP's at 112
vs 48 positions; not measured end to end); the loss falls visibly within the first 20 steps (loss.png). The paper
preset keeps every passage (truncated at 512 tokens).

Presets: paper (t=128, 20K steps, lr 5e-6, SS_MC 3x128, k=2), np | mp2 | mc; e.g. `configs/boolq.py:paper,np`.
"""
from softsrv.config import get_config as _get_config


def get_config(arg=None):
  return _get_config("boolq", arg)
