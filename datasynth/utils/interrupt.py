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
"""
from __future__ import annotations

import os
import signal
import sys
import threading

EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: stopped by SIGTERM / SIGINT after saving; rerun the command to resume.


class Interrupted(SystemExit):
  """SIGTERM / SIGINT stopped the job at a boundary, after saving its work: the process exits 75."""


class StopSignals:
  """SIGTERM and SIGINT set a flag (`signum`) that a job reads at each boundary (a step, a chunk).

  The first signal starts a watchdog: when no boundary and save finish within `grace_s` (a unit longer than the
  scheduler's grace period, ~30 s), the process exits 75 without saving that unit (the last saved one stays the
  latest). The handlers are put back after the first signal, so a second Ctrl-C interrupts at once. Installed only in
  the main thread (Python delivers signals there); elsewhere the job runs without them.
  """

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self, grace_s: float):
    self.grace_s, self.signum, self._saved, self._watchdog = grace_s, None, {}, None

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      self._saved = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
    return self

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
    self._restore()
    if self._watchdog is not None:
      self._watchdog.cancel()
