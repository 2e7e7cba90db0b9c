"""`sample_text`: prompts and / or embedded prefixes in, decoded strings out, through static batching (one compiled
`datasynth.decode.kernels.sample` call per batch) or continuous batching (`datasynth.decode.continuous`, the default).

Prompts are tokenised and padded to one bucketed length (`datasynth.decode.buckets`), the weights are placed and cast
once, item j draws from the key fold_in(key(seed), item_ids[j]), and each row's ids become text with the EOS removed
and the first stop string cut (`TextSample`).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from datasynth import sharding
from datasynth.decode import buckets, continuous
from datasynth.decode.kernels import Ending, eos_tuple, make_spec, sample
from datasynth.decode.tokens import Sampling
from datasynth.models.config import DecoderConfig
from datasynth.models.decoder import Decoder, cast_params
from datasynth.utils import progress as progress_lib


@dataclasses.dataclass
class TextSample:
  text: str  # Decoded continuation, EOS removed, cut before the first stop string.
  token_ids: list[int]  # Generated ids up to and including the ending token.
  finished: bool  # Ended by EOS or a stop sequence (False: ran out of max_new_tokens).


BATCHING = ("continuous", "static")  # sample_text's engines (`continuous`; one `sample` call per batch).


@dataclasses.dataclass(frozen=True)
class Batching:
  """How `sample_text` groups its items into compiled calls (see its docstring for what each choice changes)."""
  batch_size: int = 32  # Rows decoding together: continuous batching's slots, or static batching's items per call.
  mode: str = "continuous"  # One of BATCHING.
  block_steps: int = 32  # continuous: the most decode steps per compiled block.
  share_common_prefix: bool = False  # Prefill the prompts' common leading token ids once (`common_token_prefix`).
  length_multiple: int = 16  # Prompts are padded to `buckets.prompt_length(longest, length_multiple)`.

  def __post_init__(self):
    if self.mode not in BATCHING:
      raise ValueError(f"batching mode must be one of {BATCHING}, got {self.mode!r}.")


def sample_text(model, prompts: Sequence[str] | None = None, *, prefixes=None, sampling: Sampling = Sampling(),
                batching: Batching = Batching(), ending: Ending = Ending(), seed: int = 0,
                item_ids: Sequence[int] | None = None, add_bos: bool | None = None, dtype=jnp.float32,
                scan_layers: bool = False, mesh=None, rules=None, progress: bool = True,
                return_details: bool = False) -> list[str] | list[TextSample]:
  """Continue many prompts (and / or embedded prefixes), `batching.batch_size` rows at a time; returns decoded
  strings.

  model: anything with `.config`, `.params`, `.tokenizer` (a `LoadedModel`). prefixes: [N, t, width] array (one
  embedded prefix per item), [t, width] (one prefix shared by every prompt: prefilled once) or None. sampling: token
  choice (temperature, top-k, top-p). ending: max_new_tokens, stop strings (each row's text is cut before the first)
  and EOS ids (`kernels.Ending`). Prompt lengths are padded to one length (`buckets.prompt_length`: a power of
  two under `batching.length_multiple`, else a multiple of it), so the whole list compiles once. Item j draws from its
  own key stream fold_in(key(seed), item_ids[j]) (item_ids default 0..n-1), so its sample does not depend on
  batch_size, batching or the other items in the list, where the backend's kernels are batch-invariant (a row's
  floats do not depend on how many rows share the call). XLA CPU's default YNNPACK dot fusion is not: on the MBPP
  job (Gemma 3 270M, float32) a prefill of 16 rows rounds ~3e-5 away from one of 32, and 3 of 64 items' samples
  part at some token (each still a sample of the same distribution); with
  XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type= (1.4-1.8x slower there) prefills of 2 or more rows were
  bitwise equal (a 1-row one still ~1e-5 off) and those 64 items' tokens identical across batch sizes and batchings (`benchmarks/generation.py --batch_invariant`).
  batching.mode: "continuous" (`datasynth.decode.continuous`: batch_size slots, each refilled with the next item as
    soon as its row ends; decoding runs in compiled blocks of at most `block_steps` steps, each ending as soon as enough
    slots are free for the waiting items) or "static" (one compiled `sample` call per
    batch of batch_size items, which runs until its longest row ends; the last batch is padded with repeats). Both
    give every item the same tokens (under batch-invariant kernels, as above).
  dtype: compute dtype; the weights are cast to it once (bfloat16 halves the bytes each decode step reads; on CPU
    a tied table is also laid out for decoding once, `decode_layout`).
  scan_layers: run the layers as a scan (faster compile) instead of unrolled (faster decode); see `sample`.
  batching.share_common_prefix: when the prompts' token ids all start with the same ids (a few-shot prompt's shots),
    embed that common run once and pass it as a shared prefix (prefilled once, its cache read by every row) so each
    row prefills only its own tail (`common_token_prefix`). The ids the model sees are the same as without it (the
    split is on the whole prompts' tokenisation, not on text); only the order of float sums in attention differs.
  """
  tok = model.tokenizer
  shared = prefixes is not None and np.ndim(prefixes) == 2
  if shared and prompts is None:
    raise ValueError("A shared prefix ([t, width]) needs a list of prompts (one row each); pass prompts=[''] * n.")
  n = len(prompts) if prompts is not None else (len(prefixes) if prefixes is not None else 0)
  if n == 0:
    raise ValueError("sample_text needs a non-empty list of prompts or prefixes.")
  if prompts is not None and prefixes is not None and not shared and len(prefixes) != len(prompts):
    raise ValueError(f"Got {len(prompts)} prompts but {len(prefixes)} prefixes; give one prefix per prompt.")
  ids = tokens = mask = None
  if prompts is not None:
    ids = [tok.encode(p, add_bos=add_bos) for p in prompts]
    if prefixes is None and any(len(x) == 0 for x in ids):
      raise ValueError(f"Prompt {next(i for i, x in enumerate(ids) if not x)} is empty and there is no prefix.")
  common = common_token_prefix(ids) if batching.share_common_prefix and prefixes is None and n > 1 else 0
  if common:
    ids, head = [x[common:] for x in ids], ids[0][:common]
  if ids is not None:
    length = buckets.prompt_length(max(len(x) for x in ids), batching.length_multiple)
    tokens, mask = tok.pad_batch(ids, length=length)
  dtype = jnp.dtype(dtype)
  params = jax.device_put(model.params) if mesh is None else _place(model, mesh, rules)
  if dtype != jnp.float32:
    params = cast_params(params, dtype)
  config, params = decode_layout(model.config, params, dtype)
  dec = Decoder(config, dtype=dtype, scan_layers=scan_layers)
  if common:
    prefixes = np.asarray(dec.apply({"params": params}, jnp.asarray(head, jnp.int32)[None], method=Decoder.embed)[0])
    shared = True
  item_ids = np.arange(n) if item_ids is None else np.asarray(item_ids, np.int64)
  if item_ids.shape != (n,):
    raise ValueError(f"item_ids has shape {item_ids.shape}; give one id per prompt / prefix ({n}).")
  key = jax.random.key(seed)
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(item_ids, jnp.uint32))
  inputs = dict(tokens=tokens, mask=mask, prefixes=None if prefixes is None else np.asarray(prefixes), shared=shared)
  settings = dict(ending=ending, sampling=sampling, tokenizer=tok, mesh=mesh, rules=rules)
  bar = progress_lib.bar(n, desc="sampling", unit="seq", enabled=progress)
  if batching.mode == "continuous":
    samples = _continuous(dec, params, inputs, keys, batching.batch_size, batching.block_steps, settings, bar)
  else:
    samples = _static(dec, params, inputs, keys, batching.batch_size, settings, bar)
  bar.close()
  eos = set(eos_tuple(ending.eos_id, model.config))
  results = [_text_sample(tok, gen, fin, eos, ending.stop) for gen, fin in samples]
  return results if return_details else [r.text for r in results]


def decode_layout(config: DecoderConfig, params, dtype) -> tuple[DecoderConfig, Any]:
  """(config, params) to decode with: on the CPU backend, a 16-bit model with tied embeddings gets its output head as
  a separate [width, vocab] copy of the table (`lm_head`, the layout XLA's 16-bit dot reads) and its lookup table
  in float32; elsewhere `config, params` unchanged. The logits and embeddings are the same values.

  Why: inside a compiled decode loop XLA CPU makes both from the bfloat16 table itself, once per call (a float32
  copy for the gather, a transposed copy for the dot; hoisted out of the loop), ~0.2 s per call for Gemma 3 270M
  on a 2-core CPU: paid once per static batch, but once per block of continuous batching (about a sixth of the step
  time at 8-step blocks; benchmarks/README.md). Costs the two copies' memory (3x the table's).
  """
  if jax.default_backend() != "cpu" or jnp.dtype(dtype).itemsize != 2 or not config.tie_embeddings:
    return config, params
  table = params["embedding"]
  return config.replace(tie_embeddings=False), dict(params, embedding=jnp.asarray(table, jnp.float32),
                                                    lm_head=jnp.asarray(table.T, dtype))


def common_token_prefix(ids: Sequence[Sequence[int]], min_len: int = 16) -> int:
  """How many leading ids every row shares, leaving each row at least one id of its own; 0 if fewer than min_len."""
  if not ids:
    return 0
  limit = min(len(x) for x in ids) - 1
  first, n = ids[0], 0
  while n < limit and all(x[n] == first[n] for x in ids):
    n += 1
  return n if n >= min_len else 0


def _text_sample(tok, gen: list[int], finished: bool, eos: set[int], stop: Sequence[str]) -> TextSample:
  """A row's generated ids as text: the ending EOS removed, cut before the first stop string."""
  body = gen[:-1] if gen and gen[-1] in eos else gen
  return TextSample(text=_cut(tok.decode(body), stop), token_ids=gen, finished=finished)


def _static(dec, params, inputs, keys, batch_size, settings, bar) -> list[tuple[list[int], bool]]:
  """(ids, finished) per item: one `sample` call per batch of batch_size items (the last padded with repeats)."""
  n, out, start, generated = len(keys), [], time.perf_counter(), 0
  for lo in range(0, n, batch_size):
    rows = list(range(lo, min(lo + batch_size, n)))
    rows_padded = rows + [rows[0]] * (batch_size - len(rows))
    kw = {}
    if inputs["tokens"] is not None:
      kw["prompt_tokens"], kw["prompt_mask"] = inputs["tokens"][rows_padded], inputs["mask"][rows_padded]
    if inputs["prefixes"] is not None:
      kw["prefix"] = inputs["prefixes"][None] if inputs["shared"] else inputs["prefixes"][rows_padded]
    res = sample(dec, params, rng=keys[np.asarray(rows_padded)], **settings, **kw)
    toks, lens, fin = np.asarray(res.tokens), np.asarray(res.lengths), np.asarray(res.finished)
    out += [(toks[r, :lens[r]].tolist(), bool(fin[r])) for r in range(len(rows))]
    generated += int(lens[:len(rows)].sum())
    _advance(bar, len(rows), generated, start)
  return out


def _continuous(dec, params, inputs, keys, slots, block_steps, settings, bar) -> list[tuple[list[int], bool]]:
  """(ids, finished) per item from `datasynth.decode.continuous.Engine` with `slots` slots."""
  spec, stop_strings = make_spec(dec, **settings)
  shared = inputs["shared"]
  items = continuous.Items(keys=np.asarray(jax.random.key_data(keys)), tokens=inputs["tokens"], mask=inputs["mask"],
                           prefixes=None if shared else inputs["prefixes"],
                           shared_prefix=inputs["prefixes"] if shared else None)
  engine = continuous.Engine(spec, params, slots=slots, block_steps=block_steps, tokenizer=settings["tokenizer"],
                             stop_strings=stop_strings)
  start, generated = time.perf_counter(), [0]

  def on_done(finished: list):
    generated[0] += sum(len(f.token_ids) for f in finished)
    _advance(bar, len(finished), generated[0], start)

  return [(f.token_ids, f.finished) for f in engine.run(items, on_done=on_done)]


def _advance(bar, items: int, generated: int, start: float) -> None:
  bar.update(items)
  bar.set_postfix(tok_per_s=f"{generated / (time.perf_counter() - start):.0f}")


def _cut(text: str, stops: Sequence[str]) -> str:
  cut = min((text.find(s) for s in stops if s in text), default=-1)
  return text if cut < 0 else text[:cut]


def _place(model, mesh, rules):
  return sharding.shard_params(model.params, model.config, mesh, rules or sharding.DEFAULT_RULES)
