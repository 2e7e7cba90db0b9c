"""Multi-stage jobs in one work dir: each stage runs once per config, resumes when interrupted, reruns when changed.

A pipeline is an ordered list of `Stage`s. Stage s writes into `<workdir>/<s.name>/` and, when it has finished, its
manifest `<workdir>/stages/<s.name>.json`: the stage's key, its inputs and outputs, counts (in, out, dropped by
reason), its wall time and the run's own summary. The key hashes the stage's own config together with the keys of
every stage before it, so

- a rerun skips stages whose manifest has the current key (finished, same config, same upstream);
- a stage that was interrupted (it has `<name>.started.json` with the current key but no manifest) runs again and
  resumes from what it wrote (checkpoints, chunk files): each stage's `run` must be resumable on its own;
- a changed config invalidates that stage and every stage after it: their folders are emptied before they run, so
  no output of the old config survives next to the new one.

Manifests are written atomically (`datasynth.utils.io`): after a kill -9 a stage is either finished (manifest present)
or not, never half. Between stages the process's compiled programs are released (`datasynth.jobs.compiled`). One
pipeline at a time: the work dir is locked while it runs (`datasynth.utils.lock`).

SIGTERM / SIGINT (preemption, Ctrl-C): a stage whose job has step or chunk boundaries (the train loop, chunked
output) saves at its next one and exits 75 itself; any other stage (post-processing, MAUVE, NormSim) is finished if it
ends within `stop_grace_s` of the signal, its manifest written, and the pipeline exits 75 before the next stage;
otherwise it is abandoned (exit 75, no manifest) and the rerun runs it again. Either way a rerun resumes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from typing import Any, Callable

from datasynth.jobs import compiled
from datasynth.utils import io, lock
from datasynth.utils.interrupt import EXIT_INTERRUPTED, Interrupted, StopSignals

STAGES_DIR = "stages"


@dataclasses.dataclass
class Stage:
  name: str
  config: Any  # JSON-able: everything this stage's own output depends on (upstream stages are chained in).
  run: Callable[[str], dict[str, Any]]  # run(stage_dir) -> report: {"counts": {...}, ...}; resumable.


def _key(config: Any, upstream: str) -> str:
  blob = json.dumps({"config": config, "upstream": upstream}, sort_keys=True, default=str)
  return hashlib.sha256(blob.encode()).hexdigest()[:16]


def manifest_path(workdir: str, name: str) -> str:
  return os.path.join(workdir, STAGES_DIR, f"{name}.json")


def read_manifest(workdir: str, name: str) -> dict[str, Any] | None:
  return io.read_json(manifest_path(workdir, name))


def summary_finished(workdir: str, summary: Any) -> bool:
  """Whether a pipeline run in `workdir` has finished, from the summary it writes when it ends (a dict listing the
  run's manifests under "stages", as softsrv's and nomad's summary.json do): a summary with stages, and every listed
  stage's manifest on disk. An absent or unreadable summary (None) is not finished."""
  if not isinstance(summary, dict) or not summary.get("stages"):
    return False
  return all(os.path.isfile(manifest_path(workdir, m["name"])) for m in summary["stages"])


def total_seconds(manifests: list[dict[str, Any]] | None) -> float:
  """The stages' wall time together (their manifests' `seconds`), to 0.1 s."""
  return round(sum(m.get("seconds") or 0 for m in manifests or []), 1)


def run_stages(workdir: str, stages: list[Stage], *, log: Callable[[str], None] = print,
               stop_grace_s: float = 20.0) -> list[dict[str, Any]]:
  """Run every stage that is not finished under its current key; returns the manifests in order.

  The work dir is locked for the whole pipeline (`datasynth.utils.lock`): a second pipeline on it is refused. After
  SIGTERM / SIGINT the running stage has `stop_grace_s` to finish (see the module docstring); then the process exits
  75."""
  workdir = os.path.abspath(workdir)
  with lock.hold(workdir), StopSignals(stop_grace_s) as stop:
    return _run_stages(workdir, stages, log, stop)


def _run_stages(workdir: str, stages: list[Stage], log: Callable[[str], None],
                stop: StopSignals) -> list[dict[str, Any]]:
  upstream, manifests = "", []
  for i, stage in enumerate(stages):
    if stop.at(i):
      log(f"[{stage.name}] not started: stopped by a signal after the stage before; rerun the same command to resume "
          f"(exit status {EXIT_INTERRUPTED})")
      raise Interrupted(EXIT_INTERRUPTED)
    key = _key(stage.config, upstream)
    upstream = key
    stage_dir = os.path.join(workdir, stage.name)
    done = read_manifest(workdir, stage.name)
    if done is not None and done.get("key") == key:
      log(f"[{stage.name}] finished earlier ({_counts_line(done)}); skipped")
      manifests.append(done)
      continue
    started_path = os.path.join(workdir, STAGES_DIR, f"{stage.name}.started.json")
    started = io.read_json(started_path)
    if (done is not None or started is not None) and (started or done).get("key") != key:
      log(f"[{stage.name}] config or an upstream stage changed: its old output is removed")
      shutil.rmtree(stage_dir, ignore_errors=True)
    if done is not None:
      os.remove(manifest_path(workdir, stage.name))
    resumed = started is not None and started.get("key") == key
    io.write_json(started_path, dict(name=stage.name, key=key, started=time.time()))
    log(f"[{stage.name}] {'resuming' if resumed else 'running'}")
    os.makedirs(stage_dir, exist_ok=True)
    t0 = time.perf_counter()
    report = stage.run(stage_dir)
    compiled.release()  # The next stage builds its own programs; a long pipeline must not pile up every stage's.
    manifest = dict(name=stage.name, key=key, config=stage.config, dir=stage_dir, resumed=resumed,
                    seconds=round(time.perf_counter() - t0, 2), finished=time.time(), **report)
    io.write_json(manifest_path(workdir, stage.name), manifest)
    log(f"[{stage.name}] done in {manifest['seconds']:.1f} s ({_counts_line(manifest)})")
    manifests.append(manifest)
  return manifests


def _counts_line(manifest: dict[str, Any]) -> str:
  counts = manifest.get("counts") or {}
  parts = [f"{k} {v}" for k, v in counts.items() if not isinstance(v, dict)]
  dropped = counts.get("dropped") or {}
  if dropped:
    parts.append("dropped " + ", ".join(f"{k} {v}" for k, v in dropped.items()))
  return "; ".join(parts) or "no counts"


def summary_table(manifests: list[dict[str, Any]]) -> str:
  """A Markdown table: one row per stage with its counts in, out, dropped by reason and wall time."""
  lines = ["| stage | in | out | dropped (by reason) | time (s) | resumed |", "|---|---:|---:|---|---:|---|"]
  for m in manifests:
    c = m.get("counts") or {}
    dropped = ", ".join(f"{k}: {v}" for k, v in (c.get("dropped") or {}).items()) or "-"
    lines.append(f"| {m['name']} | {c.get('in', '-')} | {c.get('out', '-')} | {dropped} | {m['seconds']:.1f} | "
                 f"{'yes' if m.get('resumed') else 'no'} |")
  return "\n".join(lines)
