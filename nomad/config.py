"""The NOMAD teacher's run configuration: one base `ConfigDict` (configs/nomad.py) plus presets.

`get_config(arg)`: `arg` is the text after the colon of `--config=configs/nomad.py:ARG`, a comma-separated list of
presets applied in order:
  cpu (default)   the embedded Gemma 3 270M base, a 128-conversation Alpaca subset, 1 epoch of 4 x 256 tokens;
  paper           the paper's recipe (Chen et al., Sec. 4): 15K conversations, 2 epochs, lr 2e-5, batch 128;
  unmasked        loss on every token, the NOMAD teacher (default);
  masked          loss on assistant turns only (the paper's baseline teacher);
  subsetN         subset_size = N conversations (subset0 = all), e.g. `:cpu,masked,subset500`.
The `sft` section holds `datasynth.sft.SFTConfig` fields; it starts from the dataclass defaults and the presets set
only what differs (defaults are stated once, in the dataclass).
"""
from __future__ import annotations

import dataclasses
import re

import ml_collections

from datasynth import sft
from datasynth.errors import UserError
from nomad.chat import ChatFormat


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.method = "nomad"  # The method this config drives (launchers dispatch on it).
  c.model = "gemma3-270m"  # Teacher M_synthesis: a *pretrained* (base) model; preset name or checkpoint folder.

  c.data = ml_collections.ConfigDict()  # nomad.chat.ChatDataConfig.
  c.data.source = "alpaca"  # lima | alpaca (shared data folder) | path to JSON Lines of {prompt, response}/{messages}.
  c.data.data_dir = ""  # Shared data folder; "" -> $DATASYNTH_DATA or ../shared/data.
  c.data.subset_size = 128  # Conversations drawn (seeded) for the teacher; 0 = all. Paper: 15K of TULU v2's 300K.
  c.data.seed = 0  # Seed of the subset draw.

  c.format = ml_collections.ConfigDict(dataclasses.asdict(ChatFormat()))  # The unified template's pieces:
  # user_prefix "User: ", assistant_prefix "Assistant: ", separator / turn_separator "\n\n" (datasynth.sft.CHAT_*).

  c.teacher = ml_collections.ConfigDict()
  c.teacher.epochs = 1.0  # Passes over the subset; sets sft.steps when > 0 (paper: 2). 0: use sft.steps as given.

  c.sft = ml_collections.ConfigDict(dataclasses.asdict(sft.SFTConfig()))  # datasynth.sft.SFTConfig fields.
  c.sft.prompt_masking = False  # NOMAD: no prompt masking (loss on user and assistant turns); preset masked: True.
  c.sft.batch_size = 4  # Packed rows per step.
  c.sft.seq_len = 256  # Tokens per row; longer conversations are cut.
  c.sft.lr = 2e-5  # Paper: 2e-5.
  c.sft.warmup_steps = 2  # Linear warmup.
  c.sft.save_every = 50  # Checkpoint cadence (steps).
  c.sft.keep = 1  # Checkpoints kept (Gemma 3 270M's full state is ~3 GB).
  return c


def apply_presets(c: ml_collections.ConfigDict, arg: str) -> ml_collections.ConfigDict:
  for name in [p.strip() for p in (arg or "").split(",") if p.strip()]:
    subset = re.fullmatch(r"subset(\d+)", name)
    if name == "cpu":
      pass
    elif name == "paper":
      c.data.subset_size = 15000  # Paper: a 15K subset beat training on all 300K.
      c.teacher.epochs = 2.0
      c.sft.batch_size = 128
      c.sft.seq_len = 2048  # Ours (the paper does not state it).
      c.sft.warmup_steps = 10  # Ours.
      c.sft.bf16 = True
      c.sft.log_every = 10
      c.sft.save_every = 100
      c.sft.keep = 2
    elif name in ("masked", "unmasked"):
      c.sft.prompt_masking = name == "masked"
    elif subset:
      c.data.subset_size = int(subset.group(1))
    else:
      raise UserError(f"Unknown configs/nomad.py preset {name!r}; expected cpu, paper, masked, unmasked or subsetN "
                       "(e.g. subset500).")
  return c


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return apply_presets(base_config(), arg or "")
