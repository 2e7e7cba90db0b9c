"""PT / PT_undiversified / PT_SR: templates, list parsing, the Stop test, the refine loop, determinism, resume."""
import dataclasses
import os

import pytest

from datasynth.jobs import chunked
from datasynth.utils.errors import UserError
from softsrv import baselines, templates
from softsrv.baselines import Sample, parse_questions, parse_single, says_stop
from softsrv.config import get_config

TRAIN = [f"Write a function to compute thing number {i}." for i in range(12)]


# ------------------------------------------------------------------------------------------------ templates
# (Each template against the paper's Figures 8-11: tests/softsrv/test_templates.py.)
def test_fill_refuses_a_missing_or_an_unknown_field():
  with pytest.raises(UserError, match="missing \\['example'\\]"):
    templates.fill(templates.get("pt", "mbpp"))
  with pytest.raises(UserError, match="unknown \\['extra'\\]"):
    templates.fill(templates.get("answer", "mbpp"), question="q", extra=1)
  with pytest.raises(UserError, match="No 'pt' template for task 'lima'"):
    templates.get("pt", "lima")


def test_softsrv_questions_are_answered_as_is_and_pt_ones_through_figure_9():
  assert templates.answer_template("softsrv", "mbpp") is None
  assert templates.answer_template("pt_sr", "gsm8k").name == "gsm8k/answer"
  assert templates.answer_template("pt", "gsm8k").text.startswith("Please answer the following question that tests")


# ------------------------------------------------------------------------------------------------ parsing
def test_question_k_items_are_parsed_in_order_with_bold_and_blank_lines():
  text = "Question 1: Write a sum.\n\n**Question 2:** Reverse a list.\n\n\nquestion 3: Count words.\n"
  assert parse_questions(text, finished=True) == ["Write a sum.", "Reverse a list.", "Count words."]


def test_boolq_passage_and_question_items_keep_their_lines():
  text = ("Passage and Question 1: PASSAGE: The Rhine flows north.\nQUESTION: does the rhine flow north\n\n"
          "Passage and Question 2: PASSAGE: Cats purr.\nQUESTION: do cats purr")
  assert parse_questions(text, label="Passage and Question", finished=True) == [
      "PASSAGE: The Rhine flows north.\nQUESTION: does the rhine flow north",
      "PASSAGE: Cats purr.\nQUESTION: do cats purr"]
  assert parse_questions(text, finished=True) == []  # "Question 1:" mid-line is not an item start.


def test_continuation_lines_are_joined_to_their_item():
  text = "Question 1: Tom has 3 apples.\nHe buys 2.5 kg more.\n10 friends come.\nQuestion 2: Passage here.\nis it?"
  assert parse_questions(text, finished=True) == ["Tom has 3 apples.\nHe buys 2.5 kg more.\n10 friends come.",
                                                  "Passage here.\nis it?"]


def test_a_trailing_item_is_dropped_only_when_the_completion_was_cut_short():
  text = "Question 1: First question.\nQuestion 2: Second question.\nQuestion 3: Third quest"
  assert parse_questions(text, finished=False) == ["First question.", "Second question."]
  assert parse_questions(text, finished=True) == ["First question.", "Second question.", "Third quest"]


def test_fewer_than_ten_items_and_the_limit():
  assert len(parse_questions("Question 1: a\nQuestion 2: b\nQuestion 3: c", finished=True)) == 3
  many = "\n".join(f"Question {k}: q{k}" for k in range(1, 13))
  assert parse_questions(many, finished=True, limit=10) == [f"q{k}" for k in range(1, 11)]


def test_a_repeated_or_smaller_number_or_another_list_style_continues_the_current_item():
  text = "Question 1: a\nQuestion 1: b\n2. c\nQuestion 2: d"
  assert parse_questions(text, finished=True) == ["a\nQuestion 1: b\n2. c", "d"]
  assert parse_questions("no list at all\n1. x", finished=True) == []


