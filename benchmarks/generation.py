"""SoftSRV generation throughput on the MBPP job: static vs continuous batching vs `transformers` generate, one run.

  python benchmarks/generation.py --quick                 # 64 items, float32: a few minutes plus the model loads
  python benchmarks/generation.py                         # 512 items, float32 and bfloat16
  python benchmarks/generation.py --workdir=<trained SS_MC run of configs/mbpp.py> --items 256 --dtypes bfloat16

The workload is the main job's generation stage (`softsrv.generator.Generator.make_rows`): item j feeds Gemma 3
270M the SS_MC soft prompt P_theta(E(x_i)), i = j mod n (t = 16 soft tokens, one per row), then BOS, and samples at
temperature 1 until EOS or 32 tokens (configs/mbpp.py). `--workdir` holds the trained run (default: trained there
first for `--steps` steps, the CPU preset's 150 by default, ~30 min on the 2-core machine; `--steps 0` uses a
randomly initialised prompt instead, whose rows rarely end before the budget: no length spread). The same items and
prefixes go to:
- static: `sample_text(batching=Batching(mode="static"))`, one compiled `sample` call per batch of `--batch` rows; a
  batch runs until its longest row ends;
- continuous: `sample_text(batching=Batching(mode="continuous"))`, `--batch` slots refilled as rows end
  (`datasynth.decode.continuous`);
- hf: `transformers` `generate(inputs_embeds=[P; embed(BOS)])` on the same weights (dequantised from the same GGUF),
  batches of `--batch`, the first `--hf_items` items (it is the slowest), torch with `--threads` threads.
Each JAX path gets one untimed warm-up call on 2 x `--batch` items (compilation, printed apart; past `--batch` items
continuous also refills in smaller groups, each its own compiled shape). The table gives items/s,
generated tokens/s (tokens up to and including EOS), the ratios against static and hf, for how many items continuous
gave exactly static's tokens, and two roofline fractions measured in the same run: model FLOPs of the useful work
(prefill of each item's real inputs, one token per generated token) per second over the machine's float32 matmul
peak, and generated tokens/s over the decode bandwidth bound (`--batch` rows per step, each step reading every
weight and the filled KV cache once, at the measured copy bandwidth).

What bounds continuous batching's gain over static batching: a static batch runs until its longest row ends (on
this job some row nearly always reaches the 32-token budget) where continuous batching spends about the mean row
length per item, so decode alone bounds the gain at 32 / (mean tokens per item), ~1.8x here; each refill then reads
every weight once more, like a decode step (Gemma 3 270M's tied 262K x 640 table alone is 671 MB a pass), so
refills take a large share of the run. Beating that bound needs the refill's inputs folded into a decode step (one
weight pass for both), which this engine does not do. On a GPU a block's steps are so short that the host's work
per block (the end check, the refill dispatch) likely weighs as much as the device's (not profiled). "same ids"
below n comes from kernels that are not batch-invariant (on XLA CPU, YNNPACK's dot fusion rounds a row differently
for different row counts; `--batch_invariant` turns it off), not from the engine.
Figures (dated, per machine) and the per-call time breakdowns: benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks.common import (copy_bandwidth, gpu_matmul_peak_flops, load_torch_reference, machine_header,  # noqa: E402
                               on_gpu, print_table, torch_device)

from datasynth.decode.kernels import Ending  # noqa: E402
from datasynth.decode.text import Batching, sample_text  # noqa: E402
from datasynth.decode.tokens import Sampling  # noqa: E402
from datasynth.models.loaders import load_model  # noqa: E402
from softsrv import context as context_lib, train as train_lib, workdir as workdir_lib  # noqa: E402
from softsrv.generator import Generator  # noqa: E402

# XLA CPU's YNNPACK dot fusion rounds a row differently when the batch has a different number of rows (measured:
# the MBPP prefill of 16 vs 32 rows differs by ~3e-5 in the logits); without it prefills of 2 or more rows were
# bitwise equal, while a 1-row prefill (a refill group of one) still differed by ~1e-5.
BATCH_INVARIANT_FLAG = "--xla_cpu_experimental_ynn_fusion_type="


# ------------------------------------------------------------------------------------------------ workload
def load_workload(args):
  """(generator, prefixes [N, t, d] float32) of the MBPP SS_MC job: a trained run in --workdir, or a random prompt,
  or the prefixes saved by `--save_prefixes` (`--prefixes`; then the generator is only the config and the model H,
  all the runners use: a machine without E's checkpoint or the data can run the benchmark)."""
  if args.prefixes:
    import types
    from configs import mbpp
    config = mbpp.get_config()
    prefixes = np.load(args.prefixes)[:args.items]
    if len(prefixes) < args.items:
      sys.exit(f"--prefixes {args.prefixes}: holds {len(prefixes)} items, fewer than --items {args.items}")
    return types.SimpleNamespace(config=config, model=load_model(config.model.name)), prefixes
  import jax
  import jax.numpy as jnp
  import flax.linen as nn
  from configs import mbpp
  config = mbpp.get_config()
  config.show_progress = False
  h, e = load_model(config.model.name), load_model(config.context.model)
  if args.steps > 0:
    config.train.steps = args.steps
    t0 = time.perf_counter()
    train_lib.train(config, args.workdir, model=h, context_model=e)  # Returns at once when already trained.
    print(f"train / reuse {args.steps} steps in {args.workdir}: {time.perf_counter() - t0:.1f} s", flush=True)
    gen = Generator.load(config, args.workdir, model=h, context_model=e)
  else:  # A randomly initialised SS_MC prompt on E's real contexts.
    texts = workdir_lib.load_texts(config)
    module = workdir_lib.make_module(config, h.config.width)
    d_e = context_lib.context_dim(e.config.width, config.context.projection_dim or None)
    theta = nn.meta.unbox(module.init(jax.random.key(0), jnp.zeros((1, d_e))))["params"]
    z = workdir_lib.load_examples(config, args.workdir, h, e, texts).train["z"]
    gen = Generator(config=config, model=h, module=module, theta=theta, z=z, step=0, identity="random")
  source = gen.source_indices(range(args.items))
  prefixes = np.concatenate([gen.prompts(source[lo:lo + args.batch]) for lo in range(0, args.items, args.batch)])
  if args.save_prefixes:
    np.save(args.save_prefixes, prefixes)
  return gen, prefixes


# ------------------------------------------------------------------------------------------------ runners
def run_jax(gen, prefixes, args, batching: str, dtype: str):
  """(samples, seconds, warm-up seconds) of `sample_text` over every item (after a warm-up on the first batch)."""
  g = gen.config.generate
  call = lambda p: sample_text(gen.model, [""] * len(p), prefixes=p, add_bos=True,
                               sampling=Sampling(temperature=g.temperature), batching=Batching(args.batch, batching),
                               ending=Ending(g.max_new_tokens), seed=gen.config.seed, dtype=dtype, progress=False,
                               return_details=True)
  t = time.perf_counter()
  call(prefixes[:2 * args.batch])
  warm = time.perf_counter() - t
  t = time.perf_counter()
  samples = call(prefixes)
  return samples, time.perf_counter() - t, warm


def run_hf(model, gen, prefixes, args):
  """(generated tokens per item, seconds) of `transformers` generate on the first --hf_items items."""
  import torch
  g, cfg = gen.config.generate, gen.model.config
  kw = dict(do_sample=True, temperature=g.temperature, top_k=0, top_p=1.0, max_new_tokens=g.max_new_tokens,
            eos_token_id=cfg.eos_id, pad_token_id=cfg.pad_id)
  embed = model.get_input_embeddings()  # Gemma's scaled embedding: the space the soft prompt lives in.

  def batch(p):
    with torch.no_grad():
      bos = embed(torch.full((len(p), 1), cfg.bos_id, dtype=torch.long, device=torch_device()))
      x = torch.cat([torch.from_numpy(np.array(p)).to(device=bos.device, dtype=bos.dtype), bos], dim=1)
      out = model.generate(inputs_embeds=x, attention_mask=torch.ones(x.shape[:2], dtype=torch.long,
                                                                      device=bos.device), **kw)
    return [_hf_length(row.tolist(), cfg.eos_id, cfg.pad_id) for row in out]

  batch(prefixes[:2])  # Warm-up (first-call allocations).
  t, lengths = time.perf_counter(), []
  for lo in range(0, args.hf_items, args.batch):
    lengths += batch(prefixes[lo:min(lo + args.batch, args.hf_items)])
  return lengths, time.perf_counter() - t


def _hf_length(row: list[int], eos: int, pad: int) -> int:
  """Generated tokens of one `generate` row up to and including its first EOS (padding after it not counted)."""
  return row.index(eos) + 1 if eos in row else len([x for x in row if x != pad])


def same_ids(ids, reference) -> str:
  """"k/n": how many items got exactly the reference's tokens."""
  return f"{sum(a == b for a, b in zip(ids, reference))}/{len(reference)}"


# ------------------------------------------------------------------------------------------------ rooflines
def useful_flops(cfg, t: int, lengths) -> float:
  """Model FLOPs of the work every engine must do: each item's t + 1 real inputs, then one step per new token."""
  return sum((t + 1) * cfg.flops_per_token((t + 1) / 2) + sum(cfg.flops_per_token(t + 1 + i) for i in range(n - 1))
             for n in lengths)


def decode_bound(cfg, rows: int, context: int, weight_bytes: int, bandwidth: float) -> float:
  """Tokens/s if every step of `rows` rows read every weight and a `context`-slot float32 KV cache once."""
  kv = 2 * cfg.num_layers * cfg.num_kv_heads * cfg.head_dim * 4 * rows * context
  return rows * bandwidth / (weight_bytes * cfg.num_params() + kv)


# ------------------------------------------------------------------------------------------------ main
def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--workdir", default="/tmp/datasynth-bench-generation", help="a trained SS_MC run of configs/mbpp.py")
  ap.add_argument("--steps", type=int, default=150, help="train the run in --workdir to this step (0: random prompt)")
  ap.add_argument("--items", type=int, default=512)
  ap.add_argument("--hf_items", type=int, default=64)
  ap.add_argument("--batch", type=int, default=32, help="rows per static batch = continuous slots = hf batch")
  ap.add_argument("--dtypes", default="float32,bfloat16")
  ap.add_argument("--methods", default="static,continuous,hf")
  ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
  ap.add_argument("--quick", action="store_true", help="64 items, 32 for hf, float32 only")
  ap.add_argument("--save_prefixes", default="", help="also write the workload's prefixes to this .npy file")
  ap.add_argument("--prefixes", default="", help="a --save_prefixes file: its first --items prefixes are the workload")
  ap.add_argument("--batch_invariant", action="store_true",
                  help="XLA CPU without YNNPACK dot fusion, whose kernels round differently for different row counts "
                       "(slower; prefills of 2 or more rows are then batch-invariant)")
  args = ap.parse_args(argv)
  if args.batch_invariant:  # Before JAX's backend starts (the first jax call is in machine_header).
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + BATCH_INVARIANT_FLAG).strip()
  if args.quick:
    args.items, args.hf_items, args.dtypes = 64, 32, "float32"
  args.hf_items = min(args.hf_items, args.items)
  methods = args.methods.split(",")

  peak, bandwidth = machine_header(args.threads), copy_bandwidth()
  peaks = {d: gpu_matmul_peak_flops(d) if on_gpu() else peak for d in args.dtypes.split(",")}  # GPU: per dtype.
  gen, prefixes = load_workload(args)
  cfg, t = gen.model.config, prefixes.shape[1]
  print(f"copy bandwidth {bandwidth / 1e9:.1f} GB/s; {args.items} items, t={t}, batch / slots {args.batch}, "
        f"max_new_tokens {gen.config.generate.max_new_tokens}", flush=True)
  rows = []
  for dtype in args.dtypes.split(","):
    results = {}
    for m in methods:
      load = os.getloadavg()[0]
      if m == "hf":
        model = load_torch_reference(gen.config.model.name, dtype)
        lengths, seconds = run_hf(model, gen, prefixes, args)
        del model
        warm, same = float("nan"), ""
      else:
        samples, seconds, warm = run_jax(gen, prefixes, args, m, dtype)
        lengths = [len(s.token_ids) for s in samples]
        results[m + "-ids"] = [s.token_ids for s in samples]
        reference = results.get("static-ids")
        same = "" if m == "static" or reference is None else same_ids(results[m + "-ids"], reference)
      n = len(lengths)
      results[m] = n / seconds
      context = t + 1 + gen.config.generate.max_new_tokens
      bound = decode_bound(cfg, args.batch, context, 2 if dtype == "bfloat16" else 4, bandwidth)
      rows.append(dict(dtype=dtype, method=m, items=n, items_s=n / seconds, tok_s=sum(lengths) / seconds,
                       tok_item=sum(lengths) / n, flops=useful_flops(cfg, t, lengths) / seconds / peaks[dtype],
                       bw=sum(lengths) / seconds / bound, warm=warm, same=same, load=load))
      print(f"  {dtype} {m}: {n / seconds:.2f} items/s, {sum(lengths) / seconds:.1f} tok/s "
            f"({seconds:.1f} s, warm-up {warm:.1f} s, load {load:.1f})", flush=True)
    for r in rows:
      if r["dtype"] == dtype:
        r["x_static"] = r["items_s"] / results["static"] if "static" in results else float("nan")
        r["x_hf"] = r["items_s"] / results["hf"] if "hf" in results else float("nan")
  print()
  print_table(["dtype", "method", "items", "items/s", "tok/s", "tok/item", "x static", "x hf", "% FLOP/s",
               "% decode BW", "warm-up s", "same ids", "load"],
              [[r["dtype"], r["method"], r["items"], r["items_s"], r["tok_s"], r["tok_item"], r["x_static"], r["x_hf"],
                100 * r["flops"], 100 * r["bw"], r["warm"], r["same"], r["load"]] for r in rows])
  print("x static / x hf: items/s over static's / hf's (same dtype); % FLOP/s: useful model FLOPs per second over the "
        "matmul peak (a CPU's float32 one, a GPU's in the row's dtype); % decode BW: generated tok/s over the decode "
        "bandwidth bound; same ids: items for which "
        "continuous gave exactly static's tokens; load: 1-minute load average when the row started.")


if __name__ == "__main__":
  main()
