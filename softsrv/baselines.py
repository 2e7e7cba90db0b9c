"""The hard-prompt baselines SoftSRV is judged against (DeSalvo et al., Section 4, Appendices A.2 and C).

- PT (`pt`): item j shows the LLM `shots` examples of the train fold, drawn at random for that item (a
  permutation seeded by (seed, j)), and asks for `num_per_call` = 10 new questions (Appendix C's "Now generate 10
  different questions ..."); sampled at temperature 2 by default (A.2: the diversity device of the baseline). The
  completion's numbered items become up to 10 rows (`parse_numbered`).
- PT undiversified (`pt_undiversified`, Figure 10): the same examples, one new question per call, temperature 1.
- PT_SR (`pt_sr`, Figure 11): each PT question is critiqued by the same LLM; unless the critique says "Stop" the
  question is rewritten from the critique, and the loop repeats for at most R = `rounds` rounds (`refine`).

All three run on the project's sampler (`datasynth.decode.text.sample_text`, one key stream per (seed, item), so a row
depends on (seed, item) only, never on batch size, chunk or process) and on any `load_model` model. The default is
the embedded Gemma 3 270M base, the same frozen H that SoftSRV trains its soft prompt for: the paper prompts one
LLM for every method so that only the prompting differs (issue 15: "on the same sampler and model as SoftSRV"; the
paper's appendix itself could not be re-read here, see `softsrv.templates`). Each method is a `make_rows(items)`
for `datasynth.jobs.chunked`, so a run is chunked, resumable and process-split; `generate_baseline` is the entry.

Rows have the SoftSRV generator's fields {text, item, source_index, method, variant, task, config_hash, step, seed,
num_tokens, finished} so later stages treat every method alike; here `source_index` is the list of few-shot train
indices, `variant` the question template's name, `step` None (nothing is trained), `num_tokens` the tokens generated
for the row (a PT call's tokens are counted on its first row, so the sum over rows is what was generated), plus
`question_index` (position in the numbered list) and, for PT_SR, `rounds` (refinements applied) and `stopped`.

Where the code departs from the paper, and why:
- The templates are reconstructions (the paper's text was not reachable offline; `softsrv.templates`).
- `prime_list`: a base model continues text rather than following instructions, so the PT prompt ends with
  "\\n\\n1." and the completion is parsed as if it began with "1."; sampling stops at "\\n{num_per_call + 1}." (the
  list is complete). The paper used an instruction-following LLM and needed neither.
- The "Stop" test (`says_stop`): the critique's first non-empty line begins with the word "stop", or its last
  non-empty line is the word "stop" alone (case, markdown and punctuation ignored); "stop" elsewhere (e.g. "the loop
  should stop at n") does not count. The paper only says the model answers "Stop".
- Critique and refinement decode greedily by default (`sr_temperature` = 0): the paper does not give their
  temperature, and a critique's verdict should not be a coin flip.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Any, Callable, Sequence

import ml_collections
import numpy as np

from datasynth.data.records import load_task
from datasynth.decode.text import sample_text
from datasynth.jobs import chunked, memo
from datasynth.models.loaders import load_model
from datasynth.utils.errors import UserError
from softsrv import templates

METHODS = ("pt", "pt_undiversified", "pt_sr")
DEFAULT_TEMPERATURE = {"pt": 2.0, "pt_undiversified": 1.0, "pt_sr": 2.0}  # A.2: PT at 2; Figure 10 at the default.


def baseline_config() -> ml_collections.ConfigDict:
  """The `baseline` config section (wired into softsrv/config.py by the pipeline)."""
  c = ml_collections.ConfigDict()
  c.method = "pt"  # pt (Appendix C, num_per_call per call) | pt_undiversified (Figure 10) | pt_sr (Figure 11).
  c.task = ""  # Template task: mbpp | gsm8k | boolq; "" = the run's task.
  c.model = "gemma3-270m"  # The question-writing LLM: the same frozen H as SoftSRV (any load_model name or path).
  c.temperature = ml_collections.config_dict.placeholder(float)  # None = method default: pt / pt_sr 2.0 (A.2), else 1.
  c.top_p = 1.0  # Nucleus sampling of the question calls (1 = off).
  c.num_items = 100  # Calls (items) N; PT and PT_SR give up to num_per_call questions each, undiversified one.
  c.num_per_call = 10  # Questions asked for per PT call ("Now generate 10 different questions").
  c.shots = 3  # Few-shot train examples in each prompt, drawn per item with seed (seed, item).
  c.prime_list = True  # End the PT prompt with "1." so a base model writes the list (see the module docstring).
  c.max_new_tokens = 512  # Token budget of a question call (a PT call holds num_per_call questions).
  c.rounds = 2  # R: at most this many critique -> refine rounds per PT_SR question.
  c.sr_temperature = 0.0  # Temperature of the critique and refine calls (0 = greedy).
  c.sr_max_new_tokens = 128  # Token budget of one critique or one refinement.
  c.batch_size = 8  # Prompts per sampler batch (does not change any row).
  c.chunk_size = 32  # Items per chunk file of datasynth.jobs.chunked.
  c.seed = 0  # Key streams: item j draws from fold_in(key(seed'), j); few-shot draws seeded by (seed, j).
  c.cache_dir = ""  # Where sampled calls are memoised (datasynth.jobs.memo; "" = none): PT_SR's PT calls are PT's.
  return c


# ---------------------------------------------------------------------------------------------- parsing
# A list marker at the start of a line: "1." "1)" "1:" "#1." "(1)" "**1.**" "Question 1:" "Q1." "Example 1:".
_MARKER = re.compile(r"^\s*(?:\*\*)?(?:(question|q|problem|example)\s*#?\s*(\d+)\s*[:.)]?|\(?#?(\d+)\s*[.):](?!\d))"
                     r"\s*(?:\*\*)?\s*", re.IGNORECASE)


def _marker(line: str) -> tuple[str, int, int] | None:
  """(style, number, end of the marker) of a list-marker line, else None; style is the word ("" for "1.")."""
  m = _MARKER.match(line)
  if not m:
    return None
  return (m.group(1) or "").lower(), int(m.group(2) or m.group(3)), m.end()


def parse_numbered(completion: str, *, finished: bool, limit: int | None = None) -> list[str]:
  """The items of a numbered list in `completion`, in order.

  An item starts at a line whose marker number is larger than the previous number of the same marker style ("1.",
  "2)", ... share a style; "Question 3:" and "Example 4:" have their own), so a repeated or smaller number, e.g. a
  "1." inside an item, is text of the current item; an item runs to the next one and its continuation lines are
  joined with "\n" (blank lines dropped). Text before the first marker is dropped. When the completion did not
  finish (it ran out of tokens), its last item may be cut short and is dropped. At most `limit` items.
  """
  items: list[list[str]] = []
  last: dict[str, int] = {}
  for line in completion.splitlines():
    marker = _marker(line)
    if marker is not None and marker[1] > last.get(marker[0], 0):
      items.append([line[marker[2]:].strip()])
      last[marker[0]] = marker[1]
    elif items and line.strip():
      items[-1].append(line.strip())
  texts = ["\n".join(x for x in item if x).strip() for item in items]
  if not finished and texts:
    texts = texts[:-1]
  texts = [t for t in texts if t]
  return texts[:limit] if limit is not None else texts


def parse_single(completion: str, *, finished: bool) -> str | None:
  """One question from a completion: a leading list marker removed; None if empty or cut short (unfinished)."""
  if not finished:
    return None
  lines = [x.strip() for x in completion.strip().splitlines() if x.strip()]
  if not lines:
    return None
  marker = _marker(lines[0])
  if marker is not None:
    lines[0] = lines[0][marker[2]:].strip()
  text = "\n".join(x for x in lines if x).strip()
  return text or None


def _words(line: str) -> list[str]:
  return re.findall(r"[a-z]+", line.lower())


def says_stop(critique: str) -> bool:
  """The critique's verdict is "Stop": its first non-empty line begins with the word, or its last line is the word."""
  lines = [x for x in critique.splitlines() if _words(x)]
  if not lines:
    return False
  first, last = _words(lines[0]), _words(lines[-1])
  return first[0] == "stop" or last == ["stop"]


