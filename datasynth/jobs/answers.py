"""Step 3 of the data pipeline (SoftSRV Section 3.3, Appendix A.4): answer each kept question with an LLM.

Every method ends here the same way: the kept questions (after dedup, subsampling, decontamination) go one by one
to an answer model, and each (question, answer) pair becomes an SFT record `{prompt, response}` for the student.
- The answer prompt is the question *as is* for SoftSRV (no domain template), or the question filled into a
  template for the PT baselines (the paper's Appendix C answer templates live in `softsrv.templates`; this module
  takes any template with a `{question}` field, since `datasynth` knows no method).
- Either way it is wrapped in the answer model's chat template when it has one (`datasynth.decode.chat`: SmolLM2's
  ChatML by default, Gemma turns, or none for base models), and the reply stops at the turn-end token.
- Decoding is greedy by default (temperature 0); with a temperature, question k draws from fold_in(key(seed), k).

Records: `prompt` is the question (what the student is fine-tuned on: the harnesses add their own task prompt),
`response` the answer; provenance fields ride along flat (method, variant, source_index, seed, step of the question's
generator, the question's own `item` as `question_item` and its generation fingerprint as `question_fingerprint`,
`answer_model`, `answer_template`). `item` is the question's position in the kept list: the unit of the chunked
driver (`datasynth.jobs.chunked`), so answering is resumable and process-split like generation. Empty answers are
dropped and counted (`AnswerSummary.empty`). `export_jsonl` concatenates the chunks into one SFT file (atomically),
which `datasets.load_dataset("json", data_files=...)` and `launch/evaluate.py --records` (`load_records_jsonl`) read;
each chunk file alone reads the same way.

Departure from the paper: the paper answers with a large instruction-tuned LLM; the default here is the embedded
SmolLM2-135M-Instruct (the only instruction model that ships offline). Any `load_model` name works.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import Any, Callable, Sequence

from datasynth.data.files import read_jsonl
from datasynth.decode import chat as chat_lib, text as text_lib
from datasynth.decode.kernels import Ending
from datasynth.decode.tokens import Sampling
from datasynth.jobs import chunked
from datasynth.models.loaders import load_model
from datasynth.utils import io
from datasynth.utils.errors import UserError

DEFAULT_MODEL = "smollm2-135m"
# Provenance copied from a question row onto its record (absent fields are left out).
CARRIED = ("method", "variant", "source_index", "seed", "step", "task", "config_hash")


@dataclasses.dataclass(frozen=True)
class AnswerSettings:
  max_new_tokens: int = 256  # Tokens per answer.
  temperature: float = 0.0  # 0 = greedy (the default); > 0 samples with per-question key streams.
  top_p: float = 1.0  # Nucleus sampling when temperature > 0 (1 = off).
  batch_size: int = 16
  seed: int = 0
  chat: str = "auto"  # auto (the model's shipped template) | smollm2 | chatml | gemma | none.
  chunk_size: int = 256  # Questions per chunk file.


@dataclasses.dataclass
class AnswerSummary:
  questions: int  # Questions in the input list.
  records: int  # Records in the output (all chunks).
  empty: int  # Answers that were empty after stripping: dropped.
  stats: chunked.Stats  # This call's work (0 items when everything was already answered).

  def line(self) -> str:
    return f"{self.records} records from {self.questions} questions ({self.empty} empty answers dropped)"


def load_questions(path: str) -> list[dict[str, Any]]:
  """Question rows from a chunked output folder (generation / postprocess) or a JSON Lines file of rows with `text`."""
  if os.path.isdir(path):
    rows = list(chunked.read_rows(path))
  elif os.path.isfile(path):
    rows = read_jsonl(path)
  else:
    raise UserError(f"Questions not found at {path}; pass a generation / postprocess output folder or a JSONL file.")
  return _check_questions(rows, path)


def _check_questions(rows: Sequence[dict[str, Any]], where: str) -> list[dict[str, Any]]:
  if not rows:
    raise UserError(f"No questions in {where}; an empty question list cannot be answered (check the previous step).")
  for n, r in enumerate(rows):
    if not isinstance(r, dict) or not isinstance(r.get("text"), str):
      raise UserError(f"{where}: question {n} has no string field 'text'; pass generation rows ({{text, item, ...}}).")
  return list(rows)


def answer_prompt(question: str, template: str | None, fmt: chat_lib.ChatFormat) -> str:
  """What the answer model reads: the question (through `template` if given) in the model's chat format."""
  if template is not None:
    if "{question}" not in template:
      raise UserError(f"Answer template {template[:60]!r}... has no {{question}} field; add it.")
    question = template.replace("{question}", question)
  return fmt.render(question)


def fingerprint(questions: Sequence[dict[str, Any]], *, model_source: str, template: str | None, fmt_name: str,
                settings: AnswerSettings) -> dict[str, Any]:
  """Everything the records depend on: the questions' texts, the answer model, the template, the decoding."""
  digest = hashlib.sha256()
  for q in questions:
    digest.update(q["text"].encode("utf-8") + b"\x00")
  return dict(stage="answers", questions=digest.hexdigest()[:16], num_questions=len(questions),
              answer_model=model_source, template=template, chat=fmt_name,
              settings={k: v for k, v in dataclasses.asdict(settings).items() if k not in ("batch_size", "chunk_size")})


