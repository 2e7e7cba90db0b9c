r"""SoftSRV parameterisations x prompt length x seed on MBPP: 4 x 2 x 2 = 16 SoftSRV training runs.

Command:
  python launch/sweep.py --sweep=sweeps/softsrv_variants.py [--parallel=2] [--dry_run]
  python launch/sweep.py --sweep=sweeps/softsrv_variants.py --mode=scripts   # Slurm / shell / XManager scripts
  python launch/report.py --workdir=workdirs/sweeps/softsrv_variants

Each run is `launch/train.py --config=configs/mbpp.py:<variant> --config.soft_prompt.t=<t> --config.seed=<seed>`
(SS_NP, SS_MP2, SS_MP4, SS_MC; t in {16, 64}; seeds 0 and 1), in workdirs/sweeps/softsrv_variants/<run>, e.g.
preset-mp2_t-16_seed-0. Results: results.md / results.csv (final loss and held-out loss per run) and
comparison.png (held-out loss over t, one line per variant and seed).
Runtime: not yet measured as a whole sweep. One run at t=16 is configs/mbpp.py's default (measured there: 7 min on
2 idle CPU cores, held-out loss 1.63 for SS_MC); t=64 makes every step longer, so the 16 runs take over 2 hours
sequentially on 2 cores: run it with --mode=scripts on a cluster, or cut train.steps for a quick look
(add sweep("train.steps", [30]) to the product: the run names then say steps-30).
"""
from experiments.sweep import product, sweep

LAUNCHER = "launch/train.py"  # Every run trains (finished: last step of metrics.jsonl, softsrv.results).
CONFIG = "configs/mbpp.py"  # --config=configs/mbpp.py:<preset>.
METRICS = ("loss", "heldout_loss")  # Columns plotted in comparison.png (the table keeps every metric).
PLOT_AXIS = "soft_prompt.t"  # comparison.png: lines over t, one per (variant, seed).


def get_sweep():
  return product(
      sweep("preset", ["np", "mp2", "mp4", "mc"]),  # SS_NP (Eq. 1), SS_MPk with k = 2, 4 (Eq. 2), SS_MC (Eq. 3).
      sweep("soft_prompt.t", [16, 64]),  # Soft tokens.
      sweep("seed", [0, 1]),
  )
