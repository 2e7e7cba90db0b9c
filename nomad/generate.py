r"""Generation from the bare prefix "User: " with the trained teacher, then first-round parsing and filters.

Paper (Chen et al., Sec. 3): M_synthesis writes whole conversations from "User: " alone, at temperature 1 and top-p
0.9; only the first round is kept and incomplete conversations are discarded (30K raw -> 25K valid), then repeated-word
and coding samples are filtered. Here:

  generate(config, teacher, out_dir)   items j = 0..N-1, x_j ~ M_synthesis(. | "User: ") with the key
                                       fold_in(key(generate.seed), j)
                                       (`datasynth.decode.text.sample_text(item_ids=...)`), through
                                       `datasynth.jobs.chunked`: resumable after a kill, split over processes, and the
                                       same bytes for any batch size, split or resume.
  parse_and_filter(rows, config)       `nomad.parse.parse_generations` (kept + a count per rejection reason), then
                                       `nomad.filters.apply_filters` (removals per filter and reason).

Rows: {text (the continuation after "User: "), item, finished (EOS or stop string, not the token budget),
num_tokens, method "nomad", teacher_step, teacher_fingerprint (hash of the teacher's pinned run config), seed,
model}, plus `fingerprint` (the chunk plan's hash) stamped by `datasynth.jobs.chunked`.

Departures (config fields, documented in nomad/config.py): the prompt fed is "User:" with its trailing space removed
(`strip_prefix_space`), so a BPE / SentencePiece tokenizer produces the space fused to the first word as it saw in
training, instead of a lone space token it never saw before a word; generation stops at the next "\nUser:"
(`stop_after_first_round`): the second round would be dropped by the parser anyway.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Mapping

from datasynth.decode import text as text_lib
from datasynth.decode.kernels import Ending
from datasynth.decode.tokens import Sampling
from datasynth.jobs import chunked
from datasynth.utils.errors import UserError
from nomad import conversations as conv_lib, filters, parse

METHOD = "nomad"


@dataclasses.dataclass(frozen=True)
class GenerateConfig:
  num_samples: int = 256  # Conversations generated.
  chunk_size: int = 32  # Items per chunk file.
  batch_size: int = 16  # Rows per sampling batch.
  batching: str = "continuous"  # continuous | static (`datasynth.decode.text.sample_text`; the same samples).
  max_new_tokens: int = 256  # Token budget per conversation.
  temperature: float = 1.0  # Paper: 1.
  top_p: float = 0.9  # Paper: 0.9.
  top_k: int = 0  # 0 = off.
  seed: int = 0  # Base of every item's key stream.
  strip_prefix_space: bool = True  # Feed "User:" rather than "User: " (see the module docstring).
  stop_after_first_round: bool = True  # Stop at the next "\nUser:".

  @classmethod
  def from_config(cls, config) -> "GenerateConfig":
    d = config.generate.to_dict()
    unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
      raise UserError(f"Unknown generate field(s) {unknown}; known: {[f.name for f in dataclasses.fields(cls)]}.")
    g = cls(**d)
    if g.num_samples < 1 or g.chunk_size < 1 or g.batch_size < 1 or g.max_new_tokens < 1:
      raise UserError(f"generate.num_samples, chunk_size, batch_size and max_new_tokens must be positive; got {g}.")
    if g.batching not in ("continuous", "static"):
      raise UserError(f"generate.batching must be 'continuous' or 'static'; got {g.batching!r}.")
    if g.temperature <= 0 or not 0 < g.top_p <= 1:
      raise UserError(f"generate.temperature must be > 0 and top_p in (0, 1]; got {g.temperature}, {g.top_p}.")
    return g


def chat_format(config) -> conv_lib.ChatFormat:
  return conv_lib.ChatFormat(**config.format.to_dict())


def prompt_and_stops(fmt: conv_lib.ChatFormat, g: GenerateConfig) -> tuple[str, tuple[str, ...]]:
  """The prompt fed to the teacher and the stop strings of generation."""
  prompt = fmt.user_prefix.rstrip() if g.strip_prefix_space else fmt.user_prefix
  if not prompt:
    raise UserError("format.user_prefix is empty; generation needs a prefix such as 'User: '.")
  stops = ("\n" + fmt.user_prefix.strip(),) if g.stop_after_first_round else ()
  return prompt, stops


def fingerprint(g: GenerateConfig, fmt: conv_lib.ChatFormat, provenance: Mapping[str, Any]) -> dict[str, Any]:
  """What every generated row depends on (batch size and chunking do not change a sample)."""
  settings = {k: v for k, v in dataclasses.asdict(g).items() if k not in ("batch_size", "batching", "chunk_size")}
  return dict(stage="nomad-generate", teacher=dict(provenance), format=dataclasses.asdict(fmt), settings=settings)


def make_rows_fn(teacher, g: GenerateConfig, fmt: conv_lib.ChatFormat, provenance: Mapping[str, Any]
                 ) -> Callable[[range], list[dict[str, Any]]]:
  """`make_rows(items)` for `datasynth.jobs.chunked.run`: one sample per item, item j keyed by (seed, j) only."""
  prompt, stops = prompt_and_stops(fmt, g)
  lead = fmt.user_prefix[len(prompt):]  # The stripped space: the text is reported as a continuation of user_prefix.

  def make_rows(items: range) -> list[dict[str, Any]]:
    outs = text_lib.sample_text(teacher, [prompt] * len(items), item_ids=list(items), seed=g.seed,
                                sampling=Sampling(g.temperature, g.top_k, g.top_p),
                                batching=text_lib.Batching(g.batch_size, g.batching),
                                ending=Ending(g.max_new_tokens, stops), return_details=True, progress=False)
    return [dict(text=_continuation(o.text, lead), item=j, finished=bool(o.finished), num_tokens=len(o.token_ids),
                 method=METHOD, teacher_step=int(provenance.get("step", 0)),
                 teacher_fingerprint=provenance.get("fingerprint", ""), model=provenance.get("model", ""),
                 seed=g.seed) for j, o in zip(items, outs)]

  return make_rows


def _continuation(text: str, lead: str) -> str:
  """The sample as a continuation of the full user prefix: the fed prompt lacked `lead` (a space)."""
  return text[len(lead):] if lead and text.startswith(lead) else text


def generate(config, teacher, out_dir: str, provenance: Mapping[str, Any], *, process_index: int = 0,
             process_count: int = 1) -> chunked.Stats:
  """This process's chunks of `config.generate.num_samples` conversations into `out_dir` (resumable)."""
  g, fmt = GenerateConfig.from_config(config), chat_format(config)
  plan = chunked.Plan(g.num_samples, g.chunk_size, fingerprint(g, fmt, provenance))
  return chunked.run(out_dir, plan, make_rows_fn(teacher, g, fmt, provenance), process_index=process_index,
                     process_count=process_count, progress=bool(config.get("show_progress", True)),
                     desc="nomad generate")


