"""Fine-tune a student on SFT records and evaluate it along the way (SoftSRV's downstream evaluation, Figure 3).

Run (CPU default: the embedded SmolLM2-135M-Instruct, 20 steps of 2 x 256 tokens, 20 test examples,
evaluated at steps 0, 10 and 20; a few minutes on 2 free cores):
  python launch/evaluate.py --config=configs/evaluate.py --task=mbpp --baseline --workdir=/tmp/eval/mbpp_base
  python launch/evaluate.py --config=configs/evaluate.py --task=gsm8k --records=/tmp/gen/gsm8k.jsonl \\
      --workdir=/tmp/eval/gsm8k_softsrv --mauve
SoftSRV Table 3's mixture (80% general instructions, here LIMA + Alpaca standing in for Gemma 2's post-training
data, 20% the records):
  python launch/evaluate.py --task=gsm8k --records=... --config.mix.general=lima,alpaca --workdir=...
Paper scale (Gemma 2B from a local folder, bfloat16, on an accelerator mesh):
  python launch/evaluate.py --config=configs/evaluate.py:paper --config.model=/path/to/gemma-2b ...
Any field can be overridden: --config.sft.steps=200 --config.eval.num_examples=100.

Writes under --workdir: results.md and results.json (metric per evaluated step, final and best), metric_vs_steps.png,
metrics.jsonl + TensorBoard events (loss, lr, eval/<metric>), loss.png, eval/step_<N>.jsonl (the student's outputs),
checkpoints/ (a rerun with the same work dir resumes). With --mauve: MAUVE of the records' prompts against the train
and test folds' prompts, and mauve.png (the divergence curves).
"""
import dataclasses

import ml_collections

from datasynth.train import sft
from datasynth.utils.errors import UserError


def get_config(arg: str = "cpu") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = "mbpp"  # mbpp | gsm8k | boolq | triviaqa; --task overrides.
  c.data_dir = ""  # Benchmark data folder; "" -> $DATASYNTH_DATA, else ../shared/data, then the bundled copy.
  c.model = "smollm2-135m"  # Student: a preset name (smollm2-135m, gemma3-270m) or a checkpoint folder.
  c.compilation_cache = True  # Persist compiled programs under <workdir>/jax_cache (evaluations recompile less).
  c.max_records = 0  # Fine-tune on at most this many records (first N); 0: all.
  c.mbpp_tests_in_prompt = True  # MBPP: append a record's test asserts (when it has them) to its prompt, so the
  # student sees the function name it must define, in training and evaluation alike.

  # datasynth.train.sft.SFTConfig: the dataclass's defaults (each field is commented there), then what a student run
  # here changes. Defaults kept: pack, prompt masking on (a student learns the response only), the "plain" template +
  # EOS, truncation, cosine decay, AdamW without weight decay, clip 1.0, float32, no LoRA, seed 0.
  c.sft = ml_collections.ConfigDict(dataclasses.asdict(sft.SFTConfig()))
  c.sft.steps = 20
  c.sft.batch_size = 2
  c.sft.seq_len = 256
  c.sft.lr = 2e-5
  c.sft.warmup_steps = 2
  c.sft.end_factor = 0.1  # Final lr = 0.1 lr.
  c.sft.log_every = 5
  c.sft.save_every = 10
  c.sft.keep = 1  # Full fine-tuning state of SmolLM2: ~1.6 GB per checkpoint.
  c.sft.eval_every = 10  # Evaluate at step 0, every 10 steps and at the end.

  # SoftSRV Table 3: the student trains on a fixed mixture of general instruction data and the task records
  # (datasynth.data.mixture: exact quotas, seeded). Off when mix.general is empty.
  c.mix = ml_collections.ConfigDict()
  c.mix.general = ""  # Comma-separated general sources: lima, alpaca (../shared/data/instruct), e.g. "lima,alpaca".
  c.mix.general_share = 0.8  # Share of general records in the mixture (Table 3: 80% general, 20% task data).
  c.mix.num_records = 0  # Mixture size; 0: as many as keep every task record once at its share.
  c.mix.seed = 0  # The draw.

  c.eval = ml_collections.ConfigDict()
  c.eval.split = "test"  # Split evaluated (mbpp: test | validation; gsm8k: test; boolq: test | dev; triviaqa: test).
  c.eval.num_examples = 20  # Random subset of the split (fixed by eval.seed); 0: the whole split.
  c.eval.seed = 0  # Subset choice.
  c.eval.mode = "sft"  # "sft": zero-shot in the SFT template (what the student was trained on);
  # "few_shot": the harnesses' standard few-shot prompts (MBPP 3-shot, GSM8K 5-shot, BoolQ zero-shot "Answer:").
  c.eval.max_new_tokens = 192  # Generation budget per example (MBPP, GSM8K).
  c.eval.batch_size = 4  # Generation / scoring batch.
  c.eval.workers = 2  # MBPP: parallel sandboxed test runs.

  c.mauve = ml_collections.ConfigDict()  # --mauve: records' prompts vs the task's train and test prompts.
  c.mauve.model = ""  # Feature model (mean-pooled final hidden states); "" -> the student's base model.
  c.mauve.num_examples = 200  # Texts per side (random subsets, fixed by mauve.seed).
  c.mauve.num_clusters = 0  # k-means clusters; 0 -> one per 10 samples of the smaller side. Paper: 32.
  c.mauve.max_tokens = 256  # Texts truncated to this many tokens for features.
  c.mauve.batch_size = 8  # Feature batch.
  c.mauve.seed = 0  # Subset choice.

  if arg == "cpu":
    pass
  elif arg == "paper":
    # Paper scale. The student is Gemma 2B (SoftSRV, Sec. 5); the fine-tuning hyperparameters below are this
    # project's choices for that model size, not values stated in the paper.
    c.model = "gemma-2b"  # Set to a local Gemma 2B checkpoint folder (HF safetensors + tokenizer).
    c.sft.steps = 5000
    c.sft.batch_size = 64
    c.sft.seq_len = 1024
    c.sft.lr = 5e-6
    c.sft.warmup_steps = 100
    c.sft.end_factor = 0.0
    c.sft.bf16 = True
    c.sft.log_every = 20
    c.sft.save_every = 500
    c.sft.eval_every = 500
    c.eval.num_examples = 0
    c.eval.max_new_tokens = 512
    c.eval.batch_size = 32
    c.eval.workers = 8
    c.mauve.num_examples = 2000
    c.mauve.num_clusters = 32
    c.mauve.max_tokens = 512
    c.mauve.batch_size = 32
  else:
    raise UserError(f"Unknown preset {arg!r} for configs/evaluate.py; use cpu or paper.")
  return c
