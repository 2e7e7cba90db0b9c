"""The post-processing driver: empty -> dedup -> (near-dup) -> decontaminate -> subsample, file to file (A.2-A.3).

`postprocess(rows, text_key=..., test_texts=..., out_dir=..., config=...)` streams generated rows through the stages
and writes, for each stage, what it kept and a report:

  <out_dir>/empty.jsonl          rows whose text is not empty or whitespace only (nothing to answer or learn)
  <out_dir>/dedup.jsonl          rows that are not exact duplicates (first occurrences), input order
  <out_dir>/near_dup.jsonl       (config.near_dup only) rows that are not near-duplicates of an earlier kept row
  <out_dir>/decontaminate.jsonl  rows sharing no `ngram`-gram with the test fold
  <out_dir>/subsample.jsonl      the N_s diverse rows, in selection order
  <out_dir>/kept.jsonl           the final output (= subsample.jsonl; the name the pipeline stage reads)
  <out_dir>/subsample_selection.jsonl  one line per subsample.jsonl row: source_index (position in the input rows),
                                 cluster, round
  <out_dir>/<stage>.json         count_in, kept, dropped (by reason), seconds, and the stage's own figures
  <out_dir>/postprocess.json     all stage reports and the config; written last, so its presence means "complete"

Rows are written unchanged: the first stage serialises each input dict once, later stages copy the kept lines byte
for byte, and no field is added (the selection's cluster and round go to the side file).

Order of the stages (a choice): the paper describes deduplication and subsampling in A.2 and decontamination in A.3,
and DESIGN.md lists "deduplicate, pick a diverse subset, decontaminate", i.e. subsample then decontaminate. Here
decontamination runs *before* subsampling: dropping contaminated rows after choosing N_s would return fewer than
N_s, while decontaminating first returns exactly N_s whenever at least N_s clean rows exist, which is what a user
asks for; it is also cheaper (the linear n-gram check shrinks the clustering's input). The chosen set is drawn from
the clean rows only, so it can differ from the paper's order in which rows fill a contaminated row's place;
decontamination itself is per row, so no contaminated row survives either way.

The decontamination here is on questions alone, before the answers exist: an extra of this project that keeps
contaminated questions out of the subsample (and out of MAUVE). The paper's A.3 pass runs on the answered
(question, answer) records against the test fold's questions and reference answers (`decontaminate_records`, run by
the SoftSRV pipeline's answer stage); both counts are reported.

Every stage streams (memory bounded by the dedup hash set and the LSH index) except subsampling, which holds the
surviving texts and their TF-IDF matrix. A failure (bad input, nothing left) raises `UserError` and removes every
file this call wrote, so nothing in `out_dir` looks complete after a failed run.
"""
from __future__ import annotations

import array
import contextlib
import dataclasses
import json
import os
import pathlib
import shutil
import time
from typing import Any, Callable, Iterable, Iterator, Mapping

from datasynth.postprocess.decontaminate import Decontaminator
from datasynth.postprocess.dedup import ExactDeduplicator, NearDeduplicator
from datasynth.postprocess.subsample import diversity_subsample
from datasynth.utils import progress as progress_lib
from datasynth.utils.errors import UserError
from datasynth.utils.io import atomic_write, write_json, write_jsonl

STAGES = ("empty", "dedup", "near_dup", "decontaminate", "subsample")


class NonEmpty:
  """Keeps a text with at least one non-whitespace character (a generator that ends at once writes "")."""

  def is_new(self, text: str) -> bool:
    return bool(text.strip())
_EXTRA_FILES = ("subsample_selection.jsonl", "kept.jsonl", "postprocess.json")


