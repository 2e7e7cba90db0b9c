"""Stop a long job at its next boundary on SIGTERM / SIGINT (a scheduler's preemption notice, Ctrl-C), exit 75.

  with StopSignals(grace_s) as stop:
    for unit in work:
      ... do the unit, save it ...
      if stop.signum is not None:
        raise Interrupted(EXIT_INTERRUPTED)   # After saving: a rerun resumes from here.

Used by the train loop (`datasynth.train.loop`: a checkpoint of the step), chunked output (`datasynth.jobs.chunked`: the
chunk being made is finished and written) and staged pipelines (`datasynth.jobs.stages`: the running stage is finished
within the grace period, or abandoned). Nested uses (a pipeline's stage running the train loop) hand the signal to
the innermost job, which saves and exits. Exit status 75 is EX_TEMPFAIL: try again; the same command resumes.

Multi-process jobs (`jax.distributed` initialised, more than one process): a preemption notice reaches one host, but
the train step and the checkpoint save are collective, so every process must stop after the same step. JAX's
preemption service does this (`multihost_utils.reached_preemption_sync_point`): its runtime catches SIGTERM on any
host, the hosts exchange their step counters, and the call returns True on every host at the same step (the largest
counter + 1). So in a multi-process job the SIGTERM handler is left to JAX's runtime (a Python handler would replace
it, and putting back what Python reports as the old handler would not restore it), SIGINT (Ctrl-C) is forwarded to
the process as SIGTERM so it takes the same agreed path, and a job asks `stop.at(step)` at each boundary: each call
counts as the step counter that the hosts compare. The grace watchdog is single-process only (the notice is not seen
by Python before the agreed step).
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Iterator, NoReturn

EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: stopped by SIGTERM / SIGINT after saving; rerun the command to resume.


class Interrupted(SystemExit):
  """SIGTERM / SIGINT stopped the job at a boundary, after saving its work: the process exits 75."""


_ACTIVE: list["StopSignals"] = []  # The StopSignals entered and not yet left, outermost first.


@contextlib.contextmanager
def exit_on_signal() -> Iterator[None]:
  """For launchers, around the whole command: SIGTERM / SIGINT while no job's `StopSignals` is active (start-up,
  model loading: nothing to save) exit 75 at once with one line, so a preemption always ends in the same status. A
  job's `StopSignals` replaces the handlers while it runs and puts these back after; a multi-process job's runtime
  takes SIGTERM over when `jax.distributed` starts. The previous handlers are back after the block."""
  saved = {}
  if threading.current_thread() is threading.main_thread():
    saved = {s: signal.signal(s, _exit_now) for s in StopSignals.SIGNALS}
  try:
    yield
  finally:
    for s, handler in saved.items():
      signal.signal(s, handler)


def _exit_now(signum, frame):
  del frame
  print(f"stopped by {signal.Signals(signum).name} outside a step or chunk (nothing more to save); rerun the same "
        f"command to resume (exit status {EXIT_INTERRUPTED}).", file=sys.stderr, flush=True)
  os._exit(EXIT_INTERRUPTED)  # pylint: disable=protected-access  # What is on disk is complete (atomic writes).


def multi_process() -> bool:
  """Whether this process is one of several of a `jax.distributed` job with JAX's preemption service running."""
  jax = sys.modules.get("jax")  # A job that never imported JAX is not a distributed one (and stays cheap to start).
  if jax is None or jax.process_count() <= 1:
    return False
  from jax._src import distributed  # pylint: disable=g-import-not-at-top  # No public "is the service up" query.
  return distributed.global_state.preemption_sync_manager is not None


def stopped(signum: int, where: str, job: str = "") -> NoReturn:
  """Say that `job` stopped on `signum` at `where` (what is saved), then raise `Interrupted` (exit status 75)."""
  print(f"{job + ': ' if job else ''}stopped by {signal.Signals(signum).name} {where}; rerun the same command to "
        f"resume (exit status {EXIT_INTERRUPTED}).", file=sys.stderr, flush=True)
  raise Interrupted(EXIT_INTERRUPTED)


class StopSignals:
  """SIGTERM and SIGINT set a flag (`signum`) that a job reads at each boundary (a step, a chunk): `stop.at(step)`.

  The first signal starts a watchdog: when no boundary and save finish within `grace_s` (a unit longer than the
  scheduler's grace period, ~30 s), the process exits 75 without saving that unit (the last saved one stays the
  latest). The handlers are put back after the first signal, so a second Ctrl-C interrupts at once. Installed only in
  the main thread (Python delivers signals there); elsewhere the job runs without them.
  """

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self, grace_s: float):
    self.grace_s, self.signum, self._saved, self._watchdog = grace_s, None, {}, None
    self.multi_process = multi_process()

  def __enter__(self):
    outer = next((o.signum for o in _ACTIVE if o.signum is not None), None)
    self.signum = self.signum or outer  # A signal an enclosing job caught stops this (nested) one at its first boundary.
    _ACTIVE.append(self)
    if threading.current_thread() is threading.main_thread():
      if self.multi_process:  # SIGTERM stays JAX's; Ctrl-C becomes a SIGTERM so the hosts agree on the stop.
        self._saved = {signal.SIGINT: signal.signal(signal.SIGINT, self._forward_as_sigterm)}
      else:
        self._saved = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
    return self

  def at(self, step: int) -> bool:
    """Whether to stop after `step` (its work saved). Call it at every boundary, with increasing steps: in a
    multi-process job the call is JAX's sync point and True on every host after the same step."""
    if not self.multi_process:
      return self.signum is not None
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top  # Only in multi-process jobs.
    if multihost_utils.reached_preemption_sync_point(step):
      self.signum = self.signum or signal.SIGTERM
      return True
    return False

  def stop_if_asked(self, step: int, saved: str) -> None:
    """At a boundary of a job made of units (runs, evaluations), once `saved` (what was just written) is on disk:
    exit 75 (`Interrupted`) when a signal came, else return."""
    if self.at(step):
      stopped(self.signum, f"after {saved}")

  def _forward_as_sigterm(self, signum, frame):
    del signum, frame
    self._restore()
    os.kill(os.getpid(), signal.SIGTERM)

  def _handle(self, signum, frame):
    del frame
    self.signum = signum
    self._restore()
    self._watchdog = threading.Timer(self.grace_s, self._give_up)
    self._watchdog.daemon = True
    self._watchdog.start()

  def _give_up(self):
    print(f"error: no step or chunk boundary within {self.grace_s:g} s of {signal.Signals(self.signum).name}; "
          f"exiting {EXIT_INTERRUPTED} without saving the current one (the last saved stays the latest).",
          file=sys.stderr, flush=True)
    os._exit(EXIT_INTERRUPTED)  # pylint: disable=protected-access

  def _restore(self):
    for s, handler in self._saved.items():
      signal.signal(s, handler)
    self._saved = {}

  def __exit__(self, *exc):
    _ACTIVE.remove(self)
    self._restore()
    if self._watchdog is not None:
      self._watchdog.cancel()