# ---------------------------------------------------------------------------------------------- sampling
@dataclasses.dataclass
class Sample:
  """What the baselines need of a sampled continuation (`datasynth.decode.text.TextSample` has these fields)."""
  text: str
  token_ids: list[int]
  finished: bool


# generate(prompts, *, seed, item_ids, temperature, max_new_tokens, stop) -> one Sample per prompt.
GenerateFn = Callable[..., Sequence[Sample]]


def sampler(model, *, batch_size: int, top_p: float = 1.0, progress: bool = False) -> GenerateFn:
  """A GenerateFn on `sample_text` for a LoadedModel: item ids give each prompt its own key stream."""

  def generate(prompts, *, seed, item_ids, temperature, max_new_tokens, stop=()):
    return sample_text(model, list(prompts), seed=seed, item_ids=list(item_ids), temperature=temperature,
                       top_p=top_p, stop=tuple(stop), max_new_tokens=max_new_tokens, batch_size=batch_size,
                       return_details=True, progress=progress)

  return generate


def memoised(generate: GenerateFn, cache_dir: str, model, **fixed) -> GenerateFn:
  """`generate` with every call memoised under `cache_dir` (`datasynth.jobs.memo`), keyed by the model, the prompts, the
  item ids, the seed and the sampling options (`fixed`: those `generate` holds itself, e.g. top_p).

  A sampled row depends only on its prompt, its item's key stream and these options, never on the batch, so a call
  another run has made is its answer: PT_SR's first phase is the PT run's calls (same seed, items and prompts), which
  a sweep sharing `{root}/cache` then samples once, and PT_SR refines the very questions the PT run reports.
  """
  def call(prompts, *, seed, item_ids, temperature, max_new_tokens, stop=()):
    def compute():
      return [dict(text=o.text, token_ids=[int(t) for t in o.token_ids], finished=bool(o.finished))
              for o in generate(prompts, seed=seed, item_ids=item_ids, temperature=temperature,
                                max_new_tokens=max_new_tokens, stop=stop)]
    outs = memo.cached_json(cache_dir, "samples", model, list(prompts), compute, seed=int(seed),
                            item_ids=[int(i) for i in item_ids], temperature=float(temperature),
                            max_new_tokens=int(max_new_tokens), stop=list(stop), **fixed)
    return [Sample(**o) for o in outs]

  return call


