"""Loaders: GGUF (with llama.cpp's q/k permutation), Hugging Face folders, Orbax trees, and their errors."""
import os
import shutil

import gguf
import numpy as np
import pytest
import torch
import transformers

from datasynth.models import loaders
from datasynth.models.decoder import Decoder
from datasynth.models.loaders import _unpermute_rope, load_gguf, load_hf, load_model, load_orbax, save_orbax
from datasynth.utils.errors import UserError

VOCAB = 97
HF_CONFIG = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=8, max_position_embeddings=64, rope_theta=10_000.0,
                 tie_word_embeddings=False, attn_implementation="eager")


@pytest.fixture(scope="module")
def torch_llama():
  torch.manual_seed(0)
  model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**HF_CONFIG)).eval()
  with torch.no_grad():
    for p in model.parameters():
      p.normal_(0.0, 0.3)
  return model


def _permute(w: np.ndarray, n_heads: int) -> np.ndarray:
  """llama.cpp's conversion-time permutation of Llama q/k rows (what our loader must undo)."""
  return w.reshape(n_heads, 2, w.shape[0] // n_heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_tiny_gguf(path, model, arch="llama", bad_shape=False):
  """A real GGUF file of a tiny Llama, written the way llama.cpp's converter writes one (F32 tensors)."""
  sd = {k: v.numpy() for k, v in model.state_dict().items()}
  w = gguf.GGUFWriter(str(path), arch)
  w.add_block_count(2)
  w.add_context_length(64)
  w.add_embedding_length(32)
  w.add_feed_forward_length(64)
  w.add_head_count(4)
  w.add_head_count_kv(2)
  w.add_rope_freq_base(10_000.0)
  w.add_layer_norm_rms_eps(1e-6)
  w.add_tokenizer_model("gpt2")
  w.add_tokenizer_pre("default")
  byte_chars = [chr(c) for c in range(33, 33 + VOCAB - 2)]
  w.add_token_list(byte_chars + ["<s>", "</s>"])
  w.add_token_types([1] * (VOCAB - 2) + [3, 3])
  w.add_token_merges([])
  w.add_bos_token_id(VOCAB - 2)
  w.add_eos_token_id(VOCAB - 1)
  w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
  w.add_tensor("output.weight", sd["lm_head.weight"])
  w.add_tensor("output_norm.weight", sd["model.norm.weight"])
  for i in range(2):
    p = f"model.layers.{i}."
    w.add_tensor(f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"])
    w.add_tensor(f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
    w.add_tensor(f"blk.{i}.attn_q.weight", _permute(sd[p + "self_attn.q_proj.weight"], 4))
    w.add_tensor(f"blk.{i}.attn_k.weight", _permute(sd[p + "self_attn.k_proj.weight"], 2))
    w.add_tensor(f"blk.{i}.attn_v.weight", sd[p + "self_attn.v_proj.weight"])
    w.add_tensor(f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"])
    gate = sd[p + "mlp.gate_proj.weight"]
    w.add_tensor(f"blk.{i}.ffn_gate.weight", gate[:48] if bad_shape else gate)
    w.add_tensor(f"blk.{i}.ffn_up.weight", sd[p + "mlp.up_proj.weight"])
    w.add_tensor(f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"])
  w.write_header_to_file()
  w.write_kv_data_to_file()
  w.write_tensors_to_file()
  w.close()
  return str(path)


def _logits(loaded, tokens):
  return np.asarray(Decoder(loaded.config).apply({"params": loaded.params}, tokens).logits)


TOKENS = np.random.RandomState(0).randint(0, VOCAB - 2, size=(2, 11))


def test_unpermute_inverts_llama_cpp_permutation():
  w = np.random.RandomState(1).randn(24, 5)
  np.testing.assert_array_equal(_unpermute_rope(_permute(w, 3), 3), w)


def test_gguf_llama_matches_torch(tmp_path, torch_llama):
  loaded = load_gguf(write_tiny_gguf(tmp_path / "tiny.gguf", torch_llama))
  assert loaded.config.architecture == "llama" and not loaded.config.tie_embeddings
  with torch.no_grad():
    ref = torch_llama(torch.tensor(TOKENS)).logits.numpy()
  assert np.abs(_logits(loaded, TOKENS) - ref).max() < 1e-4
  assert loaded.tokenizer.bos_id == VOCAB - 2 and loaded.tokenizer.add_bos is False


def test_hf_folder_and_orbax_round_trip(tmp_path, torch_llama, smollm2):
  folder = tmp_path / "hf"
  torch_llama.save_pretrained(folder, safe_serialization=True)
  smollm2.tokenizer.save(str(tmp_path / "tok"))  # Any tokenizer.json will do for the folder layout.
  shutil.copy(tmp_path / "tok" / "tokenizer.json", folder / "tokenizer.json")
  loaded = load_hf(str(folder))
  with torch.no_grad():
    ref = torch_llama(torch.tensor(TOKENS)).logits.numpy()
  assert np.abs(_logits(loaded, TOKENS) - ref).max() < 1e-4
  save_orbax(loaded, str(tmp_path / "orbax"))
  again = load_model(str(tmp_path / "orbax"))  # Dispatches to load_orbax by the folder's contents.
  assert again.config == loaded.config
  np.testing.assert_array_equal(_logits(again, TOKENS), _logits(loaded, TOKENS))
  assert again.tokenizer.encode("hello world") == loaded.tokenizer.encode("hello world")
  assert not os.path.exists(str(tmp_path / "orbax") + ".tmp")


def test_missing_files_name_the_input(tmp_path):
  with pytest.raises(UserError, match="nope.gguf"):
    load_gguf(str(tmp_path / "nope.gguf"))
  with pytest.raises(UserError, match="config.json"):
    load_hf(str(tmp_path))
  with pytest.raises(UserError, match="Orbax model config"):
    load_orbax(str(tmp_path))


def test_corrupt_and_truncated_gguf(tmp_path, torch_llama):
  good = write_tiny_gguf(tmp_path / "good.gguf", torch_llama)
  data = open(good, "rb").read()
  truncated = tmp_path / "truncated.gguf"
  truncated.write_bytes(data[: len(data) // 2])
  with pytest.raises(ValueError, match="truncated.gguf.*(not a readable GGUF|damaged)"):
    load_gguf(str(truncated))
  corrupt = tmp_path / "corrupt.gguf"
  corrupt.write_bytes(b"NOPE" + data[4:])
  with pytest.raises(ValueError, match="corrupt.gguf is not a readable GGUF file"):
    load_gguf(str(corrupt))


def test_unknown_architecture_in_gguf(tmp_path, torch_llama):
  path = write_tiny_gguf(tmp_path / "mamba.gguf", torch_llama, arch="mamba")
  with pytest.raises(ValueError, match="Unknown architecture 'mamba' in .*mamba.gguf"):
    load_gguf(path)


def test_weight_shape_mismatch_names_the_tensor(tmp_path, torch_llama):
  path = write_tiny_gguf(tmp_path / "bad.gguf", torch_llama, bad_shape=True)
  with pytest.raises(ValueError, match=r"Weight shape mismatch in .*bad.gguf: model.layers.0.mlp.gate_proj.weight"):
    load_gguf(path)


def test_text_longer_than_context_is_an_error(smollm2):
  ids = smollm2.tokenizer.encode("word" * 100)
  assert len(ids) > 64
  with pytest.raises(ValueError, match=f"Sequence 0 has {len(ids)} tokens, more than the allowed 64"):
    smollm2.tokenizer.pad_batch([ids], length=64)
  config = smollm2.config.replace(max_len=64)
  with pytest.raises(ValueError, match="exceeds the model's context of 64"):
    Decoder(config).apply({"params": smollm2.params}, np.array([ids]))


def test_missing_model_package_names_the_fix(monkeypatch):
  with pytest.raises(UserError, match="scripts/setup.sh"):
    loaders.package_file("not-a-real-model-package", "x.gguf")
