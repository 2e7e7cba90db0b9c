"""SoftSRV training (the loss: test_loss.py): frozen weights, exact resume, sharded == 1 device, clear errors,
launcher, overfit."""
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from datasynth.models.loaders import save_orbax
from datasynth.train import checkpoint as checkpoint_lib, finite as finite_lib
from datasynth.utils.errors import UserError
from softsrv import context, train as train_lib
from tree_asserts import assert_trees_equal


def _theta(result):
  return jax.tree.map(np.asarray, result.state.params)


def test_frozen_weights_bitwise_unchanged_and_only_theta_moves(tiny, tiny_config, tmp_path):
  h_model, e_model = tiny
  run = train_lib.prepare(tiny_config(), str(tmp_path), model=h_model, context_model=e_model)
  frozen_before = jax.tree.map(np.array, run.frozen)
  state = run.init_state()
  theta0 = jax.tree.map(np.array, state.params)
  # The train state holds theta and its Adam moments only: nothing of H.
  n_state = sum(x.size for x in jax.tree.leaves((state.params, state.opt_state)))
  assert n_state < 4 * sum(x.size for x in jax.tree.leaves(theta0))
  for step in range(3):
    state, m = run.step_fn(state, run.frozen, run.batch(step))
    assert np.isfinite(float(m["loss"]))
  assert_trees_equal(jax.tree.map(np.asarray, run.frozen), frozen_before)
  assert_trees_equal(jax.tree.map(np.asarray, run.frozen), h_model.params)
  moved = [not np.array_equal(a, np.asarray(b)) for a, b in zip(jax.tree.leaves(theta0), jax.tree.leaves(state.params))]
  assert all(moved)
  assert int(state.step) == 3


def test_interrupted_run_resumes_to_the_same_parameters(tiny, tiny_config, tmp_path):
  h_model, e_model = tiny
  full = train_lib.train(tiny_config(), str(tmp_path / "full"), model=h_model, context_model=e_model)
  part = str(tmp_path / "part")
  first = train_lib.train(tiny_config(**{"train.stop_after": 3}), part, model=h_model,
                          context_model=e_model)
  assert int(first.state.step) == 3
  resumed = train_lib.train(tiny_config(), part, model=h_model, context_model=e_model)
  assert int(resumed.state.step) == 6
  assert_trees_equal(_theta(resumed), _theta(full))
  assert_trees_equal(jax.tree.map(np.asarray, resumed.state.opt_state), jax.tree.map(np.asarray,
                                                                                       full.state.opt_state))
  np.testing.assert_array_equal(resumed.state.rng, full.state.rng)
  # Metrics of the resumed run continue, without duplicated steps, and outputs exist.
  steps = [r["step"] for r in resumed.metrics if "loss" in r]
  assert steps == sorted(set(steps)) and steps[-1] == 6
  resumed_loss = {r["step"]: r["loss"] for r in resumed.metrics if "loss" in r}
  full_loss = {r["step"]: r["loss"] for r in full.metrics if "loss" in r}
  assert {s: resumed_loss[s] for s in full_loss} == full_loss  # (+ the row logged where the first part stopped)
  for name in ("loss.png", "metrics.jsonl", "run_config.json"):
    assert os.path.getsize(os.path.join(part, name)) > 0
  assert os.listdir(os.path.join(part, "tensorboard"))


@pytest.mark.parametrize("mesh,variant", [(dict(data=-1, fsdp=1, tensor=1), "mc"),
                                          (dict(data=2, fsdp=2, tensor=2), "mc"),
                                          (dict(data=4, fsdp=1, tensor=2), "np")])
