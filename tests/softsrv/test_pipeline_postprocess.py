"""The pipeline's postprocess stage on chunked generator output (softsrv/pipeline.py -> datasynth.postprocess)."""
import json

from datasynth.jobs import chunked
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
