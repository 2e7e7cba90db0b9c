"""The NOMAD teacher's run configuration: one base `ConfigDict` (configs/nomad.py) plus presets.

`get_config(arg)`: `arg` is the text after the colon of `--config=configs/nomad.py:ARG`, a comma-separated list of
presets applied in order:
  cpu (default)   the embedded Gemma 3 270M base, a 128-conversation Alpaca subset, 1 epoch of 4 x 256 tokens;
  paper           the paper's recipe (Chen et al., Sec. 4, A.1-A.2): a random 15K subset of the TULU v2 mixture,
                  teacher 2 epochs at lr 2e-5, batch 128; 30K generations (temperature 1, top-p 0.9); NormSim
                  against the whole mixture; students with prompt masking, 4 epochs at lr 2e-5, batch 128, against
                  X_train at 4 and 8 epochs, scored on Table 1's suite (nomad/paper.py lists every setting);
  unmasked        loss on every token, the NOMAD teacher (default);
  masked          loss on assistant turns only (the paper's baseline teacher);
  subsetN         subset_size = N conversations (subset0 = all), e.g. `:cpu,masked,subset500`;
  filtered        the pipeline's downstream set (student, headline NormSim) is the filtered one (default);
  unfiltered      ... the parsed first rounds without the repetition / coding filters;
  table1          the CPU-scale Table 1 (`launch/nomad.py --table1`): LoRA teacher on 64 Alpaca conversations,
                  32 steps of 4 x 128 tokens, 96 generations of <= 96 tokens, students scored on 160 TriviaQA
                  questions, 3-shot BBH without CoT (4 tasks x 100) and TruthfulQA generation (100 questions)
                  (sweeps/nomad_table1.py has the measured times and tables);
  tiny            a toy size for tests and smoke runs (2 teacher steps, 8 generations of 32 tokens).
The `sft` section holds `datasynth.train.sft.SFTConfig` fields; it starts from the dataclass defaults and the presets
set only what differs (defaults are stated once, in the dataclass).
"""
from __future__ import annotations

import dataclasses
import re

import ml_collections

from datasynth.train import sft
from datasynth.utils.errors import UserError
from nomad import filters
from nomad.conversations import ChatFormat
from nomad.student import WHOLE_TEST_SETS, student_section


