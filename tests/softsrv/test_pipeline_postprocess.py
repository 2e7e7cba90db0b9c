"""The pipeline's postprocess stage on chunked generator output (softsrv/pipeline.py -> datasynth.postprocess)."""
import json
import os

from datasynth.data.files import read_jsonl
from datasynth.data.records import load_task
from datasynth.jobs import answers, chunked
from datasynth.utils import io
from softsrv import pipeline
from softsrv.config import get_config


def test_the_postprocess_stage_reads_chunked_rows_and_writes_kept_jsonl_with_counts(tmp_path, data_dir):
  config = get_config("mbpp")
  config.data.data_dir = str(data_dir)
  config.postprocess.num_subsample = 20
  config.postprocess.svd_components = 8
  config.postprocess.clusters = 10
  gen_dir, stage_dir = str(tmp_path / "generate"), str(tmp_path / "postprocess")
  topics = ["sort a list of tuples by the second item", "count vowels in a string", "merge two dictionaries"]
  plan = chunked.Plan(num_items=60, chunk_size=16, fingerprint=dict(test=1))

  def text(j):
    return f"Write a function to {topics[j % 3]} case {j}."

  def make_rows(items):  # Every 6th item repeats the one before it.
    return [dict(item=i, text=text(i - 1 if i % 6 == 5 else i)) for i in items]
  chunked.run(gen_dir, plan, make_rows, progress=False)
  report = pipeline.postprocess_stage(config, stage_dir, gen_dir)
  assert report["counts"]["in"] == 60 and report["counts"]["out"] == 20
  assert report["counts"]["dropped"]["exact_duplicate"] == 10
  with open(report["outputs"][0], encoding="utf-8") as f:
    kept = [json.loads(line) for line in f]
  assert len(kept) == 20 and all(r["text"].startswith("Write a function") for r in kept)


def test_empty_and_whitespace_questions_are_dropped_and_counted_before_anything_else(tmp_path, data_dir):
  config = get_config("mbpp")
  config.data.data_dir = str(data_dir)
  config.postprocess.num_subsample, config.postprocess.svd_components, config.postprocess.clusters = 0, 4, 2
  gen_dir = str(tmp_path / "generate")
  texts = ["", "Write a function to add two numbers.", "   \n", "Write a function to sort a list.", ""]
  chunked.run(gen_dir, chunked.Plan(5, 5, dict(test=2)), lambda items: [dict(item=i, text=texts[i]) for i in items],
              progress=False)
  report = pipeline.postprocess_stage(config, str(tmp_path / "post"), gen_dir)
  assert report["counts"]["dropped"]["empty_question"] == 3 and report["counts"]["out"] == 2
  assert report["stages"][0]["stage"] == "empty"


class _Answers:
  """The answer model's stand-in: `answer_questions` is replaced by one that answers from a table."""

  def __init__(self, table):
    self.table = table

  def __call__(self, questions, model, out_dir, *, config, task, template, progress):
    assert all(q["text"].strip() for q in questions)  # No empty question reaches the answer model.
    path = os.path.join(out_dir, "records.jsonl")
    io.write_jsonl(path, [dict(prompt=q["text"], response=self.table[q["text"]]) for q in questions])
    return dict(counts={"in": len(questions), "out": len(questions), "dropped": {"empty_answer": 0}}, records=path)


def test_the_answer_stage_drops_empty_questions_then_records_sharing_a_13_gram_with_the_test_fold(
    tmp_path, data_dir, monkeypatch):
  test = load_task("gsm8k", "test", str(data_dir))
  leaked_answer = next(r.response for r in test if len(r.response.split()) > 40)  # A reference answer, copied.
  leaked_question = "Here it is: " + test[7].prompt.replace(",", "")
  table = {"Tom has two apples and buys three more. How many apples does he have now?": "He has five apples.",
           "A question of our own about a train that leaves at noon and arrives later.": leaked_answer,
           leaked_question: "Some answer."}
  config = get_config("gsm8k")
  config.data.data_dir = str(data_dir)
  kept = str(tmp_path / "kept.jsonl")
  io.write_jsonl(kept, [dict(text=t) for t in ["", *table, "  "]])
  monkeypatch.setattr(answers, "answer_questions", _Answers(table))
  report = pipeline._answer(config, str(tmp_path), kept, models={"answer": None})
  assert report["counts"]["in"] == 5 and report["counts"]["out"] == 1
  assert report["counts"]["dropped"] == {"empty_question": 2, "empty_answer": 0, "test_13gram_overlap": 2}
  assert report["decontamination"]["rate"] == round(2 / 3, 6)
  assert [r["prompt"] for r in read_jsonl(report["outputs"][0])] == [next(iter(table))]
  config.answer.decontaminate_ngram = 0  # Off: every answered record stays.
  assert pipeline._answer(config, str(tmp_path), kept, models={"answer": None})["counts"]["out"] == 3
