"""This project's decoders as an lm-evaluation-harness (`lm-eval`) model, so any lm-eval task scores them.

  import lm_eval
  from datasynth.evals import lm_eval_adapter
  lm = lm_eval_adapter.DatasynthLM("smollm2-135m", batch_size=8)        # a preset, model folder or SFT work dir
  out = lm_eval.simple_evaluate(model=lm, tasks=["bbh_local_fewshot"],
                                task_manager=lm_eval_adapter.task_manager(["bbh_local_fewshot"]))

or `python launch/eval_harness.py --model=smollm2-135m --tasks=bbh_local_fewshot --limit=20`, which takes lm-eval's
usual flags. Registered with lm-eval as "datasynth" when this module is imported; lm-eval's own `lm_eval` command does
not import it, so use the Python API or the launcher.

The three request types, batched through the compiled forward and the sampler:
- `loglikelihood`: (context, continuation) -> (log p, greedy), `datasynth.evals.lm.continuation_scorer` per task:
  the ids every context of a task starts with (its description and few-shot shots) run once into a shared KV cache,
  each distinct context once (one row, whatever its number of choices), each continuation once on its context's
  cache. Context and continuation are tokenised separately (the context with the tokenizer's BOS setting, the
  continuation without BOS), as the project's own harnesses do, after lm-eval's rule of moving the context's
  trailing spaces onto the continuation; a pair longer than `max_length` loses the start of its context.
- `loglikelihood_rolling`: a document's log-likelihood in disjoint windows of `max_length` ids (lm-eval's
  `get_rolling_token_windows`), each scored the same way; the first window is conditioned on BOS (else EOS).
- `generate_until`: `datasynth.decode.text.sample_text` per (task, generation settings): continuous batching,
  `share_common_prefix=True` (the shots prefilled once), stop strings = `until`, `max_gen_toks`, greedy unless
  `do_sample` with a temperature. A context longer than `max_length - max_gen_toks` ids loses its start.

`task_manager()` adds the task definitions this package ships (`datasynth/evals/lm_eval_tasks/`: BBH 3-shot with and
without chain of thought, TruthfulQA generation, and the BoolQ / GSM8K tasks of the project's own harnesses) to
lm-eval's own and any `include_path`; `evaluate()` is the one call the launcher and the NOMAD student stage make.
Nothing is downloaded: `offline()` sets HF_HUB_OFFLINE / HF_DATASETS_OFFLINE, and the shipped tasks read the data
through `datasynth.data` (the bundled copy when no data folder is named).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from typing import Any, Iterable, Mapping, Sequence

import jax.numpy as jnp
from datasets.exceptions import DatasetNotFoundError
# lm-eval is an optional dependency (setup.py's `lmeval` extra): only this module and what calls it import it.
import lm_eval
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from lm_eval.tasks import TaskManager
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

from datasynth.decode.kernels import Ending
from datasynth.decode.text import Batching, sample_text
from datasynth.decode.tokens import Sampling
from datasynth.evals import lm as lm_lib
from datasynth.evals.lm_eval_tasks import TASKS_DIR, shipped_tasks
from datasynth.models.loaders import PRESETS, LoadedModel, check_name, load_model
from datasynth.train import sft
from datasynth.utils import io
from datasynth.utils.errors import UserError

log = logging.getLogger(__name__)
MODEL_NAME = "datasynth"  # The name lm-eval knows the adapter by (`--model datasynth`).
_GEN_KEYS = {"until", "max_gen_toks", "do_sample", "temperature", "top_p", "top_k"}


def offline() -> None:
  """No hub access from lm-eval or `datasets` in this process (the project's machines have none)."""
  os.environ["HF_HUB_OFFLINE"] = "1"
  os.environ["HF_DATASETS_OFFLINE"] = "1"


def load(model: str | LoadedModel) -> LoadedModel:
  """A LoadedModel from a preset name, a GGUF file, an HF or Orbax model folder, or an SFT work dir (its fine-tuned
  checkpoint on its base model, `datasynth.train.sft.load_trained`)."""
  if isinstance(model, LoadedModel):
    return model
  check_name(model, "model")
  if os.path.isdir(model) and sft.is_run_dir(model):
    return sft.load_trained(model)
  return load_model(model)


@dataclasses.dataclass(frozen=True)
class GenSettings:
  """One group of `generate_until` requests: lm-eval's generation kwargs, as the sampler takes them."""
  until: tuple[str, ...]
  max_gen_toks: int
  temperature: float
  top_p: float
  top_k: int

  @classmethod
  def from_kwargs(cls, kwargs: Mapping[str, Any] | None, default_max: int) -> "GenSettings":
    kwargs = dict(kwargs or {})
    unknown = sorted(set(kwargs) - _GEN_KEYS)
    if unknown:
      log.warning("generate_until: ignoring generation settings %s (supported: %s).", unknown, sorted(_GEN_KEYS))
    until = kwargs.get("until") or ()
    until = (until,) if isinstance(until, str) else tuple(until)
    sample = bool(kwargs.get("do_sample", False)) and float(kwargs.get("temperature", 1.0) or 0.0) > 0
    return cls(until=tuple(s for s in until if s), max_gen_toks=int(kwargs.get("max_gen_toks", default_max)),
               temperature=float(kwargs.get("temperature", 1.0)) if sample else 0.0,
               top_p=float(kwargs.get("top_p", 1.0) or 1.0) if sample else 1.0,
               top_k=int(kwargs.get("top_k", 0) or 0) if sample else 0)


def _groups(requests: Sequence[Any], key) -> dict[Any, list[int]]:
  """Request indices grouped by key(request), in first-seen order."""
  out: dict[Any, list[int]] = {}
  for i, r in enumerate(requests):
    out.setdefault(key(r), []).append(i)
  return out


@register_model(MODEL_NAME)
class DatasynthLM(LM):
  """lm-eval's `LM` over a `datasynth.models.LoadedModel` (see the module docstring for how each request is run).

  Args:
    pretrained: a LoadedModel, or a preset name / model path / SFT work dir for `load` (lm-eval's
      `--model_args pretrained=...`).
    batch_size: rows per compiled scoring call and sampler slots ("auto" = 8).
    max_gen_toks: generation budget when a task does not set one.
    max_length: context length used (default: the model's, at most 4096 ids so a rolling window's
      [batch, length, vocab] log-probabilities stay in memory on a CPU).
    dtype: compute dtype ("float32" or "bfloat16").
    seed: sampling seed (only tasks with do_sample draw).
    progress: progress bars.
    device, max_batch_size: accepted from lm-eval's CLI and ignored (JAX places the model on its devices).
  """

  def __init__(self, pretrained: str | LoadedModel = "smollm2-135m", *, batch_size: int | str = 8,
               max_gen_toks: int = 256, max_length: int | None = None, dtype: str = "float32", seed: int = 0,
               progress: bool = True, device: str | None = None, max_batch_size: int | None = None):
    super().__init__()
    del device, max_batch_size
    self.model = load(pretrained)
    self.batch_size = 8 if str(batch_size).startswith("auto") else int(batch_size)
    if self.batch_size < 1:
      raise UserError(f"batch_size={batch_size!r} must be a positive integer.")
    self.max_gen_toks = int(max_gen_toks)
    self.max_length = int(max_length or min(self.model.config.max_len, 4096))
    if not 2 <= self.max_length <= self.model.config.max_len:
      raise UserError(f"max_length={self.max_length} must be within 2..{self.model.config.max_len} (the model's).")
    if dtype not in ("float32", "bfloat16"):
      raise UserError(f"dtype={dtype!r}: expected float32 or bfloat16.")
    self.dtype, self.seed, self.progress = dtype, int(seed), bool(progress)
    self._score = lm_lib.continuation_scorer(self.model, batch_size=self.batch_size, dtype=jnp.dtype(dtype),
                                             progress=progress)
    self._rolling = lm_lib.continuation_scorer(self.model, batch_size=1, dtype=jnp.dtype(dtype), progress=progress,
                                               share_prefix=False)

  # ---------------------------------------------------------------------------------------------- tokenisation
  @property
  def tokenizer_name(self) -> str:
    return os.path.basename(str(self.model.source)) or MODEL_NAME

  @property
  def prefix_id(self) -> int:
    """What an empty context and a rolling document's first window are conditioned on: BOS, else EOS."""
    tok = self.model.tokenizer
    return tok.bos_id if tok.bos_id is not None else tok.eos_id

  def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids), the context's trailing spaces moved onto the continuation, the context's
    start cut when the pair is longer than max_length."""
    tok = self.model.tokenizer
    spaces = len(context) - len(context.rstrip())
    if spaces:
      context, continuation = context[:-spaces], context[-spaces:] + continuation
    ctx = tok.encode(context) if context else [self.prefix_id]
    cont = tok.encode(continuation, add_bos=False)[-(self.max_length - 1):]
    return ctx[-(self.max_length - len(cont)):], cont

  # -------------------------------------------------------------------------------------------------- requests
  def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
    out: list[tuple[float, bool] | None] = [None] * len(requests)
    for indices in _groups(requests, lambda r: r.task_name).values():  # A task's shots are its shared prefix.
      pairs = [self.encode_pair(*requests[i].args) for i in indices]
      for i, value in zip(indices, self._score(pairs)):
        out[i] = value
        self.cache_hook.add_partial("loglikelihood", requests[i].args, value)
    return out

  def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
    tok, pairs, owner = self.model.tokenizer, [], []
    for n, r in enumerate(requests):
      ids = tok.encode(r.args[0], add_bos=False)
      for window in get_rolling_token_windows(token_list=ids, prefix_token=self.prefix_id,
                                              max_seq_len=self.max_length, context_len=1):
        ctx, cont = make_disjoint_window(window)
        pairs.append((list(ctx), list(cont)))
        owner.append(n)
    totals = [0.0] * len(requests)
    for n, (logp, _) in zip(owner, self._rolling(pairs)):
      totals[n] += logp
    for r, total in zip(requests, totals):
      self.cache_hook.add_partial("loglikelihood_rolling", r.args, total)
    return totals

  def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
    out: list[str | None] = [None] * len(requests)

    def key(r):
      return r.task_name, GenSettings.from_kwargs(r.args[1] if len(r.args) > 1 else None, self.max_gen_toks)

    for (_, settings), indices in _groups(requests, key).items():
      prompts = [self._fit_prompt(requests[i].args[0], settings.max_gen_toks) for i in indices]
      texts = sample_text(self.model, prompts, sampling=Sampling(settings.temperature, settings.top_k, settings.top_p),
                          batching=Batching(self.batch_size, share_common_prefix=True),
                          ending=Ending(settings.max_gen_toks, settings.until), seed=self.seed,
                          dtype=jnp.dtype(self.dtype), progress=self.progress)
      for i, text in zip(indices, texts):
        out[i] = text
        self.cache_hook.add_partial("generate_until", requests[i].args, text)
    return out

  def _fit_prompt(self, context: str, max_gen_toks: int) -> str:
    """The context, its start cut (at a token boundary) when it leaves fewer than max_gen_toks ids to generate."""
    if max_gen_toks >= self.max_length:
      raise UserError(f"max_gen_toks={max_gen_toks} leaves no room for a prompt in max_length={self.max_length}.")
    tok = self.model.tokenizer
    ids = tok.encode(context)
    if not ids:
      raise UserError("generate_until got an empty context and the tokenizer adds no BOS; nothing to condition on.")
    room = self.max_length - max_gen_toks
    if len(ids) <= room:
      return context
    log.warning("A prompt of %d ids is cut to its last %d (max_length %d - max_gen_toks %d).", len(ids), room,
                self.max_length, max_gen_toks)
    return tok.decode(ids[-room:])


# ------------------------------------------------------------------------------------------------------ tasks


def task_manager(tasks: Sequence[str] = (), include_path: str | Sequence[str] | None = None, *,
                 data_dir: str | None = None) -> TaskManager:
  """lm-eval's TaskManager over the shipped task definitions and `include_path`; lm-eval's own (~14K, indexed in
  seconds) only when a task outside those is named. `data_dir` reaches the shipped tasks' data loaders."""
  paths = [TASKS_DIR] + ([include_path] if isinstance(include_path, str) else list(include_path or []))
  for p in paths[1:]:
    if not os.path.exists(p):
      raise UserError(f"--include_path={p}: no such file or folder; point it at your task YAML files.")
  local = TaskManager(include_path=paths, include_defaults=False, metadata={"data_dir": data_dir} if data_dir else None)
  names = set(local.all_tasks)
  if all(t in names for t in tasks):
    return local
  return TaskManager(include_path=paths, metadata={"data_dir": data_dir} if data_dir else None)


