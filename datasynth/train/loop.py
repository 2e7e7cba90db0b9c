"""The one train-loop skeleton of every trainer: SoftSRV's theta (`softsrv.train`), SFT of students and of NOMAD's
teacher (`datasynth.train.sft`, which `nomad.teacher` calls as is).

  pin the run -> restore or start -> for each step: step, [flush the window: finite check, log row, eval, save],
  progress -> close, plot

A trainer supplies what is its own: the initial state, the step `(state, step) -> (state, per-step metrics)`, how a
window of per-step metrics becomes a log row (`summarize`), an optional evaluation, its `Cadence`, and how the run
is shown (`Presentation`: progress bar label, banner, non-finite hint, plot). The rest is here, once (big_vision's
flat loop, flax's `report_progress` hooks):

- the pinned `checkpoint_lib.Checkpointer` (a work dir of another identity is refused) and exact resume: the latest
  checkpoint restores params, optimizer state, step and RNG, and the trainer's batches are a pure function of the
  step, so a resumed run equals an uninterrupted one bitwise (`scripts/chaos.py` kills and resumes real runs);
- `metrics.jsonl` + TensorBoard, truncated to the restored step on every start (no step logged twice);
- the throughput window: per-step metrics stay on the device and are fetched once per row (or when a save or an
  evaluation needs them); evaluation time does not count against throughput;
- the non-finite guard: every step's loss and gradient norm are checked before any later save, so a NaN stops the
  run naming its step and is never checkpointed;
- the progress bar (rate, ETA, loss, tokens/s) and the loss plot.

Checkpoints are saved every `save_every` steps and at the last step of the call (`end`), and an evaluation runs at
step 0 of a fresh run, every `eval_every` steps and at `end` (in the same row as that step's log).

SIGTERM / SIGINT (a scheduler's preemption, Ctrl-C) set a flag (`datasynth.utils.interrupt`); at the next step boundary
the loop saves that step (the checkpointer's own save, behind the same finite check) and the process exits with
status 75 (`Interrupted`, EX_TEMPFAIL: rerun to resume). A step that does not end within `Cadence.stop_grace_s` of
the signal (schedulers kill after ~30 s) exits 75 without a new checkpoint; the last one stays the latest. In a
multi-process job every process stops after the same step, the one JAX's preemption service agrees on
(`datasynth.utils.interrupt`), and saves it with the others (Orbax's save is collective).

Multi-process jobs: every process runs the loop (the steps and the saves are collective); only process 0 writes
the pinned config, `metrics.jsonl`, TensorBoard and the plot (`training.is_primary`).

Restart-safe fields: `Cadence` is what may change between restarts of one run without changing what is trained;
`RESTART_SAFE` names its fields, which every trainer leaves out of its identity (`SFTConfig.RUN_CONTROL`,
`softsrv.config.MUTABLE_FIELDS`) through `without_fields`.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any, Callable, Iterable, Sequence

import jax

from datasynth.train import (checkpoint as checkpoint_lib, finite as finite_lib, metrics as metrics_lib,
                             state as state_lib)
from datasynth.utils import lock, progress
from datasynth.utils.interrupt import StopSignals, stopped


@dataclasses.dataclass(frozen=True)
class Cadence:
  log_every: int  # Steps per metrics row (the throughput window); the last step always logs.
  eval_every: int  # Steps between evaluations (also step 0 of a fresh run and the last step); 0: the last only.
  save_every: int  # Steps between checkpoints; the last step is always saved.
  keep: int  # Checkpoints kept.
  stop_grace_s: float = 20.0  # After SIGTERM / SIGINT: seconds to reach a step boundary and save; then exit without.


RESTART_SAFE = tuple(f.name for f in dataclasses.fields(Cadence))


@dataclasses.dataclass(frozen=True)
class Presentation:
  """What the loop shows a person; none of it changes what is trained."""
  desc: str = "train"  # The progress bar's label, and the name in log lines and the interruption message.
  show_progress: bool = True  # The progress bar (rate, ETA, loss, tokens/s).
  banner: str | None = None  # Printed with the step range and the work dir before the first step.
  hint: str = ""  # What to do about a non-finite loss (ends the error line).
  plot_keys: Sequence[str] = ("loss",)  # Metrics drawn in the work dir's loss.png.
  plot_title: str = ""  # That plot's title.


def without_fields(d: dict, paths: Iterable[str]) -> dict:
  """`d` minus the dotted `paths` ("train.steps" removes d["train"]["steps"]), in place and returned."""
  for path in paths:
    node = d
    *parents, leaf = path.split(".")
    for p in parents:
      node = node.get(p, {})
    node.pop(leaf, None)
  return d


@dataclasses.dataclass
class LoopResult:
  state: state_lib.TrainState
  metrics: list[dict[str, float]]  # Rows of metrics.jsonl after the run.


StepFn = Callable[[state_lib.TrainState, int], tuple[state_lib.TrainState, dict[str, Any]]]


def run(*, workdir: str, identity: str, cadence: Cadence, state: state_lib.TrainState, step_fn: StepFn,
        summarize: Callable[[Sequence[dict[str, Any]], int, float], dict[str, float]], end: int, total: int,
        eval_fn: Callable[[int, state_lib.TrainState], dict[str, float]] | None = None,
        presentation: Presentation = Presentation()) -> LoopResult:
  """Run steps [restored step, end) of a `total`-step run in `workdir`, pinned to `identity`.

  state: the initial TrainState (its structure and shardings are the restore template). step_fn(state, step) ->
  (state, metrics): metrics hold at least `loss` and `grad_norm` (device or host scalars). summarize(window, done,
  seconds) -> the log row of the window's fetched metrics, which ends at step `done` and took `seconds`.
  eval_fn(step, state) -> scalars for that step's row. presentation: the progress bar, banner, non-finite hint and
  plot (`Presentation`). The work dir is locked for the run (`datasynth.utils.lock`): a second process on it is
  refused.
  """
  with lock.hold(workdir):
    return _run(workdir=workdir, identity=identity, cadence=cadence, state=state, step_fn=step_fn,
                summarize=summarize, end=end, total=total, eval_fn=eval_fn, show=presentation)


def _run(*, workdir, identity, cadence, state, step_fn, summarize, end, total, eval_fn, show: Presentation
         ) -> LoopResult:
  ckpt = checkpoint_lib.Checkpointer(workdir, identity, save_every=cadence.save_every, keep=cadence.keep)
  metrics = metrics_lib.MetricsWriter(workdir)
  start = ckpt.latest_step() or 0
  if start:
    state = ckpt.restore(state)
    logging.info("%s: resumed from step %d in %s", show.desc, start, workdir)
  metrics.truncate_after(start if start else -1)  # Rows after the checkpoint are logged again.
  if show.banner is not None:
    print(f"{show.banner}, steps {start} -> {end}, work dir {workdir}", flush=True)
  with StopSignals(cadence.stop_grace_s) as stop:
    if start == 0 and eval_fn is not None and cadence.eval_every > 0:
      metrics.write(0, eval_fn(0, state))
      if stop.at(0):  # A signal during the first evaluation: nothing trained, nothing to save (the rerun redoes it).
        ckpt.close()
        _interrupted(stop.signum, show.desc, 0, workdir, metrics)
    bar = progress.bar(total, initial=start, desc=show.desc, enabled=show.show_progress)
    window, checked, t0, stopped_at = [], 0, time.perf_counter(), None
    for step in range(start, end):
      state, m = step_fn(state, step)
      window.append(m)
      done = step + 1
      stopping = stop.at(done)  # A signal during this step (every host's agreed step): save it, without a log row
      # (the resumed run's rows fall at the same steps as an uninterrupted run's; its first averages only the steps
      # after it).
      log = done % cadence.log_every == 0 or done == end
      save = done % cadence.save_every == 0 or done == end or stopping
      evaluate = eval_fn is not None and (done == end or (cadence.eval_every > 0 and done % cadence.eval_every == 0))
      row = {}
      if log or save or evaluate:  # One host sync per window; each step checked before anything is saved.
        window = jax.device_get(window)
        for i in range(checked, len(window)):
          finite_lib.check_finite(done - len(window) + i + 1, float(window[i]["loss"]),
                                  float(window[i]["grad_norm"]), show.hint, ckpt)
        checked = len(window)
      if log:
        row.update(summarize(window, done, time.perf_counter() - t0))
        window, checked, t0 = [], 0, time.perf_counter()
      if evaluate:
        row.update(eval_fn(done, state))
        t0 = time.perf_counter()  # Evaluation time does not count against training throughput.
      if row:
        metrics.write(done, row)
      if save:
        ckpt.save(done, state, force=True)
      bar.update(1)
      if "loss" in row:
        bar.set_postfix(loss=f"{row['loss']:.4f}", tok_s=f"{row.get('tokens_per_s', 0.0):.0f}")
      if stopping:
        stopped_at = done
        break
    bar.close()
    ckpt.close()  # Waits for the last save.
    if stopped_at is not None:
      _interrupted(stop.signum, show.desc, stopped_at, workdir, metrics)
  rows = metrics.read()
  if any(k in r for r in rows for k in show.plot_keys):
    metrics.plot(show.plot_keys, os.path.join(workdir, "loss.png"), title=show.plot_title)
  metrics.close()
  return LoopResult(state=state, metrics=rows)


def _interrupted(signum: int, desc: str, step: int, workdir: str, metrics: metrics_lib.MetricsWriter) -> None:
  metrics.close()
  where = f"after saving step {step}" if step else "before step 1 (nothing to save yet)"
  stopped(signum, f"{where} in {workdir}", desc)
