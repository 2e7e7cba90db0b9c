"""SIGTERM / SIGINT in the train loop: the run saves the step it is on, exits 75, and a rerun resumes to the same
final state bitwise as an uninterrupted run; a step longer than the grace bound exits 75 without a new checkpoint.
Chunked output: the chunk being made is written, then exit 75; the rerun makes the rest."""
import os
import pathlib
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from datasynth.jobs import chunked
from datasynth.train import checkpoint as checkpoint_lib, metrics, state as state_lib
from datasynth.train import loop
from datasynth.utils import cli, interrupt
from tests.modules import load_file

REPO = pathlib.Path(__file__).resolve().parents[3]

# A small run of the real loop in its own process: each step prints its number, then sleeps `pause` seconds (the
# test signals while it runs); its state depends on every step's order and on the RNG stream.
_JOB = """
import sys, time
import jax, jax.numpy as jnp, numpy as np, optax
from datasynth.jobs import chunked
from datasynth.train import loop
from datasynth.train import state as state_lib
workdir, end, pause, grace = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
def step_fn(state, step):
  print(f"step {step}", flush=True)
  time.sleep(pause)
  rng, key = jax.random.split(state.rng)
  params = state.params * 0.9 + jax.random.normal(key, (4,)) + step
  return state.replace(step=state.step + 1, params=params, rng=rng), dict(loss=1.0, grad_norm=1.0)
state = state_lib.TrainState.create(jnp.zeros(4), optax.sgd(0.1), jax.random.key(0))
out = loop.run(workdir=workdir, identity="{}", cadence=loop.Cadence(2, 0, 4, 3, grace), state=state,
               step_fn=step_fn, summarize=lambda w, d, s: dict(loss=1.0), end=end, total=end,
               presentation=loop.Presentation(show_progress=False))
np.save(workdir + "/final.npy", np.asarray(out.state.params))
"""


def _env():
  return dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), JAX_PLATFORMS="cpu")


def _start(workdir, end=12, pause=0.05, grace=20.0) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, "-c", _JOB, str(workdir), str(end), str(pause), str(grace)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())


def _signal_at(proc: subprocess.Popen, step: int | str, signum: int) -> tuple[int, str]:
  for line in proc.stdout:
    if line.strip() == (step if isinstance(step, str) else f"step {step}"):
      proc.send_signal(signum)
      break
  proc.stdout.read()
  return proc.wait(timeout=120), proc.stderr.read()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_saves_the_current_step_exits_75_and_the_rerun_equals_an_uninterrupted_run(tmp_path, signum):
  code, err = _signal_at(_start(tmp_path / "run"), 4, signum)  # Step 4 ends at 5: neither a save nor a log step.
  assert code == interrupt.EXIT_INTERRUPTED == 75, err
  assert f"stopped by {signal.Signals(signum).name} after saving step 5" in err and "rerun the same command" in err
  assert checkpoint_lib.latest_checkpoint_step(str(tmp_path / "run")) == 5
  assert [r["step"] for r in metrics.MetricsWriter(str(tmp_path / "run")).read()] == [2, 4]  # None off the cadence.
  for workdir in (tmp_path / "run", tmp_path / "fresh"):
    proc = _start(workdir)
    proc.stdout.read()
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
  resumed, fresh = np.load(tmp_path / "run" / "final.npy"), np.load(tmp_path / "fresh" / "final.npy")
  np.testing.assert_array_equal(resumed, fresh)  # Bitwise.
  assert [r["step"] for r in metrics.MetricsWriter(str(tmp_path / "run")).read()] == [2, 4, 6, 8, 10, 12]


def test_a_step_longer_than_the_grace_bound_exits_75_without_a_new_checkpoint(tmp_path):
  code, err = _signal_at(_start(tmp_path / "run", pause=3.0, grace=0.5), 5, signal.SIGTERM)
  assert code == 75 and "no step or chunk boundary within 0.5 s of SIGTERM" in err, err
  assert checkpoint_lib.latest_checkpoint_step(str(tmp_path / "run")) == 4  # The last regular save stays the latest.


def _chaos():
  return load_file("scripts/chaos.py", "chaos_for_signals")


