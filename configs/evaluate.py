"""Fine-tune a student on SFT records and evaluate it along the way (SoftSRV's downstream evaluation, Figure 3).

Run (CPU default: the embedded SmolLM2-135M-Instruct, 20 steps of 2 x 256 tokens, 20 test examples,
evaluated at steps 0, 10 and 20; a few minutes on 2 free cores):
  python launch/evaluate.py --config=configs/evaluate.py --task=mbpp --baseline --workdir=/tmp/eval/mbpp_base
  python launch/evaluate.py --config=configs/evaluate.py --task=gsm8k --records=/tmp/gen/gsm8k.jsonl \\
      --workdir=/tmp/eval/gsm8k_softsrv --mauve
SoftSRV Table 3's mixture (80% general instructions, here LIMA + Alpaca standing in for Gemma 2's post-training
data, 20% the records):
  python launch/evaluate.py --task=gsm8k --records=... --config.mix.general=lima,alpaca --workdir=...
Paper scale (SoftSRV Section 3.3 step 4: Gemma 2 2B from a local folder, batch 16 x 8192 packed tokens, lr warmed
up from 0 to 1e-6 over 100 steps then cosine, evaluated along the way and at the 2K checkpoint with MBPP 3-shot
pass@1, GSM8K 5-shot, BoolQ accuracy; `tests/softsrv/test_paper.py` holds every value to the paper):
  python launch/evaluate.py --config=configs/evaluate.py:paper --config.model=/path/to/gemma-2-2b ...
  python launch/evaluate.py --config=configs/evaluate.py:paper,table3 ...     # Table 3: 80/20 mixture, 10K steps
The CPU default departs from it (softsrv.paper.DEVIATIONS): SmolLM2-135M, 20 steps of 2 x 256 tokens at lr 2e-5,
20 test examples, zero-shot in the SFT template.
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
  """Presets (comma-separated): cpu (default), paper (SoftSRV Sec. 3.3 step 4), table3 (with paper: Table 3)."""
  c = ml_collections.ConfigDict()
  c.task = "mbpp"  # mbpp | gsm8k | boolq | triviaqa | mawps (Table 2: MAWPS for GSM8K students); --task overrides.
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
  c.eval.split = "test"  # Split evaluated (mbpp: test | validation; gsm8k, triviaqa, mawps: test; boolq: test | dev).
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

  presets = [p.strip() for p in (arg or "cpu").split(",") if p.strip()]
  for name in presets:
    if name == "cpu":
      pass  # Departs from the paper (softsrv.paper.DEVIATIONS): student SmolLM2-135M, 20 steps of 2 x 256 tokens at
      # lr 2e-5 (a 135M model learns nothing in 20 steps at 1e-6), 20 test examples, zero-shot in the SFT template.
    elif name == "paper":
      paper(c)
    elif name == "table3":  # Table 3: the same student on 80% general instructions + 20% task data, 10K steps.
      c.sft.steps = 10_000
      c.mix.general = "lima,alpaca"  # Stands in for the Gemma 2 post-training data (not public).
    else:
      raise UserError(f"Unknown preset {name!r} for configs/evaluate.py; use cpu, paper or paper,table3.")
  return c


def paper(c: ml_collections.ConfigDict) -> None:
  """SoftSRV Section 3.3 step 4 and Section 3.1 / A.1 (every value from `softsrv.paper.STUDENT`)."""
  c.model = "gemma-2b"  # "the target 2B Gemma 2 model": set to a local Gemma 2 2B folder (HF safetensors + tokenizer).
  c.sft.steps = 2000  # Tables 1-2: "evaluated at the 2K checkpoint" (Table 3: 10K, preset table3).
  c.sft.batch_size = 16  # "a batch-size of 16"
  c.sft.seq_len = 8192  # "with sequence length 8192" (examples packed: Section 3.5's "sequence packing").
  c.sft.pack = True
  c.sft.lr = 1e-6  # "linear warmup from 0 to 1e-6 over 100 steps, followed by a cosine annealing schedule"
  c.sft.warmup_steps = 100
  c.sft.decay = "cosine"
  c.sft.end_factor = 0.0
  c.sft.bf16 = True
  c.sft.log_every = 20
  c.sft.save_every = 500
  c.sft.keep = 2
  c.sft.eval_every = 250  # Figure 3: evaluated along the way; the last evaluation is the 2K checkpoint.
  c.eval.mode = "few_shot"  # MBPP 3-shot pass@1, GSM8K 5-shot pass@1, BoolQ accuracy (Sec. 3.1, A.1).
  c.eval.num_examples = 0  # The whole test fold.
  c.eval.max_new_tokens = 512
  c.eval.batch_size = 32
  c.eval.workers = 8
  c.mauve.num_examples = 0  # A.7: MAUVE on the whole folds, k = 32 clusters.
  c.mauve.num_clusters = 32
  c.mauve.max_tokens = 512
  c.mauve.batch_size = 32