def stream_seed(seed: int, phase: str, round_: int = 0) -> int:
  """A separate key stream per call kind and round: the PT call, each critique round, each refine round."""
  return int.from_bytes(hashlib.sha256(f"{seed}/{phase}/{round_}".encode()).digest()[:4], "little") & 0x7FFFFFFF


def few_shot_indices(seed: int, item: int, n: int, shots: int) -> list[int]:
  """Item `item`'s few-shot train indices: `shots` distinct ones from a generator seeded by (seed, item)."""
  if not 1 <= shots <= n:
    raise UserError(f"baseline.shots={shots} needs 1 <= shots <= {n} (train examples); lower it.")
  return np.random.default_rng([seed, item]).choice(n, size=shots, replace=False).tolist()


# ---------------------------------------------------------------------------------------------- methods
@dataclasses.dataclass(frozen=True)
class Setup:
  """Everything a baseline's make_rows reads: the config section, the task, the train fold, the hash."""
  config: ml_collections.ConfigDict
  task: str
  train: Sequence[str]
  config_hash: str

  @property
  def temperature(self) -> float:
    t = self.config.temperature
    return DEFAULT_TEMPERATURE[self.config.method] if t is None else float(t)

  def shots(self, item: int) -> list[int]:
    return few_shot_indices(self.config.seed, item, len(self.train), self.config.shots)

  def examples(self, item: int) -> str:
    return templates.format_examples([self.train[i] for i in self.shots(item)])

  def row(self, item: int, text: str, k: int, num_tokens: int, variant: str, **extra) -> dict[str, Any]:
    return dict(text=text, item=item, source_index=self.shots(item), method=self.config.method, variant=variant,
                task=self.task, config_hash=self.config_hash, step=None, seed=self.config.seed,
                num_tokens=int(num_tokens), finished=True, question_index=k, **extra)


def pt_questions(setup: Setup, items: range, generate: GenerateFn) -> list[tuple[int, int, str, int]]:
  """PT: one call per item, its numbered list parsed; returns (item, k, question, tokens counted on the row)."""
  c = setup.config
  tpl = templates.get("pt", setup.task)
  prompts = [templates.fill(tpl, examples=setup.examples(j), num=c.num_per_call) for j in items]
  if c.prime_list:
    prompts = [p + "\n\n1." for p in prompts]
  outs = generate(prompts, seed=stream_seed(c.seed, "pt"), item_ids=list(items), temperature=setup.temperature,
                  max_new_tokens=c.max_new_tokens, stop=(f"\n{c.num_per_call + 1}.",))
  found = []
  for j, out in zip(items, outs):
    text = ("1." + out.text) if c.prime_list else out.text
    questions = parse_numbered(text, finished=out.finished, limit=c.num_per_call)
    found += [(j, k, q, len(out.token_ids) if k == 0 else 0) for k, q in enumerate(questions)]
  return found


