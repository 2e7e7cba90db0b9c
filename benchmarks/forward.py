"""Forward throughput: our jitted Flax decoder vs `transformers` PyTorch on the same checkpoint, batch and length.

  python benchmarks/forward.py [--models smollm2-135m,gemma3-270m] [--batch 8] [--length 128] [--threads 2]

Prints tokens/s of each, the ratio (ours / PyTorch) and the achieved fraction of this machine's measured float32
matmul FLOP/s (model FLOPs from DecoderConfig.flops_per_token). Not a test: figures depend on the machine's load.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import best_time, load_torch_reference, machine_header, print_table  # noqa: E402

from datasynth.models.decoder import Decoder  # noqa: E402
from datasynth.models.loaders import load_model  # noqa: E402


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--models", default="smollm2-135m,gemma3-270m")
  ap.add_argument("--batch", type=int, default=8)
  ap.add_argument("--length", type=int, default=128)
  ap.add_argument("--threads", type=int, default=2)
  ap.add_argument("--repeats", type=int, default=3)
  args = ap.parse_args()

  import jax
  import numpy as np
  import torch

  peak = machine_header(args.threads)
  rows = []
  for name in args.models.split(","):
    model = load_model(name)
    tokens = np.random.RandomState(0).randint(0, model.config.vocab_size, (args.batch, args.length))
    n_tok = args.batch * args.length
    flops = model.config.flops_per_token(args.length / 2) * n_tok  # Causal: on average half the keys.
    dec = Decoder(model.config)
    fwd = jax.jit(lambda p, x: dec.apply({"params": p}, x).logits)
    params = jax.device_put(model.params)
    fwd(params, tokens).block_until_ready()
    ours = best_time(lambda: fwd(params, tokens).block_until_ready(), args.repeats)
    ref = load_torch_reference(name)
    x = torch.tensor(tokens)
    with torch.inference_mode():
      ref(x)
      theirs = best_time(lambda: ref(x), args.repeats)
    for who, sec in (("flax (ours)", ours), ("transformers", theirs)):
      rows.append([name, who, f"{args.batch}x{args.length}", n_tok / sec, theirs / sec, flops / sec / peak])
  print_table(["model", "impl", "batch x len", "tokens/s", "ratio vs torch", "frac. of matmul peak"], rows)


if __name__ == "__main__":
  main()
