"""Tiny random decoder and synthetic (prompt, response) examples shared by the SFT and LoRA tests."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from datasynth.models.config import make_config
from datasynth.models.decoder import Decoder
from datasynth.train.sft import Example

TINY = make_config("llama", vocab_size=64, width=32, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=8,
                   mlp_dim=64, max_len=128)


def tiny_params(seed: int = 0):
  variables = Decoder(TINY).init(jax.random.key(seed), jnp.zeros((1, 4), jnp.int32))
  return jax.tree.map(np.asarray, nn.meta.unbox(variables["params"]))


def tiny_examples(n: int = 12, seed: int = 0, prompt_masking: bool = True) -> list[Example]:
  """Learnable toy task: the response repeats the prompt's tokens (so the loss can fall quickly)."""
  rng = np.random.default_rng(seed)
  out = []
  for i in range(n):
    p = rng.integers(3, 64, size=int(rng.integers(2, 7)))
    ids = np.concatenate([[1], p, [2], p, [2]]).astype(np.int32)
    mask = np.zeros(len(ids), bool)
    mask[len(p) + 2:] = True
    if not prompt_masking:
      mask[1:] = True
    out.append(Example(ids, mask, f"toy/{i}"))
  return out
