"""The SoftSRV run configuration: one base `ConfigDict` shared by configs/{mbpp,gsm8k,boolq}.py, plus presets.

A config file calls `get_config(task, arg)`; `arg` is the text after the colon of `--config=configs/mbpp.py:ARG`,
a comma-separated list of presets applied in order:
  (empty) / cpu  the small default that trains on a 2-core CPU in minutes (sizes in `CPU_DEFAULTS`).
  paper          the paper's settings: t=128, 20K steps, Adam lr 5e-6, SS_MC MLPs 3 x 128, k=2 for SS_MPk.
  sweep          the papers' experiments at CPU scale (sweeps/): questions only (no answer stage), 256 generated,
                 N_s = 128 kept, MAUVE on 128 texts a side, MBPP trained 60 steps (GSM8K and BoolQ keep theirs).
  np | mpK | mc  the parameterisation: SS_NP, SS_MPk (k basis prompts, e.g. mp2), SS_MC.
e.g. `configs/gsm8k.py:paper,mp2`. Any field can then be overridden: `--config.train.steps=50`.
"""
from __future__ import annotations

import math
import os
import re
from typing import Sequence

import ml_collections

from datasynth.data import sources
from datasynth.models.loaders import check_name
from datasynth.train.loop import without_fields
from datasynth.utils.errors import UserError
from datasynth.utils.io import check_workdir
from softsrv.baselines import baseline_config


# Per-task CPU default sizes: max token length of x (H's tokens incl. BOS and EOS), steps, examples read.
CPU_DEFAULTS = {
    "mbpp": dict(max_len=32, steps=150, limit=0),
    "gsm8k": dict(max_len=64, steps=40, limit=1500),  # ~480 questions fit 64 tokens: a short E pass.
    "boolq": dict(max_len=96, steps=30, limit=0),
}

# Where this config keeps the train loop's restart-safe fields (`datasynth.train.loop.Cadence`).
CADENCE_FIELDS = {"log_every": "train.log_every", "eval_every": "train.eval_every",
                  "save_every": "checkpoint.save_every", "keep": "checkpoint.keep",
                  "stop_grace_s": "train.stop_grace_s"}
# Fields that may change between restarts of one run (they do not change what is trained): the loop's cadence, the
# step budget, and the settings of the stages after training.
MUTABLE_FIELDS = ("train.steps", "train.stop_after", *CADENCE_FIELDS.values(), "data.data_dir", "show_progress",
                  "generate", "model.scan_layers", "context.cache_dir", "pipeline", "baseline", "postprocess", "answer",
                  "mauve")


def without_mutable_fields(d: dict) -> dict:
  """A config dict (`config.to_dict()`) minus MUTABLE_FIELDS, in place and returned: what a run's identity hashes."""
  return without_fields(d, MUTABLE_FIELDS)


