"""Sampling throughput: datasynth.decode (JAX, jit + KV cache) vs transformers / PEFT `generate` (PyTorch).

  python benchmarks/sampling.py                                  # smollm2-135m, batch 32 (the quick run)
  python benchmarks/sampling.py --models smollm2-135m,gemma3-270m --batches 1,8,32,64

Each row generates `--new_tokens` (64) tokens per sequence after a `--prefix_len` (64) token *embedded* prefix (the
SoftSRV setting), sampling at temperature 1 with no truncation and EOS disabled, so every method does the same work:
- jax: `datasynth.decode.kernels.sample(prefix=...)` with one prefix per row, layers unrolled on per-layer weights (what
  `sample_text` and SoftSRV generation use); timed after one compile call (compile time printed separately).
- jax-shared: one prefix for every row plus a one-token prompt per row, PEFT's setting (and SoftSRV SS_NP's): the
  prefix is prefilled once into one cache segment that every row attends to (`datasynth.models.decoder.attach_prefix`).
- jax-scan: as jax, with the layer scan (faster compile, slower decode).
- hf: transformers `generate(inputs_embeds=prefix)` on the same weights (dequantised from the same GGUF).
- peft: PEFT prompt tuning (`num_virtual_tokens = prefix_len`, the jax-shared prefix as its prompt) `generate` from
  one input token per row.
`--dtype bfloat16` puts the weights in bfloat16 on both sides (ours keeps a float32 KV cache on CPU). The table gives
generated tokens/s (end to end: prefill + decode), JAX's speed-up like for like (hf against jax, peft against
jax-shared), peak RSS during the call, and the fraction of two rooflines measured in the same run: the machine's
float32 matmul FLOP/s (best of numpy and XLA) against the per-row model FLOPs, and its memory bandwidth (numpy copy)
against the bytes a per-row decode step must read (weights + KV cache); jax-shared does less of both, so its two
fractions are effective rates. Torch runs with `--threads` (2) threads. Other processes on a shared machine make the
figures noisy.

What bounds the decode step on a CPU: at batch 32 a step is 32-row matmuls against every weight, which XLA's
(YNNPACK) run at about half their large-matrix rate, plus the vocabulary head; bfloat16 weights double the matmul
rate on a CPU with AVX512-BF16, so on the 2-core CPU of benchmarks/README.md the 3x target over PEFT prompt tuning
at batch 32 is met in bfloat16, not in float32. The shared prefix segment saves every row reading its own copy of
the prefix's keys and values. On a GPU the per-row decode is not bandwidth-bound at this size, so the shared prefix
does not pay there.
Figures (dated, per machine), the step-time breakdown and the other batch sizes: benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

from benchmarks.common import (PeakRSS, copy_bandwidth, load_torch_reference, machine_header, torch_device,  # noqa: E402
                               torch_sync)

from datasynth.decode import kernels  # noqa: E402
from datasynth.decode.tokens import Sampling  # noqa: E402
from datasynth.models.decoder import Decoder, cast_params  # noqa: E402
from datasynth.models.loaders import load_model  # noqa: E402


def model_flops(cfg, batch: int, prefix_len: int, new_tokens: int) -> float:
  """Forward FLOPs of one call: prefill over the prefix, then one token per step attending to its context."""
  prefill = batch * prefix_len * cfg.flops_per_token(prefix_len / 2)
  decode = batch * sum(cfg.flops_per_token(prefix_len + i) for i in range(new_tokens - 1))
  return prefill + decode


def decode_bytes(cfg, batch: int, prefix_len: int, new_tokens: int, weight_bytes: int) -> float:
  """Bytes one call must read in its decode steps: all weights and the filled (float32) KV cache, every step."""
  kv_per_slot = 2 * cfg.num_layers * cfg.num_kv_heads * cfg.head_dim * 4 * batch
  return sum(weight_bytes * cfg.num_params() + kv_per_slot * (prefix_len + i) for i in range(new_tokens - 1))


# ------------------------------------------------------------------------------------------------ runners
def run_jax(loaded, prefix: np.ndarray, new_tokens: int, scan_layers: bool, shared: bool, dtype: str):
  """shared: one prefix for every row, as PEFT's prompt (rows' prompts: one token each, as PEFT's input)."""
  import jax
  import jax.numpy as jnp
  dec = Decoder(loaded.config, dtype=jnp.dtype(dtype), scan_layers=scan_layers)
  params = jax.device_put(cast_params(loaded.params, dec.dtype))
  b = prefix.shape[0]
  kw = dict(prefix=prefix[:1], prompt_tokens=np.ones((b, 1), np.int32)) if shared else dict(prefix=prefix)
  call = lambda seed: kernels.sample(dec, params, rng=seed, ending=kernels.Ending(new_tokens, eos_id=None),
                                     sampling=Sampling(1.0), **kw).tokens.block_until_ready()
  t = time.perf_counter()
  call(0)
  compile_s = time.perf_counter() - t
  with PeakRSS() as mem:
    t = time.perf_counter()
    out = call(1)
    seconds = time.perf_counter() - t
  assert out.shape == (prefix.shape[0], new_tokens)
  return seconds, mem.peak, compile_s


