"""Post-processing throughput: datasynth.postprocess (dedup, A.3 decontamination, A.2 subsampling) and lm-eval's
13-gram Janitor, on synthetic questions, no model needed.

  python benchmarks/postprocess.py                          # 100K items, N_s = 50K
  python benchmarks/postprocess.py --sizes 100000,1000000 --near_dup

Data: `--sizes` synthetic "generated" questions made from the MBPP and GSM8K train folds by a seeded perturbation of
a random source question (1-4 of: swap two adjacent words, drop a word, repeat a word, change a number), plus 5%
exact duplicates of earlier items (half of them with other whitespace) and 0.1% planted test-fold overlaps (an MBPP
or GSM8K test question of 13+ words with its numbers changed, or with a prefix and a suffix). The test fold is the
MBPP and GSM8K test questions (1,819; the 163 MBPP ones of fewer than 13 words can flag nothing).

Steps, each timed (wall seconds) with the peak RSS it added (`PeakRSS.delta`: the process's resident set polled
every 10 ms, minus its value when the step began; tracemalloc would slow the Python loops 2-3x):
- dedup: `ExactDeduplicator` over all items.
- decontaminate: our `Decontaminator` (index + stream) and lm-eval's `Janitor` (13-gram, register the test fold,
  `clean_python` each candidate: the wheel ships no compiled `janitor_util`, so the pure-Python path is what
  `pip install lm-eval` runs; `clean()` is the same call plus a printed warning per document) on the same dedup
  survivors. "Flagged" for the Janitor = at least one contaminated 13-gram found (read off the spans it cuts).
  Agreement is printed below the table.
- subsample: `diversity_subsample` (TF-IDF -> SVD 100 -> MiniBatchKMeans 700 -> round-robin) of the clean items to
  N_s (`--num_subsample`, 50K, the paper's MBPP/GSM8K figure).
- near_dup (`--near_dup`): the optional MinHash LSH pass (128 permutations, threshold 0.8), over the dedup survivors.
- driver: `postprocess()` end to end on the same rows (JSONL files per stage under a temporary folder).

Memory grows about linearly with the number of items for dedup (a 64-bit hash per unique item) and subsampling
(TF-IDF matrix + 100-d float64 features); decontamination's added memory is the test fold's index, independent of
N. Subsampling dominates the time (TF-IDF, TruncatedSVD and MiniBatchKMeans take similar shares). Figures (dated,
per machine) and the agreement counts: benchmarks/README.md.

Agreement with the Janitor: each side flags texts the other does not.
Ours-only: texts matching a test question except for its numbers (planted ones, and MBPP/GSM8K train questions that
differ from a test question by a number, e.g. "...month name contains 31 days..."): we delete digits, the Janitor
keeps them. Janitor-only: deleting digits also deletes digit-only tokens, so a shared span shrinks in tokens: a
GSM8K train perturbation shares "the first movie is 1 hour and 30 minutes long while the second movie is" (14
tokens with digits, 12 without) with a test question. Both are A.3's rule ("after removing punctuation and
digits") working as written.
"""
from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import PeakRSS, print_table  # noqa: E402

from datasynth.data.records import load_task  # noqa: E402
from datasynth.postprocess.decontaminate import Decontaminator  # noqa: E402
from datasynth.postprocess.dedup import ExactDeduplicator, NearDeduplicator  # noqa: E402
from datasynth.postprocess.postprocess import PostprocessConfig, postprocess  # noqa: E402
from datasynth.postprocess.subsample import diversity_subsample  # noqa: E402

_NUMBER = re.compile(r"\d+")


def load_sources(data_dir: str | None) -> tuple[list[str], list[str]]:
  """(train questions, test questions) of MBPP and GSM8K."""
  train, test = [], []
  for task in ("mbpp", "gsm8k"):
    train += [r.prompt for r in load_task(task, "train", data_dir)]
    test += [r.prompt for r in load_task(task, "test", data_dir)]
  return train, test


