"""Flax sentence encoder: parity with transformers (PyTorch) on the embedded MiniLM and on tiny random BERT / MPNet."""
import json
import os
import shutil

import numpy as np
import pytest
import torch
import transformers

from datasynth.models import encoder
from datasynth.utils.errors import UserError

TEXTS = ["A man is eating food.", "The quick brown fox jumps over the lazy dog!", "",
         "NormSim is the maximum cosine similarity to the original set. " * 30]  # The last one is truncated (256).


@pytest.fixture(scope="session")
def minilm():
  return encoder.load_sentence_encoder()


def _torch_sentence_embeddings(model, ids, mask):
  with torch.no_grad():
    h = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask, dtype=torch.long)).last_hidden_state
  m = torch.tensor(mask, dtype=torch.float32)[..., None]
  return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1).numpy()


def test_minilm_matches_transformers_and_its_tokenizer(minilm):
  path = encoder.default_encoder_path()
  tok = transformers.AutoTokenizer.from_pretrained(path)
  batch = tok(TEXTS, padding=True, truncation=True, max_length=256, return_tensors="np")
  mask = batch["attention_mask"].astype(bool)
  assert minilm.token_ids(TEXTS) == [ids[m].tolist() for ids, m in zip(batch["input_ids"], mask)]
  assert minilm.config.arch == "bert" and minilm.max_seq_length == 256 and mask[-1].sum() == 256
  ref = _torch_sentence_embeddings(transformers.AutoModel.from_pretrained(path).eval(), batch["input_ids"], mask)
  ours = minilm.encode(TEXTS, batch_size=3)
  assert ours.shape == (4, 384)
  np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
  assert np.abs(ours - ref).max() < 1e-4


def test_an_embedding_does_not_depend_on_its_batch(minilm):
  alone = minilm.encode(TEXTS[:1], batch_size=3)  # Batch shapes of the parity test: compiled once.
  together = minilm.encode(TEXTS[::-1], batch_size=3)[::-1]
  assert np.abs(alone[0] - together[0]).max() < 1e-5
  assert together[0] @ together[1] < 0.5  # Unrelated sentences are not near-duplicates.


def _random_tree_like_hf(model, seed=0):
  g = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for p in model.parameters():  # Larger than HF's 0.02 init, so every weight visibly matters.
      p.copy_(torch.randn(p.shape, generator=g) * 0.2)
  return model


def _tiny(arch, tmp_path):
  kw = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
            max_position_embeddings=80)
  if arch == "bert":
    model = transformers.BertModel(transformers.BertConfig(**kw), add_pooling_layer=False)
  else:
    model = transformers.MPNetModel(transformers.MPNetConfig(**kw), add_pooling_layer=False)
  model = _random_tree_like_hf(model).eval()
  folder = tmp_path / arch
  model.save_pretrained(folder, safe_serialization=True)
  return model, str(folder)


@pytest.mark.parametrize("arch", ["bert", "mpnet"])
def test_tiny_random_encoders_match_transformers(arch, tmp_path):
  model, folder = _tiny(arch, tmp_path)
  shutil.copy(os.path.join(encoder.default_encoder_path(), "tokenizer.json"), folder)
  with open(os.path.join(folder, "config.json")) as f:
    cfg = encoder.config_from_hf(json.load(f), folder)
  rng = np.random.default_rng(0)
  lengths = [40, 7, 1]  # 40 tokens reach MPNet's logarithmic relative-position buckets.
  ids = np.full((3, 40), cfg.pad_id, np.int64)
  mask = np.zeros((3, 40), bool)
  for i, n in enumerate(lengths):
    ids[i, :n], mask[i, :n] = rng.integers(2, 99, n), True
  params = encoder.params_from_hf(lambda n: model.state_dict()[n].numpy(), cfg)
  hidden = encoder.Encoder(cfg).apply({"params": params}, ids.astype(np.int32), mask)
  with torch.no_grad():
    ref = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask, dtype=torch.long)).last_hidden_state
  assert np.abs(np.asarray(hidden)[mask] - ref.numpy()[mask]).max() < 1e-4
  loaded = encoder.load_sentence_encoder(folder)
  assert loaded.config == cfg and loaded.max_seq_length == min(512, cfg.max_len)


def test_relative_position_bucket_matches_mpnet():
  offsets = torch.arange(-300, 301)
  ref = transformers.models.mpnet.modeling_mpnet.MPNetEncoder.relative_position_bucket(offsets, num_buckets=32)
  ours = encoder.relative_position_bucket(np.arange(-300, 301), 32, 128)
  np.testing.assert_array_equal(np.asarray(ours), ref.numpy())


def test_missing_folder_is_one_clear_error(tmp_path):
  with pytest.raises(UserError, match="does not exist"):
    encoder.load_sentence_encoder(str(tmp_path / "all-mpnet-base-v2"))
  with pytest.raises(UserError, match="no config.json"):
    encoder.load_sentence_encoder(str(tmp_path))


def test_folder_without_weights_or_tokenizer(tmp_path):
  (tmp_path / "config.json").write_text(open(os.path.join(encoder.default_encoder_path(), "config.json")).read())
  with pytest.raises(UserError, match="safetensors"):
    encoder.load_sentence_encoder(str(tmp_path))
  shutil.copy(os.path.join(encoder.default_encoder_path(), "model.safetensors"), tmp_path)
  with pytest.raises(UserError, match="tokenizer.json"):
    encoder.load_sentence_encoder(str(tmp_path))


def test_unsupported_architecture_names_the_supported_ones():
  with pytest.raises(UserError, match=r"model_type 'roberta' is not a supported sentence encoder.*bert.*mpnet"):
    encoder.config_from_hf({"model_type": "roberta"}, "some/folder")