def _gen_kwargs(new_tokens: int) -> dict:
  return dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=True, temperature=1.0, top_k=0,
              top_p=1.0, pad_token_id=0)


def run_hf(model, prefix: np.ndarray, new_tokens: int):
  import torch
  embeds = torch.from_numpy(np.array(prefix)).to(device=torch_device(), dtype=model.dtype)
  mask = torch.ones(prefix.shape[:2], dtype=torch.long, device=torch_device())
  with torch.no_grad():  # Warm-up (first-call allocations), as JAX gets its compile call.
    model.generate(inputs_embeds=embeds[:1, :4], attention_mask=mask[:1, :4], **_gen_kwargs(2))
  with torch.no_grad(), PeakRSS() as mem:
    t = time.perf_counter()
    out = model.generate(inputs_embeds=embeds, attention_mask=mask, **_gen_kwargs(new_tokens))
    torch_sync()
    seconds = time.perf_counter() - t
  assert out.shape[-1] >= new_tokens
  return seconds, mem.peak


def peft_model(model, prefix_len: int):
  """The base model wrapped once for prompt tuning (it injects no layers: the base model is unchanged)."""
  import peft
  cfg = peft.PromptTuningConfig(task_type=peft.TaskType.CAUSAL_LM, num_virtual_tokens=prefix_len,
                                prompt_tuning_init=peft.PromptTuningInit.RANDOM)
  return peft.get_peft_model(model, cfg).eval()


def run_peft(pm, prefix: np.ndarray, new_tokens: int):
  import torch
  b = prefix.shape[0]
  prefix = torch.from_numpy(np.array(prefix[0]))
  with torch.no_grad():  # The same prompt as the jax-shared row.
    pm.prompt_encoder["default"].embedding.weight.copy_(prefix)
  ids = torch.ones((b, 1), dtype=torch.long, device=torch_device())
  with torch.no_grad():  # Warm-up, as above.
    pm.generate(input_ids=ids[:1], attention_mask=torch.ones_like(ids[:1]), **_gen_kwargs(2))
  with torch.no_grad(), PeakRSS() as mem:
    t = time.perf_counter()
    out = pm.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **_gen_kwargs(new_tokens))
    torch_sync()
    seconds = time.perf_counter() - t
  assert out.shape[-1] >= new_tokens
  return seconds, mem.peak