def base_config(task: str) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = task  # Which data set x comes from: mbpp | gsm8k | boolq (Record.prompt of its records).
  c.seed = 0  # Seeds theta's initialisation, the data order and the RNG stream.
  c.show_progress = True  # Progress bars (tqdm).

  c.data = ml_collections.ConfigDict()
  c.data.data_dir = ""  # Benchmark data folder; "" -> $DATASYNTH_DATA, else ../shared/data, then the bundled copy.
  c.data.split = "train"  # Split whose prompts are x.
  c.data.file = ""  # Optional JSON Lines of records ({"prompt": ..., "response": ...}) used instead of the task.
  c.data.limit = CPU_DEFAULTS[task]["limit"]  # Use only the first N examples (0 = all).
  c.data.max_len = CPU_DEFAULTS[task]["max_len"]  # Max tokens of x in H's tokenizer (BOS + text + EOS).
  c.data.too_long = "skip"  # x longer than max_len: error | skip | truncate.
  c.data.add_eos = True  # Append EOS so the generator learns where an example ends.
  c.data.heldout = 16  # Examples held out of training (the last N) for the held-out loss.

  c.model = ml_collections.ConfigDict()
  c.model.name = "gemma3-270m"  # The frozen decoder H: preset name, GGUF file, HF folder or Orbax folder.
  c.model.dtype = "float32"  # Frozen weights and compute: float32 | bfloat16 (theta and Adam stay float32).
  c.model.remat = False  # Recompute H's blocks in the backward pass (less memory, more time).
  c.model.scan_layers = False  # Training: H's layers as one lax.scan (flat compile time) or unrolled (faster).

  c.context = ml_collections.ConfigDict()
  c.context.model = "smollm2-135m"  # The sequence embedder E's small decoder LM.
  c.context.layer = -1  # Representation averaged: 0 = input embeddings, i = block i's output, -1 = last block.
  c.context.projection_dim = 0  # Fixed random projection to this d_e (0 = keep E's width).
  c.context.normalize = True  # Per-example RMS normalisation of z.
  c.context.max_len = 256  # Tokens of x that E reads (longer x are embedded from their first tokens).
  c.context.batch_size = 32  # Batch size of the (jitted, cached) E pass.
  c.context.cache_dir = ""  # Where E(x) is memoised (datasynth.jobs.memo); "" = <workdir>/context. Sweeps share one.

  c.soft_prompt = ml_collections.ConfigDict()
  c.soft_prompt.variant = "mc"  # np (SS_NP, Eq. 1) | mp (SS_MPk, Eq. 2) | mc (SS_MC, Eq. 3).
  c.soft_prompt.t = 16  # Soft tokens in the prompt.
  c.soft_prompt.k = 2  # SS_MPk: number of basis prompts.
  c.soft_prompt.hidden = 128  # SS_MC: hidden width of each MLP.
  c.soft_prompt.num_layers = 3  # SS_MC: dense layers per MLP.
  c.soft_prompt.init = "vocab"  # Token init: vocab (embedded tokens of the training data) | normal (embedding RMS).
  c.soft_prompt.out_scale = 0.1  # SS_MC: initial scale of the z-dependent part relative to a token.

  c.train = ml_collections.ConfigDict()
  c.train.steps = CPU_DEFAULTS[task]["steps"]  # Optimizer steps.
  c.train.batch_size = 8  # Global batch (examples); a multiple of the number of devices.
  c.train.lr = 3e-3  # Peak learning rate.
  c.train.warmup_steps = 10  # Linear warmup steps.
  c.train.decay = "cosine"  # After warmup: constant | cosine | linear.
  c.train.end_factor = 0.1  # Final lr = end_factor * lr (cosine/linear).
  c.train.optimizer = "adam"  # adam | adamw.
  c.train.clip_norm = 1.0  # Global gradient-norm clipping (0 = off).
  c.train.loss_chunk = 0  # Positions per logits chunk in the cross-entropy (0 = all at once: fastest on CPU).
  c.train.log_every = 5  # Steps between metric rows.
  c.train.eval_every = 15  # Steps between held-out losses (and at the end).
  c.train.stop_after = 0  # Stop (checkpointed) after this step though steps is larger (0 = off): preemption tests.
  c.train.stop_grace_s = 20.0  # After SIGTERM / SIGINT: seconds to reach a step boundary and save it (then exit
  # 75 to be rerun); past them the process exits 75 without a new checkpoint. Schedulers kill after ~30 s.
  c.train.num_devices = 0  # Devices of the mesh (0 = all JAX devices of all hosts).
  # Mesh axis sizes (datasynth.sharding): one may be -1 (the rest). data/fsdp split the batch; fsdp and tensor also
  # split H's frozen weights (embed; heads, mlp, vocab) by the logical-axis rules.
  c.train.mesh = ml_collections.ConfigDict(dict(data=-1, fsdp=1, tensor=1))

  c.checkpoint = ml_collections.ConfigDict()
  c.checkpoint.save_every = 20  # Steps between checkpoints (the last step is always saved).
  c.checkpoint.keep = 3  # Checkpoints kept.

  c.generate = ml_collections.ConfigDict()  # launch/generate.py: x ~ H(P_theta(E(x_i))), i cycling over train.
  c.generate.num_samples = 384  # Sequences generated in all (split over processes). Paper: 100K.
  c.generate.batch_size = 32  # Sequences per compiled sampling batch (does not change any item).
  c.generate.batching = "continuous"  # continuous: batch_size slots, each refilled with the next item when its row
  # ends (datasynth.decode.continuous) | static: each batch runs until its longest row ends. The same samples either
  # way.
  c.generate.chunk = 1024  # Items per output chunk file (the unit of resume); host memory holds one chunk.
  c.generate.max_new_tokens = CPU_DEFAULTS[task]["max_len"]  # Tokens generated after BOS (x's budget in training).
  c.generate.temperature = 1.0  # Sampling temperature (0 = greedy).
  c.generate.top_k = 0  # Keep only the k most likely tokens (0 = off).
  c.generate.top_p = 1.0  # Nucleus sampling mass (1 = off).

  # launch/pipeline.py (softsrv/pipeline.py): train -> generate -> postprocess -> answer -> mauve in one work dir.
  c.pipeline = ml_collections.ConfigDict()
  c.pipeline.method = "softsrv"  # softsrv (soft_prompt.variant) | pt | pt_undiversified | pt_sr (softsrv.baselines).
  c.pipeline.answer = True  # Run the answer stage (step 3: SFT records); False stops at the questions.
  c.pipeline.mauve = True  # Run the MAUVE stage (questions vs the train and test folds).

  c.baseline = baseline_section()  # pipeline.method = pt | pt_undiversified | pt_sr: softsrv.baselines's settings.
  # CPU preset: PT / PT_SR at temperature 1. The paper's 2 (A.2, the `paper` preset) makes the 270M base model
  # write nothing parseable (measured: 0 questions from 2 MBPP calls at temperature 2, 11 at temperature 1).
  c.baseline.temperature = 1.0

  c.postprocess = ml_collections.ConfigDict()  # datasynth.postprocess.postprocess.PostprocessConfig (A.2-A.3).
  c.postprocess.fold_case = False  # Exact dedup also folds case (the paper does not say).
  c.postprocess.near_dup = False  # Add a MinHash LSH near-duplicate pass (word 5-gram shingles; not in the paper).
  c.postprocess.near_dup_threshold = 0.8  # Estimated Jaccard similarity above which a text is a near-duplicate.
  c.postprocess.num_perm = 128  # MinHash permutations.
  c.postprocess.shingle = 5  # Words per near-duplicate shingle.
  c.postprocess.num_subsample = 192  # N_s kept by diversity subsampling (0 = all). Paper: 50K MBPP/GSM8K, 20K BoolQ.
  c.postprocess.svd_components = 100  # TruncatedSVD components of the TF-IDF features (A.2: 100).
  c.postprocess.clusters = 700  # MiniBatchKMeans clusters (A.2: 700; clamped to the number of rows).
  c.postprocess.ngram = 13  # Decontamination: drop a question sharing a 13-gram with the test fold (A.3).
  c.postprocess.seed = 0  # Seeds the SVD, k-means and the round-robin draw.

  c.answer = ml_collections.ConfigDict()  # Step 3 (datasynth.jobs.answers): each kept question -> an answer LLM.
  c.answer.model = "smollm2-135m"  # Answer LLM: preset name or checkpoint folder (its chat template when it has one).
  c.answer.max_new_tokens = 96  # Tokens per answer.
  c.answer.temperature = 0.0  # 0 = greedy.
  c.answer.batch_size = 16  # Questions per compiled sampling batch.
  c.answer.chunk = 256  # Questions per resumable output chunk.
  c.answer.decontaminate_ngram = 13  # A.3: drop an answered record whose question or answer shares a 13-gram with a
  # test-fold question or reference answer (punctuation and digits removed); 0 = off.

  c.mauve = ml_collections.ConfigDict()  # MAUVE of the kept questions vs the train and test folds (A.7, Tables 4-5).
  c.mauve.model = "smollm2-135m"  # Feature model: mean of its last-block token states.
  c.mauve.num_examples = 192  # Texts per side (seeded random subsets; 0 = all).
  c.mauve.num_clusters = 0  # k-means clusters; 0 = one per 10 samples of the smaller side. Paper: 32 (not stated).
  c.mauve.max_tokens = 256  # Texts truncated to this many tokens for features.
  c.mauve.batch_size = 16  # Feature batch.
  c.mauve.seed = 0  # Subset choice.
  c.mauve.cache_dir = ""  # Where features are memoised (jobs.memo); "" = the stage's folder. Sweeps share one.
  c.mauve.train_vs_test = True  # Also score the train fold against the test fold (the reference row of Table 4).
  return c


