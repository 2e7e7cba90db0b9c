"""Few-shot evaluation speed: the TriviaQA 5-shot harness's greedy answers with and without the shared shots, and
`transformers` generate, in one run.

  python benchmarks/few_shot_eval.py                          # smollm2-135m, 48 questions, batch 16
  python benchmarks/few_shot_eval.py --questions 160 --batch 8

The workload is the student evaluation of NOMAD Table 1 and of the SFT runs (`datasynth.evals.triviaqa`): each
prompt is the same 5 shots followed by its own question (~165 tokens, of which ~140 are the shots), greedy, at most
`--new_tokens` (16) tokens, ending at the first newline. The same prompts go to:
- whole: `sample_text(prompts)`, every row prefills its whole prompt;
- shared: `sample_text(prompts, batching=Batching(share_common_prefix=True))` (what `lm.greedy_generator` uses): the
  token ids common to every prompt are embedded and prefilled once as a shared prefix, each row prefills only its
  question;
- hf: `transformers` `generate` (greedy) on the same weights (dequantised from the same GGUF) with the same token
  ids, left-padded, every id whose text holds a newline as an end token, so a row ends where ours does.
Each JAX path gets one untimed warm-up call on the same prompts (compilation, printed apart). The table gives
questions/s, the ratios, and whether the answers equal whole's.

Sharing the shots cuts each row's prefill from the whole prompt to its own question; what is left is mostly the
decode steps per batch (each reads every weight once) and the continuous engine's refills. Without the split our
path can be slower than `transformers`, whose prefill is one large batched matmul per layer where ours prefills
refilled slots in groups. Figures (dated, per machine): benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from datasynth.decode.kernels import Ending  # noqa: E402
from datasynth.decode.text import Batching, common_token_prefix, sample_text  # noqa: E402
from datasynth.decode.tokens import Sampling  # noqa: E402
from datasynth.evals import student_eval as student, triviaqa  # noqa: E402
from datasynth.models.loaders import load_model  # noqa: E402


def prompts_for(n: int) -> list[str]:
  shots = triviaqa.prompt_shots()
  return [triviaqa.build_prompt(r, shots) for r in student.eval_subset(triviaqa.read_split("test"), n, 0)]


def run_jax(model, prompts, args, share: bool) -> tuple[list[str], float, float]:
  """(answers, compile + first call seconds, timed seconds)."""
  kw = dict(sampling=Sampling(temperature=0.0), batching=Batching(args.batch, share_common_prefix=share),
            ending=Ending(args.new_tokens, ("\n",)), progress=False)
  start = time.perf_counter()
  sample_text(model, prompts, **kw)
  warm = time.perf_counter() - start
  start = time.perf_counter()
  out = sample_text(model, prompts, **kw)
  return out, warm, time.perf_counter() - start


def run_hf(model, loaded, prompts, args) -> tuple[list[str], float]:
  import torch
  tok = loaded.tokenizer
  newline_ids = [i for i in range(loaded.config.vocab_size) if "\n" in tok.decode([i])]
  pad = loaded.config.pad_id if loaded.config.pad_id is not None else newline_ids[0]
  out, start = [], time.perf_counter()
  for lo in range(0, len(prompts), args.batch):
    ids = [tok.encode(p) for p in prompts[lo:lo + args.batch]]
    width = max(len(x) for x in ids)
    x = torch.tensor([[pad] * (width - len(r)) + r for r in ids])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in ids])
    with torch.no_grad():
      gen = model.generate(input_ids=x, attention_mask=mask, max_new_tokens=args.new_tokens, do_sample=False,
                           eos_token_id=newline_ids, pad_token_id=pad)
    for row in gen[:, width:].tolist():
      text = tok.decode([t for t in row if t != pad])
      out.append(text.split("\n", 1)[0])
  return out, time.perf_counter() - start


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--model", default="smollm2-135m")
  p.add_argument("--questions", type=int, default=48)
  p.add_argument("--batch", type=int, default=16)
  p.add_argument("--new_tokens", type=int, default=16)
  p.add_argument("--threads", type=int, default=2)
  p.add_argument("--skip_hf", action="store_true")
  args = p.parse_args(argv)
  from benchmarks.common import machine_header, load_torch_reference
  machine_header(args.threads)
  loaded = load_model(args.model)
  prompts = prompts_for(args.questions)
  common = common_token_prefix([loaded.tokenizer.encode(q) for q in prompts])
  mean_len = sum(len(loaded.tokenizer.encode(q)) for q in prompts) / len(prompts)
  print(f"{args.model}: {len(prompts)} TriviaQA 5-shot prompts, mean {mean_len:.0f} tokens, {common} shared; "
        f"batch {args.batch}, <= {args.new_tokens} new tokens", flush=True)
  rows = {}
  whole, warm, sec = run_jax(loaded, prompts, args, share=False)
  rows["whole"] = (sec, warm, True)
  shared, warm, sec = run_jax(loaded, prompts, args, share=True)
  rows["shared"] = (sec, warm, shared == whole)
  if not args.skip_hf:
    hf_out, sec = run_hf(load_torch_reference(args.model), loaded, prompts, args)
    rows["hf"] = (sec, 0.0, [a.strip() for a in hf_out] == [a.strip() for a in whole])
  print("\n| method | questions/s | x whole | x hf | compile + first call s | same answers as whole |")
  print("|---|---:|---:|---:|---:|---|")
  for name, (sec, warm, same) in rows.items():
    rate = len(prompts) / sec
    vs_hf = f"{rows['hf'][0] / sec:.2f}" if "hf" in rows else "-"
    print(f"| {name} | {rate:.2f} | {rows['whole'][0] / sec:.2f} | {vs_hf} | {warm:.1f} | {same} |")


if __name__ == "__main__":
  main()
