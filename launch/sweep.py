r"""Run a sweep: `python launch/sweep.py --sweep=sweeps/softsrv_variants.py [--mode=local|scripts|collect]`.

  --mode=local    (default) runs every unfinished run as a subprocess, --parallel=N at a time, skipping finished
                  runs and resuming interrupted ones (each logs to <root>/<run>/sweep.log); then collects results.
  --mode=scripts  writes <root>/scripts/: a job script per run, array.sh, slurm.sbatch (#SBATCH --array),
                  slurm_submit.sh (slurm.sbatch per wave: runs that read another run's work dir go after it) and,
                  when the xmanager package is installed, xm_launch.py; runs nothing.
  --mode=collect  only collects: <root>/results.md, results.csv, comparison.png (after a cluster run).
  --dry_run       prints each run's action (skip / resume / start) and command; runs and writes nothing.
The root defaults to ./workdirs/sweeps/<sweep file name>. Thin entry point over `experiments.sweep`; the sweep-file
format is in sweeps/README.md. Then `python launch/report.py --workdir=<root>` renders the sweep as one HTML page.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # Run from a checkout.

from absl import flags

from datasynth.utils import cli
from datasynth.utils.errors import UserError
from experiments import sweep as sweep_lib

_SWEEP = flags.DEFINE_string("sweep", None, "Sweep file, e.g. sweeps/softsrv_variants.py.")
_MODE = flags.DEFINE_enum("mode", "local", ["local", "scripts", "collect"], "Run locally, write scripts, or collect.")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Local mode: runs at a time.")
_ROOT = flags.DEFINE_string("root", None, "Sweep root (default ./workdirs/sweeps/<sweep name>).")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print what each run would do and its command; run nothing.")
_PLOT_AXIS = flags.DEFINE_string("plot_axis", None, "Override key to plot lines over (default: the sweep file's "
                                 "PLOT_AXIS, else a bar per run).")
flags.mark_flags_as_required(["sweep"])


def main(argv):
  del argv
  try:
    return sweep_lib.command(_SWEEP.value, mode=_MODE.value, parallel=_PARALLEL.value, root=_ROOT.value,
                             dry_run=_DRY_RUN.value, plot_axis=_PLOT_AXIS.value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  cli.run(main)
