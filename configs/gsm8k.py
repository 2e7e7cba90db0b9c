r"""SoftSRV on GSM8K: learn to generate grade-school math word problems (x = the question).

Command:
  python launch/train.py --config=configs/gsm8k.py --workdir=workdirs/gsm8k

Default (CPU) preset: SS_MC, t=16, x up to 64 Gemma tokens (of the first 1,500 questions, the ~950 that fit),
batch 8, 40 steps at lr 3e-3; the loss falls visibly within the first 20 steps (loss.png).
Measured 2026-12-02 (`launch/pipeline.py --config=configs/gsm8k.py --config.pipeline.answer=False
--config.pipeline.mauve=False`, 2 CPU cores shared with other jobs at lower priority): train 8.0 min (E pass over
951 questions, then 40 steps at ~8 s/step), generate 384 questions 4.8 min, postprocess 3 s: 3 exact duplicates,
0 questions sharing a 13-gram with the test fold (paper: < 0.1%), 192 kept.
A.3 on answered records (answer stage): 0 of 42 PT records of sweeps/softsrv_table5_gsm8k.py dropped (measured
2026-12-07; README "The data pipeline" has the three tasks).

Presets: paper (t=128, 20K steps, lr 5e-6, SS_MC 3x128, k=2), np | mp2 | mc; e.g. `configs/gsm8k.py:paper`.
"""
from softsrv.config import get_config as _get_config


def get_config(arg=None):
  return _get_config("gsm8k", arg)