@dataclasses.dataclass(frozen=True)
class PostprocessConfig:
  """Post-processing settings; defaults are the paper's (A.2-A.3). Exact dedup always runs."""
  fold_case: bool = False  # Exact dedup: also fold case (str.casefold) before comparing. Paper: unspecified.
  near_dup: bool = False  # Add a MinHash LSH near-duplicate pass after exact dedup (not in the paper).
  near_dup_threshold: float = 0.8  # Estimated Jaccard similarity of word shingles above which a text is dropped.
  num_perm: int = 128  # MinHash permutations (more: more exact estimate, slower), >= 2.
  shingle: int = 5  # Words per near-dup shingle; shorter texts are one shingle.
  num_subsample: int = 0  # N_s, rows kept by diversity subsampling; 0 = keep all. Paper: 50K MBPP/GSM8K, 20K BoolQ.
  svd_components: int = 100  # TruncatedSVD components of the TF-IDF features (A.2: 100), clamped on small inputs.
  clusters: int = 700  # MiniBatchKMeans clusters (A.2: 700), clamped to the number of rows.
  ngram: int = 13  # Decontamination n-gram length in words after normalisation (A.3: 13).
  seed: int = 0  # Seeds the SVD, k-means and the round-robin draw.

  def __post_init__(self):
    checks = [(self.num_subsample >= 0, "num_subsample must be >= 0 (0 keeps every row)"),
              (0.0 < self.near_dup_threshold <= 1.0, "near_dup_threshold must be in (0, 1]"),
              (self.num_perm >= 2, "num_perm must be >= 2"), (self.shingle >= 1, "shingle must be >= 1"),
              (self.svd_components >= 1, "svd_components must be >= 1"), (self.clusters >= 1, "clusters must be >= 1"),
              (self.ngram >= 1, "ngram must be >= 1")]
    for ok, message in checks:
      if not ok:
        raise UserError(f"PostprocessConfig({dataclasses.asdict(self)}): {message}.")

  @classmethod
  def from_dict(cls, fields: Mapping[str, Any]) -> PostprocessConfig:
    """From a mapping (e.g. an ml_collections ConfigDict's `to_dict()`); an unknown key is a UserError."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - known)
    if unknown:
      raise UserError(f"Unknown post-processing config key(s) {unknown}; known keys: {sorted(known)}.")
    return cls(**fields)


def _check_args(text_key: str, test_texts: Any) -> None:
  if not isinstance(text_key, str) or not text_key:
    raise UserError(f"text_key={text_key!r}: pass the name of the field that holds the generated text.")
  if not isinstance(test_texts, (list, tuple)) or not test_texts:
    raise UserError(f"test_texts is {type(test_texts).__name__} {str(test_texts)[:40]!r}: pass a non-empty list of "
                    "the benchmark's test-fold texts (decontamination needs them).")
  bad = next((i for i, t in enumerate(test_texts) if not isinstance(t, str)), None)
  if bad is not None:
    raise UserError(f"test_texts[{bad}] is a {type(test_texts[bad]).__name__}, not a str; pass the test fold's texts.")


def _encode_rows(rows: Iterable[dict], text_key: str) -> Iterator[tuple[bytes, str]]:
  """(JSON line, text) per input row; a row that is not a dict with a string `text_key` is a UserError."""
  for i, row in enumerate(rows):
    if not isinstance(row, dict) or not isinstance(row.get(text_key), str):
      what = f"fields {sorted(row)}" if isinstance(row, dict) else f"a {type(row).__name__}"
      raise UserError(f"Generated row {i} has no string field {text_key!r} ({what}); pass text_key= the field "
                      "that holds the generated text, or fix the rows.")
    try:
      line = json.dumps(row, ensure_ascii=False)
    except (TypeError, ValueError) as e:
      raise UserError(f"Generated row {i} cannot be written as JSON ({e}); convert its fields to JSON types.") from e
    yield (line + "\n").encode("utf-8"), row[text_key]


def _read_lines(path: pathlib.Path, text_key: str) -> Iterator[tuple[bytes, str]]:
  with open(path, "rb") as f:
    for line in f:
      yield line, json.loads(line)[text_key]


def _nothing_left(stage: str, n_in: int, reason: str) -> UserError:
  if n_in == 0:
    return UserError("postprocess got no generated rows (the input is empty); check the generation output.")
  return UserError(f"All {n_in} generated items reaching the {stage} stage were {reason}; nothing remains. Check "
                   "the generator (it may be repeating itself or copying the test fold) or the stage's settings.")


def _filter_stage(stage: str, items: Iterable[tuple[bytes, str]], keep: Callable[[str], bool], reason: str,
                  src: array.array | None, out_dir: pathlib.Path, progress: bool) -> tuple[dict, array.array]:
  """Stream `items` through `keep`, write the kept lines to <stage>.jsonl; returns the counts and kept source ids."""
  t0 = time.perf_counter()
  kept_src = array.array("q")
  n_in = 0
  bar = progress_lib.bar(None if src is None else len(src), iterable=items, desc=stage, unit="row",
                         enabled=progress)

  def kept_lines() -> Iterator[bytes]:
    nonlocal n_in
    for line, text in bar:
      if keep(text):
        kept_src.append(n_in if src is None else src[n_in])
        yield line
      n_in += 1
    if not kept_src:
      raise _nothing_left(stage, n_in, reason)

  try:
    with atomic_write(out_dir / f"{stage}.jsonl", "wb") as f:
      f.writelines(kept_lines())
  finally:
    bar.close()
  kept = len(kept_src)
  report = dict(stage=stage, count_in=n_in, kept=kept, dropped={reason: n_in - kept},
                seconds=round(time.perf_counter() - t0, 3))
  return report, kept_src


def _subsample_stage(path_in: pathlib.Path, text_key: str, src: array.array, config: PostprocessConfig,
                     out_dir: pathlib.Path) -> dict:
  """A.2's diversity subsample of the rows in `path_in`; writes subsample.jsonl (selection order) + the side file."""
  t0 = time.perf_counter()
  offsets, texts, pos = array.array("q"), [], 0
  for line, text in _read_lines(path_in, text_key):
    offsets.append(pos)
    texts.append(text)
    pos += len(line)
  sel = diversity_subsample(texts, config.num_subsample, svd_components=config.svd_components,
                            clusters=config.clusters, seed=config.seed)
  del texts
  with open(path_in, "rb") as f_in, atomic_write(out_dir / "subsample.jsonl", "wb") as f_out:
    for i in sel.indices:
      f_in.seek(offsets[i])
      f_out.write(f_in.readline())
  write_jsonl(out_dir / "subsample_selection.jsonl",
              (dict(source_index=src[i], cluster=int(c), round=int(r))
               for i, c, r in zip(sel.indices, sel.cluster, sel.round)))
  n_in, kept = len(offsets), len(sel.indices)
  return dict(stage="subsample", count_in=n_in, kept=kept, dropped={"not_selected": n_in - kept},
              seconds=round(time.perf_counter() - t0, 3), num_subsample=config.num_subsample,
              short_of_target=max(0, config.num_subsample - kept), svd_components=sel.n_components,
              clusters=sel.n_clusters, rounds=int(sel.round.max()) + 1 if kept and sel.n_clusters else 0)


