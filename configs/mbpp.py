r"""SoftSRV on MBPP: learn to generate MBPP-style programming questions (x = the question text).

Command (the main job):
  python launch/train.py --config=configs/mbpp.py --workdir=workdirs/mbpp

Default (CPU) preset: SS_MC, t=16 soft tokens, x up to 48 Gemma tokens (longer questions skipped), batch 8, 150 Adam
steps at lr 3e-3 (cosine), frozen H = embedded Gemma 3 270M, E = mean of SmolLM2-135M's last-block states.
Runtime: about 12 minutes on 2 shared CPU cores (~4.5 s/step); the training loss falls from ~3.6 to ~2 nats/token
and the held-out loss follows (see loss.png and metrics.jsonl in the work dir).

Presets (after a colon, comma-separated): paper (t=128, 20K steps, lr 5e-6, SS_MC 3x128, k=2), np | mp2 | mc
(the variant), e.g. `--config=configs/mbpp.py:paper,mp2`. Fields override: `--config.train.steps=50`,
`--config.data.data_dir=/path/to/data`.
"""
from softsrv.config import get_config as _get_config


def get_config(arg=None):
  return _get_config("mbpp", arg)
