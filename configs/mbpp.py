r"""SoftSRV on MBPP: learn to generate MBPP-style programming questions (x = the question text).

Command (the main job):
  python launch/train.py --config=configs/mbpp.py --workdir=workdirs/mbpp

Default (CPU) preset: SS_MC, t=16 soft tokens, x up to 32 Gemma tokens (3 of 374 longer questions skipped; 16
held out), batch 8, 60 Adam steps at lr 3e-3 (10 warmup, cosine), frozen H = embedded Gemma 3 270M, E = mean of
SmolLM2-135M's last-block states. Runtime: about 14 minutes on 2 CPU cores shared with other jobs (measured: ~1.5 min
setup incl. the E pass, then ~12 s/step at load average ~9; a 100-step run took 23 min), less on an idle machine.
Expected: held-out loss 3.87 -> ~2.2 at step 20 -> ~1.9 at step 40-60 nats/token (100 steps: 1.72); see loss.png.

Presets (after a colon, comma-separated): paper (t=128, 20K steps, lr 5e-6, SS_MC 3x128, k=2), np | mp2 | mc
(the variant), e.g. `--config=configs/mbpp.py:paper,mp2`. Fields override: `--config.train.steps=50`,
`--config.data.data_dir=/path/to/data`.
"""
from softsrv.config import get_config as _get_config


def get_config(arg=None):
  return _get_config("mbpp", arg)
