r"""Generate with a trained SoftSRV embedding: `python launch/generate.py --config=configs/mbpp.py --workdir=DIR`.

Uses the config and work dir of `launch/train.py` (the latest checkpoint); writes `generate.num_samples` items in
chunks of `generate.chunk` (`<out_dir>/chunk-XXXXX.jsonl` + `manifest.json`; default out_dir: <workdir>/generated).
Killed, it resumes when rerun with the same command. On a multi-host slice run the same command on every host with
--jax_distributed; each host makes the chunks c with c % process_count == process_index. Ends with a line of
items/s and tokens/s.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # Run from a checkout.

from absl import flags
from absl import logging
from ml_collections import config_flags

from datasynth import sharding
from datasynth.utils import cli
from softsrv import generate as generate_lib

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/mbpp.py[:preset].")
_WORKDIR = flags.DEFINE_string("workdir", None, "The training work dir (default ./workdirs/<config name>[-<preset>]).")
_OUT_DIR = flags.DEFINE_string("out_dir", None, "Where the chunk files go (default <workdir>/generated).")
_DISTRIBUTED = flags.DEFINE_bool("jax_distributed", False, "Call jax.distributed.initialize() (multi-host).")
flags.mark_flags_as_required(["config"])


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  sharding.maybe_initialize_distributed(_DISTRIBUTED.value)  # Before any other JAX call.
  workdir = _WORKDIR.value or cli.default_workdir(config_flags.get_config_filename(flags.FLAGS["config"]))
  out_dir = _OUT_DIR.value or generate_lib.default_out_dir(workdir)
  stats = generate_lib.generate(_CONFIG.value, workdir, out_dir)
  print(f"done: {stats.line()}; out dir {out_dir}", flush=True)


if __name__ == "__main__":
  cli.run(main)