# ------------------------------------------------------------------------------------------------ main
def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--models", default="smollm2-135m", help="comma list: smollm2-135m,gemma3-270m")
  ap.add_argument("--batches", default="32", help="comma list of batch sizes, e.g. 1,8,32,64")
  ap.add_argument("--prefix_len", type=int, default=64)
  ap.add_argument("--new_tokens", type=int, default=64)
  ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
  ap.add_argument("--methods", default="jax,jax-shared,hf,peft",
                  help="subset of jax,jax-shared,jax-scan,hf,peft (jax-shared: one prefix for all rows, PEFT's "
                       "setting; jax-scan: the layer scan instead of unrolled layers)")
  ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="weights, both sides")
  args = ap.parse_args(argv)
  methods = args.methods.split(",")

  peak_flops, bandwidth = machine_header(args.threads, args.dtype), copy_bandwidth()
  print(f"copy bandwidth {bandwidth / 1e9:.1f} GB/s; prefix {args.prefix_len} embedded tokens, "
        f"{args.new_tokens} new tokens, temperature 1", flush=True)
  rows = []
  for name in args.models.split(","):
    loaded = load_model(name)
    cfg = loaded.config
    torch_model = load_torch_reference(name, args.dtype) if {"hf", "peft"} & set(methods) else None
    pm = peft_model(torch_model, args.prefix_len) if "peft" in methods else None
    if pm is not None:
      pm.to(device=torch_device(), dtype=torch_model.dtype)
    for b in [int(x) for x in args.batches.split(",")]:
      ids = np.random.default_rng(b).integers(0, cfg.vocab_size, (b, args.prefix_len))
      prefix = np.asarray(Decoder(cfg).apply({"params": loaded.params}, ids, method=Decoder.embed), np.float32)
      flops = model_flops(cfg, b, args.prefix_len, args.new_tokens)
      nbytes = decode_bytes(cfg, b, args.prefix_len, args.new_tokens, 2 if args.dtype == "bfloat16" else 4)
      results = {}
      for m in methods:
        extra = ""
        if m.startswith("jax"):
          seconds, peak, compile_s = run_jax(loaded, prefix, args.new_tokens, scan_layers=m == "jax-scan",
                                             shared=m == "jax-shared", dtype=args.dtype)
          extra = f"compile {compile_s:.1f}s"
        elif m == "hf":
          seconds, peak = run_hf(torch_model, prefix, args.new_tokens)
        else:
          seconds, peak = run_peft(pm, prefix, args.new_tokens)
        results[m] = b * args.new_tokens / seconds
        rows.append(dict(model=name, batch=b, method=m, tok_s=results[m], seconds=seconds, rss=peak / 2 ** 30,
                         compute=flops / seconds / peak_flops, bw=nbytes / seconds / bandwidth, extra=extra))
        print(f"  {name} batch {b} {m}: {results[m]:.1f} tok/s ({seconds:.1f}s) {extra}", flush=True)
      for r in rows:  # Like for like: a shared prompt (PEFT) against jax-shared, per-row prefixes against jax.
        if r["model"] == name and r["batch"] == b:
          ours = results.get("jax-shared" if r["method"] in ("peft", "jax-shared") else "jax", float("nan"))
          r["ratio"] = ours / r["tok_s"]
    del torch_model, pm

  print()
  print(f"{args.dtype} weights on both sides")
  print(f"{'model':<14}{'batch':>6}  {'method':<11}{'tok/s':>9}{'jax x':>8}{'peak RSS GiB':>14}"
        f"{'% FLOP/s':>10}{'% BW':>7}  notes")
  for r in rows:
    print(f"{r['model']:<14}{r['batch']:>6}  {r['method']:<11}{r['tok_s']:>9.1f}{r['ratio']:>8.2f}{r['rss']:>14.2f}"
          f"{100 * r['compute']:>10.1f}{100 * r['bw']:>7.1f}  {r['extra']}")
  print("jax x = JAX tokens/s divided by this row's (peft and jax-shared: jax-shared's); % FLOP/s = model FLOPs per second / measured matmul peak; "
        "% BW = weight + KV-cache bytes read per second / measured copy bandwidth. RSS is the process's (cumulative "
        "across methods: models stay loaded).")


if __name__ == "__main__":
  main()