def make_pt_rows(setup: Setup, generate: GenerateFn) -> Callable[[range], list[dict[str, Any]]]:
  variant = templates.get("pt", setup.task).name
  return lambda items: [setup.row(j, q, k, n, variant) for j, k, q, n in pt_questions(setup, items, generate)]


def make_undiversified_rows(setup: Setup, generate: GenerateFn) -> Callable[[range], list[dict[str, Any]]]:
  c = setup.config
  tpl = templates.get("pt_undiversified", setup.task)

  def make_rows(items: range) -> list[dict[str, Any]]:
    prompts = [templates.fill(tpl, examples=setup.examples(j)) + "\n\n" for j in items]
    outs = generate(prompts, seed=stream_seed(c.seed, "pt_undiversified"), item_ids=list(items),
                    temperature=setup.temperature, max_new_tokens=c.max_new_tokens, stop=("\n\n",))
    rows = []
    for j, out in zip(items, outs):
      q = parse_single(out.text, finished=out.finished)
      if q is not None:
        rows.append(setup.row(j, q, 0, len(out.token_ids), tpl.name))
    return rows

  return make_rows


@dataclasses.dataclass
class Refined:
  text: str
  rounds: int = 0  # Refinements applied.
  stopped: bool = False  # A critique said "Stop".
  tokens: int = 0  # Tokens generated by this question's critiques and refinements.


def refine(questions: Sequence[str], examples: Sequence[str], ids: Sequence[int], *, task: str, rounds: int,
           seed: int, temperature: float, max_new_tokens: int, generate: GenerateFn) -> list[Refined]:
  """PT_SR (Figure 11): critique -> (Stop? keep : refine) for each question, for at most `rounds` rounds.

  Questions still live in a round are batched into one critique call and one refine call; question q draws from
  key stream `ids[q]` of each round's own seed. A refinement that comes back empty (or cut short) keeps the question
  as it was and ends its loop.
  """
  critique_t, refine_t = templates.get("pt_sr_critique", task), templates.get("pt_sr_refine", task)
  state = [Refined(q) for q in questions]
  live = list(range(len(questions)))
  for r in range(rounds):
    if not live:
      break
    crit = generate([templates.fill(critique_t, examples=examples[q], question=state[q].text) for q in live],
                    seed=stream_seed(seed, "critique", r), item_ids=[ids[q] for q in live], temperature=temperature,
                    max_new_tokens=max_new_tokens, stop=())
    todo = []
    for q, out in zip(live, crit):
      state[q].tokens += len(out.token_ids)
      if says_stop(out.text):
        state[q].stopped = True
      else:
        todo.append((q, out.text.strip()))
    if not todo:
      break
    prompts = [templates.fill(refine_t, examples=examples[q], question=state[q].text, critique=c) + "\n"
               for q, c in todo]
    outs = generate(prompts, seed=stream_seed(seed, "refine", r), item_ids=[ids[q] for q, _ in todo],
                    temperature=temperature, max_new_tokens=max_new_tokens, stop=("\n\n",))
    live = []
    for (q, _), out in zip(todo, outs):
      state[q].tokens += len(out.token_ids)
      new = parse_single(out.text, finished=out.finished)
      if new is not None:
        state[q].text, state[q].rounds = new, state[q].rounds + 1
        live.append(q)
  return state


def make_sr_rows(setup: Setup, generate: GenerateFn) -> Callable[[range], list[dict[str, Any]]]:
  c = setup.config
  variant = templates.get("pt", setup.task).name

  def make_rows(items: range) -> list[dict[str, Any]]:
    found = pt_questions(setup, items, generate)
    examples = {j: setup.examples(j) for j in items}
    done = refine([q for _, _, q, _ in found], [examples[j] for j, _, _, _ in found],
                  [j * c.num_per_call + k for j, k, _, _ in found], task=setup.task, rounds=c.rounds, seed=c.seed,
                  temperature=c.sr_temperature, max_new_tokens=c.sr_max_new_tokens, generate=generate)
    return [setup.row(j, d.text, k, n + d.tokens, variant, rounds=d.rounds, stopped=d.stopped)
            for (j, k, _, n), d in zip(found, done)]

  return make_rows


MAKERS = {"pt": make_pt_rows, "pt_undiversified": make_undiversified_rows, "pt_sr": make_sr_rows}


