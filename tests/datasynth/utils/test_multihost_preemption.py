"""Preemption in a multi-process job: two local CPU processes of one `jax.distributed` job train on one work dir.

Training: a SIGTERM to one process (a preemption notice reaches one host) stops both after the same step, which both save
together (JAX's preemption sync point, Orbax's collective save), and both exit 75; Ctrl-C (SIGINT) takes the same
path. The rerun resumes, and the finished run equals an uninterrupted one bitwise, with every metrics row written
once (process 0 is the only writer). Chunked generation: each process makes its own chunks (c % 2); a SIGTERM to
one stops both after their chunk at the agreed ordinal, and the rerun's files equal an uninterrupted run's.

This file is also the worker: `python test_multihost_preemption.py {train,chunked} <process id> <port> <dir> <n>`.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np

from datasynth.utils.interrupt import EXIT_INTERRUPTED

STEP_S = 0.05  # Each step sleeps this long, so a signal lands mid-run.


def _worker(process_id: int, port: int, workdir: str, steps: int) -> None:
  """One process of the two: a tiny replicated model trained by `datasynth.train.loop.run` (checkpoints only at the end)."""
  import jax  # pylint: disable=g-import-not-at-top  # The platform and the distributed runtime come first.
  jax.config.update("jax_platforms", "cpu")
  jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2, process_id=process_id)
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  from jax.sharding import Mesh, NamedSharding, PartitionSpec  # pylint: disable=g-import-not-at-top
  from datasynth.train import loop, state as state_lib  # pylint: disable=g-import-not-at-top

  replicated = NamedSharding(Mesh(np.array(jax.devices()), ("data",)), PartitionSpec())
  glob = lambda x: jax.make_array_from_process_local_data(replicated, np.asarray(x))
  opt = optax.adam(0.05)
  w = np.linspace(-1.0, 1.0, 8, dtype=np.float32)
  state = state_lib.TrainState(step=glob(np.int32(0)), params={"w": glob(w)},
                              opt_state=jax.tree.map(glob, opt.init({"w": w})), rng=glob(np.zeros(2, np.uint32)))

  @jax.jit
  def train_step(state, step):
    loss, grad = jax.value_and_grad(lambda p: jnp.sum(jnp.sin(p["w"] * (step + 1.0)) ** 2))(state.params)
    updates, opt_state = opt.update(grad, state.opt_state, state.params)
    return state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                         opt_state=opt_state), loss, optax.global_norm(grad)

  def step_fn(state, step):
    time.sleep(STEP_S)
    state, loss, grad_norm = train_step(state, step)
    return state, {"loss": loss, "grad_norm": grad_norm}

  result = loop.run(workdir=workdir, identity='{"test": "multihost"}', state=state, step_fn=step_fn,
                    cadence=loop.Cadence(log_every=4, eval_every=0, save_every=1000, keep=5),
                    summarize=lambda window, done, s: {"loss": float(window[-1]["loss"])}, end=steps, total=steps,
                    presentation=loop.Presentation(show_progress=False))
  print(json.dumps({"w": np.asarray(result.state.params["w"]).tolist()}), flush=True)


def _chunked_worker(process_id: int, port: int, out_dir: str, chunks: int) -> None:
  """One process of the two: chunks c % 2 == process_id of a seeded job, each chunk a little slow."""
  import jax  # pylint: disable=g-import-not-at-top  # The platform and the distributed runtime come first.
  jax.config.update("jax_platforms", "cpu")
  jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2, process_id=process_id)
  from datasynth.jobs import chunked  # pylint: disable=g-import-not-at-top

  def make_rows(items):
    time.sleep(STEP_S)
    return [{"item": i, "text": f"{np.random.default_rng(i).integers(1 << 30)}"} for i in items]

  plan = chunked.Plan(num_items=2 * chunks, chunk_size=2, fingerprint={"test": "multihost"})
  chunked.run(out_dir, plan, make_rows, process_index=process_id, process_count=2, progress=False)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _start(workdir: str, steps: int, job: str = "train") -> list[subprocess.Popen]:
  port = _free_port()
  env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false", JAX_PLATFORMS="cpu")
  return [subprocess.Popen([sys.executable, __file__, job, str(i), str(port), workdir, str(steps)], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]


def _finish(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
  """(exit status, stdout, stderr) of each process; one still running after 240 s is killed and shows its output."""
  done = []
  for p in procs:
    try:
      out, err = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
      p.kill()
      out, err = p.communicate()
    done.append((p.returncode, out, err))
  return done


def _rows(workdir: str) -> list[dict]:
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _checkpoints(workdir: str) -> list[int]:
  folder = os.path.join(workdir, "checkpoints")
  return sorted(int(d) for d in os.listdir(folder) if d.isdigit()) if os.path.isdir(folder) else []


def _interrupt(workdir: str, steps: int, target: int, signum: int, after_step: int) -> list[tuple[int, str, str]]:
  """Start both processes and signal one of them once the run has logged a step past `after_step`."""
  procs = _start(workdir, steps)
  deadline = time.time() + 180
  while not any(r["step"] >= after_step for r in _rows(workdir)):
    assert time.time() < deadline and all(p.poll() is None for p in procs), _finish(procs)
    time.sleep(0.05)
  procs[target].send_signal(signum)
  return _finish(procs)


def _w(out: str) -> np.ndarray:
  return np.asarray(json.loads(out.strip().splitlines()[-1])["w"], np.float32)


def test_both_processes_stop_after_the_same_step_and_resume_bitwise(tmp_path):
  steps = 240  # The hosts agree on the stop step within ~1-3 s of the notice (JAX polls its coordination service).
  reference = str(tmp_path / "reference")
  done = _finish(_start(reference, steps))
  assert [rc for rc, _, _ in done] == [0, 0], done
  w_ref = _w(done[0][1])
  np.testing.assert_array_equal(_w(done[1][1]), w_ref)
  assert [r["step"] for r in _rows(reference)] == list(range(4, steps + 1, 4))  # Process 0 alone writes rows.

  workdir = str(tmp_path / "run")
  stops = []
  for target, signum in ((1, signal.SIGTERM), (0, signal.SIGINT)):
    before = _checkpoints(workdir)
    after = (before[-1] if before else 0) + 8
    done = _interrupt(workdir, steps, target, signum, after)
    assert [rc for rc, _, _ in done] == [EXIT_INTERRUPTED] * 2, done
    saved = sorted(set(_checkpoints(workdir)) - set(before))
    assert len(saved) == 1 and after < saved[0] < steps, (before, _checkpoints(workdir))
    for _, _, err in done:  # Each process says it stopped after the one agreed step, which both saved.
      assert f"after saving step {saved[0]} in {workdir}" in err, err
    stops.append(saved[0])
    rows = [r["step"] for r in _rows(workdir)]
    assert rows == sorted(set(rows)) and rows[-1] <= saved[0], rows  # No row twice, none past the checkpoint.
  assert stops[0] < stops[1]

  done = _finish(_start(workdir, steps))
  assert [rc for rc, _, _ in done] == [0, 0], done
  np.testing.assert_array_equal(_w(done[0][1]), w_ref)
  np.testing.assert_array_equal(_w(done[1][1]), w_ref)
  assert [r["step"] for r in _rows(workdir)] == list(range(4, steps + 1, 4))
  assert _checkpoints(workdir) == sorted(stops + [steps])


def _chunk_files(out_dir: str) -> dict[str, bytes]:
  names = sorted(n for n in os.listdir(out_dir) if n.endswith(".jsonl"))
  return {n: open(os.path.join(out_dir, n), "rb").read() for n in names}


def test_chunked_processes_stop_at_the_agreed_chunk_and_resume_bitwise(tmp_path):
  chunks = 400
  reference = str(tmp_path / "reference")
  assert [rc for rc, _, _ in _finish(_start(reference, chunks, "chunked"))] == [0, 0]
  expected = _chunk_files(reference)
  assert len(expected) == chunks

  out = str(tmp_path / "run")
  procs = _start(out, chunks, "chunked")
  deadline = time.time() + 180
  while not (os.path.isdir(out) and len(_chunk_files(out)) >= 16):
    assert time.time() < deadline and all(p.poll() is None for p in procs), _finish(procs)
    time.sleep(0.05)
  procs[1].send_signal(signal.SIGTERM)
  done = _finish(procs)
  assert [rc for rc, _, _ in done] == [EXIT_INTERRUPTED] * 2, done
  written = _chunk_files(out)
  assert 16 <= len(written) < chunks
  for name, data in written.items():  # Every chunk on disk is complete and equals the uninterrupted run's.
    assert data == expected[name], name
  last = [max(c for c in map(_chunk_index, written) if c % 2 == p) for p in (0, 1)]
  assert last[0] // 2 == last[1] // 2, last  # Both stopped after the same chunk ordinal.

  assert [rc for rc, _, _ in _finish(_start(out, chunks, "chunked"))] == [0, 0]
  assert _chunk_files(out) == expected


def _chunk_index(name: str) -> int:
  return int("".join(ch for ch in name if ch.isdigit()))


if __name__ == "__main__":
  job, args = sys.argv[1], sys.argv[2:]
  {"train": _worker, "chunked": _chunked_worker}[job](int(args[0]), int(args[1]), args[2], int(args[3]))