def test_a_single_question_loses_its_label_and_a_cut_one_is_dropped():
  assert parse_single("Question:\nWrite a function.\n", finished=True) == "Write a function."
  assert parse_single("Passage and Question 1: PASSAGE: x", finished=True) == "PASSAGE: x"
  assert parse_single("1. Sort it.", finished=True) == "Sort it."
  assert parse_single("Write a func", finished=False) is None
  assert parse_single("  \n", finished=True) is None


@pytest.mark.parametrize("critique,stop", [
    ("Stop", True), ("stop.", True), ("**Stop**", True), ("Stop - the question is fine.", True),
    ("The question is clear and complete.\nStop", True), ("'Stop'", True),
    ("The loop should stop at n; say what n is.", False), ("Stopping early is unclear.", False),
    ("No changes needed. Stop", False), ("", False)])
def test_the_stop_verdict_is_the_refine_outputs_first_word_or_its_last_line(critique, stop):
  assert says_stop(critique) is stop


# ------------------------------------------------------------------------------------------------ PT_SR loop
class Scripted:
  """A test double for the LLM (control flow only): replies looked up by the question inside each prompt."""

  def __init__(self, critiques, refinements):
    self.critiques, self.refinements, self.calls, self.prompts = critiques, refinements, [], []

  def __call__(self, prompts, *, seed, item_ids, temperature, max_new_tokens, stop=()):
    kind = "refine" if prompts[0].startswith("Read the following") else "critique"
    self.calls.append((kind, list(item_ids)))
    self.prompts += prompts
    table = self.refinements if kind == "refine" else self.critiques
    out = []
    for p in prompts:
      question = p.split("\n")[1]  # Figure 11: the question is the line after the first (MBPP has no "Question:").
      out.append(Sample(table[question].pop(0), [1, 2, 3], True))
    return out


def test_a_refine_output_saying_stop_ends_the_rounds_and_r_bounds_them():
  fake = Scripted(critiques={"A": ["Great."], "B": ["Too vague."], "B2": ["Fine now."], "C": ["Bad."],
                             "C2": ["Worse."]},
                  refinements={"A": ["Stop"], "B": ["B2"], "B2": ["Stop."], "C": ["C2"], "C2": ["C3"]})
  done = baselines.refine(["A", "B", "C"], [0, 1, 2], task="mbpp", rounds=2, seed=0, temperature=0.0,
                          max_new_tokens=8, generate=fake)
  assert [(d.text, d.rounds, d.stopped) for d in done] == [("A", 0, True), ("B2", 1, True), ("C3", 2, False)]
  assert fake.calls == [("critique", [0, 1, 2]), ("refine", [0, 1, 2]), ("critique", [1, 2]), ("refine", [1, 2])]
  assert done[2].tokens == 4 * 3  # Two critiques and two refinements of three tokens each.
  refine_prompt = next(p for p in fake.prompts if p.startswith("Read the following") and "\nB\n" in p)
  assert refine_prompt == templates.fill(templates.get("pt_sr_refine", "mbpp"), question="B",
                                         critique="Too vague.") + "\n"  # Figure 11, the critique filled in.


def test_a_critique_that_says_stop_does_not_end_the_rounds():
  fake = Scripted(critiques={"A": ["Stop"]}, refinements={"A": ["A2"]})
  done = baselines.refine(["A"], [0], task="mbpp", rounds=1, seed=0, temperature=0.0, max_new_tokens=8,
                          generate=fake)
  assert (done[0].text, done[0].rounds, done[0].stopped) == ("A2", 1, False)


def test_zero_rounds_keep_the_pt_questions_and_an_empty_refinement_ends_the_loop():
  assert [d.text for d in baselines.refine(["A"], [0], task="mbpp", rounds=0, seed=0, temperature=0.0,
                                           max_new_tokens=8, generate=None)] == ["A"]
  fake = Scripted(critiques={"A": ["Fix it."]}, refinements={"A": ["  "]})
  done = baselines.refine(["A"], [0], task="mbpp", rounds=3, seed=0, temperature=0.0, max_new_tokens=8,
                          generate=fake)
  assert (done[0].text, done[0].rounds, done[0].stopped) == ("A", 0, False) and len(fake.calls) == 2


