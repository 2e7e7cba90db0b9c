"""The hard-prompt baselines SoftSRV is judged against (DeSalvo et al., Section 3.2, Appendices A.2, A.4 and C).

- PT (`pt`): item i fills Figure 8's template with train example i mod n (A.2: "we cycle through questions found in
  the training fold and insert them into the relevant domain-specific prompt template"), which asks for 10 new
  questions and ends "Question 1:" ("Passage and Question 1:" for BoolQ); sampled at temperature 2 (A.2). The
  completion continues item 1, and its "Question k:" items become up to 10 rows (`parse_questions`).
- PT undiversified (`pt_undiversified`, Figure 10, A.4): one new question per call, at the model's default
  temperature (1).
- PT_SR (`pt_sr`, Figure 11): each PT question is critiqued (the critique template), then the refine template is
  filled with the question and the critique; a refine output that says "Stop" ends that question's rounds (the
  question stays as it was), any other output is the new question; at most R = `rounds` rounds.

All three run on the project's sampler (`datasynth.decode.text.sample_text`, one key stream per (seed, item), so a row
depends on (seed, item) only, never on batch size, chunk or process) and on any `load_model` model. The default is
the embedded Gemma 3 270M base, the same frozen H that SoftSRV trains its soft prompt for: A.2 queries "the same
backbone LLM used by SoftSRV". Each method is a `make_rows(items)` for `datasynth.jobs.chunked`, so a run is chunked,
resumable and process-split; `generate_baseline` is the entry.

Rows have the SoftSRV generator's fields {text, item, source_index, method, variant, task, config_hash, step, seed,
num_tokens, finished} so later stages treat every method alike; here `source_index` is the train example's index
(item mod n), `variant` the question template's name, `step` None (nothing is trained), `num_tokens` the tokens
generated for the row (a PT call's tokens are counted on its first row, so the sum over rows is what was generated),
plus `question_index` (position in the list) and, for PT_SR, `rounds` (refinements applied) and `stopped`.

Where the code departs from the paper, and why (also in `softsrv.paper.DEVIATIONS`):
- The critique, refine and undiversified prompts are the template followed by one line break, where the model's
  text begins, and a refinement or an undiversified question ends at a blank line: the default question model is a
  base model that continues text (the paper prompted an instruction-following LLM). The PT prompt needs nothing:
  Figure 8 ends with "Question 1:", and generation stops at "Question 11:" (the list is complete).
- The "Stop" test (`says_stop`): the refine output's first non-empty line begins with the word "stop", or its last
  non-empty line is the word "stop" alone (case, markdown and punctuation ignored); "stop" elsewhere (e.g. "the loop
  should stop at n") does not count. The paper only says the model says "Stop".
- Critique and refinement decode greedily by default (`sr_temperature` = 0) and R = 2 rounds: the paper states
  neither ("several rounds of self-critique").
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Any, Callable, Sequence

import ml_collections

from datasynth.data.records import load_task
from datasynth.decode.kernels import Ending
from datasynth.decode.text import Batching, sample_text
from datasynth.decode.tokens import Sampling
from datasynth.jobs import chunked, memo
from datasynth.models.loaders import load_model
from datasynth.utils.errors import UserError
from softsrv import templates

METHODS = ("pt", "pt_undiversified", "pt_sr")


def baseline_config() -> ml_collections.ConfigDict:
  """The `baseline` config section (wired into softsrv/config.py by the pipeline)."""
  c = ml_collections.ConfigDict()
  c.method = "pt"  # pt (Figure 8: 10 questions per call) | pt_undiversified (Figure 10) | pt_sr (Figure 11).
  c.task = ""  # Template task: mbpp | gsm8k | boolq; "" = the run's task.
  c.model = "gemma3-270m"  # The question-writing LLM: the same frozen H as SoftSRV (any load_model name or path).
  c.temperature = 2.0  # PT / PT_SR question calls (A.2: 2).
  c.undiversified_temperature = 1.0  # pt_undiversified (A.4: "the default decoding temperature").
  c.top_p = 1.0  # Nucleus sampling of the question calls (1 = off).
  c.num_items = 100  # Calls (items) N; item i fills in train example i mod n. PT and PT_SR give up to 10 questions
  # each (Figure 8), undiversified one.
  c.max_new_tokens = 512  # Token budget of a question call (a PT call holds 10 questions).
  c.rounds = 2  # R: at most this many critique -> refine rounds per PT_SR question (the paper: "several").
  c.sr_temperature = 0.0  # Temperature of the critique and refine calls (0 = greedy).
  c.sr_max_new_tokens = 128  # Token budget of one critique or one refinement.
  c.batch_size = 8  # Prompts per sampler batch (does not change any row).
  c.chunk_size = 32  # Items per chunk file of datasynth.jobs.chunked.
  c.seed = 0  # Key streams: item j draws from fold_in(key(seed'), j).
  c.cache_dir = ""  # Where sampled calls are memoised (datasynth.jobs.memo; "" = none): PT_SR's PT calls are PT's.
  return c


# ---------------------------------------------------------------------------------------------- parsing
def _item_marker(label: str) -> re.Pattern:
  """A line starting "Question k:" (or "Passage and Question k:"), maybe in bold: group 1 is k."""
  words = r"\s+".join(map(re.escape, label.split()))
  return re.compile(rf"^\s*(?:\*\*)?{words}\s+(\d+)\s*:\s*(?:\*\*)?\s*", re.IGNORECASE)


def parse_questions(completion: str, *, label: str = "Question", finished: bool, limit: int | None = None) -> list[str]:
  """The "<label> k:" items of `completion` (Figure 8's list: "Question 1:", "Question 2:", ...), in order.

  `completion` includes the "<label> 1:" that ends the prompt. An item starts at a line whose number is larger than
  the previous item's, so a smaller or repeated number inside an item is its text; continuation lines are joined with
  "\n" (blank lines dropped). Text before the first marker is dropped. When the completion did not finish (it ran out
  of tokens), its last item may be cut short and is dropped. At most `limit` items.
  """
  marker = _item_marker(label)
  items: list[list[str]] = []
  last = 0
  for line in completion.splitlines():
    m = marker.match(line)
    if m and int(m.group(1)) > last:
      items.append([line[m.end():].strip()])
      last = int(m.group(1))
    elif items and line.strip():
      items[-1].append(line.strip())
  texts = ["\n".join(x for x in item if x).strip() for item in items]
  if not finished and texts:
    texts = texts[:-1]
  texts = [t for t in texts if t]
  return texts[:limit] if limit is not None else texts


_LEADING_LABEL = re.compile(r"^\s*(?:\*\*)?(?:passage\s+and\s+)?(?:question|q)\s*\d*\s*[:.)]\s*(?:\*\*)?\s*|"
                            r"^\s*\(?\d+\s*[.):](?!\d)\s*", re.IGNORECASE)


def parse_single(completion: str, *, finished: bool) -> str | None:
  """One question from a completion: a leading list marker removed; None if empty or cut short (unfinished)."""
  if not finished:
    return None
  lines = [x.strip() for x in completion.strip().splitlines() if x.strip()]
  if not lines:
    return None
  lines[0] = _LEADING_LABEL.sub("", lines[0], count=1).strip()
  text = "\n".join(x for x in lines if x).strip()
  return text or None


def _words(line: str) -> list[str]:
  return re.findall(r"[a-z]+", line.lower())


def says_stop(output: str) -> bool:
  """The refine output is "Stop" (Figure 11): its first non-empty line begins with the word, or its last line is it."""
  lines = [x for x in output.splitlines() if _words(x)]
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
    return sample_text(model, list(prompts), seed=seed, item_ids=list(item_ids),
                       sampling=Sampling(temperature=temperature, top_p=top_p), batching=Batching(batch_size),
                       ending=Ending(max_new_tokens, stop), return_details=True, progress=progress)

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


def example_index(item: int, n: int) -> int:
  """A.2: item i fills its template with train example i mod n (round robin over the train fold)."""
  return item % n


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
    c = self.config
    return float(c.undiversified_temperature if c.method == "pt_undiversified" else c.temperature)

  def example(self, item: int) -> str:
    return self.train[example_index(item, len(self.train))]

  def row(self, item: int, text: str, k: int, num_tokens: int, variant: str, **extra) -> dict[str, Any]:
    return dict(text=text, item=item, source_index=example_index(item, len(self.train)), method=self.config.method,
                variant=variant,
                task=self.task, config_hash=self.config_hash, step=None, seed=self.config.seed,
                num_tokens=int(num_tokens), finished=True, question_index=k, **extra)


def pt_questions(setup: Setup, items: range, generate: GenerateFn) -> list[tuple[int, int, str, int]]:
  """PT: one call per item (Figure 8), its "Question k:" list parsed; returns (item, k, question, tokens on the row)."""
  c = setup.config
  tpl, label = templates.get("pt", setup.task), templates.ITEM_LABEL[setup.task]
  prompts = [templates.fill(tpl, example=setup.example(j)) for j in items]
  outs = generate(prompts, seed=stream_seed(c.seed, "pt"), item_ids=list(items), temperature=setup.temperature,
                  max_new_tokens=c.max_new_tokens, stop=(f"{label} {templates.PER_CALL + 1}:",))
  found = []
  for j, out in zip(items, outs):  # The prompt ends "<label> 1:": the completion is item 1's text onwards.
    questions = parse_questions(f"{label} 1:{out.text}", label=label, finished=out.finished, limit=templates.PER_CALL)
    found += [(j, k, q, len(out.token_ids) if k == 0 else 0) for k, q in enumerate(questions)]
  return found


def make_pt_rows(setup: Setup, generate: GenerateFn) -> Callable[[range], list[dict[str, Any]]]:
  variant = templates.get("pt", setup.task).name
  return lambda items: [setup.row(j, q, k, n, variant) for j, k, q, n in pt_questions(setup, items, generate)]


def make_undiversified_rows(setup: Setup, generate: GenerateFn) -> Callable[[range], list[dict[str, Any]]]:
  c = setup.config
  tpl = templates.get("pt_undiversified", setup.task)

  def make_rows(items: range) -> list[dict[str, Any]]:
    prompts = [templates.fill(tpl, example=setup.example(j)) + "\n" for j in items]
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
  stopped: bool = False  # A refine output said "Stop".
  tokens: int = 0  # Tokens generated by this question's critiques and refinements.


def refine(questions: Sequence[str], ids: Sequence[int], *, task: str, rounds: int, seed: int, temperature: float,
           max_new_tokens: int, generate: GenerateFn) -> list[Refined]:
  """PT_SR (Figure 11): critique -> refine for each question, for at most `rounds` rounds.

  A round critiques the question (the critique template), then fills the refine template with the question and the
  critique; a refine output that says "Stop" ends that question's rounds (the question is kept as it was), any other
  output is the new question. Questions still live in a round are batched into one critique call and one refine call;
  question q draws from key stream `ids[q]` of each round's own seed. A refinement that comes back empty (or cut
  short) keeps the question as it was and ends its rounds.
  """
  critique_t, refine_t = templates.get("pt_sr_critique", task), templates.get("pt_sr_refine", task)
  state = [Refined(q) for q in questions]
  live = list(range(len(questions)))
  for r in range(rounds):
    if not live:
      break
    crit = generate([templates.fill(critique_t, question=state[q].text) + "\n" for q in live],
                    seed=stream_seed(seed, "critique", r), item_ids=[ids[q] for q in live], temperature=temperature,
                    max_new_tokens=max_new_tokens, stop=())
    for q, out in zip(live, crit):
      state[q].tokens += len(out.token_ids)
    prompts = [templates.fill(refine_t, question=state[q].text, critique=out.text.strip()) + "\n"
               for q, out in zip(live, crit)]
    outs = generate(prompts, seed=stream_seed(seed, "refine", r), item_ids=[ids[q] for q in live],
                    temperature=temperature, max_new_tokens=max_new_tokens, stop=("\n\n",))
    still = []
    for q, out in zip(live, outs):
      state[q].tokens += len(out.token_ids)
      if says_stop(out.text):
        state[q].stopped = True
        continue
      new = parse_single(out.text, finished=out.finished)
      if new is not None:
        state[q].text, state[q].rounds = new, state[q].rounds + 1
        still.append(q)
    live = still
  return state


def make_sr_rows(setup: Setup, generate: GenerateFn) -> Callable[[range], list[dict[str, Any]]]:
  c = setup.config
  variant = templates.get("pt", setup.task).name

  def make_rows(items: range) -> list[dict[str, Any]]:
    found = pt_questions(setup, items, generate)
    done = refine([q for _, _, q, _ in found], [j * templates.PER_CALL + k for j, k, _, _ in found],
                  task=setup.task, rounds=c.rounds, seed=c.seed,
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
  for field in ("num_items", "max_new_tokens", "batch_size", "chunk_size", "sr_max_new_tokens"):
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
  generate.num_samples N: ceil(N / 10) calls for pt / pt_sr (each yields up to 10 questions, Figure 8), N calls for
  pt_undiversified.
  """
  c = baseline_config()
  c.update(run.get("baseline", ml_collections.ConfigDict()).to_dict())
  c.method, c.task, c.seed, c.model = run.pipeline.method, run.task, int(run.seed), run.model.name
  c.chunk_size = int(run.generate.chunk)
  n = int(run.generate.num_samples)
  c.num_items = n if c.method == "pt_undiversified" else -(-n // templates.PER_CALL)
  return c


def generate_baseline(config: ml_collections.ConfigDict, out_dir: str, *, task: str | None = None, model=None,
                      train: Sequence[str] | None = None, data_dir: str | None = None,
                      generate: GenerateFn | None = None, process_index: int = 0, process_count: int = 1,
                      progress: bool = True) -> chunked.Stats:
  """Write `config.num_items` baseline items (method `config.method`) as chunk files under `out_dir`.

  config: the `baseline` section, or a whole run config (`from_run_config`). task: overrides `config.task`.
  model: a LoadedModel (else `load_model(config.model)`). train: the examples cycled over (else the task's train fold,
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
    raise UserError(f"The train examples for {task} are empty; check the data directory or pass train examples.")
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