# softsrv.baselines fields the run config decides (baselines.from_run_config): method = pipeline.method, the task,
# seed and H (model.name), chunk size = generate.chunk, and the number of calls from generate.num_samples.
_RUN_LEVEL_BASELINE_FIELDS = ("method", "task", "seed", "model", "num_items", "chunk_size")


def baseline_section() -> ml_collections.ConfigDict:
  """The PT / PT_SR settings, defaults stated once in `softsrv.baselines.baseline_config` (minus run-level fields)."""
  d = baseline_config()
  return ml_collections.ConfigDict({k: d[k] for k in d if k not in _RUN_LEVEL_BASELINE_FIELDS},
                                   type_safe=False)


def paper(c: ml_collections.ConfigDict) -> None:
  """The paper's SoftSRV settings (DeSalvo et al.): t=128, 20K steps, Adam at 5e-6, SS_MC 3 x 128, k=2."""
  c.soft_prompt.t = 128
  c.soft_prompt.k = 2
  c.soft_prompt.hidden = 128
  c.soft_prompt.num_layers = 3
  c.train.steps = 20_000
  c.train.lr = 5e-6
  c.train.optimizer = "adam"
  c.train.warmup_steps = 0
  c.train.decay = "constant"
  c.train.batch_size = 16
  c.train.log_every = 50
  c.train.eval_every = 1000
  c.checkpoint.save_every = 1000
  c.data.max_len = 512
  c.generate.num_samples = 100_000  # The paper generates 100K, then subsamples N_s diverse ones.
  c.postprocess.num_subsample = {"boolq": 20_000}.get(c.task, 50_000)  # N_s (A.2).
  c.baseline.temperature = 2.0  # A.2: PT / PT_SR questions at 2 (undiversified PT stays at 1, A.4).
  c.mauve.num_examples = 0
  c.mauve.num_clusters = 32
  c.mauve.max_tokens = 512
  c.generate.max_new_tokens = 512
  c.generate.batch_size = 256
  c.data.limit = 0
  c.data.too_long = "truncate"
  c.context.max_len = 512
  c.train.loss_chunk = 64  # [batch, 64, 262144] float32 logits per chunk instead of [batch, 512, ...].