# Table 1's evaluation suite (Sec. 4.1, A.3): TriviaQA, TruthfulQA generation, BBH 3-shot without and with CoT,
# GSM8K, IFEval (prompt-level loose).
PAPER_TASKS = ("triviaqa,lm_eval:truthfulqa_local_gen,lm_eval:bbh_local_fewshot,lm_eval:bbh_local_cot_fewshot,gsm8k,"
               "lm_eval:ifeval")


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.method = "nomad"  # The method this config drives (launchers dispatch on it).
  c.model = "gemma3-270m"  # Teacher M_synthesis: a *pretrained* (base) model; preset name or checkpoint folder.

  c.data = ml_collections.ConfigDict()  # nomad.conversations.ChatDataConfig.
  c.data.source = "alpaca"  # lima | alpaca (shared data folder) | tulu_v2 (the paper's: allenai/tulu-v2-sft-mixture)
  # | path to JSON Lines of {prompt, response}/{messages}.
  c.data.data_dir = ""  # Data folder for lima/alpaca/tulu_v2; "" -> $DATASYNTH_DATA, else ../shared/data (not bundled).
  c.data.file = ""  # tulu_v2: its JSON Lines, hub clone / save_to_disk folder, .arrow or .parquet file ("" = look
  # for <data dir>/tulu_v2/tulu_v2_data.jsonl, then an HF copy in <data dir>/tulu_v2/).
  c.data.subset_size = 128  # Conversations drawn (seeded) for the teacher; 0 = all. Paper: 15K of TULU v2's 300K.
  c.data.seed = 0  # Seed of the subset draw.
  c.data.pool_size = 0  # The source's first N conversations are the whole pool (0 = all; paper: all of TULU v2): what
  # the subset is drawn from, NormSim's reference (normsim.reference = pool) and Table 2's X_train (student.x_train).

  c.format = ml_collections.ConfigDict(dataclasses.asdict(ChatFormat()))  # The unified template's pieces:
  # user_prefix "User: ", assistant_prefix "Assistant: ", separator / turn_separator "\n\n"
  # (datasynth.train.sft.CHAT_*).

  c.teacher = ml_collections.ConfigDict()
  c.teacher.epochs = 1.0  # Passes over the subset; sets sft.steps when > 0 (paper: 2). 0: use sft.steps as given.

  c.sft = ml_collections.ConfigDict(dataclasses.asdict(sft.SFTConfig()))  # datasynth.train.sft.SFTConfig fields.
  c.sft.prompt_masking = False  # NOMAD: no prompt masking (loss on user and assistant turns); preset masked: True.
  c.sft.batch_size = 4  # Packed rows per step.
  c.sft.seq_len = 256  # Tokens per row; longer conversations are cut.
  c.sft.lr = 2e-5  # Paper: 2e-5.
  c.sft.warmup_steps = 2  # Linear warmup.
  c.sft.save_every = 50  # Checkpoint cadence (steps).
  c.sft.keep = 1  # Checkpoints kept (Gemma 3 270M's full state is ~3 GB).

  c.generate = ml_collections.ConfigDict()  # nomad.generate.GenerateConfig: sampling from the bare "User: ".
  c.generate.num_samples = 256  # Conversations generated (paper: 30K raw).
  c.generate.chunk_size = 32  # Items per chunk file (datasynth.jobs.chunked; the resume unit).
  c.generate.batch_size = 16  # Rows per sampling batch (does not change any sample).
  c.generate.batching = "continuous"  # continuous (slots refilled as rows end) | static (decode.text.sample_text).
  c.generate.max_new_tokens = 256  # Token budget per conversation; rows that hit it are "incomplete".
  c.generate.temperature = 1.0  # Paper: 1.
  c.generate.top_p = 0.9  # Paper: 0.9 (nucleus).
  c.generate.top_k = 0  # 0 = off.
  c.generate.seed = 0  # Item j samples from fold_in(key(seed), j): any split, batch or resume gives the same text.
  c.generate.strip_prefix_space = True  # Feed "User:" (the prefix's trailing space removed) so a BPE tokenizer
  # writes the space fused to the first word, as in training; False feeds "User: " as is.
  c.generate.stop_after_first_round = True  # Stop at the next "\nUser:" (only the first round is kept anyway):
  # saves compute; a second user turn before any assistant turn then counts as missing_assistant.

  c.filters = ml_collections.ConfigDict()  # nomad.filters configs (RepetitionConfig, CodingConfig fields).
  c.filters.repetition = ml_collections.ConfigDict(
      {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(filters.RepetitionConfig()).items()})
  c.filters.coding = ml_collections.ConfigDict(
      {k: list(v) for k, v in dataclasses.asdict(filters.CodingConfig()).items()})

  c.normsim = ml_collections.ConfigDict()  # datasynth.evals.normsim: synthetic vs the original data.
  c.normsim.encoder = ""  # Sentence-encoder folder (HF BERT / MPNet); "" = the embedded all-MiniLM-L6-v2 (paper:
  # all-mpnet-base-v2; ours for CPU speed: point this at an all-mpnet-base-v2 folder to follow it).
  c.normsim.reference = "subset"  # X_original: pool (the whole source, the paper's X_TULU; preset paper) | subset (the
  # teacher's subset: ours, so a CPU run encodes 64-128 conversations, not the source's ~1K).
  c.normsim.batch_size = 64  # Encoder batch.

  c.pipeline = ml_collections.ConfigDict()  # nomad.pipeline: which stages run and what feeds downstream.
  c.pipeline.filtered = True  # Downstream set: the filtered first rounds (True) or all parsed ones (False).
  c.pipeline.student = True  # Run the student stage (nomad.student: X_train + X_synthesis vs X_train).

  c.student = student_section()  # nomad.student: the student's model, SFT fields, tasks and test-subset sizes.
  c.show_progress = True  # Progress bars.
  return c


