r"""SoftSRV on BoolQ: learn to generate passage + yes/no question pairs (x = passage + "\nQuestion: ...?").

Command:
  python launch/train.py --config=configs/boolq.py --workdir=workdirs/boolq

Default (CPU) preset: SS_MC, t=16, x up to 96 Gemma tokens (longer passages skipped: ~660 of 2,270 remain), batch
8, 30 steps at lr 3e-3; the loss falls visibly within the first 20 steps (loss.png). The paper preset keeps every
passage (truncated at 512 tokens).
Measured 2026-12-02 (`launch/pipeline.py --config=configs/boolq.py --config.pipeline.answer=False
--config.pipeline.mauve=False`, 2 CPU cores shared with other jobs, load 9-13): train 9.3 min (E pass over the
644 examples that fit, then 30 steps at ~13 s/step under that load), generate 384 passages + questions 7.1 min,
postprocess 4 s: 0 duplicates, 0 sharing a 13-gram with the test fold (paper: ~1%, from a model large enough to
reproduce Wikipedia passages; the briefly trained 270M generator writes new, mostly incoherent passages), 192 kept.
A.3 on answered records (answer stage, `stages/answer.json` `decontamination`), measured 2026-12-07 with
`--config.train.steps=15 --config.generate.num_samples=128 --config.postprocess.num_subsample=0
--config.pipeline.mauve=False`: 0 of 128 (passage + question, answer) records dropped, the longest word run shared
with the test fold 6 words (paper: ~1%); train 993 s, generate 559 s, answer 767 s at load 7-15 (README "The data
pipeline" has the three tasks).

Presets: paper (t=128, 20K steps, lr 5e-6, SS_MC 3x128, k=2), np | mp2 | mc; e.g. `configs/boolq.py:paper,np`.
"""
from softsrv.config import get_config as _get_config


def get_config(arg=None):
  return _get_config("boolq", arg)