SWEEP_STEPS = {"mbpp": 60}  # `sweep` preset: fewer steps where the CPU default is long (MBPP 150 -> 60).


def sweep_scale(c: ml_collections.ConfigDict) -> None:
  """The `sweep` preset: questions only, one MBPP pipeline run in ~7-13 CPU minutes (sweeps/_pipeline_runs.py
  lightens it further so that the 4-5 runs of Table 5 or Figure 7 fit 30 minutes)."""
  c.train.steps = SWEEP_STEPS.get(c.task, c.train.steps)
  c.generate.num_samples = 256
  c.postprocess.num_subsample = 128
  c.mauve.num_examples = 128
  c.pipeline.answer = False  # Tables 5 / Figures 5, 7 compare questions; the answer stage is the student's input.


def apply_presets(c: ml_collections.ConfigDict, arg: str) -> ml_collections.ConfigDict:
  for name in [p.strip() for p in (arg or "").split(",") if p.strip()]:
    if name == "cpu":
      continue
    if name == "paper":
      paper(c)
    elif name == "sweep":
      sweep_scale(c)
    elif name in ("np", "mc"):
      c.soft_prompt.variant = name
    elif re.fullmatch(r"mp\d*", name):
      c.soft_prompt.variant = "mp"
      if len(name) > 2:
        c.soft_prompt.k = int(name[2:])
    else:
      raise UserError(f"Unknown config preset {name!r}; expected cpu, paper, sweep, np, mpK (e.g. mp2) or mc, "
                       "comma-separated.")
  return c