def apply_presets(c: ml_collections.ConfigDict, arg: str) -> ml_collections.ConfigDict:
  for name in [p.strip() for p in (arg or "").split(",") if p.strip()]:
    subset = re.fullmatch(r"subset(\d+)", name)
    if name == "cpu":
      pass
    elif name == "paper":  # Sec. 4.1 and A.1-A.2; every setting and departure is in nomad/paper.py.
      c.data.source = "tulu_v2"  # The TULU v2 mixture (--config.data.file or <data dir>/tulu_v2).
      c.data.subset_size = 15000  # Paper: a 15K subset beat training on all 300K.
      c.teacher.epochs = 2.0
      c.sft.batch_size = 128
      c.sft.seq_len = 2048  # Ours (the paper does not state it).
      c.sft.warmup_steps = 10  # Ours.
      c.sft.bf16 = True
      c.sft.log_every = 10
      c.sft.save_every = 100
      c.sft.keep = 2
      c.generate.num_samples = 30000  # "30K raw data ... 25K valid".
      c.generate.max_new_tokens = 2048  # Ours (not stated): the teacher's row length.
      c.generate.batch_size = 64  # Throughput only (no sample changes).
      c.normsim.reference = "pool"  # NormSim against the whole X_TULU (Sec. 4.3).
      c.normsim.batch_size = 256
      s = c.student
      s.epochs = 4.0  # 15K X_train: 4 epochs; the equal-compute baseline gets 8 (student.baselines = both).
      s.sft.batch_size = 128
      s.sft.seq_len = 2048  # Ours.
      s.sft.warmup_steps = 10  # Ours.
      s.sft.bf16 = True
      s.sft.log_every = 10
      s.tasks = PAPER_TASKS
      s.num_examples.update(WHOLE_TEST_SETS)  # The whole evaluation sets.
      s.lm_eval_limit = 0  # Every document.
      s.max_new_tokens.update(gsm8k=256, triviaqa=32)
      s.batch_size = 32
    elif name in ("masked", "unmasked"):
      c.sft.prompt_masking = name == "masked"
    elif subset:
      c.data.subset_size = int(subset.group(1))
    elif name in ("filtered", "unfiltered"):
      c.pipeline.filtered = name == "filtered"
    elif name == "table1":
      c.data.subset_size = 64
      c.teacher.epochs = 0.0  # Steps as given (64 conversations are ~20 rows of 128 tokens: 32 steps ~ 6 epochs;
      # 8 steps, ~1.5 epochs, left the teacher without the format: 2 of 96 valid first rounds).
      c.sft.steps = 32
      c.sft.seq_len = 128
      c.sft.lora_rank = 8  # LoRA on q, v: a few MB of Adam state instead of ~3 GB.
      c.sft.lr = 2e-3  # LoRA learns at a higher rate than full fine-tuning (ours).
      c.sft.log_every = 2
      c.generate.num_samples = 96
      c.generate.max_new_tokens = 96
      c.generate.batch_size = 32  # One batch per chunk of 32 items: 1.27x batch 16's rate here, the same samples.
      # The paper's Table 1 scores BBH and TruthfulQA among others: here BBH 3-shot without CoT on four short-prompt
      # tasks (the group of datasynth.evals.lm_eval_tasks.BBH_CPU_TASKS) and TruthfulQA generation, each on its first
      # `lm_eval_limit` documents per task (BBH 4 x 100, TruthfulQA 100: ~3 min of scoring per student here), beside
      # TriviaQA. The untrained 135M student scores 0 of 48 on GSM8K: no signal at this size.
      c.student.tasks = "triviaqa,lm_eval:bbh_local_fewshot_cpu,lm_eval:truthfulqa_local_gen"
      c.student.lm_eval_limit = 100
      c.student.num_examples.triviaqa = 160
      c.student.batch_size = 16  # Shots prefilled once (lm.greedy_generator): 16 rows decode faster than 8 here.
      c.student.sft.lora_rank = 8  # A LoRA student (ours; the paper fine-tunes it fully): ~2x faster steps here.
      c.student.sft.lr = 1e-3
    elif name == "tiny":
      c.data.subset_size = 8
      c.teacher.epochs = 0.0
      c.sft.steps = 2
      c.sft.seq_len = 64
      c.sft.batch_size = 2
      c.sft.warmup_steps = 1
      c.sft.log_every = 1
      c.generate.num_samples = 8
      c.generate.chunk_size = 4
      c.generate.batch_size = 4
      c.generate.max_new_tokens = 32
      c.pipeline.student = False  # tests/nomad/test_student.py runs the student stage at its own toy size.
      c.show_progress = False
    else:
      raise UserError(f"Unknown configs/nomad.py preset {name!r}; expected cpu, paper, masked, unmasked, subsetN "
                       "(e.g. subset500), filtered, unfiltered, table1 or tiny.")
  return c


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return apply_presets(base_config(), arg or "")