def _perturb(text: str, rng: random.Random) -> str:
  words = text.split()
  for _ in range(rng.randint(1, 4)):
    op, i = rng.randrange(4), rng.randrange(len(words))
    if op == 0 and i + 1 < len(words):
      words[i], words[i + 1] = words[i + 1], words[i]
    elif op == 1 and len(words) > 3:
      del words[i]
    elif op == 2:
      words.insert(i, words[i])
    else:
      j = rng.randrange(len(words))
      words[j] = _NUMBER.sub(lambda _: str(rng.randrange(1, 1000)), words[j]) if _NUMBER.search(words[j]) else \
          str(rng.randrange(1, 100))
  return " ".join(words)


def _plant(test_text: str, rng: random.Random) -> str:
  if rng.random() < 0.5:  # Numbers changed: our digit removal still matches; the Janitor keeps digits.
    return _NUMBER.sub(lambda _: str(rng.randrange(1, 1000)), test_text)
  return "Here is a new problem. " + test_text + " Answer carefully."


def make_items(n: int, train: list[str], test: list[str], seed: int = 0) -> list[str]:
  """`n` synthetic generated questions: perturbed train questions, 5% exact duplicates, 0.1% test overlaps."""
  rng = random.Random(seed)
  long_test = [t for t in test if len(t.split()) >= 13]
  items: list[str] = []
  for _ in range(n):
    u = rng.random()
    if u < 0.05 and items:
      dup = items[rng.randrange(len(items))]
      items.append(dup if u < 0.025 else "  " + dup.replace(" ", "\n ", 1))
    elif u < 0.051:
      items.append(_plant(rng.choice(long_test), rng))
    else:
      items.append(_perturb(rng.choice(train), rng))
  return items


def janitor_flags(texts: list[str], test: list[str]) -> list[bool]:
  """lm-eval's Janitor (13-gram, Python path): which texts it finds a registered 13-gram in."""
  import contextlib
  import io
  # Its import prints a warning and a traceback about the missing C++ module.
  with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    from lm_eval.decontamination.janitor import Janitor

  class FlaggingJanitor(Janitor):
    """Records whether `clean` found any contaminated span (the chunking itself is the Janitor's)."""
    flags: list[bool] = []

    def _split_chunks(self, dirty_string, dirty_parts):
      first = next(iter(dirty_parts), None)
      self.flags.append(first is not None)
      return super()._split_chunks(dirty_string, itertools.chain([first], dirty_parts) if first else ())

  jan = FlaggingJanitor(ngram_n=13)
  jan.flags = []
  for t in test:
    jan.register_contaminant_python(t)
  for t in texts:
    jan.clean_python(t)
  return jan.flags


def _timed(fn):
  with PeakRSS() as mem:
    t = time.perf_counter()
    out = fn()
    sec = time.perf_counter() - t
  return out, sec, mem.delta / 2 ** 20


