"""Hugging Face weight names <-> the Flax decoder's parameter tree.

Every loader (HF safetensors, GGUF) first produces tensors under Hugging Face names in PyTorch layout ([out, in]);
`params_from_hf` is then the single place that knows how those map onto `Decoder`'s (scanned, stacked) parameters.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from datasynth.models.config import DecoderConfig
from datasynth.utils.errors import UserError

GetTensor = Callable[[str], np.ndarray]


def _norm_names(config: DecoderConfig) -> dict[str, str]:
  """Our norm name -> HF name of layer norms. Llama and Gemma 1 call the pre-MLP norm post_attention_layernorm."""
  if config.post_norms:
    return {"pre_attn_norm": "input_layernorm", "post_attn_norm": "post_attention_layernorm",
            "pre_mlp_norm": "pre_feedforward_layernorm", "post_mlp_norm": "post_feedforward_layernorm"}
  return {"pre_attn_norm": "input_layernorm", "pre_mlp_norm": "post_attention_layernorm"}


def hf_names(config: DecoderConfig) -> list[str]:
  """All HF tensor names the config needs (the checklist a loader verifies before converting)."""
  names = ["model.embed_tokens.weight", "model.norm.weight"]
  if not config.tie_embeddings:
    names.append("lm_head.weight")
  for i in range(config.num_layers):
    p = f"model.layers.{i}."
    names += [p + f"{n}.weight" for n in _norm_names(config).values()]
    names += [p + f"self_attn.{n}_proj.weight" for n in "qkvo"]
    names += [p + f"mlp.{n}_proj.weight" for n in ("gate", "up", "down")]
    if config.qkv_bias:
      names += [p + f"self_attn.{n}_proj.bias" for n in "qkv"]
    if config.qk_norm:
      names += [p + "self_attn.q_norm.weight", p + "self_attn.k_norm.weight"]
  return names


def _expect(name: str, array: np.ndarray, shape: tuple[int, ...], source: str) -> np.ndarray:
  if tuple(array.shape) != tuple(shape):
    raise UserError(
        f"Weight shape mismatch in {source}: {name} has shape {tuple(array.shape)}, the config expects {shape}. "
        "The checkpoint does not match its config (wrong file or a different model size).")
  return array


def params_from_hf(config: DecoderConfig, get: GetTensor, source: str, dtype=np.float32) -> dict:
  """Build the Decoder's parameter tree from HF-named tensors returned by `get(name)`."""
  c = config
  e = lambda name, shape: _expect(name, np.asarray(get(name)), shape, source).astype(dtype)
  params: dict = {"embedding": e("model.embed_tokens.weight", (c.vocab_size, c.width)),
                  "final_norm": {"scale": e("model.norm.weight", (c.width,))}}
  if not c.tie_embeddings:
    params["lm_head"] = e("lm_head.weight", (c.vocab_size, c.width)).T
  hq, hk, hd, d = c.num_heads, c.num_kv_heads, c.head_dim, c.width

  def layer(i: int) -> dict:
    p = f"model.layers.{i}."
    attn = {
        "q": e(p + "self_attn.q_proj.weight", (hq * hd, d)).reshape(hq, hd, d).transpose(2, 0, 1),
        "k": e(p + "self_attn.k_proj.weight", (hk * hd, d)).reshape(hk, hd, d).transpose(2, 0, 1),
        "v": e(p + "self_attn.v_proj.weight", (hk * hd, d)).reshape(hk, hd, d).transpose(2, 0, 1),
        "o": e(p + "self_attn.o_proj.weight", (d, hq * hd)).T.reshape(hq, hd, d),
    }
    if c.qkv_bias:
      attn["q_bias"] = e(p + "self_attn.q_proj.bias", (hq * hd,)).reshape(hq, hd)
      attn["k_bias"] = e(p + "self_attn.k_proj.bias", (hk * hd,)).reshape(hk, hd)
      attn["v_bias"] = e(p + "self_attn.v_proj.bias", (hk * hd,)).reshape(hk, hd)
    if c.qk_norm:
      attn["q_norm"] = {"scale": e(p + "self_attn.q_norm.weight", (hd,))}
      attn["k_norm"] = {"scale": e(p + "self_attn.k_norm.weight", (hd,))}
    out = {"attn": attn, "mlp": {
        "gate": e(p + "mlp.gate_proj.weight", (c.mlp_dim, d)).T,
        "up": e(p + "mlp.up_proj.weight", (c.mlp_dim, d)).T,
        "down": e(p + "mlp.down_proj.weight", (d, c.mlp_dim)).T}}
    for ours, theirs in _norm_names(c).items():
      out[ours] = {"scale": e(p + f"{theirs}.weight", (d,))}
    return out

  layers = [layer(i) for i in range(c.num_layers)]
  params["layers"] = _stack(layers)
  return params


def _stack(trees: list[dict]) -> dict:
  """Stack a list of identical nested dicts of arrays along a new leading (layer) axis."""
  first = trees[0]
  if isinstance(first, dict):
    return {k: _stack([t[k] for t in trees]) for k in first}
  return np.stack(trees)