def get_config(task: str, arg: str | None = None) -> ml_collections.ConfigDict:
  return apply_presets(base_config(task), arg or "")


# ---------------------------------------------------------------------------------------------------- validation
ENUMS = {
    "task": tuple(CPU_DEFAULTS),
    "data.too_long": ("error", "skip", "truncate"),
    "model.dtype": ("float32", "bfloat16"),
    "soft_prompt.variant": ("np", "mp", "mc"),
    "soft_prompt.init": ("vocab", "normal"),
    "train.decay": ("constant", "cosine", "linear"),
    "train.optimizer": ("adam", "adamw"),
    "generate.batching": ("continuous", "static"),
}
_SPLITS = {"mbpp": ("train", "validation", "test", "prompt"), "gsm8k": ("train", "test"),
           "boolq": ("train", "test", "dev")}
# Lower bounds of sizes and counts (field -> smallest allowed value).
_AT_LEAST = {
    "seed": 0, "data.limit": 0, "data.max_len": 2, "data.heldout": 0, "context.projection_dim": 0,
    "context.max_len": 1, "context.batch_size": 1, "soft_prompt.t": 1, "soft_prompt.k": 1, "soft_prompt.hidden": 1,
    "soft_prompt.num_layers": 1, "train.steps": 1, "train.batch_size": 1, "train.warmup_steps": 0,
    "train.loss_chunk": 0, "train.log_every": 1, "train.eval_every": 1, "train.stop_after": 0,
    "train.num_devices": 0, "checkpoint.save_every": 1, "checkpoint.keep": 1, "generate.num_samples": 1,
    "generate.batch_size": 1, "generate.chunk": 1, "generate.max_new_tokens": 1, "generate.top_k": 0,
    "answer.max_new_tokens": 1, "answer.batch_size": 1, "answer.chunk": 1, "answer.decontaminate_ngram": 0,
    "mauve.num_examples": 0, "mauve.num_clusters": 0, "mauve.max_tokens": 1, "mauve.batch_size": 1,
    "postprocess.num_subsample": 0,
    "postprocess.ngram": 1, "postprocess.clusters": 1, "postprocess.svd_components": 1,
}
# Real-valued fields: (lowest, highest, lowest is allowed).
_RANGES = {
    "train.lr": (0.0, math.inf, False), "train.end_factor": (0.0, math.inf, True),
    "train.clip_norm": (0.0, math.inf, True), "soft_prompt.out_scale": (0.0, math.inf, True),
    "generate.temperature": (0.0, math.inf, True), "generate.top_p": (0.0, 1.0, False),
    "answer.temperature": (0.0, math.inf, True), "train.stop_grace_s": (0.0, math.inf, False),
}


_ABSENT = object()


def _get(config: ml_collections.ConfigDict, path: str):
  node = config
  for part in path.split("."):
    if part not in node:
      return _ABSENT  # A section this config does not have (e.g. a trimmed test config).
    node = node[part]
  return node


def _flag(path: str) -> str:
  return f"--config.{path}"