# ------------------------------------------------------------------------------------------------ rows
def _config(**over):
  c = baselines.baseline_config()
  c.task, c.num_items, c.chunk_size, c.batch_size, c.max_new_tokens = "mbpp", 5, 2, 4, 8
  c.sr_max_new_tokens = 6
  for k, v in over.items():
    c[k] = v
  return c


def _finished(generate):
  """The real sampler, with every completion marked finished (a random model never ends its list)."""
  return lambda *a, **k: [dataclasses.replace(o, finished=True) for o in generate(*a, **k)]


def _read(out_dir):
  return [open(p, "rb").read() for p in chunked.chunk_files(out_dir)]


def test_item_i_fills_in_train_example_i_mod_n_one_per_call(tmp_path):
  assert [baselines.example_index(i, 12) for i in (0, 5, 11, 12, 30)] == [0, 5, 11, 0, 6]
  seen = []

  def listing(prompts, **kw):
    seen.extend(prompts)
    return [Sample(" Q.", [1], True) for _ in prompts]

  baselines.generate_baseline(_config(num_items=14, chunk_size=7), str(tmp_path), train=TRAIN, generate=listing,
                              progress=False)
  assert seen == [templates.fill(templates.get("pt", "mbpp"), example=TRAIN[i % 12]) for i in range(14)]


def test_bad_baseline_config_is_one_clear_error_before_any_model_loads(tmp_path):
  with pytest.raises(UserError, match="baseline.method='ptx'"):
    baselines.generate_baseline(_config(method="ptx"), str(tmp_path), train=TRAIN)
  with pytest.raises(UserError, match="baseline.rounds=-1"):
    baselines.generate_baseline(_config(method="pt_sr", rounds=-1), str(tmp_path), train=TRAIN,
                                generate=Scripted({}, {}))
  assert not os.path.exists(tmp_path / "chunk-00000.jsonl")


def test_pt_rows_on_a_tiny_model_are_the_same_across_batch_sizes_and_after_resume(tiny, tmp_path):
  h, _ = tiny
  outs = {}
  for b in (1, 3):
    out = str(tmp_path / f"b{b}")
    baselines.generate_baseline(_config(batch_size=b), out, model=h, train=TRAIN, progress=False,
                                generate=_finished(baselines.sampler(h, batch_size=b)))
    outs[b] = _read(out)
  assert outs[1] == outs[3] and len(outs[1]) == 3
  rows = list(chunked.read_rows(str(tmp_path / "b1")))
  assert [r["item"] for r in rows] == list(range(5))  # One (random-text) question per item: "Question 1:" + text.
  assert {r["method"] for r in rows} == {"pt"} and [r["source_index"] for r in rows] == list(range(5))
  assert all(r["step"] is None for r in rows)
  os.remove(chunked.chunk_path(str(tmp_path / "b3"), 1))
  stats = baselines.generate_baseline(_config(batch_size=3), str(tmp_path / "b3"), model=h, train=TRAIN,
                                      progress=False, generate=_finished(baselines.sampler(h, batch_size=3)))
  assert stats.items == 2 and _read(str(tmp_path / "b3")) == outs[1]


def test_pt_sr_refines_the_pt_runs_questions_from_a_shared_memo_and_the_rows_do_not_depend_on_it(tiny, tmp_path):
  h, _ = tiny
  cache = str(tmp_path / "cache")
  plain, memo_dir = str(tmp_path / "plain"), str(tmp_path / "pt")
  baselines.generate_baseline(_config(), plain, model=h, train=TRAIN, progress=False,
                              generate=_finished(baselines.sampler(h, batch_size=4)))
  baselines.generate_baseline(_config(cache_dir=cache), memo_dir, model=h, train=TRAIN, progress=False,
                              generate=_finished(baselines.sampler(h, batch_size=2)))
  assert _read(memo_dir) == _read(plain)  # Same rows and config hash: the memo folder is not part of the result.
  assert len(os.listdir(cache)) == 3  # One file per PT call: chunks of 2 + 2 + 1 items.

  def offline(*a, **k):
    raise AssertionError("a PT call was sampled again")

  baselines.generate_baseline(_config(method="pt_sr", rounds=0, cache_dir=cache), str(tmp_path / "sr"), model=h,
                              train=TRAIN, progress=False, generate=offline)
  pt_rows, sr_rows = (list(chunked.read_rows(d)) for d in (memo_dir, str(tmp_path / "sr")))
  assert [(r["item"], r["text"]) for r in sr_rows] == [(r["item"], r["text"]) for r in pt_rows] and pt_rows
  with pytest.raises(AssertionError, match="sampled again"):  # Another seed is another key stream: not memoised.
    baselines.generate_baseline(_config(method="pt_sr", rounds=0, cache_dir=cache, seed=1), str(tmp_path / "s1"),
                                model=h, train=TRAIN, progress=False, generate=offline)


