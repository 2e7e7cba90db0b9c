"""Teacher training wiring: config presets, epochs -> steps, and a tiny-model run in both masking modes."""
import json

import numpy as np
import pytest

from datasynth.models.loaders import LoadedModel
from datasynth.utils.errors import UserError
from nomad import config as config_lib, teacher
from tests.datasynth.train.sft_fixtures import TINY, tiny_params
from tests.modules import load_file


class CharTokenizer:
  """One id per character, folded into the tiny model's 64-token vocabulary. BOS = 1, EOS = 2."""
  bos_id, eos_id, pad_id, add_bos = 1, 2, 0, True

  def encode(self, text, *, add_bos=None, add_eos=False):
    ids = [3 + ord(ch) % 61 for ch in text]
    ids = ([self.bos_id] if (self.add_bos if add_bos is None else add_bos) else []) + ids
    return ids + [self.eos_id] if add_eos else ids


def _config(tmp_path, arg):
  rows = [{"prompt": f"Say {w}.", "response": f"{w} {w}."} for w in ("hi", "yes", "no", "ok", "go", "up")]
  path = tmp_path / "chat.jsonl"
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  c = config_lib.get_config(arg)
  c.data.source = str(path)
  c.sft.batch_size, c.sft.seq_len, c.sft.lr, c.sft.log_every = 2, 64, 1e-2, 1
  return c


def test_presets_set_masking_subset_and_the_papers_recipe():
  assert config_lib.get_config().sft.prompt_masking is False and config_lib.get_config().model == "gemma3-270m"
  c = config_lib.get_config("paper,masked,subset500")
  assert (c.sft.prompt_masking, c.data.subset_size, c.teacher.epochs, c.sft.lr, c.sft.batch_size) == (
      True, 500, 2.0, 2e-5, 128)
  with pytest.raises(UserError, match="preset 'subsetx'"):
    config_lib.get_config("subsetx")


def test_config_file_matches_the_package_config():
  module = load_file("configs/nomad.py", "configs_nomad")
  assert module.get_config("masked").to_dict() == config_lib.get_config("masked").to_dict()


def test_tiny_teacher_trains_in_the_work_dir(tmp_path):
  model = LoadedModel(config=TINY, params=tiny_params(), tokenizer=CharTokenizer(), source="tiny")
  c = _config(tmp_path, "unmasked,subset4")
  c.teacher.epochs = 2.0
  result = teacher.train_teacher(c, str(tmp_path / "w"), model=model, show_progress=False)
  summary = json.loads((tmp_path / "w" / "teacher_summary.json").read_text())
  losses = [r["loss"] for r in result.metrics if "loss" in r]
  _, examples = teacher.teacher_examples(c, model.tokenizer)
  rows = -(-sum(len(e.ids) for e in examples) // 64)  # Packed 64-token rows per epoch (lower bound).
  assert summary["conversations"] == 4 and summary["steps"] == len(losses) >= rows  # 2 epochs of 2-row batches.
  assert np.isfinite(losses).all() and losses[-1] < losses[0]
  lines = (tmp_path / "w" / "teacher_data.jsonl").read_text().splitlines()
  assert len(lines) == 4 and json.loads(lines[0])["text"].startswith("User: Say ")


def test_the_unmasked_teacher_has_loss_on_user_turns_and_the_masked_one_not(tmp_path):
  tok = CharTokenizer()
  counts = {}
  for arg in ("unmasked", "masked"):
    conversations, examples = teacher.teacher_examples(_config(tmp_path, arg + ",subset0"), tok)
    counts[arg] = sum(int(e.loss_mask.sum()) for e in examples)
    if arg == "masked":  # Loss tokens = the assistant turns' characters + EOS.
      assert counts[arg] == sum(len(c.turns[0][1]) + 1 for c in conversations)
  assert counts["unmasked"] == sum(len(e.ids) - 1 for e in examples)


def test_bad_data_stops_before_the_model_loads(tmp_path):
  c = _config(tmp_path, "subset7")
  with pytest.raises(UserError, match=r"subset_size=7 .* holds 6 conversations"):
    teacher.train_teacher(c, str(tmp_path / "w"), model=None)
