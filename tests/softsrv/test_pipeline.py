"""The whole SoftSRV pipeline at toy size on the embedded models: train -> generate -> postprocess -> answer -> MAUVE,
then a rerun that skips every stage and a changed MAUVE config that reruns only that stage."""
import json
import os

import pytest

from datasynth.data import publish
from datasynth.data.files import read_jsonl
from datasynth.data.records import load_records_jsonl
from datasynth.utils.errors import UserError
from softsrv import pipeline
from softsrv.config import get_config


def _toy_config(data_dir):
  c = get_config("mbpp")
  c.data.data_dir = str(data_dir)
  c.show_progress = False
  c.data.limit, c.data.heldout, c.data.max_len = 24, 4, 40
  c.soft_prompt.t, c.soft_prompt.hidden = 4, 16
  c.context.max_len, c.context.batch_size = 32, 16
  c.train.steps, c.train.batch_size, c.train.log_every, c.train.eval_every = 2, 4, 1, 2
  c.train.warmup_steps, c.train.num_devices, c.train.loss_chunk = 1, 1, 8
  c.checkpoint.save_every = 2
  c.generate.num_samples, c.generate.batch_size, c.generate.chunk, c.generate.max_new_tokens = 8, 4, 4, 12
  c.postprocess.num_subsample, c.postprocess.svd_components, c.postprocess.clusters = 4, 4, 2
  c.answer.max_new_tokens, c.answer.batch_size, c.answer.chunk = 8, 4, 4
  c.mauve.num_examples, c.mauve.batch_size, c.mauve.max_tokens = 6, 6, 32
  return c


@pytest.fixture(scope="module")
def toy_run(gemma3, smollm2, data_dir, tmp_path_factory):
  config = _toy_config(data_dir)
  workdir = str(tmp_path_factory.mktemp("pipeline"))
  models = dict(generator=gemma3, context=smollm2, answer=smollm2, mauve=smollm2)
  return config, workdir, models, pipeline.run(config, workdir, **models)


def test_the_pipeline_runs_every_stage_and_writes_records_and_a_summary(toy_run):
  config, workdir, _, summary = toy_run
  names = [m["name"] for m in summary["stages"]]
  assert names == ["train", "generate", "postprocess", "answer", "mauve"]
  counts = {m["name"]: m["counts"] for m in summary["stages"]}
  assert counts["generate"]["out"] == 8 and counts["postprocess"]["in"] == 8
  assert counts["answer"]["in"] == counts["postprocess"]["out"] <= 4
  records = load_records_jsonl(os.path.join(workdir, "answer", "records.jsonl"))
  assert len(records) == counts["answer"]["out"] and all(r.prompt and r.response for r in records)
  assert set(summary["mauve"]) == {"train", "test", "train_vs_test"}
  assert all(0.0 <= m["mauve"] <= 1.0 for m in summary["mauve"].values())
  with open(os.path.join(workdir, "summary.md"), encoding="utf-8") as f:
    md = f.read()
  assert "| generate | 8 | 8 |" in md and "| SS_MC | test |" in md and os.path.exists(
      os.path.join(workdir, "mauve", "mauve.png"))
  with open(os.path.join(workdir, "summary.json"), encoding="utf-8") as f:
    assert json.load(f)["label"] == "SS_MC"


def test_the_run_ends_in_a_dataset_folder_that_loads_and_whose_card_holds_the_provenance(toy_run, tmp_path):
  datasets = pytest.importorskip("datasets")
  config, workdir, _, summary = toy_run
  folder = os.path.join(workdir, "dataset")
  records = read_jsonl(os.path.join(workdir, "answer", "records.jsonl"))
  assert summary["dataset"]["records"] == len(records) == summary["stages"][3]["counts"]["out"] > 0
  train = datasets.load_dataset(folder, cache_dir=str(tmp_path / "cache"))["train"]
  assert train.num_rows == len(records) and train.to_list() == records
  header = publish.read_card_header(folder)
  assert header["license"] == ["other", "apache-2.0", "cc-by-4.0"]  # Gemma 3 generator, SmolLM2 answers, MBPP.
  assert header["task_categories"] == ["text-generation"] and header["size_categories"] == ["n<1K"]
  card = open(os.path.join(folder, "README.md"), encoding="utf-8").read()
  post = {s["stage"]: s for s in summary["stages"][2]["stages"]}
  for needed in (f"| config hash | `{summary['stages'][-1]['key']}` |", "| variant | SS_MC |",
                 "| generator model | `gemma3-270m` |", "| answer model | `smollm2-135m` |", "| generated | 8 | - |",
                 f"| deduplicated | {post['dedup']['kept']} |", f"| decontaminated | {post['decontaminate']['kept']} |",
                 f"| subsampled | {post['subsample']['kept']} |", f"| answered | {len(records)} |",
                 f"| SS_MC | test | {summary['mauve']['test']['mauve']:.3f} |", "| SS_MC | train |",
                 f"python launch/pipeline.py --config=configs/mbpp.py --workdir={workdir} ",
                 "--config.train.steps=2 ", '.push_to_hub("'):
    assert needed in card, needed
  assert "dataset/ (" in open(os.path.join(workdir, "summary.md"), encoding="utf-8").read()


