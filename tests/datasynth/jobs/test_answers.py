"""Step 3: chat rendering, answers through the chunked driver (resume, provenance, empty answers), the SFT file."""
import json
import os

import pytest

from datasynth.data.records import load_records_jsonl, load_task
from datasynth.decode import chat, text as text_lib
from datasynth.jobs import answers, chunked
from datasynth.models.config import make_config
from datasynth.models.decoder import Decoder
from datasynth.models.loaders import LoadedModel
from datasynth.utils import io
from datasynth.utils.errors import UserError

QUESTIONS = [dict(text=f"Write a function that returns {k} times x.", item=10 + k, method="softsrv", variant="mc",
                  source_index=k, seed=0, step=6, task="mbpp", fingerprint="abc123") for k in range(5)]


@pytest.fixture(scope="module")
def tiny_answerer(smollm2):
  """A 2-layer random Llama with SmolLM2's tokenizer (its ChatML markers are single tokens)."""
  import flax.linen as nn
  import jax
  import numpy as np
  tok = smollm2.tokenizer
  cfg = make_config("llama", vocab_size=smollm2.config.vocab_size, width=32, num_layers=2, num_heads=4,
                    num_kv_heads=2, head_dim=8, mlp_dim=64, max_len=256, bos_id=tok.bos_id, eos_id=tok.eos_id,
                    pad_id=tok.pad_id)
  params = nn.meta.unbox(Decoder(cfg).init(jax.random.key(3), np.zeros((1, 4), np.int32))["params"])
  return LoadedModel(config=cfg, params=jax.tree.map(np.asarray, params), tokenizer=tok, source="tiny-random-3")


# ------------------------------------------------------------------------------------------------ chat
def test_smollm2_rendering_equals_its_shipped_chat_template(smollm2):
  """The GGUF's own Jinja template, rendered as transformers' apply_chat_template renders it (sandboxed Jinja).

  (Loading transformers' tokenizer from the GGUF takes ~30 s here; it gave the identical string when checked.)
  """
  import jinja2.sandbox
  shipped = chat.shipped_template(str(smollm2.source))
  env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
  user = "Write a function to add two numbers.\nKeep it short."
  expected = env.from_string(shipped).render(messages=[{"role": "user", "content": user}], add_generation_prompt=True)
  assert chat.detect(smollm2).name == "smollm2"
  assert chat.FORMATS["smollm2"].render(user) == expected
  ids = smollm2.tokenizer.encode(expected)
  assert ids[0] == 1 and ids.count(2) == 2  # <|im_start|> opens it; <|im_end|> closes the system and user turns.


def test_gemma_and_base_formats_follow_the_documented_layout():
  assert chat.FORMATS["gemma"].render("Hi") == "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"
  assert chat.FORMATS["none"].render("Hi") == "Hi"
  assert chat.classify("{{ '<start_of_turn>user\n' }}") == "gemma"
  assert chat.classify(None) == "none" and chat.classify("<|im_start|>{{m}}") == "chatml"


def test_a_tokenizer_that_splits_the_chat_markers_is_refused(smollm2):
  with pytest.raises(UserError, match="splits the chat marker '<start_of_turn>'"):
    chat.resolve("gemma", smollm2)
  with pytest.raises(UserError, match="Unknown chat format 'llama9'"):
    chat.resolve("llama9", smollm2)
  assert chat.end_ids(chat.FORMATS["smollm2"], smollm2.tokenizer) == (2,)


def test_the_answer_prompt_puts_the_template_inside_the_user_turn():
  fmt = chat.FORMATS["chatml"]
  assert answers.answer_prompt("Q?", None, fmt) == "<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n"
  assert "user\nSolve: Q?<|im_end|>" in answers.answer_prompt("Q?", "Solve: {question}", fmt)
  with pytest.raises(UserError, match="has no {question} field"):
    answers.answer_prompt("Q?", "Solve it.", fmt)


# ------------------------------------------------------------------------------------------------ records
def _settings(**over):
  """Tiny-model settings; chat "none" because a random 2-layer model repeats its last input token, and a chat
  prompt ends with a newline (its answers would all be blank)."""
  return answers.AnswerSettings(**{**dict(max_new_tokens=4, batch_size=2, chunk_size=2, chat="none"), **over})


def _bytes(out_dir):
  return [open(p, "rb").read() for p in chunked.chunk_files(out_dir)]


def test_answers_resume_by_chunk_and_carry_provenance(tiny_answerer, tmp_path):
  out = str(tmp_path / "answers")
  first = answers.generate_answers(QUESTIONS, out, model=tiny_answerer, settings=_settings(), progress=False)
  before = _bytes(out)
  assert (first.questions, first.records, first.empty) == (5, 5, 0) and len(before) == 3
  os.remove(chunked.chunk_path(out, 1))
  again = answers.generate_answers(QUESTIONS, out, model=tiny_answerer, settings=_settings(batch_size=3),
                                   progress=False)
  assert again.stats.items == 2 and again.stats.skipped_chunks == 2 and _bytes(out) == before
  rec = next(chunked.read_rows(out))
  assert (rec["prompt"], rec["question_item"], rec["question_fingerprint"]) == (QUESTIONS[0]["text"], 10, "abc123")
  assert (rec["method"], rec["variant"], rec["source_index"], rec["step"], rec["seed"]) == ("softsrv", "mc", 0, 6, 0)
  assert rec["answer_model"] == os.path.basename(tiny_answerer.source) and rec["answer_template"] is None