# --------------------------------------------------------------------------------------------- parse and filter


def filter_configs(config) -> tuple[filters.RepetitionConfig, filters.CodingConfig]:
  rep = {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in config.filters.repetition.to_dict().items()}
  cod = {k: tuple(v) for k, v in config.filters.coding.to_dict().items()}
  try:
    return filters.RepetitionConfig(**rep), filters.CodingConfig(**cod)
  except TypeError as e:
    raise UserError(f"filters: {e}; see nomad/filters.py for the fields.") from e


def parse_and_filter(rows: Iterable[Mapping[str, Any]], config) -> tuple[list, list, dict[str, Any]]:
  """(parsed first rounds, the filtered ones, report) with a count of each rejection and removal reason.

  report = {"generated": N, "parse": {kept, incomplete, ...}, "filters": apply_filters' report,
            "valid_rate": kept / N}.
  """
  rows = list(rows)
  if not rows:
    raise UserError("No generated rows to parse; run the generate stage first.")
  bad = [i for i, r in enumerate(rows) if not isinstance(r.get("text"), str) or "finished" not in r]
  if bad:
    raise UserError(f"Generated row {bad[0]} lacks a string 'text' or a 'finished' flag; these are not NOMAD "
                    "generations (regenerate into a fresh folder).")
  parsed, counts = parse.parse_generations(rows, chat_format(config), uid_prefix=METHOD)
  repetition, coding = filter_configs(config)
  kept, report = filters.apply_filters(parsed, repetition, coding)
  return parsed, kept, dict(generated=len(rows), parse=dict(counts), filters=report,
                            valid_rate=len(parsed) / len(rows))
