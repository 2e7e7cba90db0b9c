r"""SoftSRV on GSM8K: learn to generate grade-school math word problems (x = the question).

Command:
  python launch/train.py --config=configs/gsm8k.py --workdir=workdirs/gsm8k

Default (CPU) preset: SS_MC, t=16, x up to 96 Gemma tokens (longer questions skipped), batch 8, 100 steps at
lr 3e-3. Runtime: about 12 minutes on 2 shared CPU cores (~7 s/step); the loss falls visibly within the first
50 steps (loss.png in the work dir).

Presets: paper (t=128, 20K steps, lr 5e-6, SS_MC 3x128, k=2), np | mp2 | mc; e.g. `configs/gsm8k.py:paper`.
"""
from softsrv.config import get_config as _get_config


def get_config(arg=None):
  return _get_config("gsm8k", arg)