def test_a_changed_question_list_is_refused_in_the_same_folder(tiny_answerer, tmp_path):
  out = str(tmp_path / "answers")
  answers.generate_answers(QUESTIONS[:2], out, model=tiny_answerer, settings=_settings(), progress=False)
  with pytest.raises(UserError, match="holds the output of another run"):
    answers.generate_answers(QUESTIONS[1:3], out, model=tiny_answerer, settings=_settings(), progress=False)


def test_empty_answers_are_dropped_and_counted(tiny_answerer, tmp_path, monkeypatch):
  def fake(model, prompts, **kw):  # Test double: every other answer is empty.
    return [text_lib.TextSample(" " if int(i) % 2 else "return x", [5], True) for i in kw["item_ids"]]

  monkeypatch.setattr(text_lib, "sample_text", fake)
  summary = answers.generate_answers(QUESTIONS, str(tmp_path / "a"), model=tiny_answerer, settings=_settings(),
                                     progress=False)
  assert (summary.records, summary.empty) == (3, 2) and "2 empty answers dropped" in summary.line()
  assert [r["item"] for r in chunked.read_rows(str(tmp_path / "a"))] == [0, 2, 4]


def test_bad_question_input_is_one_clear_error(tiny_answerer, tmp_path):
  with pytest.raises(UserError, match="No questions"):
    answers.generate_answers([], str(tmp_path / "a"), model=tiny_answerer, settings=_settings())
  with pytest.raises(UserError, match="question 1 has no string field 'text'"):
    answers.generate_answers([{"text": "q"}, {"question": "q"}], str(tmp_path / "a"), model=tiny_answerer)
  with pytest.raises(UserError, match="Questions not found"):
    answers.load_questions(str(tmp_path / "missing.jsonl"))


def test_the_sft_file_loads_in_datasets_and_in_the_student_loader(tiny_answerer, tmp_path, monkeypatch):
  monkeypatch.setattr(text_lib, "sample_text", lambda model, prompts, **kw: [
      text_lib.TextSample(f"def f(x):\n  return {i} * x", [5], True) for i in kw["item_ids"]])
  out = str(tmp_path / "a")
  answers.generate_answers(QUESTIONS, out, model=tiny_answerer, settings=_settings(), progress=False)
  path = str(tmp_path / "sft.jsonl")
  assert answers.export_jsonl(out, path) == 5
  import datasets
  ds = datasets.load_dataset("json", data_files=path, split="train", cache_dir=str(tmp_path / "hf"))
  assert ds.num_rows == 5 and ds[3]["prompt"] == QUESTIONS[3]["text"] and ds[3]["response"].startswith("def f")
  chunk = datasets.load_dataset("json", data_files=chunked.chunk_path(out, 0), split="train",
                                cache_dir=str(tmp_path / "hf"))
  assert chunk.num_rows == 2
  records = load_records_jsonl(path)
  assert [r.prompt for r in records] == [q["text"] for q in QUESTIONS] and records[0].task == "mbpp"
  assert len(load_records_jsonl(chunked.chunk_path(out, 2))) == 1


def test_questions_load_from_a_jsonl_file_or_a_chunked_folder(tmp_path):
  io.write_jsonl(tmp_path / "q.jsonl", QUESTIONS)
  assert answers.load_questions(str(tmp_path / "q.jsonl")) == QUESTIONS
  plan = chunked.Plan(5, 3, {"stage": "postprocess"})
  chunked.run(str(tmp_path / "kept"), plan, lambda items: [{**QUESTIONS[k], "item": k} for k in items], progress=False)
  assert [q["text"] for q in answers.load_questions(str(tmp_path / "kept"))] == [q["text"] for q in QUESTIONS]


# ------------------------------------------------------------------------------------------------ real model
def test_smollm2_answers_two_mbpp_questions_with_code(smollm2, data_dir, tmp_path):
  qs = [dict(text=r.prompt, item=k, method="pt", task="mbpp") for k, r in enumerate(load_task("mbpp", "train",
                                                                                              str(data_dir))[:2])]
  template = "{question}\nWrite the Python function."
  summary = answers.generate_answers(qs, str(tmp_path / "a"), model=smollm2, template=template,
                                     settings=answers.AnswerSettings(max_new_tokens=96, batch_size=2), progress=False)
  recs = list(chunked.read_rows(str(tmp_path / "a")))
  assert summary.records == 2 and summary.empty == 0
  assert all("def " in r["response"] for r in recs), [r["response"] for r in recs]
  assert recs[0]["answer_template"] is not None and json.dumps(recs)  # JSON-able provenance.


def test_the_pipeline_answer_stage_reports_counts_and_one_records_file(tiny_answerer, tmp_path):
  cfg = dict(model="tiny", max_new_tokens=3, temperature=0.0, batch_size=4, chunk=4, chat="none")
  questions = [{k: v for k, v in q.items() if k != "task"} for q in QUESTIONS]
  report = answers.answer_questions(questions, tiny_answerer, str(tmp_path / "answer"), config=cfg, task="gsm8k",
                                    template="Solve: {question}", progress=False)
  assert report["counts"] == {"in": 5, "out": 5, "dropped": {"empty_answer": 0}}
  records = load_records_jsonl(report["records"])
  assert len(records) == 5 and {r.task for r in records} == {"gsm8k"}