def _check_numbers(config: ml_collections.ConfigDict) -> None:
  for path, low in _AT_LEAST.items():
    value = _get(config, path)
    if value is _ABSENT:
      continue
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
      raise UserError(f"{path}={value!r} must be an integer >= {low}; set {_flag(path)}=<int >= {low}>.")
  for path, (low, high, closed) in _RANGES.items():
    value = _get(config, path)
    if value is _ABSENT:
      continue
    ok = isinstance(value, (int, float)) and math.isfinite(value) and (value >= low if closed else value > low)
    if not ok or value > high:
      bound = f"{'>=' if closed else '>'} {low:g}" + (f" and <= {high:g}" if math.isfinite(high) else "")
      raise UserError(f"{path}={value!r} must be a finite number {bound}; set {_flag(path)}.")
  tc = config.train  # (warmup_steps > steps is allowed: the schedule clamps it to steps - 1, for short smoke runs.)
  mesh = dict(tc.mesh)
  if any(v != -1 and v < 1 for v in mesh.values()) or list(mesh.values()).count(-1) > 1:
    raise UserError(f"train.mesh={mesh}: axis sizes must be positive, with at most one -1 (the remaining devices).")
  if tc.num_devices and tc.batch_size % tc.num_devices:
    raise UserError(f"train.batch_size={tc.batch_size} is not a multiple of the {tc.num_devices} devices "
                    "(train.num_devices); change the batch size or the number of devices.")


def _check_enums(config: ml_collections.ConfigDict) -> None:
  for path, allowed in ENUMS.items():
    value = _get(config, path)
    if value not in allowed:
      raise UserError(f"Unknown {path} {value!r}; expected one of {', '.join(allowed)} (set {_flag(path)}).")
  for path in ("model.name", "context.model"):
    if not _get(config, path):
      raise UserError(f"{path} is empty; name a preset (gemma3-270m, smollm2-135m) or a checkpoint path.")


def _check_data(config: ml_collections.ConfigDict) -> None:
  d = config.data
  if d.file:
    if not os.path.isfile(d.file):
      raise UserError(f"data.file={d.file!r} does not exist (or is not a file); fix --config.data.file.")
    return
  if d.split not in _SPLITS[config.task]:
    raise UserError(f"data.split={d.split!r} is not a split of {config.task} ({', '.join(_SPLITS[config.task])}).")
  if d.data_dir and not os.path.isdir(d.data_dir):
    raise UserError(f"data.data_dir={d.data_dir!r} is not a folder; point --config.data.data_dir at the benchmark "
                    "data, or leave it empty for $DATASYNTH_DATA, ../shared/data or the bundled copy (README \"Data\" "
                    "lists the layouts read).")
  sources.locate(config.task, d.split, d.data_dir or None)  # Missing data: the one-line error, now.


def validate_pipeline(config: ml_collections.ConfigDict, workdir: str, given: Sequence[str] = ()) -> None:
  """`validate` plus what later stages read, before the first stage runs: every stage's model (a preset or an existing
  path; roles in `given` were passed in loaded), the folds that post-processing and MAUVE read."""
  validate(config, workdir)
  pc = config.pipeline
  roles = dict(generator="model.name", context="context.model" if pc.method == "softsrv" else None,
               answer="answer.model" if pc.answer else None, mauve="mauve.model" if pc.mauve else None)
  for role, path in roles.items():
    if path and role not in given:
      check_name(_get(config, path), path)
  for split in ("test", "train") if pc.mauve else ("test",):  # Decontamination reads test; MAUVE train and test.
    sources.locate(config.task, split, config.data.data_dir or None)


def validate(config: ml_collections.ConfigDict, workdir: str | None = None) -> None:
  """Every config field with a domain (and the work dir), before anything heavy loads; raises UserError."""
  _check_enums(config)
  _check_numbers(config)
  _check_data(config)
  if workdir is not None:
    check_workdir(workdir)  # Exists as a folder or can be created as one.
