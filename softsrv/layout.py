"""The one sequence layout SoftSRV trains and samples: `[P_theta(z)] [BOS x EOS]`.

  position   0 .. t-1          t     t+1 .. t+n    t+n+1
  input      P_theta(z)_1..t   BOS   x_1 .. x_n    EOS    [pad]
  predicts   (no loss)         x_1   x_2 .. EOS    (none)

BOS follows the soft prompt, so x starts the way H's pretraining documents start. The loss is the next-token
cross-entropy of x_1 .. x_n, EOS, read at the hidden states of BOS .. x_n (no loss on the prompt, BOS or padding);
generation feeds `[P_theta(z)] [BOS]` and samples x until EOS. Like prompt-tuning's named combination functions
(`prefix_prompt_after_bos(prompt, x_embed, x)`), this object is the layout's single definition: tokenisation
(`softsrv.workdir.tokenize`), the loss slice (`softsrv.loss`), the context checks of training and generation and the
sampler's inputs (`softsrv.generator`) all ask it, so they cannot disagree.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class Layout:
  t: int  # Soft tokens of P_theta(z).
  add_eos: bool = True  # x ends with EOS (the generator learns where an example ends).

  @classmethod
  def from_config(cls, config) -> "Layout":
    return cls(t=config.soft_prompt.t, add_eos=config.data.add_eos)

  # ---------------------------------------------------------------------------------------------- tokens
  def encode(self, tokenizer, text: str) -> list[int]:
    """H's token ids of one example: BOS x (EOS); the prompt comes in as embeddings, not ids."""
    return tokenizer.encode(text, add_bos=True, add_eos=self.add_eos)

  def positions(self, num_tokens: int) -> int:
    """Positions of H's context one example uses: t soft tokens + its `num_tokens` (BOS .. EOS)."""
    return self.t + num_tokens

  # ---------------------------------------------------------------------------------------------- training
  def input_mask(self, mask: jax.Array) -> jax.Array:
    """[B, t + L] validity of [P; tokens]: every soft token is real, then the tokens' own mask [B, L]."""
    return jnp.concatenate([jnp.ones((mask.shape[0], self.t), bool), mask], axis=1)

  def predicting(self, hidden: jax.Array, length: int, *, prompt_in_rows: bool = True) -> jax.Array:
    """The hidden states that predict x_1 .. EOS: those of BOS .. x_n, [B, L-1, d], of a [B, t + L, d] forward
    (`prompt_in_rows=False`: the prompt ran as a shared cache segment, so the rows hold the L tokens only)."""
    start = self.t if prompt_in_rows else 0
    return hidden[:, start:start + length - 1]

  @staticmethod
  def targets(ids: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(x_1 .. EOS token ids, their float32 loss weights), [B, L-1] each: BOS and padding are never targets."""
    return ids[:, 1:], mask[:, 1:].astype(jnp.float32)

  # ---------------------------------------------------------------------------------------------- generation
  def generation_prompts(self, n: int) -> tuple[list[str], bool]:
    """The token part of `n` rows fed after P_theta(z) to sample from: (texts, add_bos) = BOS alone."""
    return [""] * n, True

  def generation_positions(self, max_new_tokens: int) -> int:
    """Positions of H's context a sample uses: [P (t)] [BOS] [max_new_tokens]."""
    return self.t + 1 + max_new_tokens
