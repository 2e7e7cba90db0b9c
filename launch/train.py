r"""Train a SoftSRV embedding: `python launch/train.py --config=configs/mbpp.py [--workdir=DIR] [--config.x=y]`.

Thin entry point: flags -> `softsrv.train.train(config, workdir)`, or `nomad.teacher.train_teacher(config, workdir)`
when the config says `method = "nomad"` (configs/nomad.py). Re-running with the same work dir resumes from
its latest checkpoint; a work dir of another config is refused.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # Run from a checkout.

from absl import flags
from absl import logging
from ml_collections import config_flags

from datasynth import sharding
from datasynth.utils import cli
from nomad import teacher
from softsrv import train as train_lib

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/mbpp.py[:preset].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Work dir (default ./workdirs/<config name>[-<preset>]).")
_DISTRIBUTED = flags.DEFINE_bool("jax_distributed", False, "Call jax.distributed.initialize() (multi-host).")
flags.mark_flags_as_required(["config"])


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO; the progress bar says enough.
  sharding.maybe_initialize_distributed(_DISTRIBUTED.value)  # Before any other JAX call.
  workdir = _WORKDIR.value or cli.default_workdir(config_flags.get_config_filename(flags.FLAGS["config"]))
  if _CONFIG.value.get("method") == "nomad":  # NOMAD's teacher (configs/nomad.py).
    result = teacher.train_teacher(_CONFIG.value, workdir)
  else:
    result = train_lib.train(_CONFIG.value, workdir)
  last = [r for r in result.metrics if "loss" in r]
  if last:
    print(f"done: step {last[-1]['step']}, loss {last[-1]['loss']:.4f}; plot {os.path.join(workdir, 'loss.png')}")


if __name__ == "__main__":
  cli.run(main)
