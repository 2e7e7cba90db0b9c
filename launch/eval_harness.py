r"""Score a model on lm-evaluation-harness tasks through this project's decoders (datasynth.evals.lm_eval_adapter).

  python launch/eval_harness.py --model=smollm2-135m --tasks=bbh_local_fewshot,truthfulqa_local_gen --limit=50 \
      --output_path=workdirs/lm_eval/smollm2
  python launch/eval_harness.py --model=workdirs/nomad/student/runs/train --tasks=ifeval  # an SFT work dir, lm-eval's

--model: a preset (smollm2-135m, gemma3-270m), a GGUF file, an HF or Orbax model folder, or an SFT work dir (its
latest checkpoint on its base model). --tasks: lm-eval task or group names (the shipped ones: bbh_local_cot_fewshot,
bbh_local_fewshot, truthfulqa_local_gen, boolq_local, gsm8k_local; lm-eval's own, e.g. ifeval or mmlu, when their data
is in the local Hugging Face cache) or YAML files; --include_path adds a folder of task YAMLs. Nothing is downloaded
(HF_HUB_OFFLINE / HF_DATASETS_OFFLINE are set). Prints a table; --output_path gets results.json, results.md and, with
--log_samples, samples_<task>.jsonl.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # Run from a checkout.

from absl import flags
from absl import logging

from datasynth.utils import cli

_MODEL = flags.DEFINE_string("model", "smollm2-135m", "Preset, model file or folder, or SFT work dir.")
_TASKS = flags.DEFINE_list("tasks", [], "lm-eval task or group names (or YAML files), comma-separated.")
_NUM_FEWSHOT = flags.DEFINE_integer("num_fewshot", None, "Shots per prompt (default: each task's own).")
_LIMIT = flags.DEFINE_float("limit", None, "Documents per task: a count, or a fraction < 1.")
_INCLUDE_PATH = flags.DEFINE_string("include_path", None, "A folder of extra task YAML files.")
_OUTPUT_PATH = flags.DEFINE_string("output_path", None, "Folder for results.json / results.md (samples too).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 8, "Rows per scoring call; sampler slots.")
_MAX_GEN_TOKS = flags.DEFINE_integer("max_gen_toks", 256, "Generation budget of tasks that set none.")
_MAX_LENGTH = flags.DEFINE_integer("max_length", None, "Context length used (default: the model's, at most 4096).")
_GEN_KWARGS = flags.DEFINE_string("gen_kwargs", None, "lm-eval's generation overrides, e.g. max_gen_toks=64.")
_LOG_SAMPLES = flags.DEFINE_bool("log_samples", False, "Keep every prompt and response (written with --output_path).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Data folder for the shipped tasks (default: the usual search).")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "Compute dtype.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of lm-eval's shot sampling and of sampled generation.")


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from datasynth.evals import lm_eval_adapter  # optional dependency: lm-eval (imported by lm_eval_adapter)
  lm_eval_adapter.run(_MODEL.value, lm_eval_adapter.task_names(_TASKS.value), output_path=_OUTPUT_PATH.value,
                      num_fewshot=_NUM_FEWSHOT.value, limit=_LIMIT.value, include_path=_INCLUDE_PATH.value,
                      batch_size=_BATCH_SIZE.value, max_gen_toks=_MAX_GEN_TOKS.value, data_dir=_DATA_DIR.value,
                      gen_kwargs=_GEN_KWARGS.value, log_samples=_LOG_SAMPLES.value, seed=_SEED.value,
                      dtype=_DTYPE.value, max_length=_MAX_LENGTH.value)


if __name__ == "__main__":
  cli.run(main)