def check_tasks(tasks: Sequence[str], manager: TaskManager) -> None:
  """A UserError naming the unknown tasks (with close names), before any model loads."""
  import difflib
  known = set(manager.all_tasks)
  unknown = [t for t in tasks if t not in known and not os.path.isfile(t)]
  if unknown:
    hints = {t: difflib.get_close_matches(t, sorted(known), n=3) for t in unknown}
    text = "; ".join(f"{t}" + (f" (did you mean {', '.join(h)}?)" if h else "") for t, h in hints.items())
    raise UserError(f"Unknown lm-eval task(s): {text}. The shipped tasks are {', '.join(shipped_tasks())}; "
                    "lm-eval's own need their data sets in the local Hugging Face cache.")


def evaluate(model: str | LoadedModel | DatasynthLM, tasks: Sequence[str], *, num_fewshot: int | None = None,
             limit: int | float | None = None, include_path: str | Sequence[str] | None = None,
             batch_size: int = 8, max_gen_toks: int = 256, data_dir: str | None = None,
             gen_kwargs: str | None = None, log_samples: bool = False, seed: int = 0,
             progress: bool = True, manager: TaskManager | None = None,
             bootstrap_iters: int = 1000) -> dict[str, Any]:
  """lm-eval's `simple_evaluate` of `model` on `tasks` (names, groups or YAML paths): its results dict. Standard
  errors of mean metrics are analytic; `bootstrap_iters` is for the others (0: none)."""
  offline()
  if not tasks:
    raise UserError("No lm-eval tasks given; name at least one (e.g. --tasks=bbh_local_fewshot).")
  manager = manager or task_manager(tasks, include_path, data_dir=data_dir)
  check_tasks(tasks, manager)
  lm = model if isinstance(model, DatasynthLM) else DatasynthLM(model, batch_size=batch_size,
                                                                 max_gen_toks=max_gen_toks, progress=progress)
  try:
    return lm_eval.simple_evaluate(model=lm, tasks=list(tasks), num_fewshot=num_fewshot, limit=limit,
                                   task_manager=manager, gen_kwargs=gen_kwargs, log_samples=log_samples,
                                   random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed,
                                   fewshot_random_seed=seed, bootstrap_iters=bootstrap_iters)
  except (ConnectionError, FileNotFoundError, DatasetNotFoundError) as e:
    raise UserError(f"An lm-eval task's data set is not available offline ({type(e).__name__}: {e}); download it "
                    "into the Hugging Face cache on a machine with network access (datasets.load_dataset(...) with "
                    "the task's dataset_path), or use the shipped tasks.") from e


