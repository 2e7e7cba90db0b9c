"""Train NOMAD's teacher M_synthesis: a pretrained LM fine-tuned on the rendered chat subset, prompt masking off.

Paper (Chen et al., Sec. 3-4): fine-tune a *base* model on "User: ... Assistant: ..." conversations of a small
subset (15K of TULU v2) for 2 epochs at lr 2e-5 without prompt masking: L = -sum_i log p(x_i | x_<i) over every
token of the conversation, user turns included, so the model learns to write prompts from "User: " alone. The
masked teacher (the paper's baseline) keeps the loss on assistant turns only. Both are `datasynth.train.sft.train` on
the examples `nomad.conversations.to_examples` builds (the masks are worked out in that module's docstring); this module
only wires the config to them:

  conversations = conv_lib.load_chat_data(config.data)         # seeded subset of config.data.subset_size
  examples = conv_lib.to_examples(conversations, tokenizer, ...)  # ids + loss masks (masked or not)
  sft.train(examples, model, SFTConfig(config.sft, steps from config.teacher.epochs), workdir)

The work dir also gets `teacher_data.jsonl` (the rendered subset, one conversation a line, for provenance) and
`teacher_summary.json` (counts, steps, final loss).
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import jax

from datasynth import sharding
from datasynth.models import loaders
from datasynth.train import checkpoint as checkpoint_lib
from datasynth.train import sft
from datasynth.utils import io
from datasynth.utils.errors import UserError
from nomad import conversations as conv_lib


def data_config(config) -> conv_lib.ChatDataConfig:
  return conv_lib.ChatDataConfig(source=config.data.source, data_dir=config.data.data_dir, file=config.data.file,
                                 subset_size=config.data.subset_size, seed=config.data.seed,
                                 pool_size=config.data.pool_size, format=conv_lib.ChatFormat(**config.format.to_dict()))


def sft_config(config, examples) -> sft.SFTConfig:
  """`config.sft` as an SFTConfig; steps = ceil(epochs * packed rows per epoch / batch) when teacher.epochs > 0."""
  cfg = sft.SFTConfig.from_dict(config.sft.to_dict())
  if config.teacher.epochs > 0:
    rows = sft.BatchStream(examples, seq_len=cfg.seq_len, batch_size=1, packed=cfg.pack).rows_per_epoch()
    cfg = dataclasses.replace(cfg, steps=max(1, math.ceil(config.teacher.epochs * rows / cfg.batch_size)))
  return cfg


def teacher_examples(config, tokenizer) -> tuple[list[conv_lib.Conversation], list[sft.Example]]:
  """The configured subset and its tokenised examples (loss masks by config.sft.prompt_masking)."""
  data = data_config(config)
  conversations = conv_lib.load_chat_data(data)
  cfg = sft.SFTConfig.from_dict(config.sft.to_dict())
  return conversations, conv_lib.to_examples(conversations, tokenizer, data.format, prompt_masking=cfg.prompt_masking,
                                             add_eos=cfg.add_eos, max_len=cfg.seq_len, truncate=cfg.truncate)


def _mesh(model, cfg: sft.SFTConfig) -> tuple[Any, Any]:
  """Data parallel over every device when the batch divides; weights placed by the logical-axis rules."""
  n = jax.device_count()
  if n == 1 or cfg.batch_size % n:
    return None, None
  mesh = sharding.make_mesh({"data": -1, "fsdp": 1, "tensor": 1})
  return mesh, sharding.param_shardings(model.config, mesh)


def train_teacher(config, workdir: str, *, model=None, show_progress: bool = True,
                  stop_at: int | None = None) -> sft.SFTResult:
  """Fine-tune the teacher of `config` (configs/nomad.py) in `workdir`; resumes from its latest checkpoint.

  model: a `LoadedModel` to train instead of `config.model` (tests pass a tiny one).
  """
  data = data_config(config)
  conv_lib.load_chat_data(data)  # Bad data stops here, before the model loads.
  if model is None:
    model = loaders.load_model(config.model)
  conversations, examples = teacher_examples(config, model.tokenizer)
  cfg = sft_config(config, examples)
  os.makedirs(workdir, exist_ok=True)
  io.write_jsonl(os.path.join(workdir, "teacher_data.jsonl"),
                 (dict(uid=c.uid, text=conv_lib.render(c, data.format), rounds=len(c.turns)) for c in conversations))
  mesh, shardings = _mesh(model, cfg)
  result = sft.train(examples, model.config, model.params, cfg, workdir, mesh=mesh, param_shardings=shardings,
                     stop_at=stop_at, show_progress=show_progress, model_id=getattr(model, "source", ""))
  losses = [r["loss"] for r in result.metrics if "loss" in r]
  io.write_json(os.path.join(workdir, "teacher_summary.json"), dict(
      model=getattr(model, "source", ""), source=data.source, subset_size=data.subset_size, seed=data.seed,
      pool_size=data.pool_size, conversations=len(conversations), examples=len(examples), steps=cfg.steps,
      prompt_masking=cfg.prompt_masking, loss_tokens_per_epoch=int(sum(e.loss_mask.sum() for e in examples)),
      final_loss=losses[-1] if losses else None))
  return result


def teacher_provenance(workdir: str) -> dict[str, Any]:
  """{step, fingerprint, model} of a finished teacher run in `workdir`; a UserError when there is none."""
  summary_path = os.path.join(workdir, "teacher_summary.json")
  ckpt_dir = os.path.join(workdir, "checkpoints")
  steps = sorted(int(n) for n in os.listdir(ckpt_dir) if n.isdigit()) if os.path.isdir(ckpt_dir) else []
  if not os.path.isfile(summary_path) or not steps:
    raise UserError(f"No trained NOMAD teacher in {workdir}; train it first with `python launch/train.py "
                    f"--config=configs/nomad.py --workdir={workdir}` (or run the pipeline).")
  summary = io.read_json_checked(summary_path)
  if steps[-1] < summary["steps"]:
    raise UserError(f"The teacher in {workdir} stopped at step {steps[-1]} of {summary['steps']}; rerun the same "
                    "train command to finish it.")
  with open(os.path.join(workdir, checkpoint_lib.CONFIG_FILE), encoding="utf-8") as f:
    fingerprint = checkpoint_lib.config_hash(f.read())
  return dict(step=steps[-1], fingerprint=fingerprint, model=summary.get("model", ""))


def load_teacher(config, workdir: str, *, model=None):
  """The trained teacher of `workdir` as a `LoadedModel` (LoRA merged), and its provenance.

  A finished run restores from its last checkpoint without training (`sft.train` resumes at its final step).
  model: the base `LoadedModel` (tests pass a tiny one); default `load_model(config.model)`.
  """
  provenance = teacher_provenance(workdir)
  if model is None:
    model = loaders.load_model(config.model)
  result = train_teacher(config, workdir, model=model, show_progress=False)
  return dataclasses.replace(model, params=jax.device_get(result.params)), provenance
