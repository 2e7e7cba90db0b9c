r"""One page for a work dir: `python launch/report.py --workdir=DIR [--out_dir=DIR] [--num_examples=10] [--seed=0]`.

Writes DIR/report.html (self-contained: PNGs inline, all text escaped; open it in any browser) and DIR/report.md
for a pipeline, NOMAD, sweep, train or evaluate work dir (detected from its files; see experiments/report.py): the
config, each stage's counts (kept / dropped by reason), the final metrics, the figures, and seeded random generated
examples beside real ones from the task's train fold. Thin entry point over `experiments.report`.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # Run from a checkout.

from absl import flags

from datasynth.utils import cli
from datasynth.utils.errors import UserError
from experiments import report

_WORKDIR = flags.DEFINE_string("workdir", None, "Work dir of a pipeline, NOMAD, sweep, train or evaluate run.")
_OUT_DIR = flags.DEFINE_string("out_dir", None, "Where report.html / report.md go (default: the work dir).")
_NUM = flags.DEFINE_integer("num_examples", 10, "Generated and real examples shown (each).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the example draw.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Data folder for the real examples (default: the config's).")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv
  try:
    html_path, md_path = report.write_report(_WORKDIR.value, _OUT_DIR.value, num_examples=_NUM.value,
                                             seed=_SEED.value, data_dir=_DATA_DIR.value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"done: {html_path} (and {os.path.basename(md_path)})")
  return 0


if __name__ == "__main__":
  cli.run(main)