def test_softsrv_training_stopped_by_sigterm_resumes_bitwise_through_the_launcher(data_dir, tmp_path):
  chaos = _chaos()
  models = chaos.make_tiny_models(str(tmp_path / "models"))
  env = chaos.job_env()
  cmd = lambda workdir: [a.replace(f"train.steps={chaos.SOFTSRV_STEPS}", "train.steps=200")
                         for a in chaos.softsrv_command(str(workdir), models, str(data_dir))]
  chaos.run_to_end(cmd(tmp_path / "ref"), env)
  part = tmp_path / "part"
  proc = subprocess.Popen(cmd(part), env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  assert chaos.wait_for(str(part / "checkpoints" / "2"), proc) is not None, proc.stderr.read()
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 75, err[-3000:]
  stopped = checkpoint_lib.latest_checkpoint_step(str(part))
  assert 2 <= stopped < 200 and f"stopped by SIGTERM after saving step {stopped}" in err
  chaos.run_to_end(cmd(part), env)
  assert chaos.check_training(str(part), str(tmp_path / "ref")) == []  # Bitwise state; the same logged steps.


# Chunked output in its own process: each chunk prints its first item, then takes `pause` seconds.
_CHUNKED = """
import sys, time
from datasynth.jobs import chunked
def make_rows(items):
  print(f"chunk {items.start}", flush=True)
  time.sleep(float(sys.argv[2]))
  return [dict(item=j, text=f"x{j}") for j in items]
chunked.run(sys.argv[1], chunked.Plan(num_items=12, chunk_size=2, fingerprint={}), make_rows, progress=False)
"""


def test_chunked_output_stopped_by_sigterm_writes_the_current_chunk_exits_75_and_resumes(tmp_path):
  out = tmp_path / "gen"
  proc = subprocess.Popen([sys.executable, "-c", _CHUNKED, str(out), "0.3"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=_env())
  code, err = _signal_at(proc, "chunk 4", signal.SIGTERM)  # During chunk 2 (items 4, 5).
  assert code == 75 and f"stopped by SIGTERM after writing {chunked.chunk_path(str(out), 2)}" in err, err
  assert sorted(os.listdir(out)) == [".datasynth.lock", *[f"chunk-0000{c}.jsonl" for c in range(3)], "manifest.json"]
  rerun = subprocess.run([sys.executable, "-c", _CHUNKED, str(out), "0"], capture_output=True, text=True, env=_env(),
                         timeout=120)
  assert rerun.returncode == 0, rerun.stderr
  assert [r["item"] for r in chunked.read_rows(str(out))] == list(range(12))


def _tiny_state():
  return state_lib.TrainState.create(jnp.zeros(4), optax.sgd(0.1), jax.random.key(0))


def _step(state, step):
  return state.replace(step=state.step + 1, params=state.params + step), dict(loss=1.0, grad_norm=1.0)


def test_a_signal_during_the_first_evaluation_stops_before_step_1_and_the_rerun_redoes_it(tmp_path):
  calls = []

  def eval_fn(step, state):
    calls.append(step)
    if len(calls) == 1:  # The preemption notice lands while step 0 is being evaluated.
      os.kill(os.getpid(), signal.SIGTERM)
    return dict(score=float(step))

  kw = dict(workdir=str(tmp_path), identity="{}", cadence=loop.Cadence(2, 2, 2, 3), step_fn=_step,
            summarize=lambda w, d, s: dict(loss=1.0), end=4, total=4, eval_fn=eval_fn,
            presentation=loop.Presentation(show_progress=False))
  with pytest.raises(interrupt.Interrupted) as e:
    loop.run(state=_tiny_state(), **kw)
  assert e.value.code == 75 and calls == [0]
  assert checkpoint_lib.latest_checkpoint_step(str(tmp_path)) is None  # Nothing trained, nothing saved.
  out = loop.run(state=_tiny_state(), **kw)  # The rerun evaluates step 0 again and trains to the end.
  assert calls == [0, 0, 2, 4] and [r["step"] for r in out.metrics] == [0, 2, 4]


def test_a_signal_caught_by_an_enclosing_job_stops_a_nested_one_at_its_first_boundary(tmp_path, capsys):
  with interrupt.StopSignals(30.0) as outer:
    os.kill(os.getpid(), signal.SIGTERM)  # Caught by the outer job (say, a student's base scoring) ...
    assert outer.signum == signal.SIGTERM
    with pytest.raises(interrupt.Interrupted):  # ... the train loop it starts next saves its first step and stops.
      loop.run(workdir=str(tmp_path), identity="{}", cadence=loop.Cadence(2, 0, 10, 3), state=_tiny_state(),
               step_fn=_step, summarize=lambda w, d, s: dict(loss=1.0), end=10, total=10,
               presentation=loop.Presentation(show_progress=False))
    assert checkpoint_lib.latest_checkpoint_step(str(tmp_path)) == 1
    with pytest.raises(interrupt.Interrupted) as e:
      outer.stop_if_asked(1, "the first unit")
  assert e.value.code == 75
  assert "stopped by SIGTERM after the first unit; rerun the same command" in capsys.readouterr().err
  assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # Every handler put back.


# A launcher still starting (loading a model) when the preemption notice comes: no job is running yet.
_LOADING = """
import time
from datasynth.utils import cli
def main(argv):
  print("loading", flush=True)
  time.sleep(60)
cli.run(main, absl_flags=False)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_before_any_job_starts_exits_75_at_once_with_one_line(signum):
  proc = subprocess.Popen([sys.executable, "-c", _LOADING], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=_env())
  code, err = _signal_at(proc, "loading", signum)
  assert code == 75, err
  assert err.strip() == (f"stopped by {signal.Signals(signum).name} outside a step or chunk (nothing more to save); "
                         "rerun the same command to resume (exit status 75).")


def test_a_launcher_run_in_process_puts_the_signal_handlers_back():

  before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
  with pytest.raises(SystemExit):
    cli.run(lambda argv: 0, ["x.py"], absl_flags=False)
  assert {s: signal.getsignal(s) for s in before} == before
