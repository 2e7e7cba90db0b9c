r"""The NOMAD pipeline: `python launch/nomad.py --config=configs/nomad.py[:presets] [--workdir=DIR] [--table1]`.

teacher -> generate from "User: " -> parse first rounds + filters -> NormSim in one work dir (nomad/pipeline.py); a
rerun skips finished stages and resumes an interrupted one. Ends with summary.md and dataset/ (the kept synthetic
conversations as a Hugging Face dataset folder whose card records this command line). With --table1: the unmasked
and the masked teacher, each with and without filters (sub-folders unmasked/ and masked/), ending in table1.md and
one NormSim figure (normsim.png), e.g. the CPU-scale Table 1:
  python launch/nomad.py --config=configs/nomad.py:table1 --table1 --workdir=workdirs/nomad-table1
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # Run from a checkout.

from absl import flags
from absl import logging
from ml_collections import config_flags

from datasynth.data import publish
from datasynth.utils import cli
from nomad import pipeline

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/nomad.py[:presets].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Work dir (default ./workdirs/pipeline-<config name>[-<presets>]).")
_TABLE1 = flags.DEFINE_bool("table1", False, "Run the unmasked and the masked teacher and write table1.md.")
flags.mark_flags_as_required(["config"])


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  workdir = _WORKDIR.value or cli.default_workdir(config_flags.get_config_filename(flags.FLAGS["config"]), "pipeline-")
  if _TABLE1.value:
    pipeline.run_table1(_CONFIG.value, workdir)
    print(f"done: {os.path.join(os.path.abspath(workdir), 'table1.md')}")
  else:
    pipeline.run(_CONFIG.value, workdir, command=publish.command_line(sys.argv))
    print(f"done: {os.path.join(os.path.abspath(workdir), 'summary.md')}")


if __name__ == "__main__":
  cli.run(main)