# ---------------------------------------------------------------------------------------------- entry
def check_config(config: ml_collections.ConfigDict, task: str) -> None:
  """Bad fields are one UserError each, before any model loads."""
  if config.method not in METHODS:
    raise UserError(f"baseline.method={config.method!r}; expected one of {', '.join(METHODS)}.")
  if task not in templates.TASKS:
    raise UserError(f"baseline.task={task!r}: no PT templates for it; expected one of {', '.join(templates.TASKS)}.")
  for field in ("num_items", "num_per_call", "shots", "max_new_tokens", "batch_size", "chunk_size",
                "sr_max_new_tokens"):
    if int(config[field]) < 1:
      raise UserError(f"baseline.{field}={config[field]} must be at least 1.")
  if int(config.rounds) < 0:
    raise UserError(f"baseline.rounds={config.rounds} must be >= 0 (0 = PT questions unrefined).")


def fingerprint(config: ml_collections.ConfigDict, task: str, train: Sequence[str], model_source: str) -> dict:
  """What the rows depend on (batch size, chunk size and the memo folder excluded: they change no row)."""
  digest = hashlib.sha256("\x00".join(train).encode("utf-8")).hexdigest()[:16]
  fields = {k: v for k, v in config.to_dict().items() if k not in ("batch_size", "chunk_size", "cache_dir")}
  names = {k: templates.get(kind, task).text for k, kind in
           (("pt", "pt"), ("one", "pt_undiversified"), ("critique", "pt_sr_critique"), ("refine", "pt_sr_refine"))}
  return dict(stage="baseline", task=task, config=fields, train=digest, model=model_source,
              templates=hashlib.sha256(repr(sorted(names.items())).encode()).hexdigest()[:12])


def from_run_config(run: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The `baseline` section for a whole SoftSRV run config (softsrv/config.py, as `launch/pipeline.py` passes it).

  Starts from `baseline_config()`, takes the run's `baseline` fields, then the run-level fields win: method =
  pipeline.method, task, seed, model = model.name (H), chunk_size = generate.chunk, and num_items from
  generate.num_samples N: ceil(N / num_per_call) calls for pt / pt_sr (each yields up to num_per_call questions),
  N calls for pt_undiversified.
  """
  c = baseline_config()
  c.update(run.get("baseline", ml_collections.ConfigDict()).to_dict())
  c.method, c.task, c.seed, c.model = run.pipeline.method, run.task, int(run.seed), run.model.name
  c.chunk_size = int(run.generate.chunk)
  n = int(run.generate.num_samples)
  c.num_items = n if c.method == "pt_undiversified" else -(-n // int(c.num_per_call))
  return c


def generate_baseline(config: ml_collections.ConfigDict, out_dir: str, *, task: str | None = None, model=None,
                      train: Sequence[str] | None = None, data_dir: str | None = None,
                      generate: GenerateFn | None = None, process_index: int = 0, process_count: int = 1,
                      progress: bool = True) -> chunked.Stats:
  """Write `config.num_items` baseline items (method `config.method`) as chunk files under `out_dir`.

  config: the `baseline` section, or a whole run config (`from_run_config`). task: overrides `config.task`.
  model: a LoadedModel (else `load_model(config.model)`). train: the few-shot pool (else the task's train fold,
  `Record.prompt`). generate: a GenerateFn (else the sampler on `model`); with `config.cache_dir` its calls are
  memoised as `model`'s (`memoised`). Rerunning the same call resumes; another process of `process_count` makes the
  other chunks.
  """
  if "pipeline" in config:  # A whole run config (softsrv/config.py): its data dir and its baseline section.
    data_dir = data_dir or (config.data.data_dir or None)
    config = from_run_config(config)
  task = task or config.task
  check_config(config, task)
  if train is None:
    train = [r.prompt for r in load_task(task, "train", data_dir)]
  if not train:
    raise UserError(f"The few-shot pool for {task} is empty; check the data directory or pass train examples.")
  few_shot_indices(config.seed, 0, len(train), config.shots)  # Checks shots <= len(train) before any model loads.
  if model is None and generate is None:
    model = load_model(config.model)
  source = config.model if model is None else str(getattr(model, "source", config.model))
  plan = chunked.Plan(int(config.num_items), int(config.chunk_size), fingerprint(config, task, train, source))
  setup = Setup(config, task, list(train), plan.fingerprint_hash)
  generate = generate or sampler(model, batch_size=int(config.batch_size), top_p=float(config.top_p))
  if config.cache_dir and model is not None:  # Calls memoised as the model's (a given `generate` samples `model`).
    generate = memoised(generate, config.cache_dir, model, top_p=float(config.top_p))
  return chunked.run(out_dir, plan, MAKERS[config.method](setup, generate), process_index=process_index,
                     process_count=process_count, progress=progress, desc=config.method)
