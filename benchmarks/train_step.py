"""Training-step throughput: our jitted SoftSRV step vs PyTorch + PEFT prompt tuning, same model, batch, length, t.

  python benchmarks/train_step.py [--model smollm2-135m] [--batch 8] [--length 64] [--t 128] [--threads 2]
                                  [--dtype float32|bfloat16]

Both sides do one optimizer step of prompt tuning (Adam on a [t, d] soft prompt; SS_NP is exactly PEFT's
PromptTuning) on the same frozen checkpoint and random tokens. Prints tokens/s (counting prefix positions, as PEFT's
sequence is t + length long), the ratio ours / PEFT, and achieved FLOP/s: the same model FLOPs for both (forward of
the body over t + length positions, its activation backward, and logits + their backward on the `length` positions
that carry loss) over step time, and as a fraction of this machine's measured float32 matmul peak (best of numpy and XLA). Where a side
does more than that (PEFT computes logits on prefix positions), it shows as lower achieved FLOP/s.
SS_MC (the default variant) and SS_NP with H's layers as one `lax.scan` (`model.scan_layers=True`) are timed too.
`--dtype bfloat16` runs H in bfloat16 on both sides (our matmuls accumulate in float32; PEFT's prompt stays float32).
Not a test: figures depend on the machine's load.

Our SS_NP runs H over its prompt once per batch (the prompt is the same in every row; `softsrv.loss.make_forward`)
into one cache segment the rows attend to (`datasynth.models.decoder.attach_prefix`), which PEFT repeats per row: it
does 0.42 of the model FLOPs above at these settings, so its GFLOP/s column is an effective rate (work PEFT does per
second) and can exceed the peak. SS_MC's prompts differ per row: no such saving.

SS_MC gains far less than SS_NP over PEFT on a CPU: both sides run the same matmuls at the same rate; ours skips
the prefix-position logits PEFT computes (16% of its FLOPs at these settings) but loses about as much in the
memory-bound glue around attention (softmax, transposes, RoPE), which PyTorch runs as one fused SDPA kernel. Each result prints as it
is timed, so a run stopped early still reports what it reached.
Figures (dated, per machine), the profile of the bfloat16 SS_MC step and the XLA flags tried: benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import functools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (best_time, load_torch_reference, machine_header, on_gpu, print_table, torch_device,  # noqa: E402
                               torch_sync)

from datasynth import sharding  # noqa: E402
from datasynth.models.decoder import Decoder, cast_params  # noqa: E402
from datasynth.models.loaders import load_model  # noqa: E402
from datasynth.train import state as state_lib  # noqa: E402
from softsrv import embeddings, train as train_lib  # noqa: E402


def model_flops(config, batch: int, length: int, t: int) -> float:
  """FLOPs prompt tuning needs per step: body fwd + activation bwd on t+length positions, head on `length`."""
  head = 2.0 * config.vocab_size * config.width
  body = config.flops_per_token((t + length) / 2) - head  # Causal attention: on average half the keys.
  return 2.0 * batch * (t + length) * body + 2.0 * batch * length * head


def ours(model, batch: int, length: int, t: int, variant: str, repeats: int, dtype: str, scan_layers: bool) -> float:
  import jax
  import jax.numpy as jnp
  import numpy as np

  import flax.linen as nn

  mesh = sharding.make_mesh(devices=jax.devices()[:1])
  dec = Decoder(model.config, dtype=jnp.dtype(dtype), scan_layers=scan_layers)
  module = embeddings.make_soft_prompt(variant, t=t, d=model.config.width, init_scale=1.0)
  tx = state_lib.make_optimizer(lr=1e-3, steps=100)
  step_fn, _ = train_lib.make_step_fns(module, dec, tx, t, 0, mesh)
  rng = np.random.RandomState(0)
  ids = rng.randint(3, model.config.vocab_size, (batch, length)).astype(np.int32)
  ids[:, 0] = model.tokenizer.bos_id if model.tokenizer.bos_id is not None else ids[:, 0]
  z = rng.standard_normal((batch, 64)).astype(np.float32)
  data = jax.device_put(dict(ids=ids, mask=np.ones_like(ids, bool), z=z))
  theta = nn.meta.unbox(module.init(jax.random.key(0), z[:1])["params"])
  state = [state_lib.TrainState.create(theta, tx, jax.random.key_data(jax.random.key(1)))]
  frozen = jax.device_put(cast_params(model.params, dtype))

  def run():
    state[0], m = step_fn(state[0], frozen, data)
    m["loss"].block_until_ready()

  run()  # Compile.
  return best_time(run, repeats)


def peft(model_name: str, batch: int, length: int, t: int, repeats: int, dtype: str) -> float:
  import numpy as np
  import torch
  from peft import PromptTuningConfig, PromptTuningInit, TaskType, get_peft_model

  base = load_torch_reference(model_name, dtype)
  model = get_peft_model(base, PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=t,
                                                  prompt_tuning_init=PromptTuningInit.RANDOM)).to(torch_device())
  model.prompt_encoder.float()  # The trained prompt and Adam stay float32, as ours (theta is float32).
  model.train()
  opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
  rng = np.random.RandomState(0)
  ids = torch.tensor(rng.randint(3, base.config.vocab_size, (batch, length)), device=torch_device())
  mask = torch.ones_like(ids)

  def run():
    loss = model(input_ids=ids, attention_mask=mask, labels=ids).loss
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    torch_sync()

  run()
  return best_time(run, repeats)


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--model", default="smollm2-135m")
  ap.add_argument("--batch", type=int, default=8)
  ap.add_argument("--length", type=int, default=64)
  ap.add_argument("--t", type=int, default=128)
  ap.add_argument("--threads", type=int, default=2)
  ap.add_argument("--repeats", type=int, default=3)
  ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                  help="frozen weights and compute on both sides (the prompt and Adam stay float32)")
  ap.add_argument("--variants", default="np,np-scan,mc", help="which of our steps to time: subset of np,np-scan,mc")
  args = ap.parse_args()


  peak = machine_header(args.threads, args.dtype)
  model = load_model(args.model)
  flops = model_flops(model.config, args.batch, args.length, args.t)
  positions = args.batch * (args.t + args.length)
  run = lambda variant, scan: ours(model, args.batch, args.length, args.t, variant, args.repeats, args.dtype, scan)
  names = {"np": ("jax SS_NP (ours)", "np", False), "np-scan": ("jax SS_NP, layer scan", "np", True),
           "mc": ("jax SS_MC (ours)", "mc", False)}
  jobs = {names[v][0]: functools.partial(run, *names[v][1:]) for v in args.variants.split(",")}
  jobs["torch+PEFT PromptTuning"] = functools.partial(peft, args.model, args.batch, args.length, args.t, args.repeats,
                                                      args.dtype)
  times = {}
  for who, job in jobs.items():
    times[who] = job()  # Printed as it comes: a run stopped early still reports what it timed.
    print(f"  {who}: {times[who]:.4g} s per step, MFU {flops / times[who] / peak:.3g}", flush=True)
  ref = times["torch+PEFT PromptTuning"]
  rows = [[args.model, who, f"{args.batch}x({args.t}+{args.length})", sec, positions / sec, ref / sec,
           flops / sec / 1e9, flops / sec / peak] for who, sec in times.items()]
  where = f"the GPU's {args.dtype}" if on_gpu() else "the float32"
  print(f"model FLOPs per step: {flops / 1e9:.1f} GFLOP; {args.dtype} (fraction of {where} matmul peak = MFU)")
  print_table(["model", "impl", "batch x (t+len)", "step s", "tokens/s", "ratio vs PEFT", "GFLOP/s",
               "frac. of matmul peak"], rows)


if __name__ == "__main__":
  main()