def test_a_rerun_skips_finished_stages_and_a_changed_stage_reruns_alone(toy_run):
  config, workdir, models, first = toy_run
  card = lambda: open(os.path.join(workdir, "dataset", "README.md"), encoding="utf-8").read()
  before = card()
  again = pipeline.run(config, workdir, **models)
  assert [m["finished"] for m in again["stages"]] == [m["finished"] for m in first["stages"]]
  assert card() == before  # Rebuilt from the same manifests: the same card.
  changed = _toy_config(config.data.data_dir)
  changed.mauve.seed = 1
  third = pipeline.run(changed, workdir, **models, command="python launch/pipeline.py --config=x")
  same = [a["finished"] == b["finished"] for a, b in zip(first["stages"], third["stages"])]
  assert same == [True, True, True, True, False]
  assert f"`{third['stages'][-1]['key']}`" in card() and "python launch/pipeline.py --config=x\n" in card()


def test_an_unknown_method_and_a_workdir_that_is_a_file_are_clear_errors(data_dir, tmp_path):
  config = _toy_config(data_dir)
  config.pipeline.method = "magic"
  with pytest.raises(UserError, match="pipeline.method='magic'; expected one of softsrv, pt"):
    pipeline.run(config, str(tmp_path / "w"))
  (tmp_path / "file").write_text("x")
  with pytest.raises(UserError, match="is a file"):
    pipeline.run(_toy_config(data_dir), str(tmp_path / "file"))


def test_without_answers_the_dataset_is_the_kept_questions_and_an_empty_set_writes_no_folder(data_dir, tmp_path):
  config = _toy_config(data_dir)
  config.pipeline.answer, config.pipeline.mauve = False, False
  wd = tmp_path / "w"
  (wd / "postprocess").mkdir(parents=True)
  kept = [dict(text=f"Write a function {i}.", item=i, method="softsrv-mc") for i in range(3)]
  (wd / "postprocess" / "kept.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
  post = [dict(stage="dedup", kept=4, dropped={"exact_duplicate": 1}),
          dict(stage="decontaminate", kept=4, dropped={"test_13gram_overlap": 0}),
          dict(stage="subsample", kept=3, dropped={"not_selected": 1})]
  summary = dict(label="SS_MC", mauve=None, stages=[dict(name="generate", key="k1", counts={"in": 6, "out": 5}),
                                                    dict(name="postprocess", key="k2", stages=post)])
  info = pipeline.publish_dataset(config, str(wd), summary)
  assert info["records"] == 3 and info["fields"] == ["text", "item", "method"]
  card = (wd / "dataset" / "README.md").read_text()
  for needed in ("| generated | 5 | not generated: 1 |", "| deduplicated | 4 | exact_duplicate: 1 |",
                 "| subsampled | 3 | not_selected: 1 |", "| config hash | `k2` |", "the answer stage was off"):
    assert needed in card, needed
  assert "answer model" not in card and "MAUVE" not in card and "answered" not in card
  assert publish.read_card_header(str(wd / "dataset"))["license"] == ["other", "cc-by-4.0"]
  config.data.file = str(tmp_path / "my_questions.jsonl")  # A user's own data: its license is theirs to state.
  pipeline.publish_dataset(config, str(wd), summary)
  assert publish.read_card_header(str(wd / "dataset"))["license"] == ["other", "unknown"]
  assert "state it in this card's `license` field" in (wd / "dataset" / "README.md").read_text()
  (wd / "postprocess" / "kept.jsonl").write_text("")
  assert pipeline.publish_dataset(config, str(wd), summary) is None and not (wd / "dataset").exists()


@pytest.mark.parametrize("task,presets", [("mbpp", None), ("gsm8k", "paper,mp2"), ("boolq", "sweep,np")])
def test_the_cards_rebuilt_command_parses_back_to_the_same_config(data_dir, task, presets):
  from tests.datasynth.data.test_publish import parse_command
  config = _toy_config(data_dir) if presets is None else get_config(task, presets)
  config.pipeline.method = "pt_sr"
  parsed, workdir = parse_command(pipeline.launch_command(config, "/tmp/a work dir"))
  assert parsed.to_dict() == config.to_dict() and workdir == "/tmp/a work dir"
