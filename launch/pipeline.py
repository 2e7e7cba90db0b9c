r"""The whole SoftSRV data pipeline: `python launch/pipeline.py --config=configs/mbpp.py [--workdir=DIR]`.

train -> generate -> postprocess -> answer -> MAUVE in one work dir (softsrv/pipeline.py); the method is
`--config.pipeline.method=softsrv|pt|pt_undiversified|pt_sr`. A rerun skips finished stages and resumes an
interrupted one; a changed config reruns the stages it affects. Ends with summary.md (a table per stage and MAUVE)
and dataset/, a Hugging Face dataset folder whose card records this command line.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # Run from a checkout.

from absl import flags
from absl import logging
from ml_collections import config_flags

from datasynth.data import publish
from datasynth.utils import cli
from softsrv import pipeline

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/mbpp.py[:preset].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Work dir (default ./workdirs/pipeline-<config name>[-<preset>]).")
flags.mark_flags_as_required(["config"])


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  config = _CONFIG.value
  workdir = _WORKDIR.value or cli.default_workdir(config_flags.get_config_filename(flags.FLAGS["config"]), "pipeline-")
  if config.pipeline.method != "softsrv":
    workdir = _WORKDIR.value or f"{workdir}-{config.pipeline.method}"
  pipeline.run(config, workdir, command=publish.command_line(sys.argv))
  print(f"done: {os.path.join(os.path.abspath(workdir), 'summary.md')}")


if __name__ == "__main__":
  cli.run(main)