def metrics(results: Mapping[str, Any]) -> dict[str, dict[str, float]]:
  """{task or group: {metric: value}} of a results dict (lm-eval's "metric,filter" keys as "metric"; standard
  errors as "<metric>_stderr"; "N/A" dropped)."""
  out: dict[str, dict[str, float]] = {}
  for task, row in results.get("results", {}).items():
    vals = {}
    for k, v in row.items():
      if "," not in k or not isinstance(v, (int, float)) or isinstance(v, bool):
        continue
      name = k.split(",")[0]
      vals[name] = float(v)
    out[task] = vals
  return out


def table(results: Mapping[str, Any]) -> str:
  """A markdown table of every task's metrics (value +- standard error where lm-eval gave one)."""
  lines = ["| task | metric | value | stderr | n |", "|---|---|---:|---:|---:|"]
  samples = results.get("n-samples", {})
  for task, vals in metrics(results).items():
    n = samples.get(task, {}).get("effective", "")
    for name, v in vals.items():
      if name.endswith("_stderr"):
        continue
      se = vals.get(f"{name}_stderr")
      se_text = f"{se:.4f}" if se is not None and math.isfinite(se) else ""
      lines.append(f"| {task} | {name} | {v:.4f} | {se_text} | {n} |")
  return "\n".join(lines)


