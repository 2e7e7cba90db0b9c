r"""SoftSRV on GSM8K: learn to generate grade-school math word problems (x = the question).

Command:
  python launch/train.py --config=configs/gsm8k.py --workdir=workdirs/gsm8k

Default (CPU) preset: SS_MC, t=16, x up to 64 Gemma tokens (of the first 1,500 questions, the ~480 that fit),
batch 8, 40 steps at lr 3e-3. Runtime: estimated ~13 minutes on 2 shared CPU cores (steps ~1.7x the cost of
MBPP's at 80 vs 48 positions; not measured end to end); the loss falls visibly within the first 20 steps (loss.png).

Presets: paper (t=128, 20K steps, lr 5e-6, SS_MC 3x128, k=2), np | mp2 | mc; e.g. `configs/gsm8k.py:paper`.
"""
from softsrv.config import get_config as _get_config


def get_config(arg=None):
  return _get_config("gsm8k", arg)
