"""Base-model numbers on each harness (no fine-tuning), on the first `n` test examples.

  python -m datasynth.evals.baseline --model=smollm2-135m --n=20 [--tasks=mbpp,gsm8k,boolq,triviaqa] [--out=FILE]

Greedy decoding for MBPP (3-shot, pass@1 in the sandbox), GSM8K (5-shot CoT, exact match) and TriviaQA (5-shot short
answer, exact match over the aliases); log-likelihood choice for BoolQ (zero-shot accuracy). Prints one JSON object;
with --out writes it atomically.

Measured (CPU, greedy, max_new_tokens=192; MBPP and GSM8K on the first 20 test examples, BoolQ on the first 50):
  SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised): MBPP pass@1 0/20 (12 wrong answers, 8 errors), GSM8K 0/20
  (18 with a number), BoolQ 0.50 with " True"/" False" (majority class 0.64), 0.40 with " yes"/" no".
  Gemma 3 270M base (Q4_K_M GGUF): MBPP 1/20 (5 wrong answers, 14 errors; the tokenizer encodes indentation as
  Gemma's whitespace-run pieces; without that all 20 fail with an IndentationError), GSM8K 0/20 (20 with
  a number), BoolQ 0.56 (" True"/" False"; predicts True 44/50).
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Any, Sequence

from datasynth.evals import boolq, gsm8k, lm, mbpp, triviaqa
from datasynth.models.loaders import load_model
from datasynth.utils import cli
from datasynth.utils.errors import UserError
from datasynth.utils.io import write_text

TASKS = ("mbpp", "gsm8k", "boolq", "triviaqa")


def base_model_numbers(model, *, n: int = 20, tasks: Sequence[str] = TASKS, data_dir: str | None = None,
                       batch_size: int = 4, max_new_tokens: int = 192, boolq_n: int | None = None,
                       workers: int = 2, progress: bool = True) -> dict[str, Any]:
  """Metrics of `model` (a LoadedModel) on the first `n` test examples of each task (BoolQ: `boolq_n`, default n)."""
  unknown = sorted(set(tasks) - set(TASKS))
  if unknown:
    raise UserError(f"Unknown task(s) {unknown}; choose from {list(TASKS)}.")
  out: dict[str, Any] = dict(model=model.source, n=n)
  if "mbpp" in tasks:
    t = time.time()
    gen = lm.greedy_generator(model, max_new_tokens=max_new_tokens, stop=[mbpp.DONE], batch_size=batch_size,
                              progress=progress)
    res = mbpp.evaluate_mbpp(mbpp.read_split("test", data_dir)[:n], gen, shots=mbpp.prompt_shots(data_dir),
                             workers=workers, progress=progress)
    out["mbpp"] = dict(res.summary(), seconds=round(time.time() - t, 1))
  if "gsm8k" in tasks:
    t = time.time()
    gen = lm.greedy_generator(model, max_new_tokens=max_new_tokens, stop=list(gsm8k.STOP), batch_size=batch_size,
                              progress=progress)
    res = gsm8k.evaluate_gsm8k(gsm8k.read_split("test", data_dir)[:n], gen, shots=gsm8k.prompt_shots(data_dir))
    answered = sum(p is not None for p in res.predictions)
    out["gsm8k"] = dict(accuracy=res.accuracy, num_examples=res.num_examples, answered=answered,
                        seconds=round(time.time() - t, 1))
  if "triviaqa" in tasks:
    t = time.time()
    gen = lm.greedy_generator(model, max_new_tokens=32, stop=list(triviaqa.STOP), batch_size=batch_size,
                              progress=progress)
    res = triviaqa.evaluate_triviaqa(triviaqa.read_split("test", data_dir)[:n], gen,
                                     shots=triviaqa.prompt_shots(data_dir))
    out["triviaqa"] = dict(exact_match=res.exact_match, num_examples=res.num_examples,
                           seconds=round(time.time() - t, 1))
  if "boolq" in tasks:
    t = time.time()
    records = boolq.read_split("test", data_dir)[:boolq_n or n]
    res = boolq.evaluate_boolq(records, lm.loglik_scorer(model, batch_size=batch_size, progress=progress))
    majority = max(sum(map(boolq.label, records)), sum(not boolq.label(r) for r in records)) / len(records)
    out["boolq"] = dict(accuracy=res.accuracy, num_examples=res.num_examples, majority_class=majority,
                        predicted_true=sum(res.predictions), seconds=round(time.time() - t, 1))
  return out


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--model", default="smollm2-135m", help="preset name or checkpoint path for load_model")
  parser.add_argument("--n", type=int, default=20, help="first n test examples per task")
  parser.add_argument("--boolq_n", type=int, default=None, help="BoolQ examples (default: n)")
  parser.add_argument("--tasks", default=",".join(TASKS))
  parser.add_argument("--batch_size", type=int, default=4)
  parser.add_argument("--max_new_tokens", type=int, default=192)
  parser.add_argument("--data_dir", default=None)
  parser.add_argument("--out", default=None, help="write the JSON here (atomically)")
  args = parser.parse_args(argv)
  numbers = base_model_numbers(load_model(args.model), n=args.n, tasks=args.tasks.split(","), data_dir=args.data_dir,
                               batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, boolq_n=args.boolq_n)
  text = json.dumps(numbers, indent=2)
  print(text)
  if args.out:
    write_text(args.out, text + "\n")


if __name__ == "__main__":
  cli.run(main, absl_flags=False)