def write_results(results: Mapping[str, Any], output_path: str) -> list[str]:
  """results.json (lm-eval's dict without the per-sample logs), results.md and, when logged, samples_<task>.jsonl in
  the folder `output_path` (written atomically); returns the paths."""
  os.makedirs(output_path, exist_ok=True)
  kept = {k: v for k, v in results.items() if k != "samples"}
  paths = [os.path.join(output_path, "results.json"), os.path.join(output_path, "results.md")]
  io.write_text(paths[0], json.dumps(kept, indent=2, default=str, sort_keys=True))
  io.write_text(paths[1], table(results) + "\n")
  for task, rows in (results.get("samples") or {}).items():
    path = os.path.join(output_path, f"samples_{task}.jsonl")
    io.write_text(path, "".join(json.dumps(r, default=str) + "\n" for r in rows))
    paths.append(path)
  return paths


def task_names(text: str | Iterable[str]) -> list[str]:
  """"a, b,c" (or a list) -> ["a", "b", "c"]."""
  items = text.split(",") if isinstance(text, str) else list(text)
  return [t.strip() for t in items if t.strip()]


def check_args(*, model: str, tasks: Sequence[str], num_fewshot: int | None, limit: float | None, batch_size: int,
               max_gen_toks: int, output_path: str | None, data_dir: str | None) -> None:
  """The launcher's inputs, before anything loads (UserError naming the flag)."""
  if not tasks:
    raise UserError("--tasks is empty; name lm-eval tasks or groups, e.g. --tasks=bbh_local_fewshot,"
                    "truthfulqa_local_gen.")
  if num_fewshot is not None and num_fewshot < 0:
    raise UserError(f"--num_fewshot={num_fewshot} must be >= 0.")
  if limit is not None and not (limit > 0 and (limit < 1 or float(limit).is_integer())):
    raise UserError(f"--limit={limit:g} must be a whole number of documents or a fraction in (0, 1).")
  for name, value in (("batch_size", batch_size), ("max_gen_toks", max_gen_toks)):
    if value < 1:
      raise UserError(f"--{name}={value} must be >= 1.")
  if output_path and os.path.isfile(output_path):
    raise UserError(f"--output_path={output_path} is a file; name a folder for results.json and results.md.")
  if data_dir and not os.path.isdir(data_dir):
    raise UserError(f"--data_dir={data_dir} is not a folder; point it at the benchmark data.")
  if model not in PRESETS and not os.path.exists(model):
    raise UserError(f"--model={model!r} is neither a model preset ({', '.join(PRESETS)}) nor an existing path (GGUF "
                    "file, HF or Orbax model folder, SFT work dir).")