def _run_stages(rows, text_key, test_texts, config, out_dir, written, progress) -> list[dict]:
  """The stages in order; appends each file to `written` as soon as it exists (for cleanup on failure)."""
  reports = []
  items = _encode_rows(rows, text_key)
  filters = [("empty", NonEmpty(), "empty_question"), ("dedup", ExactDeduplicator(config.fold_case), "exact_duplicate")]
  if config.near_dup:
    filters.append(("near_dup", NearDeduplicator(config.near_dup_threshold, config.num_perm, config.shingle),
                    "near_duplicate"))
  decon = Decontaminator(test_texts, config.ngram)
  filters.append(("decontaminate", decon, f"test_{config.ngram}gram_overlap"))
  src = None
  for stage, flt, reason in filters:
    keep = decon.is_clean if flt is decon else flt.is_new
    written.append(out_dir / f"{stage}.jsonl")
    report, src = _filter_stage(stage, items, keep, reason, src, out_dir, progress)
    if flt is decon:
      report.update(rate=round(decon.rate, 6), test_texts=decon.n_test, test_ngrams=len(decon.index),
                    test_texts_shorter_than_ngram=decon.n_test_too_short)
    written.append(out_dir / f"{stage}.json")
    write_json(out_dir / f"{stage}.json", report)
    reports.append(report)
    items = _read_lines(out_dir / f"{stage}.jsonl", text_key)
  written.extend(out_dir / name for name in ("subsample.jsonl", "subsample_selection.jsonl", "subsample.json",
                                              "kept.jsonl"))
  reports.append(_subsample_stage(out_dir / f"{filters[-1][0]}.jsonl", text_key, src, config, out_dir))
  write_json(out_dir / "subsample.json", reports[-1])
  with open(out_dir / "subsample.jsonl", "rb") as f_in, atomic_write(out_dir / "kept.jsonl", "wb") as f_out:
    shutil.copyfileobj(f_in, f_out)
  return reports


def postprocess(rows: Iterable[dict], *, text_key: str = "text", test_texts: list[str], out_dir: str | os.PathLike,
                config: PostprocessConfig | Mapping[str, Any] = PostprocessConfig(), progress: bool = True) -> dict:
  """Dedup -> (near-dup) -> decontaminate -> subsample `rows`, writing each stage's rows and report under `out_dir`.

  Returns the report also written to <out_dir>/postprocess.json: the config, one dict per stage (count_in, kept,
  dropped by reason, seconds, ...), counts ({"in", "out", "dropped": {reason: n}}, as `datasynth.jobs.stages` manifests
  hold them), count_in and count_out. Bad input raises `UserError` and leaves no file.
  `config` is a `PostprocessConfig` or a plain mapping of its fields (the library takes no ConfigDict: the caller
  converts its section at the boundary). `progress` shows a bar (rate, and ETA after the first stage) per streaming
  stage.
  """
  _check_args(text_key, test_texts)
  if isinstance(config, Mapping):
    config = PostprocessConfig.from_dict(config)
  elif not isinstance(config, PostprocessConfig):
    raise TypeError(f"config is a {type(config).__name__}; pass a PostprocessConfig or a dict of its fields (for an "
                    "ml_collections section, PostprocessConfig.from_dict(section.to_dict())).")
  out_dir = pathlib.Path(out_dir)
  stale = [out_dir / f"{s}.{ext}" for s in STAGES for ext in ("jsonl", "json")] + [out_dir / f for f in _EXTRA_FILES]
  for path in stale:  # An earlier run's files must not pass for this run's.
    with contextlib.suppress(FileNotFoundError):
      path.unlink()
  written: list[pathlib.Path] = []
  t0 = time.perf_counter()
  try:
    reports = _run_stages(rows, text_key, test_texts, config, out_dir, written, progress)
  except BaseException:
    for path in written:
      with contextlib.suppress(FileNotFoundError):
        path.unlink()
    raise
  dropped = {reason: n for r in reports for reason, n in r["dropped"].items()}
  counts = {"in": reports[0]["count_in"], "out": reports[-1]["kept"], "dropped": dropped}
  report = dict(config=dataclasses.asdict(config), text_key=text_key, stages=reports, counts=counts,
                count_in=counts["in"], count_out=counts["out"], seconds=round(time.perf_counter() - t0, 3))
  write_json(out_dir / "postprocess.json", report)
  return report
