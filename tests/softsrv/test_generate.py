"""SoftSRV generation: round-robin contexts, items that depend only on (seed, item) (batch size, process count,
kill -9 and restart give the same bytes), SS_NP's shared prompt, and one clear error per bad input."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import types

import jax
import numpy as np
import pytest

from datasynth.decode import text as text_lib
from datasynth.jobs import chunked
from datasynth.models.loaders import load_model, save_orbax
from datasynth.train import checkpoint as checkpoint_lib
from datasynth.utils import lock
from datasynth.utils.errors import UserError
from softsrv import generate as generate_lib, train as train_lib
from softsrv.generator import Generator

_GENERATE = {"generate.num_samples": 10, "generate.batch_size": 4, "generate.chunk": 3, "generate.max_new_tokens": 6}


def _chunk_bytes(out_dir):
  return {os.path.basename(p): open(p, "rb").read() for p in chunked.chunk_files(out_dir)}


def _with(config, **over):
  c = config.copy_and_resolve_references()
  for k, v in over.items():
    section, field = k.split(".")
    c[section][field] = v
  return c


@pytest.fixture(scope="module")
def trained(tiny, tiny_config, tmp_path_factory):
  """An SS_MC run trained 2 steps on tiny H / E saved as Orbax folders (so a subprocess loads them by path)."""
  root = tmp_path_factory.mktemp("softsrv-gen")
  for name, m in zip("he", tiny):
    save_orbax(m, str(root / name))
  models = (load_model(str(root / "h")), load_model(str(root / "e")))
  config = tiny_config(**{"train.steps": 2, "model.name": str(root / "h"), "context.model": str(root / "e"),
                          **_GENERATE})
  workdir = str(root / "run")
  train_lib.train(config, workdir, model=models[0], context_model=models[1])
  return types.SimpleNamespace(root=root, config=config, workdir=workdir, models=models)


def _generate(trained, out_dir, config=None, **kw):
  h, e = trained.models
  return generate_lib.generate(config or trained.config, trained.workdir, str(out_dir), model=h, context_model=e,
                               **kw)


def test_items_cycle_over_the_contexts_round_robin_and_carry_their_provenance(trained, tmp_path):
  stats = _generate(trained, tmp_path / "out")
  gen = Generator.load(trained.config, trained.workdir, model=trained.models[0], context_model=trained.models[1])
  rows = list(chunked.read_rows(str(tmp_path / "out"), fingerprint=gen.fingerprint()))
  assert [r["item"] for r in rows] == list(range(10)) and gen.n == 32
  assert [r["source_index"] for r in rows] == [j % gen.n for j in range(10)]
  assert {(r["method"], r["variant"], r["task"], r["step"], r["seed"]) for r in rows} == {("softsrv-mc", "mc",
                                                                                           "mbpp", 2, 0)}
  assert {r["config_hash"] for r in rows} == {gen.config_hash}
  assert all(isinstance(r["text"], str) and 1 <= r["num_tokens"] <= 6 for r in rows)
  assert stats.items == 10 and stats.tokens == sum(r["num_tokens"] for r in rows) and "items/s" in stats.line()
  assert sorted(os.listdir(tmp_path / "out")) == [lock.LOCK_FILE, "chunk-00000.jsonl", "chunk-00001.jsonl",
                                                  "chunk-00002.jsonl", "chunk-00003.jsonl", "manifest.json"]


def test_the_generator_gives_the_prompts_of_the_trained_theta_without_building_the_training_run(trained):
  h, e = trained.models
  run = train_lib.prepare(trained.config, trained.workdir, model=h, context_model=e)
  ckpt = checkpoint_lib.Checkpointer(trained.workdir, run.identity, save_every=1)
  state = ckpt.restore(run.init_state())
  ckpt.close()
  gen = Generator.load(trained.config, trained.workdir, model=h, context_model=e)
  for got, want in zip(jax.tree.leaves(gen.theta), jax.tree.leaves(state.params)):
    np.testing.assert_array_equal(got, want)
  want = jax.jit(run.module.apply)({"params": state.params}, run.train["z"][[3, 0, 5]])
  np.testing.assert_allclose(gen.prompts([3, 0, 5]), np.asarray(want), rtol=1e-6, atol=1e-7)
  assert gen.step == 2 and not gen.context_free and gen.prompts([1]).shape == (1, 4, h.config.width)


def test_items_do_not_depend_on_batch_size_or_process_count(trained, tmp_path):
  _generate(trained, tmp_path / "b4")
  _generate(trained, tmp_path / "b2", _with(trained.config, **{"generate.batch_size": 2}))
  for p in range(2):
    _generate(trained, tmp_path / "p2", process_index=p, process_count=2)
  want = _chunk_bytes(tmp_path / "b4")
  assert len(want) == 4 and _chunk_bytes(tmp_path / "b2") == want and _chunk_bytes(tmp_path / "p2") == want


def test_a_generation_killed_by_sigkill_and_restarted_gives_the_bytes_of_an_uninterrupted_run(trained, repo,
                                                                                                tmp_path):
  config = _with(trained.config, **{"generate.num_samples": 120, "generate.chunk": 3, "generate.batch_size": 3})
  config_file = tmp_path / "tiny_config.py"
  config_file.write_text("import json\nimport ml_collections\n\n\ndef get_config(arg=None):\n"
                         f"  return ml_collections.ConfigDict(json.loads({config.to_json()!r}))\n")
  out = tmp_path / "killed"
  cmd = [sys.executable, str(repo / "launch" / "generate.py"), f"--config={config_file}",
         f"--workdir={trained.workdir}", f"--out_dir={out}"]
  env = dict(os.environ, PYTHONPATH=str(repo))
  proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  deadline = time.time() + 300
  while not chunked.chunk_files(str(out)) and proc.poll() is None and time.time() < deadline:
    time.sleep(0.01)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  made = len(chunked.chunk_files(str(out)))
  assert proc.returncode == -signal.SIGKILL and 1 <= made < 40, proc.stderr.read()[-2000:]
  assert not chunked.is_complete(str(out))
  done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  assert f"{made} chunks already done" in done.stdout and "items/s" in done.stdout and "tokens/s" in done.stdout
  _generate(trained, tmp_path / "whole", config)
  assert _chunk_bytes(out) == _chunk_bytes(tmp_path / "whole")
  assert [r["item"] for r in chunked.read_rows(str(out))] == list(range(120))


def test_ss_np_generation_shares_its_prompt(tiny, tiny_config, tmp_path):
  """SS_NP hands the sampler one prompt for the whole batch (prefilled once); greedy, the texts are those of the
  prompt repeated per item."""
  h_model, e_model = tiny
  config = tiny_config(**{"soft_prompt.variant": "np", "train.steps": 2, "generate.num_samples": 4,
                          "generate.batch_size": 4, "generate.max_new_tokens": 6, "generate.temperature": 0.0})
  workdir = str(tmp_path / "run")
  trained = train_lib.train(config, workdir, model=h_model, context_model=e_model)
  generate_lib.generate(config, workdir, str(tmp_path / "out"), model=h_model, context_model=e_model)
  rows = list(chunked.read_rows(str(tmp_path / "out")))
  assert {r["method"] for r in rows} == {"softsrv-np"}
  prompt = trained.run.module.apply({"params": trained.state.params}, trained.run.train["z"][:4])
  texts = text_lib.sample_text(h_model, [""] * 4, prefixes=np.asarray(prompt), add_bos=True,
                               batching=text_lib.Batching(4), ending=text_lib.Ending(6),
                               sampling=text_lib.Sampling(temperature=0.0), progress=False)
  assert [r["text"] for r in rows] == texts


def test_generate_without_a_trained_checkpoint_is_a_clear_error(tiny, tiny_config, tmp_path):
  h_model, e_model = tiny
  with pytest.raises(UserError, match="No trained SoftSRV checkpoint in .*empty.*launch/train.py"):
    generate_lib.generate(tiny_config(), str(tmp_path / "empty"), model=h_model, context_model=e_model)
  assert not os.path.exists(tmp_path / "empty" / "generated")


def test_a_chunk_from_another_config_is_refused_on_resume_and_on_read(trained, tmp_path):
  _generate(trained, tmp_path / "a")
  _generate(trained, tmp_path / "b", _with(trained.config, **{"generate.temperature": 0.5}))
  shutil.copy(chunked.chunk_path(str(tmp_path / "b"), 1), chunked.chunk_path(str(tmp_path / "a"), 1))
  with pytest.raises(UserError, match="chunk-00001.jsonl:1: row of another run.*delete this chunk file"):
    list(chunked.read_rows(str(tmp_path / "a")))
  with pytest.raises(UserError, match="chunk-00001.jsonl:1: row of another run"):
    _generate(trained, tmp_path / "a")
  with pytest.raises(UserError, match="holds the output of another run"):  # A whole folder of another config.
    _generate(trained, tmp_path / "b")


def test_a_malformed_chunk_is_one_clear_error_and_a_killed_write_leaves_no_complete_looking_chunk(trained, tmp_path):
  out = tmp_path / "out"
  _generate(trained, out)
  path = chunked.chunk_path(str(out), 2)
  with open(path, "a") as f:
    f.write('{"item": 7, "text": "cut by a cra')
  with pytest.raises(UserError, match="chunk-00002.jsonl:4: malformed line"):
    _generate(trained, out)
  with pytest.raises(UserError, match="chunk-00002.jsonl:4: malformed line"):
    list(chunked.read_rows(str(out)))
  os.remove(path)
  with open(path + ".tmp-123", "w") as f:  # What a kill in the middle of a chunk write leaves.
    f.write('{"item": 6')
  assert not chunked.is_complete(str(out))
  with pytest.raises(UserError, match="incomplete: 1 of 4 chunks missing"):
    list(chunked.read_rows(str(out)))
  stats = _generate(trained, out)
  assert stats.items == 3 and [r["item"] for r in chunked.read_rows(str(out))] == list(range(10))


def test_a_config_of_another_run_is_refused_before_sampling(trained, tmp_path):
  h, e = trained.models
  with pytest.raises(UserError, match="holds a run of another config"):
    Generator.load(_with(trained.config, **{"soft_prompt.t": 3}), trained.workdir, model=h, context_model=e)
