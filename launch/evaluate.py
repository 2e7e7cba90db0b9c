"""Fine-tune a student on SFT records (or the task's train set) and evaluate it at checkpoints along the way.

  python launch/evaluate.py --config=configs/evaluate.py --task=mbpp --baseline --workdir=/tmp/eval/mbpp_base
  python launch/evaluate.py --config=configs/evaluate.py --task=gsm8k --records=gen.jsonl --workdir=... --mauve

The SoftSRV paper's downstream evaluation: a student (default the embedded SmolLM2; paper scale Gemma 2B) is
fine-tuned with prompt masking on the synthetic records, and its task metric (MBPP pass@1, GSM8K accuracy, BoolQ
accuracy) is measured on a subset of the test split at step 0, every `sft.eval_every` steps and at the end (Figure 3:
metric vs steps). `--baseline` fine-tunes on the original train set instead. `--mauve` scores the records' prompts
against the train and test folds' prompts (Tables 4 and 5). Outputs: see configs/evaluate.py. Thin entry point:
flags -> `softsrv.evaluate.run`.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # Run from a checkout.

from absl import flags
from absl import logging as absl_logging

from datasynth import sharding
from datasynth.utils import cli
from softsrv import evaluate


def main(argv) -> None:
  del argv
  f = flags.FLAGS
  if not f.is_parsed() or f["verbosity"].present == 0:
    absl_logging.set_verbosity(absl_logging.WARNING)  # Orbax logs every file at INFO; --verbosity=0 shows it.
  sharding.maybe_initialize_distributed(f.jax_distributed)  # Before any other JAX call.
  evaluate.run(f.config, workdir=f.workdir, task=f.task, records_path=f.records, baseline=f.baseline,
               mauve=f.mauve, finetune=f.finetune)


def define_flags() -> None:
  default = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "evaluate.py")
  cli.define_config_file("config", default, "Evaluation config (default configs/evaluate.py).")
  flags.DEFINE_string("workdir", None, "Output folder (results, metrics, checkpoints); reruns resume.")
  flags.DEFINE_string("task", None, "mbpp | gsm8k | boolq | triviaqa | mawps (default: config.task).")
  flags.DEFINE_string("records", None, "SFT records (JSON Lines written by datasynth.utils.io.write_jsonl).")
  flags.DEFINE_bool("baseline", False, "Fine-tune on the task's original train set instead of --records.")
  flags.DEFINE_bool("mauve", False, "Also score the records' prompts against the train and test folds (MAUVE).")
  flags.DEFINE_bool("finetune", True, "Fine-tune and evaluate (--nofinetune with --mauve: MAUVE only).")
  flags.DEFINE_bool("jax_distributed", False, "Call jax.distributed.initialize() first (multi-host TPU/GPU).")
  flags.mark_flag_as_required("workdir")


if __name__ == "__main__":
  define_flags()
  cli.run(main)
