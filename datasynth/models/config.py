"""One typed configuration for every decoder family the project runs (Gemma 1/2/3, Llama, Qwen2).

The families differ only in switches on one decoder: which norms exist, how attention logits are scaled and capped,
which layers are local (sliding window) and which rope base each layer uses. Presets and the loaders in this package
produce a `DecoderConfig`; the Flax module in `decoder.py` reads nothing else.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

from datasynth.utils.errors import UserError

ARCHITECTURES = ("gemma", "gemma2", "gemma3", "llama", "qwen2")


@dataclasses.dataclass(frozen=True)
class DecoderConfig:
  architecture: str  # One of ARCHITECTURES; decides the family defaults below.
  vocab_size: int  # Rows of the token embedding (and of the output head).
  width: int  # Model width d (embedding size); a soft prompt is [t, width].
  num_layers: int  # Number of decoder blocks.
  num_heads: int  # Query heads.
  num_kv_heads: int  # Key/value heads (grouped-query attention when < num_heads).
  head_dim: int  # Width of one attention head.
  mlp_dim: int  # Hidden width of the gated MLP.
  activation: str = "silu"  # Gate activation: "silu" (Llama, Qwen2) or "gelu_tanh" (Gemma).
  norm_eps: float = 1e-6  # RMSNorm epsilon.
  norm_plus_one: bool = False  # Gemma RMSNorm scales by (1 + w); Llama by w.
  embed_scale: bool = False  # Gemma multiplies token embeddings by sqrt(width).
  tie_embeddings: bool = True  # Output head is the transposed token embedding.
  rope_theta: float = 10_000.0  # Rope base of global layers.
  rope_local_theta: float | None = None  # Rope base of local layers (Gemma 3: 1e4); None -> rope_theta.
  rope_scaling_factor: float = 1.0  # Linear rope scaling of global layers (Gemma 3 4B+: 8).
  sliding_window: int | None = None  # Window of local layers, in tokens.
  layer_types: tuple[str, ...] = ()  # Per layer "global" or "local"; empty -> all global.
  attn_logit_softcap: float | None = None  # Gemma 2: tanh soft-capping of attention logits.
  final_logit_softcap: float | None = None  # Gemma 2: tanh soft-capping of output logits.
  query_pre_attn_scalar: float | None = None  # Queries scaled by this**-0.5; None -> head_dim.
  post_norms: bool = False  # Gemma 2/3: extra RMSNorm after attention and after the MLP.
  qk_norm: bool = False  # Gemma 3: RMSNorm on queries and keys per head.
  qkv_bias: bool = False  # Qwen2: bias on the q, k, v projections.
  max_len: int = 8192  # Context length the model was trained for; longer inputs are an error.
  bos_id: int | None = None  # Token ids, carried for tokenizers and samplers.
  eos_id: int | None = None
  pad_id: int | None = None

  def __post_init__(self):
    if self.architecture not in ARCHITECTURES:
      raise UserError(
          f"Unknown architecture {self.architecture!r}; expected one of {', '.join(ARCHITECTURES)}.")
    if self.layer_types and len(self.layer_types) != self.num_layers:
      raise UserError(f"layer_types has {len(self.layer_types)} entries for {self.num_layers} layers.")
    if any(t not in ("global", "local") for t in self.layer_types):
      raise UserError(f"layer_types must hold 'global' or 'local', got {set(self.layer_types)}.")
    if self.num_heads % self.num_kv_heads:
      raise UserError(f"num_heads={self.num_heads} is not a multiple of num_kv_heads={self.num_kv_heads}.")

  @property
  def is_local(self) -> tuple[bool, ...]:
    """Per layer: does it use the sliding window (and the local rope base)?"""
    if not self.layer_types:
      return (False,) * self.num_layers
    return tuple(t == "local" for t in self.layer_types)

  def replace(self, **kw) -> "DecoderConfig":
    return dataclasses.replace(self, **kw)

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> "DecoderConfig":
    d: dict[str, Any] = json.loads(text)
    d["layer_types"] = tuple(d.get("layer_types", ()))
    return cls(**d)

  def num_params(self) -> int:
    """Parameter count (embedding counted once when tied)."""
    attn = self.width * self.head_dim * (2 * self.num_heads + 2 * self.num_kv_heads)
    mlp = 3 * self.width * self.mlp_dim
    norms = self.width * (4 if self.post_norms else 2) + (2 * self.head_dim if self.qk_norm else 0)
    embed = self.vocab_size * self.width * (1 if self.tie_embeddings else 2)
    return self.num_layers * (attn + mlp + norms) + embed + self.width

  def flops_per_token(self, context: int) -> float:
    """Forward matmul FLOPs per token (2 per multiply-add), with attention over `context` keys."""
    dense = 2 * (self.num_params() - self.vocab_size * self.width * (0 if self.tie_embeddings else 1))
    attn = 2 * 2 * self.num_layers * self.num_heads * self.head_dim * context
    return float(dense + attn)


def gemma_layer_types(num_layers: int, pattern: int) -> tuple[str, ...]:
  """Gemma 2 (pattern 2) and Gemma 3 (pattern 6): every `pattern`-th layer is global, the rest local."""
  return tuple("global" if (i + 1) % pattern == 0 else "local" for i in range(num_layers))


# Family defaults applied by presets and loaders; fields not named keep DecoderConfig's defaults.
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "gemma": dict(activation="gelu_tanh", norm_plus_one=True, embed_scale=True, tie_embeddings=True),
    "gemma2": dict(activation="gelu_tanh", norm_plus_one=True, embed_scale=True, tie_embeddings=True,
                   post_norms=True),
    "gemma3": dict(activation="gelu_tanh", norm_plus_one=True, embed_scale=True, tie_embeddings=True,
                   post_norms=True, qk_norm=True, rope_local_theta=10_000.0),
    "llama": dict(activation="silu"),
    "qwen2": dict(activation="silu", qkv_bias=True),
}


def make_config(architecture: str, **fields) -> DecoderConfig:
  """A DecoderConfig with the family defaults of `architecture` under the given fields."""
  if architecture not in FAMILY_DEFAULTS:
    raise UserError(
        f"Unknown architecture {architecture!r}; expected one of {', '.join(ARCHITECTURES)}.")
  return DecoderConfig(architecture=architecture, **{**FAMILY_DEFAULTS[architecture], **fields})