def run_size(n: int, train, test, args, rows, notes) -> None:
  items = make_items(n, train, test, args.seed)
  dedup = ExactDeduplicator()
  unique, sec, mb = _timed(lambda: [t for t in items if dedup.is_new(t)])
  rows.append([n, "dedup", "ours", n, n - len(unique), sec, n / sec, mb, ""])
  if args.near_dup:
    near = NearDeduplicator(0.8, 128)
    kept, sec, mb = _timed(lambda: [t for t in unique if near.is_new(t)])
    rows.append([n, "near_dup", "ours (datasketch)", len(unique), len(unique) - len(kept), sec, len(unique) / sec, mb,
                 ""])

  def ours():
    dec = Decontaminator(test, 13)
    return [dec.is_contaminated(t) for t in unique]
  flags, sec_ours, mb = _timed(ours)
  rows.append([n, "decontaminate", "ours", len(unique), sum(flags), sec_ours, len(unique) / sec_ours, mb, ""])
  if not args.skip_janitor:
    jflags, sec_jan, mb = _timed(lambda: janitor_flags(unique, test))
    rows.append([n, "decontaminate", "lm-eval Janitor", len(unique), sum(jflags), sec_jan, len(unique) / sec_jan, mb,
                 f"ours {sec_jan / sec_ours:.1f}x faster"])
    notes.append(_agreement(n, unique, flags, jflags))
  clean = [t for t, f in zip(unique, flags) if not f]
  sel, sec, mb = _timed(lambda: diversity_subsample(clean, args.num_subsample, seed=args.seed))
  rows.append([n, "subsample", "ours (sklearn)", len(clean), len(clean) - len(sel.indices), sec, len(clean) / sec, mb,
               f"{sel.n_clusters} clusters, {int(sel.round.max()) + 1} rounds"])
  total = sum(r[5] for r in rows if r[0] == n and r[2] != "lm-eval Janitor" and r[1] != "near_dup")
  rows.append([n, "3 steps", "ours", n, "", total, n / total, "", ""])
  if not args.skip_driver:
    config = PostprocessConfig(num_subsample=args.num_subsample, near_dup=args.near_dup, seed=args.seed)
    with tempfile.TemporaryDirectory() as out:
      report, sec, mb = _timed(lambda: postprocess(({"text": t, "id": i} for i, t in enumerate(items)),
                                                   test_texts=test, out_dir=out, config=config, progress=False))
    rows.append([n, "driver (files)", "ours", n, n - report["count_out"], sec, n / sec, mb,
                 " ".join(f"{s['stage']} {s['seconds']:.1f}s" for s in report["stages"])])


def _agreement(n, texts, ours, theirs) -> str:
  both = sum(a and b for a, b in zip(ours, theirs))
  only_ours = [t for t, a, b in zip(texts, ours, theirs) if a and not b]
  only_theirs = [t for t, a, b in zip(texts, ours, theirs) if b and not a]
  lines = [f"{n}: flagged by both {both}, by ours only {len(only_ours)}, by the Janitor only {len(only_theirs)}"]
  lines += [f"  ours only:    {t[:150]!r}" for t in only_ours[:2]]
  lines += [f"  Janitor only: {t[:150]!r}" for t in only_theirs[:2]]
  return "\n".join(lines)


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--sizes", default="100000", help="comma-separated item counts, e.g. 100000,1000000")
  ap.add_argument("--num_subsample", type=int, default=50000, help="N_s (paper: 50K for MBPP and GSM8K)")
  ap.add_argument("--threads", type=int, default=2, help="BLAS threads for TF-IDF/SVD/k-means")
  ap.add_argument("--near_dup", action="store_true", help="also time the MinHash LSH near-duplicate pass")
  ap.add_argument("--skip_janitor", action="store_true")
  ap.add_argument("--skip_driver", action="store_true")
  ap.add_argument("--data_dir", default=None,
                  help="benchmark data (default: $DATASYNTH_DATA, ../shared/data, the bundled copy)")
  ap.add_argument("--seed", type=int, default=0)
  args = ap.parse_args()

  import datasketch
  import sklearn
  import threadpoolctl
  from importlib.metadata import version
  threadpoolctl.threadpool_limits(args.threads)
  print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; python {sys.version.split()[0]}, "
        f"scikit-learn {sklearn.__version__}, datasketch {datasketch.__version__}, lm-eval {version('lm-eval')}; "
        f"{args.threads} BLAS threads", flush=True)
  train, test = load_sources(args.data_dir)
  rows, notes = [], []
  for n in (int(s) for s in args.sizes.split(",")):
    run_size(n, train, test, args, rows, notes)
    print_table(["items", "step", "impl", "in", "dropped", "seconds", "items/s", "peak RSS +MB", "note"], rows)
    print(f"load average {os.getloadavg()[0]:.1f}; decontamination agreement (ours vs the Janitor):\n"
          + "\n".join(notes), flush=True)


if __name__ == "__main__":
  main()
