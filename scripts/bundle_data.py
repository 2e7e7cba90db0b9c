"""Build `datasynth/data/bundled/`: the permissively licensed benchmark sets that travel with the package.

    python scripts/bundle_data.py --src=../shared/data     # rewrites datasynth/data/bundled/ from the shared folder

Each data file is the shared folder's bytes compressed with xz (`<name>.xz`, preset 9e; xz streams carry no
timestamp, so the same input gives the same bytes), laid out under the same relative paths, so the bundled folder is
one more data dir the readers search (`datasynth.data.sources`; they decompress `.xz` transparently). Beside the data
of each set: its license (the upstream file where the upstream repository has one, else the license's notice and
address) and `SOURCE.md` (repository @ commit, path, license, what changed). The instruction sets (non-commercial
licenses) and the TriviaQA subset (no stated license) are not bundled.
"""
from __future__ import annotations

import argparse
import lzma
import os
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "datasynth" / "data" / "bundled"

_CC_BY_4 = """\
Mostly Basic Python Problems (MBPP), Austin et al., "Program Synthesis with Large Language Models" (2021),
Google Research. Licensed under the Creative Commons Attribution 4.0 International License (CC BY 4.0):
https://creativecommons.org/licenses/by/4.0/legalcode
The files here are the official release's mbpp.jsonl and sanitized-mbpp.json, unchanged except for xz
compression.
"""
_CC_BY_SA_3 = """\
BoolQ, Clark et al., "BoolQ: Exploring the Surprising Difficulty of Natural Yes/No Questions" (NAACL 2019),
Google Research. Licensed under the Creative Commons Attribution-ShareAlike 3.0 License (CC BY-SA 3.0):
https://creativecommons.org/licenses/by-sa/3.0/legalcode
Changes: dev.jsonl is the official dev split. train.jsonl and test.jsonl are a split of it (indices shuffled with
Python's random.Random(0).shuffle; the first 1,000, sorted, are test.jsonl; the other 2,270, sorted, train.jsonl),
because the official train split is not carried here. All three are compressed with xz. These adapted files are
shared under the same license.
"""

# name -> (data files, license files copied as they are, license text written when upstream has no file, source)
SETS = {
    "mbpp": (["mbpp.jsonl", "sanitized-mbpp.json"], [], _CC_BY_4,
             "google-research/google-research @ 30adf0ec, mbpp/mbpp.jsonl (974 tasks, cut by task id into test 11-510, "
             "train 601-974, validation 511-600, prompt 1-10) and mbpp/sanitized-mbpp.json (427); CC BY 4.0"),
    "gsm8k": (["train.jsonl", "test.jsonl"], ["LICENSE"], None,
              "openai/grade-school-math @ 3101c7d5, grade_school_math/data/; 7,473 train / 1,319 test; MIT"),
    "boolq": (["dev.jsonl", "train.jsonl", "test.jsonl"], [], _CC_BY_SA_3,
              "google-research-datasets/boolean-questions, the official dev split (3,270); train 2,270 / test 1,000 "
              "cut from it (see LICENSE); CC BY-SA 3.0"),
    "mawps": (["trainset.json", "validset.json", "testset.json"], ["LICENSE.MWPToolkit", "PROVENANCE.md"], None,
              "LYH-YF/MWPToolkit @ 0993beb3, dataset/mawps/; 1,898 train / 237 valid / 238 test; MIT for the "
              "toolkit (LICENSE.MWPToolkit), MAWPS itself states none: research-use benchmark data"),
    "bbh": (["bbh/*.json", "cot-prompts/*.txt"], ["LICENSE"], None,
            "suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/ and cot-prompts/; 27 tasks, 6,511 items; MIT"),
    "truthfulqa": (["TruthfulQA.csv"], [], None,
                   "sylinrl/TruthfulQA's TruthfulQA.csv as copied in benedictflorance/truthfulqa_experiments @ "
                   "6fdfd382, datasets/TruthfulQA.csv; 817 questions; Apache-2.0 (LICENSE)"),
}
APACHE_2 = "LICENSE-2.0.txt"  # The Apache License 2.0 text, for TruthfulQA (its release states the license, no file).


def _apache_text() -> str:
  """The Apache License 2.0 text from an installed Apache-licensed distribution's metadata (any standard copy)."""
  import importlib.metadata
  for dist in importlib.metadata.distributions():
    for f in dist.files or ():
      if "LICENSE" in f.name.upper() and "APACHE" in f.name.upper():
        text = f.read_text()
        if "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS" in text:
          return text
  raise SystemExit("bundle_data: no Apache License 2.0 text found in the installed packages' metadata.")


def build(src: pathlib.Path, out: pathlib.Path) -> list[pathlib.Path]:
  """Write every set under `out` (built beside it, then swapped in whole); returns the data files written."""
  written = []
  tmp, old = out.with_name(out.name + ".tmp"), out.with_name(out.name + ".old")
  for d in (tmp, old):
    shutil.rmtree(d, ignore_errors=True)
  for name, (patterns, copied, notice, source) in SETS.items():
    files = sorted(p for pat in patterns for p in (src / name).glob(pat))
    if not files:
      raise SystemExit(f"bundle_data: no {name} files under {src / name}.")
    for f in files:
      dest = tmp / name / (str(f.relative_to(src / name)) + ".xz")
      dest.parent.mkdir(parents=True, exist_ok=True)
      dest.write_bytes(lzma.compress(f.read_bytes(), preset=9 | lzma.PRESET_EXTREME))
      written.append(out / dest.relative_to(tmp))
    for c in copied:
      shutil.copyfile(src / name / c, tmp / name / c)
    if notice is not None:
      (tmp / name / "LICENSE").write_text(notice)
    if name == "truthfulqa":
      (tmp / name / "LICENSE").write_text(_apache_text())
    (tmp / name / "SOURCE.md").write_text(f"Source: {source}.\n")
  if out.exists():
    out.rename(old)
  tmp.rename(out)
  shutil.rmtree(old, ignore_errors=True)
  return written


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--src", default=str(ROOT.parent / "shared" / "data"), help="the shared data folder")
  ap.add_argument("--out", default=str(OUT))
  args = ap.parse_args()
  files = build(pathlib.Path(args.src), pathlib.Path(args.out))
  total = sum(f.stat().st_size for f in files)
  print(f"bundle_data: {len(files)} files, {total / 1e6:.2f} MB compressed, under {args.out}")


if __name__ == "__main__":
  main()
