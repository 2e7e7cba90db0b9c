"""Chunked, resumable, process-split output for long generation jobs (SoftSRV sampling, baselines, answers, NOMAD).

A job makes rows for items 0..N-1. The items are cut into chunks of `chunk_size`; chunk c holds items
[c * chunk_size, (c + 1) * chunk_size) and is one JSON Lines file `chunk-<c>.jsonl`, written atomically
(`datasynth.utils.io`) once all its rows are made. `manifest.json`, written first, pins the plan (N, chunk size) and the
job's fingerprint (everything the rows depend on: config hash, checkpoint step, seed). So:

- a run killed at any moment (kill -9) and restarted with the same command makes only the chunks that are absent:
  no item is duplicated or lost, and host memory holds one chunk's rows whatever N is;
- process p of P makes the chunks with c % P == p; a chunk's rows depend only on its items (the makers give each
  item its own key stream), so any split, batch size or resume gives the same bytes;
- an output folder of another plan or fingerprint is refused (a new folder, or delete the old one), and every row
  carries the fingerprint's hash, so a chunk copied in from another run, or a malformed one, is caught by `read_rows`
  and by a resume (which reads back the chunks it skips).

A maker may give an item zero rows (nothing parsed out of a completion) or several (a numbered list of questions);
rows must carry their `item`.
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import time
from typing import Any, Callable, Iterator, Sequence

from datasynth.utils import interrupt, io, lock
from datasynth.utils import progress as progress_lib
from datasynth.utils.errors import UserError

MANIFEST = "manifest.json"
Rows = list[dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Plan:
  num_items: int  # N: items 0..N-1.
  chunk_size: int  # Items per chunk file.
  fingerprint: dict[str, Any]  # JSON-able: what the rows depend on; a resume must match it exactly.

  def __post_init__(self):
    if self.num_items < 1 or self.chunk_size < 1:
      raise UserError(f"Need at least one item and a positive chunk size; got num_items={self.num_items}, "
                      f"chunk_size={self.chunk_size}.")

  @property
  def num_chunks(self) -> int:
    return -(-self.num_items // self.chunk_size)

  def items(self, c: int) -> range:
    return range(c * self.chunk_size, min((c + 1) * self.chunk_size, self.num_items))

  def manifest(self) -> dict[str, Any]:
    return dict(num_items=self.num_items, chunk_size=self.chunk_size, num_chunks=self.num_chunks,
                fingerprint=self.fingerprint, fingerprint_hash=self.fingerprint_hash)

  @property
  def fingerprint_hash(self) -> str:
    return hashlib.sha256(json.dumps(self.fingerprint, sort_keys=True).encode()).hexdigest()[:12]


def chunk_path(out_dir: str, c: int) -> str:
  return os.path.join(out_dir, f"chunk-{c:05d}.jsonl")


def _read_manifest(out_dir: str) -> dict[str, Any] | None:
  """The pinned plan, None before the first run. `io.read_json_checked` but for the fix it names: a torn manifest
  cannot be rerun or restored, only its folder deleted and the generation remade."""
  path = os.path.join(out_dir, MANIFEST)
  if not os.path.exists(path):
    return None
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise UserError(f"{path} is not a valid manifest ({e}); delete the folder {out_dir} and rerun.") from e


def open_output(out_dir: str, plan: Plan) -> None:
  """Pin `plan` to `out_dir` (first run), or check that it is the plan already pinned there (resume)."""
  if os.path.isfile(out_dir):
    raise UserError(f"Output folder {out_dir} is a file; pass another output folder.")
  found = _read_manifest(out_dir)
  if found is None:
    io.write_json(os.path.join(out_dir, MANIFEST), plan.manifest())
  elif found != json.loads(json.dumps(plan.manifest())):
    raise UserError(f"{out_dir} holds the output of another run (manifest {found.get('fingerprint_hash')}, "
                    f"{found.get('num_items')} items; this run: {plan.fingerprint_hash}, {plan.num_items} items); "
                    "use another output folder or delete it.")


def pending_chunks(out_dir: str, plan: Plan, process_index: int = 0, process_count: int = 1) -> list[int]:
  return [c for c in range(process_index, plan.num_chunks, process_count)
          if not os.path.exists(chunk_path(out_dir, c))]


@dataclasses.dataclass
class Stats:
  items: int  # Items made by this call (0 when everything was already there).
  rows: int
  tokens: int  # Sum of the rows' `num_tokens` (generated tokens), when makers report it.
  seconds: float
  skipped_chunks: int  # Chunks found complete and not made again.

  def line(self) -> str:
    s = max(self.seconds, 1e-9)
    return (f"{self.items} items ({self.rows} rows) in {self.seconds:.1f} s: {self.items / s:.2f} items/s, "
            f"{self.tokens / s:.1f} tokens/s; {self.skipped_chunks} chunks already done")


def run(out_dir: str, plan: Plan, make_rows: Callable[[range], Rows], *, process_index: int = 0,
        process_count: int = 1, progress: bool = True, desc: str = "generate", stop_grace_s: float = 20.0) -> Stats:
  """Make this process's absent chunks with `make_rows(items) -> rows`, one atomic file each; returns the stats.

  The output folder is locked for the call (`datasynth.utils.lock`, per process index): a second job on it is refused.
  SIGTERM / SIGINT stop it after the chunk being made is written, with exit status 75 (`datasynth.utils.interrupt`; past
  `stop_grace_s` seconds it exits 75 without that chunk); the same command resumes. In a multi-process job the
  processes stop after the chunk ordinal (c // process_count) that JAX's preemption service agrees on; a process whose
  share ends before it finishes its share (its chunks depend on no other process)."""
  with lock.hold(out_dir, process_index=process_index, process_count=process_count):
    return _run(out_dir, plan, make_rows, process_index, process_count, progress, desc, stop_grace_s)


def _run(out_dir, plan, make_rows, process_index, process_count, progress, desc, stop_grace_s) -> Stats:
  open_output(out_dir, plan)
  mine = range(process_index, plan.num_chunks, process_count)
  todo = pending_chunks(out_dir, plan, process_index, process_count)
  for c in sorted(set(mine) - set(todo)):  # A resume trusts only chunks that read back as this run's rows.
    for _ in _read_chunk(chunk_path(out_dir, c), plan.items(c), plan.fingerprint_hash):
      pass
  total = sum(len(plan.items(c)) for c in mine)
  done_before = total - sum(len(plan.items(c)) for c in todo)
  bar = progress_lib.bar(total, initial=done_before, desc=desc, unit="item", enabled=progress)
  stats = Stats(items=0, rows=0, tokens=0, seconds=0.0, skipped_chunks=len(mine) - len(todo))
  start = time.perf_counter()
  with interrupt.StopSignals(stop_grace_s) as stop:
    for c in todo:
      items = plan.items(c)
      rows = [_stamp(r, items, plan, c) for r in make_rows(items)]
      io.write_jsonl(chunk_path(out_dir, c), rows)
      stats.items += len(items)
      stats.rows += len(rows)
      stats.tokens += sum(int(r.get("num_tokens", 0)) for r in rows)
      stats.seconds = time.perf_counter() - start
      bar.update(len(items))
      bar.set_postfix(tok_per_s=f"{stats.tokens / max(stats.seconds, 1e-9):.0f}")
      if stop.at(c // process_count):  # The chunk being made when the signal came is written: stop here.
        bar.close()
        interrupt.stopped(stop.signum, f"after writing {chunk_path(out_dir, c)}", desc)
  bar.close()
  return stats


def _stamp(row: dict[str, Any], items: range, plan: Plan, c: int) -> dict[str, Any]:
  if row.get("item") not in items:
    raise ValueError(f"Chunk {c} (items {items.start}..{items.stop - 1}) got a row for item {row.get('item')!r}; "
                     "a maker must return rows of its own items only.")
  return {**row, "fingerprint": plan.fingerprint_hash}


def is_complete(out_dir: str) -> bool:
  manifest = _read_manifest(out_dir)
  return manifest is not None and all(os.path.exists(chunk_path(out_dir, c)) for c in range(manifest["num_chunks"]))


def read_rows(out_dir: str, fingerprint: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
  """Every row of a complete output, in item order, one chunk in memory at a time.

  Checked as it streams: the manifest exists (and matches `fingerprint` when given), every chunk exists, every line
  is a JSON object, and every row belongs to this run and to its chunk's items. Each failure is one UserError naming
  the file and what to do.
  """
  manifest = _read_manifest(out_dir)
  if manifest is None:
    raise UserError(f"No generated output in {out_dir} (no {MANIFEST}); run the generation step first.")
  plan = Plan(manifest["num_items"], manifest["chunk_size"], manifest["fingerprint"])
  if fingerprint is not None and Plan(1, 1, fingerprint).fingerprint_hash != plan.fingerprint_hash:
    raise UserError(f"{out_dir} was generated by another config (fingerprint {plan.fingerprint_hash}); rerun "
                    "generation into a fresh folder.")
  missing = [c for c in range(plan.num_chunks) if not os.path.exists(chunk_path(out_dir, c))]
  if missing:
    raise UserError(f"Generation in {out_dir} is incomplete: {len(missing)} of {plan.num_chunks} chunks missing "
                    f"(first: {os.path.basename(chunk_path(out_dir, missing[0]))}); rerun the same generate command "
                    "to finish it.")
  for c in range(plan.num_chunks):
    yield from _read_chunk(chunk_path(out_dir, c), plan.items(c), plan.fingerprint_hash)


def _read_chunk(path: str, items: range, fingerprint_hash: str) -> Iterator[dict[str, Any]]:
  with open(path, "rb") as f:
    lines = f.read().split(b"\n")
  for n, line in enumerate(lines, 1):
    if not line.strip():
      continue
    try:
      row = json.loads(line.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
      raise UserError(f"{path}:{n}: malformed line ({e}); delete this chunk file and rerun generation to remake "
                      "it.") from e
    if not isinstance(row, dict) or row.get("item") not in items:
      raise UserError(f"{path}:{n}: not a row of items {items.start}..{items.stop - 1}; delete this chunk file and "
                      "rerun generation.")
    if row.get("fingerprint") != fingerprint_hash:
      raise UserError(f"{path}:{n}: row of another run (fingerprint {row.get('fingerprint')!r}, expected "
                      f"{fingerprint_hash}); delete this chunk file and rerun generation.")
    yield row


def chunk_files(out_dir: str) -> Sequence[str]:
  return sorted(glob.glob(os.path.join(out_dir, "chunk-*.jsonl")))
