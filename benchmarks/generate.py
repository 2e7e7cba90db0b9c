"""SoftSRV generation throughput end to end: `softsrv.generate.generate` (prompts, sampling, chunk files).

  python benchmarks/generate.py                          # SS_MC on Gemma 3 270M, batch 32 and 256, 256 items
  python benchmarks/generate.py --batches 32 --items 64 --top_p 0.95

Trains (or reuses) an SS_MC run of configs/mbpp.py (the CPU preset: t=16, max_new_tokens=32) for `--steps` steps
(default 1: a briefly trained prompt) in `--workdir`, then for each batch size generates `--items` items at
temperature 1 into a fresh output folder and prints the `chunked.Stats` figures (items/s and generated tokens/s),
after one untimed warm-up call of the same shapes (compilation is reported apart). Rows end at EOS, so tokens/s
counts the tokens actually generated; a batch runs until its longest row ends.

Measured on the shared 2-core CPU (other sessions' jobs running: load average 4-8), float32, SS_MC after 1 step,
256 items of up to 32 tokens (31.9 generated per item: the barely trained prompt rarely ends with EOS):
  run 1: batch 32: 1.27 items/s, 40.4 tokens/s; batch 256: 3.17 items/s, 100.9 tokens/s.
  run 2: batch 32: 1.84 items/s, 58.5 tokens/s; batch 256: 1.05 items/s, 33.6 tokens/s (load average 6-8).
  --top_p 0.95 (no vocabulary sort: `sampling.nucleus_threshold`), batch 32, 64 items: 1.46 items/s, 46.0 tokens/s,
  in the range of top_p=1 (the full sort of 262K logits took 6.7 s per step at batch 32 on this machine).
Compilation + a warm-up batch took 46-93 s (batch 32) and 125-191 s (batch 256). The figures move by 3x with the
machine's load; rerun on an idle machine before comparing.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--workdir", default="/tmp/datasynth-bench-generate")
  ap.add_argument("--steps", type=int, default=1)
  ap.add_argument("--batches", default="32,256")
  ap.add_argument("--items", type=int, default=256)
  ap.add_argument("--top_p", type=float, default=1.0)
  ap.add_argument("--dtype", default="float32")
  args = ap.parse_args()

  from configs import mbpp
  from datasynth.models import load_model
  from softsrv import generate as generate_lib
  from softsrv import train as train_lib
  config = mbpp.get_config()
  config.train.steps = args.steps
  config.model.dtype = args.dtype
  config.show_progress = False
  h, e = load_model(config.model.name), load_model(config.context.model)
  t0 = time.perf_counter()
  train_lib.train(config, args.workdir, model=h, context_model=e)
  print(f"train/reuse {args.steps} step(s): {time.perf_counter() - t0:.1f} s", flush=True)
  print("| batch | items | items/s | tokens/s | tokens/item | compile+warm-up s |")
  print("|---|---|---|---|---|---|")
  for b in [int(x) for x in args.batches.split(",")]:
    c = config.copy_and_resolve_references()
    c.generate.batch_size, c.generate.chunk, c.generate.top_p = b, args.items, args.top_p
    warm = c.copy_and_resolve_references()
    warm.generate.num_samples = warm.generate.chunk = b
    outs = [os.path.join(args.workdir, f"bench-{name}-{b}") for name in ("warm", "run")]
    for out in outs:
      shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    generate_lib.generate(warm, args.workdir, outs[0], model=h, context_model=e)
    warm_s = time.perf_counter() - t0
    c.generate.num_samples = args.items
    stats = generate_lib.generate(c, args.workdir, outs[1], model=h, context_model=e)
    s = stats.seconds
    print(f"| {b} | {stats.items} | {stats.items / s:.2f} | {stats.tokens / s:.1f} | {stats.tokens / stats.items:.1f} "
          f"| {warm_s:.1f} |", flush=True)


if __name__ == "__main__":
  main()
