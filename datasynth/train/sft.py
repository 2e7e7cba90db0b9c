"""Supervised fine-tuning of a causal LM on (prompt, response) records: students and the NOMAD teacher.

Pipeline: a template turns a `Record` into prompt text + response text; the model's tokenizer makes ids (BOS as the
tokenizer says, EOS after the response); the loss mask covers response tokens only (prompt masking on: a student) or
every token (off: NOMAD's teacher). Examples are packed into fixed-length rows with segment ids, so attention never
crosses examples and positions restart per example, and the loss is the mean next-token NLL over masked tokens:

  L(theta) = - sum_i m_i log p_theta(x_i | x_<i, same example) / sum_i m_i

(per-token NLL from `datasynth.train.losses.token_nll`). Loss mask m, worked example: the record {prompt "2 + 2 ?",
response "4"} in the "plain" template "{prompt}\n{response}" with EOS, through a toy whitespace tokenizer that adds
BOS (the prompt side "2 + 2 ?\n" and the response side "4" are tokenised separately, so no token straddles them):

  token                      <bos>  2  +  2  ?  \n  4  <eos>
  m, prompt_masking=True       0    0  0  0  0   0  1    1     a student: the response and EOS only
  m, prompt_masking=False      0    1  1  1  1   1  1    1     NOMAD's teacher: every token

m at <bos> is 0 either way (nothing predicts the first token). In a packed row a target also needs the token before
it in the same example (segment ids), so each example's first token is never predicted from the previous example.
`tests/datasynth/train/test_sft.py::test_tokenize_masks_prompt_or_not` checks these masks on a real tokenizer.

Optimisation is optax AdamW with linear warmup and cosine decay (`datasynth.train.state.make_optimizer`); compute may be
bfloat16 over float32 master weights; the step is one jit, data-parallel over a mesh's batch axes (data, fsdp:
`datasynth.sharding`) when a mesh is given. Full fine-tuning trains every parameter; with `lora_rank > 0` only LoRA
factors train (`datasynth.models.lora`) and the base weights stay a frozen, non-differentiated argument. The steps run
in the shared train loop (`datasynth.train.loop`): runs resume from the latest Orbax checkpoint in the work dir with the
same data order (batches are a pure function of the step).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from datasynth import sharding
from datasynth.data.records import Record
from datasynth.models import lora as lora_lib
from datasynth.models.config import DecoderConfig
from datasynth.models.decoder import Decoder, cast_params
from datasynth.models.loaders import load_model
from datasynth.train import checkpoint, loop
from datasynth.train import losses
from datasynth.train import state as state_lib
from datasynth.utils import lock
from datasynth.utils.errors import UserError

Batch = dict[str, np.ndarray]
# The unified chat format (NOMAD's teacher data): "User: {prompt}\n\nAssistant: {response}". Defined once here;
# `nomad.conversations.ChatFormat` defaults to these and renders multi-turn conversations with them.
CHAT_USER = "User: "  # Before each user turn.
CHAT_ASSISTANT = "Assistant: "  # Before each assistant turn.
CHAT_SEP = "\n\n"  # Between a user turn and the assistant prefix, and between rounds.
# Templates: one string holding "{prompt}" then "{response}"; the text before "{response}" is the prompt side.
TEMPLATES = {
    "plain": "{prompt}\n{response}",  # Student default: question, newline, answer.
    "chat": CHAT_USER + "{prompt}" + CHAT_SEP + CHAT_ASSISTANT + "{response}",  # NOMAD's teacher format.
}


@dataclasses.dataclass(frozen=True)
class SFTConfig:
  steps: int = 100  # Optimizer steps.
  batch_size: int = 8  # Rows per step (each row holds one or several packed examples).
  seq_len: int = 512  # Tokens per row; longer examples are truncated (truncate=True) or an error.
  pack: bool = True  # Concatenate examples into rows (segment ids keep them apart); False: one example per row.
  prompt_masking: bool = True  # Loss on response tokens only; False: on prompt and response (NOMAD teacher).
  template: str = "plain"  # A TEMPLATES name or a format string with "{prompt}" and "{response}".
  add_eos: bool = True  # Append the tokenizer's EOS after the response (the model learns to stop).
  truncate: bool = True  # Cut examples longer than seq_len (counted in the log); False: error.
  lr: float = 1e-5  # Peak learning rate.
  warmup_steps: int = 10  # Linear warmup from 0 to lr.
  decay: str = "cosine"  # After warmup: constant, cosine or linear decay to end_factor * lr.
  end_factor: float = 0.0  # Final learning rate as a fraction of lr.
  weight_decay: float = 0.0  # AdamW decoupled weight decay.
  b1: float = 0.9  # Adam beta1.
  b2: float = 0.999  # Adam beta2.
  clip_norm: float = 1.0  # Global gradient-norm clipping (0: off).
  bf16: bool = False  # bfloat16 compute (master weights and Adam stay float32; a LoRA base is stored bfloat16).
  remat: bool = False  # Recompute blocks in the backward pass (memory for time).
  lora_rank: int = 0  # 0: full fine-tuning; r > 0: LoRA factors of rank r on lora_targets only.
  lora_alpha: float = 16.0  # LoRA scale numerator: W + (alpha / r) A B.
  lora_targets: tuple[str, ...] = ("q", "v")  # Projections adapted: q, k, v, o, gate, up, down.
  seed: int = 0  # Data order and LoRA init.
  log_every: int = 10  # Metrics cadence (steps).
  save_every: int = 100  # Checkpoint cadence (steps); the last step is always saved.
  keep: int = 2  # Checkpoints kept.
  eval_every: int = 0  # Call eval_fn every this many steps (and at step 0 and the end); 0: only at the end.
  stop_grace_s: float = 20.0  # After SIGTERM / SIGINT: seconds to reach a step boundary and save (train.loop).

  # Fields that may change between restarts without invalidating a checkpoint: the loop's cadence.
  RUN_CONTROL = loop.RESTART_SAFE

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> "SFTConfig":
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
      raise UserError(f"Unknown SFT config field(s) {unknown}; known fields: {sorted(names)}.")
    d = dict(d)
    if "lora_targets" in d:
      d["lora_targets"] = tuple(d["lora_targets"])
    return cls(**d).validate()

  def validate(self) -> "SFTConfig":
    """Every field with a domain (raises UserError naming the field); returns self."""
    for name, low in (("steps", 1), ("batch_size", 1), ("seq_len", 2), ("warmup_steps", 0), ("lora_rank", 0),
                      ("seed", 0), ("log_every", 1), ("save_every", 1), ("keep", 1), ("eval_every", 0)):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserError(f"SFT {name}={value!r} must be an integer >= {low}.")
    for name, low, high, closed in (("lr", 0.0, math.inf, False), ("end_factor", 0.0, math.inf, True),
                                    ("weight_decay", 0.0, math.inf, True), ("b1", 0.0, 1.0, True),
                                    ("b2", 0.0, 1.0, True), ("clip_norm", 0.0, math.inf, True),
                                    ("lora_alpha", 0.0, math.inf, False), ("stop_grace_s", 0.0, math.inf, False)):
      value = getattr(self, name)
      ok = isinstance(value, (int, float)) and math.isfinite(value) and (value >= low if closed else value > low)
      if not ok or value > high or (name in ("b1", "b2") and value >= 1.0):
        raise UserError(f"SFT {name}={value!r} must be a finite number {'>=' if closed else '>'} {low:g}"
                        + (" and < 1" if name in ("b1", "b2") else "") + ".")
    if self.decay not in ("constant", "cosine", "linear"):
      raise UserError(f"Unknown SFT decay {self.decay!r}; expected constant, cosine or linear.")
    unknown = sorted(set(self.lora_targets) - set(lora_lib.TARGETS))
    if self.lora_rank and (unknown or not self.lora_targets):
      raise UserError(f"Unknown or empty SFT lora_targets {list(self.lora_targets)}; choose from "
                      f"{sorted(lora_lib.TARGETS)}.")
    make_template(self.template)  # Raises UserError for a template without {prompt} then {response}.
    return self

  def identity(self) -> dict[str, Any]:
    return loop.without_fields(dataclasses.asdict(self), self.RUN_CONTROL)


# --------------------------------------------------------------------------------------------------- formatting


def make_template(spec: str | Callable[[Record], tuple[str, str]]) -> Callable[[Record], tuple[str, str]]:
  """Record -> (prompt text, response text). `spec`: a TEMPLATES name, a format string, or such a callable."""
  if callable(spec):
    return spec
  text = TEMPLATES.get(spec, spec)
  if text.count("{prompt}") != 1 or text.count("{response}") != 1 or text.index("{prompt}") > text.index(
      "{response}"):
    raise UserError(f"SFT template {spec!r} must be one of {sorted(TEMPLATES)} or a string holding '{{prompt}}' "
                    "once and then '{response}' once.")
  head, tail = text.split("{response}")

  def fmt(record: Record) -> tuple[str, str]:
    return head.replace("{prompt}", record.prompt), record.response + tail
  return fmt


@dataclasses.dataclass(frozen=True)
class Example:
  ids: np.ndarray  # [n] int32 token ids.
  loss_mask: np.ndarray  # [n] bool: token i is a loss target (predicted from tokens < i).
  uid: str = ""


def tokenize(records: Sequence[Record], tokenizer, *, template="plain", prompt_masking: bool = True,
             add_eos: bool = True, max_len: int | None = None, truncate: bool = True) -> list[Example]:
  """Records -> token ids + loss masks. Examples left with no loss token (prompt filling max_len) are dropped."""
  fmt = make_template(template)
  out, cut, dropped = [], 0, 0
  for r in records:
    prompt_text, response_text = fmt(r)
    p = tokenizer.encode(prompt_text)  # BOS as the tokenizer says.
    y = tokenizer.encode(response_text, add_bos=False, add_eos=add_eos)
    ids = np.asarray(p + y, np.int32)
    mask = np.concatenate([np.full(len(p), not prompt_masking), np.ones(len(y), bool)])
    mask[0] = False  # The first token is never predicted.
    if max_len is not None and len(ids) > max_len:
      if not truncate:
        raise UserError(f"Record {r.uid} has {len(ids)} tokens, more than seq_len={max_len}; raise seq_len or "
                        "set truncate=True.")
      ids, mask, cut = ids[:max_len], mask[:max_len], cut + 1
    if not mask.any():
      dropped += 1
      continue
    out.append(Example(ids, mask, r.uid))
  if cut or dropped:
    logging.warning("SFT tokenisation: %d of %d examples truncated to %s tokens, %d dropped (no response tokens "
                    "left).", cut, len(records), max_len, dropped)
  if not out:
    raise UserError(f"No usable SFT examples among {len(records)} records (empty input, or every response cut "
                    "off by seq_len); check the records file and seq_len.")
  return out


# ------------------------------------------------------------------------------------------------------ packing


def pack(examples: Sequence[Example], seq_len: int, *, packed: bool = True) -> Batch:
  """Examples -> rows [N, seq_len]: tokens, segment_ids (1.. per example, 0 = padding), positions, loss_mask.

  Next-fit packing in the given order: an example goes into the current row if it fits, else starts a new row.
  With packed=False every example gets its own row.
  """
  rows: list[list[Example]] = []
  used = seq_len + 1
  for ex in examples:
    if len(ex.ids) > seq_len:
      raise UserError(f"Example {ex.uid or '?'} has {len(ex.ids)} tokens > seq_len={seq_len}.")
    if not packed or used + len(ex.ids) > seq_len:
      rows.append([])
      used = 0
    rows[-1].append(ex)
    used += len(ex.ids)
  n = len(rows)
  out = dict(tokens=np.zeros((n, seq_len), np.int32), segment_ids=np.zeros((n, seq_len), np.int32),
             positions=np.zeros((n, seq_len), np.int32), loss_mask=np.zeros((n, seq_len), bool))
  for i, row in enumerate(rows):
    start = 0
    for seg, ex in enumerate(row, 1):
      sl = slice(start, start + len(ex.ids))
      out["tokens"][i, sl] = ex.ids
      out["segment_ids"][i, sl] = seg
      out["positions"][i, sl] = np.arange(len(ex.ids))
      out["loss_mask"][i, sl] = ex.loss_mask
      start += len(ex.ids)
  return out


class BatchStream:
  """Batch k of an endless, reproducible stream: epochs of shuffled, packed rows laid end to end.

  Epoch e shuffles the examples with seed (seed, e) and packs them; batch k holds rows [k*B, (k+1)*B) of the
  concatenation. A pure function of k, so a resumed run sees exactly the batches an uninterrupted run would.
  """

  def __init__(self, examples: Sequence[Example], *, seq_len: int, batch_size: int, seed: int = 0,
               packed: bool = True, shuffle: bool = True):
    if not examples:
      raise UserError("BatchStream needs at least one example.")
    self.examples, self.seq_len, self.batch_size = list(examples), seq_len, batch_size
    self.seed, self.packed, self.shuffle = seed, packed, shuffle
    self._epochs: dict[int, Batch] = {}
    self._starts = [0]  # _starts[e]: index of epoch e's first row in the stream.

  def _epoch(self, e: int) -> Batch:
    if e not in self._epochs:
      order = np.arange(len(self.examples))
      if self.shuffle:
        order = np.random.default_rng([self.seed, e]).permutation(order)
      self._epochs[e] = pack([self.examples[i] for i in order], self.seq_len, packed=self.packed)
    return self._epochs[e]

  def rows_per_epoch(self, e: int = 0) -> int:
    return len(self._epoch(e)["tokens"])

  def _locate(self, row: int) -> tuple[int, int]:
    while self._starts[-1] <= row:  # Extend the epoch index until it covers `row`.
      e = len(self._starts) - 1
      self._starts.append(self._starts[-1] + self.rows_per_epoch(e))
    e = int(np.searchsorted(self._starts, row, side="right")) - 1
    return e, row - self._starts[e]

  def batch(self, k: int) -> Batch:
    parts, row, need = [], k * self.batch_size, self.batch_size
    while need:
      e, i = self._locate(row)
      rows = self._epoch(e)
      take = min(need, len(rows["tokens"]) - i)
      parts.append({key: v[i:i + take] for key, v in rows.items()})
      row, need = row + take, need - take
    for old in [e_ for e_ in self._epochs if e_ < e - 1]:  # Keep memory flat over long runs.
      del self._epochs[old]
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


# --------------------------------------------------------------------------------------------------------- loss


def token_nll(model: Decoder, params, batch: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
  """Per-token NLL of predicting token i+1 from row prefix <= i, and its weight. Both [B, L-1] float32."""
  seg = batch["segment_ids"]
  out = model.apply({"params": params}, batch["tokens"], input_mask=seg > 0, positions=batch["positions"],
                    segment_ids=seg)
  nll = losses.token_nll(out.logits[:, :-1], batch["tokens"][:, 1:])
  weights = batch["loss_mask"][:, 1:] & (seg[:, 1:] == seg[:, :-1]) & (seg[:, 1:] > 0)
  return nll, weights.astype(jnp.float32)


def per_example_nll(nll: np.ndarray, weights: np.ndarray, segment_ids: np.ndarray) -> list[float]:
  """Summed NLL of each example in row order (row-major, segments 1..n within a row)."""
  nll, weights, seg = np.asarray(nll), np.asarray(weights), np.asarray(segment_ids)[:, 1:]
  out = []
  for r in range(seg.shape[0]):
    for s in range(1, int(seg[r].max(initial=0)) + 1):
      sel = seg[r] == s
      out.append(float(np.sum(nll[r][sel] * weights[r][sel])))
  return out


# ------------------------------------------------------------------------------------------------------ trainer


@dataclasses.dataclass
class SFTResult:
  params: Any  # Fine-tuned parameters (LoRA merged into the base), ready for Decoder.apply.
  state: state_lib.TrainState  # The trained parameters (full params, or LoRA factors) and optimizer state.
  metrics: list[dict[str, float]]  # Rows of metrics.jsonl.
  workdir: str


def _examples_hash(examples: Sequence[Example]) -> str:
  h = hashlib.sha256()
  for ex in examples:
    h.update(ex.ids.tobytes())
    h.update(np.packbits(ex.loss_mask).tobytes())
  return h.hexdigest()[:16]


_RUN_CONTROL_DEFAULTS = {f.name: f.default for f in dataclasses.fields(SFTConfig) if f.name in SFTConfig.RUN_CONTROL}


@dataclasses.dataclass(frozen=True)
class _Fns:
  dtype: Any
  schedule: optax.Schedule
  create: Callable  # (theta, rng) -> TrainState
  step: Callable  # (state, frozen, batch) -> (state, metrics); donates state.
  effective: Callable  # (theta, frozen) -> params for Decoder.apply (LoRA merged).


@functools.lru_cache(maxsize=8)
def _compiled(decoder_config: DecoderConfig, cfg: SFTConfig) -> _Fns:
  """The jitted functions of one (model, SFT config): cached, so restarts in one process compile once."""
  dtype = jnp.bfloat16 if cfg.bf16 else jnp.float32
  model = Decoder(decoder_config, dtype=dtype, remat=cfg.remat)
  tx = state_lib.make_optimizer(lr=cfg.lr, steps=cfg.steps, warmup_steps=cfg.warmup_steps, decay=cfg.decay,
                                end_factor=cfg.end_factor, optimizer="adamw", b1=cfg.b1, b2=cfg.b2,
                                weight_decay=cfg.weight_decay, clip_norm=cfg.clip_norm or None)
  use_lora = cfg.lora_rank > 0

  def effective(theta, frozen):
    return lora_lib.merge(frozen, theta, cfg.lora_alpha) if use_lora else theta

  def loss_fn(theta, frozen, batch):
    nll, w = token_nll(model, effective(theta, frozen), batch)
    n = jnp.sum(w)
    return jnp.sum(nll * w) / jnp.maximum(n, 1.0), n

  def step_fn(state: state_lib.TrainState, frozen, batch):
    (loss, n), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, frozen, batch)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    state = state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                          opt_state=opt_state)
    return state, dict(loss=loss, loss_tokens=n, grad_norm=optax.global_norm(grads))

  return _Fns(dtype=dtype, schedule=state_lib.make_schedule(cfg.lr, cfg.steps, cfg.warmup_steps, cfg.decay,
                                                            cfg.end_factor),
              create=jax.jit(lambda theta, rng: state_lib.TrainState.create(theta, tx, rng)),
              step=jax.jit(step_fn, donate_argnums=0), effective=jax.jit(effective))


def train(examples: Sequence[Example], decoder_config: DecoderConfig, params, cfg: SFTConfig, workdir: str, *,
          mesh: jax.sharding.Mesh | None = None, param_shardings=None,
          eval_fn: Callable[[int, Any], dict[str, float]] | None = None, stop_at: int | None = None,
          show_progress: bool = True, model_id: str = "") -> SFTResult:
  """Fine-tune `params` on tokenized examples; resumes from `workdir` when it holds a checkpoint
  (`datasynth.train.loop`).

  mesh: optional; batches are split over its batch axes (`datasynth.sharding`: data and fsdp), params replicated
  unless `param_shardings` (a pytree of NamedShardings matching params) says otherwise. eval_fn(step, params) ->
  scalars, logged as "eval/<name>" at step 0, every cfg.eval_every steps and at the last step. stop_at: stop (after
  checkpointing) at this step, as a preemption would.
  """
  cfg.validate()
  if cfg.seq_len > decoder_config.max_len:
    raise UserError(f"seq_len={cfg.seq_len} exceeds the model's context of {decoder_config.max_len}.")
  if mesh is not None and cfg.batch_size % sharding.batch_shards(mesh):
    raise UserError(f"batch_size={cfg.batch_size} is not divisible by the mesh's batch axes "
                    f"({sharding.batch_shards(mesh)} shards).")
  identity = json.dumps(dict(sft=cfg.identity(), model=json.loads(decoder_config.to_json()), model_id=model_id,
                             data=_examples_hash(examples), num_examples=len(examples)), sort_keys=True)
  fns = _compiled(decoder_config, dataclasses.replace(cfg, seed=0, **_RUN_CONTROL_DEFAULTS))
  stream = BatchStream(examples, seq_len=cfg.seq_len, batch_size=cfg.batch_size, seed=cfg.seed, packed=cfg.pack)

  # Placement: replicated (or given) params; batches split over the mesh's batch axes.
  replicated = None if mesh is None else sharding.replicated(mesh)
  put_params = lambda t, sh=None: jax.device_put(t, sh if sh is not None else replicated)
  rng = put_params(jax.random.key(cfg.seed))
  if cfg.lora_rank > 0:  # theta = LoRA factors; the base is frozen (bfloat16 when computing in bfloat16).
    frozen = put_params(cast_params(params, fns.dtype), param_shardings)
    theta = put_params(lora_lib.init_lora(params, cfg.lora_targets, cfg.lora_rank, jax.random.fold_in(rng, 1)))
  else:
    frozen = None
    theta = put_params(cast_params(params, jnp.float32), param_shardings)

  def step_fn(state, step):
    batch = stream.batch(step)
    tokens = int(np.sum(batch["segment_ids"] > 0))
    state, m = fns.step(state, frozen, batch if mesh is None else sharding.shard_batch(batch, mesh))
    return state, dict(m, tokens=tokens)

  def summarize(window, done, seconds):  # Means over the window; the last gradient norm.
    return dict(loss=float(np.mean([x["loss"] for x in window])), grad_norm=float(window[-1]["grad_norm"]),
                loss_tokens=float(np.mean([x["loss_tokens"] for x in window])), lr=float(fns.schedule(done - 1)),
                tokens_per_s=sum(x["tokens"] for x in window) / seconds, steps_per_s=len(window) / seconds)

  def evaluate(step, state):
    return {f"eval/{k}": v for k, v in eval_fn(step, fns.effective(state.params, frozen)).items()}

  cadence = loop.Cadence(**{name: getattr(cfg, name) for name in loop.RESTART_SAFE})
  out = loop.run(
      workdir=workdir, identity=identity, cadence=cadence,
      state=fns.create(theta, rng), step_fn=step_fn, summarize=summarize,
      end=cfg.steps if stop_at is None else min(stop_at, cfg.steps), total=cfg.steps,
      eval_fn=None if eval_fn is None else evaluate,
      presentation=loop.Presentation(
          desc="sft", show_progress=show_progress, plot_title="SFT loss",
          hint=f"lower the SFT lr (now {cfg.lr:g}) or keep clip_norm on (now {cfg.clip_norm:g}), then rerun to "
               "resume"))
  return SFTResult(params=fns.effective(out.state.params, frozen), state=out.state, metrics=out.metrics,
                   workdir=workdir)


def train_sft(records: Sequence[Record], model, cfg: SFTConfig, workdir: str, **kw) -> SFTResult:
  """Fine-tune a `LoadedModel` (config, params, tokenizer) on records; see `train` for keyword arguments.

  The work dir is locked before tokenising (`datasynth.utils.lock`; the loop re-enters it): a second process is refused."""
  with lock.hold(workdir):
    examples = tokenize(records, model.tokenizer, template=cfg.template, prompt_masking=cfg.prompt_masking,
                        add_eos=cfg.add_eos, max_len=cfg.seq_len, truncate=cfg.truncate)
    logging.info("SFT: %d examples, %d tokens, %d rows of %d per epoch", len(examples),
                 sum(len(e.ids) for e in examples), BatchStream(examples, seq_len=cfg.seq_len, batch_size=1,
                                                                packed=cfg.pack).rows_per_epoch(), cfg.seq_len)
    return train(examples, model.config, model.params, cfg, workdir, model_id=getattr(model, "source", ""), **kw)


# ------------------------------------------------------------------------------------------- reading a trained run


def is_run_dir(path: str) -> bool:
  """Whether `path` is an SFT work dir (its pinned run config and a checkpoints folder), not a model folder."""
  return (os.path.isfile(os.path.join(path, checkpoint.CONFIG_FILE))
          and os.path.isdir(os.path.join(path, "checkpoints")))


def load_trained(workdir: str, *, base=None, step: int | None = None):
  """The fine-tuned model of an SFT work dir as a `LoadedModel` (LoRA merged), read only (nothing trains).

  The run's pinned config names its base model (`model_id`, the file or folder `train` was given; or pass `base`, a
  LoadedModel or a name for `load_model`) and its SFT settings; the checkpoint of `step` (default the latest) must
  match both. Full fine-tuning restores every parameter; a LoRA run restores its factors and merges them.
  """
  pinned_path = os.path.join(workdir, checkpoint.CONFIG_FILE)
  if not is_run_dir(workdir):
    raise UserError(f"{workdir} is not an SFT work dir (no {checkpoint.CONFIG_FILE} and checkpoints/); pass the "
                    "--workdir a fine-tuning run wrote.")
  with open(pinned_path, encoding="utf-8") as f:
    pinned = f.read()
  try:
    identity = json.loads(pinned)
    sft_fields, model_json = identity["sft"], identity["model"]
  except (json.JSONDecodeError, KeyError, TypeError) as e:
    raise UserError(f"{pinned_path} is not an SFT run config ({e}); pass an SFT work dir.") from e
  if base is None:
    base = identity.get("model_id") or ""
    if not base:
      raise UserError(f"{pinned_path} does not name its base model; pass the base model explicitly.")
  if isinstance(base, str):
    if not os.path.exists(base):
      raise UserError(f"The base model of {workdir}, {base}, is not there any more; pass the base model explicitly.")
    base = load_model(base)
  if json.loads(base.config.to_json()) != model_json:
    raise UserError(f"The base model {base.source} does not match the model {workdir} was trained on; pass that "
                    "model.")
  known = {f.name for f in dataclasses.fields(SFTConfig)}
  cfg = SFTConfig.from_dict({k: v for k, v in sft_fields.items() if k in known})
  if cfg.lora_rank > 0:
    template = jax.eval_shape(lambda: lora_lib.init_lora(base.params, cfg.lora_targets, cfg.lora_rank,
                                                         jax.random.key(0)))
  else:
    template = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), jnp.float32), base.params)
  theta, _ = checkpoint.restore_params(workdir, pinned, template, step)
  params = lora_lib.merge(base.params, theta, cfg.lora_alpha) if cfg.lora_rank > 0 else theta
  return dataclasses.replace(base, params=jax.device_get(params), source=os.path.abspath(workdir))