def test_sharded_on_8_devices_matches_1_device(tiny, tiny_config, tmp_path, mesh, variant):
  """SS_MC, and SS_NP with its batch-1 prompt cache broadcast over a batch split across devices."""
  assert jax.device_count() == 8
  h_model, e_model = tiny
  one = train_lib.train(tiny_config(**{"train.steps": 3, "soft_prompt.variant": variant}), str(tmp_path / "one"),
                        model=h_model, context_model=e_model)
  eight = train_lib.train(tiny_config(**{"train.steps": 3, "soft_prompt.variant": variant, "train.num_devices": 8,
                                         "train.mesh": mesh}),
                          str(tmp_path / "eight"), model=h_model, context_model=e_model)
  data = 8 if mesh["data"] < 0 else mesh["data"]
  assert eight.run.mesh.size == 8 and dict(eight.run.mesh.shape) == {"data": data, "fsdp": mesh["fsdp"],
                                                                     "tensor": mesh["tensor"]}
  if mesh["tensor"] > 1:  # H's weights are really split, not replicated.
    assert not eight.run.frozen["embedding"].sharding.is_fully_replicated
  assert_trees_equal(_theta(eight), _theta(one), rtol=2e-5, atol=1e-6)
  np.testing.assert_allclose([r["loss"] for r in eight.metrics if "loss" in r],
                             [r["loss"] for r in one.metrics if "loss" in r], rtol=1e-5)


# ------------------------------------------------------------------------------------------------------ bad input
def _write(path, text):
  path.write_text(text)
  return str(path)


@pytest.mark.parametrize("setup,match", [
    (lambda tmp: {"data.file": _write(tmp / "empty.jsonl", "")}, "no records"),
    (lambda tmp: {"data.file": _write(tmp / "bad.jsonl", '{"prompt": "a", "response": "b"}\n{oops\n')},
     r"bad.jsonl:2: malformed JSON"),
    (lambda tmp: {"soft_prompt.variant": "mlp"}, "Unknown soft_prompt.variant 'mlp'"),
    (lambda tmp: {"soft_prompt.t": 250}, "exceeds the context"),
    (lambda tmp: {"data.max_len": 300}, "exceeds the context"),
    (lambda tmp: {"data.max_len": 8, "data.too_long": "error"}, "more than data.max_len=8"),
    (lambda tmp: {"train.batch_size": 6, "train.num_devices": 4}, "not a multiple of the 4 devices"),
])
def test_bad_input_is_one_clear_error(tiny, tiny_config, tmp_path, setup, match):
  h_model, e_model = tiny
  with pytest.raises(ValueError, match=match):
    train_lib.train(tiny_config(**setup(tmp_path)), str(tmp_path / "wd"), model=h_model,
                    context_model=e_model)
  assert not os.path.exists(tmp_path / "wd" / "checkpoints")


def test_workdir_of_another_config_is_refused(tiny, tiny_config, tmp_path):
  h_model, e_model = tiny
  wd = str(tmp_path / "wd")
  train_lib.train(tiny_config(**{"train.steps": 2}), wd, model=h_model, context_model=e_model)
  with pytest.raises(ValueError, match="holds a run of another config"):
    train_lib.train(tiny_config(**{"train.steps": 2, "soft_prompt.variant": "np"}), wd,
                    model=h_model, context_model=e_model)
  # More steps (a restart-safe field) is a resume, not another config.
  more = train_lib.train(tiny_config(**{"train.steps": 3}), wd, model=h_model, context_model=e_model)
  assert int(more.state.step) == 3


def test_runs_sharing_a_context_cache_compute_e_once_and_the_folder_is_not_part_of_the_run(tiny, tiny_config,
                                                                                             tmp_path, monkeypatch):
  h_model, e_model = tiny
  shared = str(tmp_path / "cache")
  first = train_lib.train(tiny_config(**{"train.steps": 1, "context.cache_dir": shared}), str(tmp_path / "a"),
                          model=h_model, context_model=e_model)
  assert [f.startswith("z-") for f in os.listdir(shared)] == [True]
  assert not os.path.exists(tmp_path / "a" / "context")
  monkeypatch.setattr(context, "embed_texts", lambda *a, **k: (_ for _ in ()).throw(AssertionError("E recomputed")))
  second = train_lib.train(tiny_config(**{"train.steps": 1, "context.cache_dir": shared, "soft_prompt.variant": "np"}),
                           str(tmp_path / "b"), model=h_model, context_model=e_model)  # Another variant, same E.
  assert int(second.state.step) == 1
  # Resuming run a with the default folder is a resume (its E is then computed again there), not another config.
  monkeypatch.undo()
  more = train_lib.train(tiny_config(**{"train.steps": 2}), str(tmp_path / "a"), model=h_model, context_model=e_model)
  assert int(more.state.step) == 2 and int(first.state.step) == 1
  assert len(os.listdir(tmp_path / "a" / "context")) == 1


