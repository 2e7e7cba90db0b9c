"""SoftSRV generation: per-process shards that tile the items, provenance fields, determinism, clear errors."""
import json
import os

import numpy as np
import pytest

from datasynth import sampling
from softsrv import generate as generate_lib
from softsrv import train as train_lib


def _rows(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


def test_process_shards_tile_the_items_with_provenance(tiny, tiny_config, tmp_path):
  h_model, e_model = tiny
  over = {"train.steps": 2, "generate.num_samples": 10, "generate.batch_size": 4, "generate.chunk": 3,
          "generate.max_new_tokens": 6}
  config = tiny_config(**over)
  workdir = str(tmp_path / "run")
  trained = train_lib.train(config, workdir, model=h_model, context_model=e_model)
  n_train = len(trained.run.train["z"])
  paths = [generate_lib.generate(config, workdir, str(tmp_path / "out"), model=h_model, context_model=e_model,
                                 process_index=i, process_count=2) for i in range(2)]
  assert [os.path.basename(p) for p in paths] == ["samples-00000-of-00002.jsonl", "samples-00001-of-00002.jsonl"]
  rows = _rows(paths[0]) + _rows(paths[1])
  assert [r["item"] for r in rows] == list(range(10))
  assert all(r["source_index"] == r["item"] % n_train for r in rows)
  assert {r["method"] for r in rows} == {"softsrv-mc"} and {r["step"] for r in rows} == {2}
  assert all(isinstance(r["text"], str) for r in rows) and len({r["config_hash"] for r in rows}) == 1
  assert not [f for f in os.listdir(tmp_path / "out") if f.endswith(".tmp")]
  again = generate_lib.generate(config, workdir, str(tmp_path / "again"), model=h_model, context_model=e_model,
                                process_index=0, process_count=2)
  assert _rows(again) == _rows(paths[0])  # Same key, same samples.


def test_ss_np_generation_shares_its_prompt(tiny, tiny_config, tmp_path):
  """SS_NP hands the sampler one prompt for the whole batch (prefilled once); the texts are those of the prompt
  repeated per item, greedy."""
  h_model, e_model = tiny
  config = tiny_config(**{"soft_prompt.variant": "np", "train.steps": 2, "generate.num_samples": 4,
                          "generate.batch_size": 4, "generate.max_new_tokens": 6, "generate.temperature": 0.0})
  workdir = str(tmp_path / "run")
  trained = train_lib.train(config, workdir, model=h_model, context_model=e_model)
  rows = _rows(generate_lib.generate(config, workdir, str(tmp_path / "out"), model=h_model, context_model=e_model))
  assert {r["method"] for r in rows} == {"softsrv-np"}
  run = trained.run
  prompt = run.module.apply({"params": trained.state.params}, run.train["z"][:4])
  texts = sampling.sample_text(h_model, [""] * 4, prefixes=np.asarray(prompt), add_bos=True, batch_size=4,
                               max_new_tokens=6, temperature=0.0, progress=False)
  assert [r["text"] for r in rows] == texts


def test_generate_without_a_trained_checkpoint_is_a_clear_error(tiny, tiny_config, tmp_path):
  h_model, e_model = tiny
  with pytest.raises(FileNotFoundError, match="No trained SoftSRV checkpoint in .*empty.*launch/train.py"):
    generate_lib.generate(tiny_config(), str(tmp_path / "empty"), model=h_model, context_model=e_model)