def run(model: str, tasks: Sequence[str], *, output_path: str | None = None, num_fewshot: int | None = None,
        limit: float | None = None, include_path: str | None = None, batch_size: int = 8, max_gen_toks: int = 256,
        data_dir: str | None = None, gen_kwargs: str | None = None, log_samples: bool = False, seed: int = 0,
        dtype: str = "float32", max_length: int | None = None) -> dict[str, Any]:
  """launch/eval_harness.py: check the inputs, load the model, evaluate, print the table, write the results."""
  offline()
  check_args(model=model, tasks=tasks, num_fewshot=num_fewshot, limit=limit, batch_size=batch_size,
             max_gen_toks=max_gen_toks, output_path=output_path, data_dir=data_dir)
  manager = task_manager(tasks, include_path, data_dir=data_dir)
  check_tasks(tasks, manager)
  lm = DatasynthLM(model, batch_size=batch_size, max_gen_toks=max_gen_toks, dtype=dtype, seed=seed,
                   max_length=max_length)
  limit = int(limit) if limit is not None and limit >= 1 else limit
  results = evaluate(lm, tasks, num_fewshot=num_fewshot, limit=limit, gen_kwargs=gen_kwargs,
                     log_samples=log_samples, seed=seed, manager=manager)
  print(table(results), flush=True)
  if output_path:
    paths = write_results(results, output_path)
    print(f"done: {paths[0]}", flush=True)
  return results
