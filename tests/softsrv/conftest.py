"""SoftSRV test fixtures: tiny random decoders with a real tokenizer (fast unit tests) and a small config."""
import pathlib

import jax
import numpy as np
import pytest

from datasynth.models.config import make_config
from datasynth.models.decoder import Decoder
from datasynth.models.loaders import LoadedModel
from softsrv.config import get_config

REPO = pathlib.Path(__file__).resolve().parents[2]


def tiny_model(real: LoadedModel, seed: int = 0, width: int = 32, max_len: int = 256) -> LoadedModel:
  """A 2-layer random Llama with `real`'s tokenizer (so real text tokenises), as a LoadedModel."""
  tok = real.tokenizer
  cfg = make_config("llama", vocab_size=real.config.vocab_size, width=width, num_layers=2, num_heads=4,
                    num_kv_heads=2, head_dim=8, mlp_dim=64, max_len=max_len, bos_id=tok.bos_id, eos_id=tok.eos_id,
                    pad_id=tok.pad_id)
  import flax.linen as nn
  params = nn.meta.unbox(Decoder(cfg).init(jax.random.key(seed), np.zeros((1, 4), np.int32))["params"])
  params = jax.tree.map(np.asarray, params)
  return LoadedModel(config=cfg, params=params, tokenizer=tok, source=f"tiny-random-{seed}-{width}")


def _tiny_config(data_dir, **over):
  c = get_config("mbpp")
  c.data.data_dir = str(data_dir)
  c.data.limit = 40
  c.data.heldout = 8
  c.data.max_len = 40
  c.soft_prompt.t = 4
  c.soft_prompt.hidden = 16
  c.context.max_len = 32
  c.context.batch_size = 16
  c.train.steps = 6
  c.train.batch_size = 8
  c.train.warmup_steps = 1
  c.train.log_every = 2
  c.train.eval_every = 3
  c.train.loss_chunk = 8
  c.train.num_devices = 1
  c.checkpoint.save_every = 2
  c.show_progress = False
  for k, v in over.items():
    node = c
    *parents, leaf = k.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = v
  return c


@pytest.fixture(scope="session")
def tiny(smollm2):
  """(H, E): two tiny random decoders with SmolLM2's tokenizer."""
  return tiny_model(smollm2, 0), tiny_model(smollm2, 1, width=24)


@pytest.fixture(scope="session")
def tiny_config(data_dir):
  """tiny_config(**{"train.steps": 3, ...}) -> a small MBPP config reading the shared data."""
  return lambda **over: _tiny_config(data_dir, **over)


@pytest.fixture(scope="session")
def repo():
  return REPO