def make_rows_fn(questions: Sequence[dict[str, Any]], model, *, template: str | None, fmt: chat_lib.ChatFormat,
                 settings: AnswerSettings, answer_model: str, progress: bool = False) -> Callable[[range], list]:
  """`make_rows(items)` for `datasynth.jobs.chunked.run`: answers questions[items], one record each (empty ones
  dropped)."""
  eos = tuple(dict.fromkeys(([] if model.config.eos_id is None else [int(model.config.eos_id)]) +
                            list(chat_lib.end_ids(fmt, model.tokenizer))))
  template_name = None if template is None else hashlib.sha256(template.encode()).hexdigest()[:12]

  def make_rows(items: range) -> list[dict[str, Any]]:
    prompts = [answer_prompt(questions[k]["text"], template, fmt) for k in items]
    outs = text_lib.sample_text(model, prompts, item_ids=list(items), seed=settings.seed,
                                sampling=Sampling(temperature=settings.temperature, top_p=settings.top_p),
                                batching=text_lib.Batching(settings.batch_size),
                                ending=Ending(settings.max_new_tokens, eos_id=eos), return_details=True,
                                progress=progress)
    rows = []
    for k, out in zip(items, outs):
      response = out.text.strip()
      if response:
        rows.append(_record(k, questions[k], response, out, answer_model, template_name))
    return rows

  return make_rows


def _record(k: int, q: dict[str, Any], response: str, out, answer_model: str, template_name: str | None) -> dict:
  rec = dict(prompt=q["text"].strip(), response=response, item=k, uid=f"synthetic/{q.get('method', 'custom')}/{k}",
             task=q.get("task", "custom"), question_item=q.get("item"), question_fingerprint=q.get("fingerprint"),
             answer_model=answer_model, answer_template=template_name, num_tokens=len(out.token_ids),
             finished=bool(out.finished))
  rec.update({f: q[f] for f in CARRIED if f in q and f != "task"})
  return rec


def generate_answers(questions: Sequence[dict[str, Any]] | str, out_dir: str, *, model=None,
                     model_name: str = DEFAULT_MODEL, template: str | None = None,
                     settings: AnswerSettings = AnswerSettings(), process_index: int = 0, process_count: int = 1,
                     progress: bool = True) -> AnswerSummary:
  """Answer every question into chunk files under `out_dir` (resumable); returns the counts.

  questions: rows with `text` (and provenance), or a path for `load_questions`. model: a LoadedModel (tests), else
  `load_model(model_name)`. template: an answer template with `{question}` (PT baselines: the Template of
  `softsrv.templates.answer_template(method, task)` or its text) or None (SoftSRV: the question as is).
  """
  questions = load_questions(questions) if isinstance(questions, str) else _check_questions(questions, "questions")
  template = getattr(template, "text", template)  # A softsrv.templates.Template or its text.
  answer_model = model_name if model is None else os.path.basename(str(model.source))
  if model is None:
    model = load_model(model_name)
  fmt = chat_lib.resolve(settings.chat, model)
  plan = chunked.Plan(len(questions), settings.chunk_size,
                      fingerprint(questions, model_source=answer_model, template=template, fmt_name=fmt.name,
                                  settings=settings))
  make_rows = make_rows_fn(questions, model, template=template, fmt=fmt, settings=settings, answer_model=answer_model)
  stats = chunked.run(out_dir, plan, make_rows, process_index=process_index, process_count=process_count,
                      progress=progress, desc="answer")
  if chunked.is_complete(out_dir):
    records = count_records(out_dir)
    return AnswerSummary(questions=len(questions), records=records, empty=len(questions) - records, stats=stats)
  # Another process still owns some chunks: report this call's own work.
  return AnswerSummary(questions=stats.items, records=stats.rows, empty=stats.items - stats.rows, stats=stats)


def answer_questions(questions: Sequence[dict[str, Any]], model, out_dir: str, *, config: dict[str, Any],
                     task: str | None = None, template: str | None = None, progress: bool = True) -> dict[str, Any]:
  """The pipeline's answer stage: `generate_answers` from the `answer` config section, then one SFT file.

  config: {model, max_new_tokens, temperature, batch_size, chunk, [top_p, seed, chat]} (softsrv/config.py's
  `answer` section). task: stamped on records whose question row has none. Returns {"counts": {in, out, dropped:
  {empty_answer}}, "records": <out_dir>/records.jsonl, "line": ...}.
  """
  settings = AnswerSettings(max_new_tokens=int(config.get("max_new_tokens", 256)),
                            temperature=float(config.get("temperature", 0.0)), top_p=float(config.get("top_p", 1.0)),
                            batch_size=int(config.get("batch_size", 16)), seed=int(config.get("seed", 0)),
                            chat=str(config.get("chat", "auto")), chunk_size=int(config.get("chunk", 256)))
  if task is not None:
    questions = [q if "task" in q else {**q, "task": task} for q in questions]
  summary = generate_answers(questions, os.path.join(out_dir, "chunks"), model=model,
                             model_name=str(config.get("model", DEFAULT_MODEL)), template=template,
                             settings=settings, progress=progress)
  path = os.path.join(out_dir, "records.jsonl")
  export_jsonl(os.path.join(out_dir, "chunks"), path)
  return dict(counts={"in": summary.questions, "out": summary.records, "dropped": {"empty_answer": summary.empty}},
              records=path, line=summary.line())


def count_records(out_dir: str) -> int:
  return sum(1 for _ in chunked.read_rows(out_dir))


def export_jsonl(out_dir: str, path: str) -> int:
  """Concatenate a complete answers output into one SFT JSON Lines file, atomically; returns the record count."""
  return io.write_jsonl(path, chunked.read_rows(out_dir))