def test_launcher_trains_from_a_config_file(tiny, data_dir, repo, tmp_path):
  h_model, e_model = tiny
  save_orbax(h_model, str(tmp_path / "h"))
  save_orbax(e_model, str(tmp_path / "e"))
  wd = tmp_path / "wd"
  env = dict(os.environ, PYTHONPATH=str(repo), XLA_FLAGS="")
  cmd = [sys.executable, str(repo / "launch" / "train.py"), f"--config={repo / 'configs' / 'mbpp.py'}:np",
         f"--workdir={wd}", f"--config.data.data_dir={data_dir}", f"--config.model.name={tmp_path / 'h'}",
         f"--config.context.model={tmp_path / 'e'}", "--config.train.steps=2", "--config.soft_prompt.t=2",
         "--config.data.limit=20", "--config.show_progress=False"]
  proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  rows = [json.loads(line) for line in (wd / "metrics.jsonl").read_text().splitlines()]
  assert rows[-1]["step"] == 2 and np.isfinite(rows[-1]["loss"])
  assert json.loads((wd / "run_config.json").read_text())["soft_prompt"]["variant"] == "np"
  assert (wd / "loss.png").stat().st_size > 0


# ------------------------------------------------------------------------------------------------ real models
def test_overfit_8_mbpp_questions_halves_the_loss(gemma3, smollm2, tiny_config, tmp_path):
  """SS_MC on the embedded Gemma 3 270M (H) and SmolLM2 (E): 8 questions, loss at least halved."""
  c = tiny_config(**{"data.limit": 9, "data.heldout": 1, "data.max_len": 32, "soft_prompt.t": 4,
                               "soft_prompt.hidden": 128, "context.max_len": 64, "train.steps": 28,
                               "train.lr": 1e-2, "train.warmup_steps": 3, "train.decay": "constant",
                               "train.log_every": 1, "train.eval_every": 1000, "train.loss_chunk": 0,
                               "checkpoint.save_every": 1000})
  result = train_lib.train(c, str(tmp_path / "wd"), model=gemma3, context_model=smollm2)
  assert len(result.run.train["ids"]) == 8
  losses = [r["loss"] for r in result.metrics if "loss" in r]
  first, last = np.mean(losses[:3]), np.mean(losses[-3:])
  assert last <= 0.5 * first, (first, last, losses)


def test_a_blown_up_learning_rate_stops_naming_the_step_and_saves_only_finite_checkpoints(tiny, tiny_config,
                                                                                           tmp_path):
  h_model, e_model = tiny
  config = tiny_config(**{"train.lr": 1e30, "train.steps": 12, "train.clip_norm": 0.0, "checkpoint.save_every": 1})
  with pytest.raises(finite_lib.NonFiniteError, match=r"non-finite .*at step \d+") as info:
    train_lib.train(config, str(tmp_path / "wd"), model=h_model, context_model=e_model)
  assert "lower --config.train.lr" in str(info.value) or "not saved" in str(info.value)
  identity = train_lib.prepare(config, str(tmp_path / "wd"), model=h_model, context_model=e_model).identity
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path / "wd"), identity, save_every=1)
  steps = ckpt.manager.all_steps()
  assert steps and max(steps) < 12
  run = train_lib.prepare(config, str(tmp_path / "wd"), model=h_model, context_model=e_model)
  for step in steps:
    assert finite_lib.tree_all_finite(ckpt.restore(run.init_state(), step))
  ckpt.close()


def test_a_nan_learning_rate_is_refused_before_anything_loads(tiny_config, tmp_path):
  with pytest.raises(UserError, match="train.lr=nan"):
    train_lib.train(tiny_config(**{"train.lr": float("nan")}), str(tmp_path / "wd"), model=None)
  assert not os.path.exists(tmp_path / "wd")