def test_pt_sr_and_undiversified_run_the_real_sampler_path_on_a_tiny_model(tiny, tmp_path):
  h, _ = tiny
  gen = _finished(baselines.sampler(h, batch_size=4))
  baselines.generate_baseline(_config(method="pt_sr", rounds=1, num_items=2), str(tmp_path / "sr"), model=h,
                              train=TRAIN, progress=False, generate=gen)
  rows = list(chunked.read_rows(str(tmp_path / "sr")))
  assert len(rows) == 2 and all(r["method"] == "pt_sr" and r["rounds"] in (0, 1) for r in rows)
  assert all(r["num_tokens"] > 8 for r in rows if r["rounds"] == 1)  # PT call + critique + refinement tokens.
  raw = []
  record = lambda *a, **k: raw.extend(gen(*a, **k)) or raw[-len(a[0]):]
  baselines.generate_baseline(_config(method="pt_undiversified", num_items=2), str(tmp_path / "one"), model=h,
                              train=TRAIN, progress=False, generate=record)
  one = list(chunked.read_rows(str(tmp_path / "one")))
  assert len(raw) == 2 and [r["text"] for r in one] == [o.text.strip() for o in raw if o.text.strip()]
  assert all(r["variant"] == "mbpp/pt_undiversified" for r in one)


def _listing(prompts, *, seed, item_ids, temperature, max_new_tokens, stop=()):
  """A test double for the LLM: every PT call continues Figure 8's "Question 1:" with the same two-item list."""
  assert stop == ("Question 11:",) and temperature == 2.0 and all(p.endswith("Question 1:") for p in prompts)
  return [Sample(f" Write function A{j}.\n\nQuestion 2: Write function B{j}.\n", [1] * 7, True) for j in item_ids]


def test_a_whole_run_config_drives_the_baseline_with_its_own_fields(tmp_path):
  run = get_config("mbpp")
  run.pipeline.method, run.generate.num_samples, run.generate.chunk, run.seed = "pt", 25, 2, 3
  assert run.baseline.temperature == 1.0 and get_config("mbpp", "paper").baseline.temperature == 2.0
  paper = {m: baselines.Setup(baselines.from_run_config(_with_method(get_config("mbpp", "paper"), m)), "mbpp", TRAIN,
                              "").temperature for m in baselines.METHODS}
  assert paper == {"pt": 2.0, "pt_sr": 2.0, "pt_undiversified": 1.0}  # A.2; A.4: the model's default.
  run.baseline.temperature = 2.0  # The run's baseline section reaches the sampler (asserted by _listing).
  section = baselines.from_run_config(run)
  assert (section.method, section.task, section.num_items, section.chunk_size, section.seed) == ("pt", "mbpp", 3, 2, 3)
  baselines.generate_baseline(run, str(tmp_path / "g"), train=TRAIN, generate=_listing, progress=False)
  rows = list(chunked.read_rows(str(tmp_path / "g")))
  assert [(r["item"], r["question_index"], r["text"]) for r in rows[:2]] == [(0, 0, "Write function A0."),
                                                                             (0, 1, "Write function B0.")]
  assert len(rows) == 6 and sum(r["num_tokens"] for r in rows) == 3 * 7  # A call's tokens count once.
  assert [r["source_index"] for r in rows[::2]] == [0, 1, 2]


def _with_method(run, method):
  run.pipeline.method = method
  return run
