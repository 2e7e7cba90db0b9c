r"""SoftSRV on MBPP: learn to generate MBPP-style programming questions (x = the question text).

Command (the main job):
  python launch/train.py --config=configs/mbpp.py --workdir=workdirs/mbpp

Default (CPU) preset: SS_MC, t=16 soft tokens, x up to 32 Gemma tokens (3 of 374 longer questions skipped; 16
held out), batch 8, 150 Adam steps at lr 3e-3 (10 warmup, cosine), frozen H = embedded Gemma 3 270M, E = mean of
SmolLM2-135M's last-block states. Runtime: 7 minutes on 2 idle CPU cores (measured: 20 s of setup incl. the E pass,
then ~2.6 s/step).
Expected: held-out loss 3.87 -> 1.93 at step 30 -> 1.72 at step 90 -> 1.63 at step 150 nats/token; see loss.png.
Then `python launch/generate.py --config=configs/mbpp.py` samples generate.num_samples new questions.

Presets (after a colon, comma-separated): paper (t=128, 20K steps, lr 5e-6, SS_MC 3x128, k=2), np | mp2 | mc
(the variant), e.g. `--config=configs/mbpp.py:paper,mp2`. Fields override: `--config.train.steps=50`,
`--config.data.data_dir=/path/to/data`.
"""
from softsrv.config import get_config as _get_config


def get_config(arg=None):
  return _get_config("mbpp", arg)
