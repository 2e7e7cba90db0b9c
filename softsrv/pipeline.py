"""The SoftSRV data pipeline (paper Section 3.3, Appendix A.2-A.4, A.7): one config, one work dir, five stages.

  train        theta = argmin reconstruction loss of x from P_theta(E(x)) (softsrv.train); skipped for baselines.
  generate     x'_j ~ H(P_theta(E(x_{j mod n}))), j = 0..N-1 (softsrv.generate), or a prompt-template baseline:
               PT, undiversified PT, PT_SR (softsrv.baselines); chunked and resumable.
  postprocess  empty questions dropped, exact (+ optional MinHash near-) dedup, 13-gram decontamination of the
               questions against the test fold (an extra: see below), diversity subsampling to N_s
               (datasynth.postprocess).
  answer       each kept question answered by an answer LLM (datasynth.jobs.answers): SFT records {prompt, response};
               then A.3's decontamination of those records: a record whose question or answer shares a 13-gram
               (punctuation and digits removed) with any test-fold question or reference answer is dropped; the
               rate is in the stage's manifest (`decontamination`) beside the question-level count of postprocess.
  mauve        MAUVE of the kept questions against the train and the test fold (Tables 4 and 5), curves as PNG.

`datasynth.jobs.stages` runs them: a rerun skips finished stages, resumes an interrupted one and reruns a stage (and
every later one) whose config changed. `summary.md` / `summary.json` in the work dir hold the per-stage table and MAUVE.
The method is `pipeline.method`: softsrv (the config's variant) | pt | pt_undiversified | pt_sr.

The run ends by writing `<workdir>/dataset/`, the set as a Hugging Face dataset folder (`datasynth.data.publish`):
data/train.jsonl (the answer stage's SFT records, or the kept questions when `pipeline.answer` is off) and a README.md
card with the licenses, the counts generated -> deduplicated -> decontaminated -> subsampled -> answered, MAUVE against
both folds, the config hash and the command that reproduces it. It is rebuilt from the manifests at the end of every
run (no stage reruns for it), so it always matches summary.json; `datasets.load_dataset("<workdir>/dataset")` loads it.
"""
from __future__ import annotations

import json
import os
import shutil
from typing import Any

import ml_collections

from datasynth.data import publish
from datasynth.data.files import read_jsonl
from datasynth.data.records import load_task
from datasynth.evals import mauve
from datasynth.jobs import answers, chunked, stages
from datasynth.models.cache import ModelCache, Role
from datasynth.postprocess import postprocess as postprocess_lib
from datasynth.postprocess.decontaminate import decontaminate_records
from datasynth.train.loop import without_fields
from datasynth.utils import io, lock
from datasynth.utils.errors import UserError
from softsrv import baselines, generate as generate_lib, results, templates, train as train_lib
from softsrv.config import get_config, validate_pipeline, without_mutable_fields

METHODS = ("softsrv", "pt", "pt_undiversified", "pt_sr")
TRAIN_SECTIONS = ("task", "seed", "data", "model", "context", "soft_prompt", "train")


def _section(config: ml_collections.ConfigDict, *names: str) -> dict[str, Any]:
  d = config.to_dict()
  return {n: d[n] for n in names if n in d}


def _train_identity(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """What the trained theta depends on: the training sections minus the restart-safe fields."""
  return without_mutable_fields(_section(config, *TRAIN_SECTIONS))


def model_roles(config: ml_collections.ConfigDict) -> dict[str, Role]:
  """SoftSRV's models by role: the frozen decoder H, the context embedder E, the answer LLM, MAUVE's featuriser."""
  return dict(generator=Role(config.model.name), context=Role(config.context.model),
              answer=Role(config.answer.model), mauve=Role(config.mauve.model))


def build_stages(config: ml_collections.ConfigDict, workdir: str, models: ModelCache) -> list[stages.Stage]:
  method = config.pipeline.method
  if method not in METHODS:
    raise UserError(f"pipeline.method={method!r}; expected one of {', '.join(METHODS)}.")
  workdir = os.path.abspath(workdir)
  train_dir = os.path.join(workdir, "train")
  out: list[stages.Stage] = []
  if method == "softsrv":
    out.append(stages.Stage("train", _train_identity(config), lambda d: _train(config, d, models)))
    gen_config = dict(method=method, generate=config.generate.to_dict())
  else:
    gen_config = dict(method=method, task=config.task, seed=config.seed, data=config.data.to_dict(),
                      model=config.model.name, baseline=without_fields(config.baseline.to_dict(), ["cache_dir"]),
                      num_samples=config.generate.num_samples, chunk=config.generate.chunk)
  out.append(stages.Stage("generate", gen_config, lambda d: _generate(config, d, train_dir, models)))
  gen_dir = os.path.join(workdir, "generate")
  out.append(stages.Stage("postprocess", dict(postprocess=config.postprocess.to_dict(), task=config.task),
                          lambda d: postprocess_stage(config, d, gen_dir)))
  kept = os.path.join(workdir, "postprocess", "kept.jsonl")
  if config.pipeline.answer:
    out.append(stages.Stage("answer", dict(answer=config.answer.to_dict()),
                            lambda d: _answer(config, d, kept, models)))
  if config.pipeline.mauve:
    mauve_key = without_fields(config.mauve.to_dict(), ["cache_dir"])  # Where features are memoised is not a result.
    out.append(stages.Stage("mauve", dict(mauve=mauve_key), lambda d: _mauve(config, d, kept, models)))
  return out


# ---------------------------------------------------------------------------------------------------------- stages
def _train(config, stage_dir: str, models: ModelCache) -> dict[str, Any]:
  result = train_lib.train(config, stage_dir, model=models["generator"], context_model=models["context"])
  losses = [r for r in result.metrics if "heldout_loss" in r]
  final = dict(step=int(result.state.step), heldout_loss=losses[-1]["heldout_loss"] if losses else None)
  return dict(counts={"in": len(result.run.train["ids"]), "out": 1}, final=final,
              outputs=[os.path.join(stage_dir, "loss.png")])


def _generate(config, stage_dir: str, train_dir: str, models: ModelCache) -> dict[str, Any]:
  method = config.pipeline.method
  if method == "softsrv":
    stats = generate_lib.generate(config, train_dir, stage_dir, model=models["generator"],
                                  context_model=models["context"])
  else:
    stats = baselines.generate_baseline(config, stage_dir, model=models["generator"])
  rows = sum(1 for _ in chunked.read_rows(stage_dir))
  return dict(counts={"in": config.generate.num_samples, "out": rows}, rate=stats.line(), outputs=[stage_dir])


def postprocess_stage(config, stage_dir: str, gen_dir: str) -> dict[str, Any]:
  test = [r.prompt for r in load_task(config.task, "test", config.data.data_dir or None)]
  report = postprocess_lib.postprocess(chunked.read_rows(gen_dir), text_key="text", test_texts=test, out_dir=stage_dir,
                                       progress=config.show_progress,
                                       config=postprocess_lib.PostprocessConfig.from_dict(config.postprocess.to_dict()))
  return dict(counts=report["counts"], stages=report["stages"], outputs=[os.path.join(stage_dir, "kept.jsonl")])


def _answer(config, stage_dir: str, kept: str, models: ModelCache) -> dict[str, Any]:
  questions = read_jsonl(kept)
  empty = sum(not str(q.get("text", "")).strip() for q in questions)  # Nothing to answer (post-processing drops
  questions = [q for q in questions if str(q.get("text", "")).strip()]  # them too; a kept.jsonl of any origin).
  if not questions:
    raise UserError(f"All {empty} questions in {kept} are empty; nothing to answer (check the generation stage).")
  template = templates.answer_template(config.pipeline.method, config.task)  # SoftSRV: None (as is); PT: Figure 9.
  report = answers.answer_questions(questions, models["answer"], stage_dir, config=config.answer.to_dict(),
                                    task=config.task, template=template, progress=config.show_progress)
  counts = report["counts"]
  counts["in"] += empty
  counts["dropped"] = {"empty_question": empty, **counts["dropped"]}
  out = dict(counts=counts, outputs=[report["records"]])
  if config.answer.decontaminate_ngram:
    out["decontamination"] = _decontaminate_records(config, report["records"])
    counts["out"] = out["decontamination"]["kept"]
    counts["dropped"][f"test_{config.answer.decontaminate_ngram}gram_overlap"] = out["decontamination"]["dropped"]
  return out


def _decontaminate_records(config, records_path: str) -> dict[str, Any]:
  """A.3 (Section 3.3 step 3): drop a record sharing an n-gram with a test-fold question or reference answer.

  Rewrites `records_path` with the clean records (the answered chunks stay as they were) and returns the report,
  with the question-level pass of the postprocess stage (this project's extra) beside it for comparison.
  """
  test = load_task(config.task, "test", config.data.data_dir or None)
  texts = [t for r in test for t in (r.prompt, r.response) if t]
  kept, report = decontaminate_records(read_jsonl(records_path), texts, int(config.answer.decontaminate_ngram))
  io.write_jsonl(records_path, kept)
  return report


def _mauve(config, stage_dir: str, kept: str, models: ModelCache) -> dict[str, Any]:
  mc = config.mauve
  questions = [r["text"] for r in read_jsonl(kept)]
  folds = {f: [r.prompt for r in load_task(config.task, f, config.data.data_dir or None)] for f in ("train", "test")}
  png = os.path.join(stage_dir, "mauve.png")
  cache_dir = mc.cache_dir or os.path.join(stage_dir, "features")  # train_vs_test reuses both folds' features.
  scores = mauve.mauve_against(questions, folds, models["mauve"], num_examples=mc.num_examples, seed=mc.seed,
                               batch_size=mc.batch_size, max_tokens=mc.max_tokens,
                               num_clusters=mc.num_clusters or None, png=png,
                               title=f"MAUVE: {method_label(config)} questions vs {config.task} folds",
                               progress=config.show_progress, cache_dir=cache_dir)
  if mc.train_vs_test:  # The reference row of Table 4: how close the train fold itself is to the test fold.
    scores["train_vs_test"] = mauve.mauve_against(folds["train"], {"test": folds["test"]}, models["mauve"],
                                                  num_examples=mc.num_examples, seed=mc.seed,
                                                  batch_size=mc.batch_size, max_tokens=mc.max_tokens,
                                                  num_clusters=mc.num_clusters or None,
                                                  progress=config.show_progress, cache_dir=cache_dir)["test"]
  return dict(counts={"in": len(questions), "out": len(questions)}, mauve=scores, outputs=[png])


def method_label(config) -> str:
  m = config.pipeline.method
  return f"SS_{config.soft_prompt.variant.upper()}" if m == "softsrv" else m.upper()


# ------------------------------------------------------------------------------------------------------------ main
def run(config: ml_collections.ConfigDict, workdir: str, *, command: str | None = None, **models) -> dict[str, Any]:
  """Run (or resume) the whole pipeline under `workdir`; returns the summary written to summary.json.

  command: the command line that started the run (the launcher's argv), for the dataset card; None rebuilds one from
  the config (`launch/pipeline.py` with the fields that differ from the task's default config as flags).
  """
  workdir = os.path.abspath(workdir)
  if os.path.isfile(workdir):
    raise UserError(f"--workdir {workdir} is a file; pass a folder.")
  validate_pipeline(config, workdir, given=tuple(models))  # Every stage's input, before the first stage runs.
  with lock.hold(workdir):  # The stages, the summary and the dataset folder: one writer (run_stages re-enters it).
    return _run(config, workdir, command, models)


def _run(config, workdir: str, command: str | None, models: dict[str, Any]) -> dict[str, Any]:
  manifests = stages.run_stages(workdir, build_stages(config, workdir, ModelCache(model_roles(config), **models)))
  summary = dict(method=config.pipeline.method, label=method_label(config), task=config.task,
                 stages=manifests, mauve=next((m["mauve"] for m in manifests if m["name"] == "mauve"), None))
  summary["dataset"] = publish_dataset(config, workdir, summary, command)
  io.write_json(os.path.join(workdir, results.SUMMARY), summary)
  io.write_text(os.path.join(workdir, "summary.md"), summary_markdown(summary))
  return summary


def summary_markdown(summary: dict[str, Any]) -> str:
  lines = [f"# {summary['label']} on {summary['task']}", "", stages.summary_table(summary["stages"]), ""]
  if summary["mauve"]:
    lines += ["## MAUVE (SoftSRV Tables 4, 5)", "", mauve_table(summary), "",
              "![MAUVE divergence curves](mauve/mauve.png)", ""]
  if summary.get("dataset"):
    d = summary["dataset"]
    lines += [f"Dataset folder (Hugging Face layout, card in its README.md): dataset/ ({d['records']} records).", ""]
  return "\n".join(lines)


def mauve_table(summary: dict[str, Any]) -> str:
  """One row per MAUVE score: vs train, vs test, then train vs test (the same order fresh or read back from JSON)."""
  lines = ["| q | p | MAUVE | clusters | n_p | n_q |", "|---|---|---:|---:|---:|---:|"]
  for name in sorted(summary["mauve"], key=lambda n: (n == "train_vs_test", n != "train", n)):
    m = summary["mauve"][name]
    q, p = ("train", "test") if name == "train_vs_test" else (summary["label"], name)
    lines.append(f"| {q} | {p} | {m['mauve']:.3f} | {m['num_clusters']} | {m['num_p']} | {m['num_q']} |")
  return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------- dataset
POSTPROCESS_COUNTS = dict(empty="non-empty", dedup="deduplicated", near_dup="near-deduplicated",
                          decontaminate="decontaminated",
                          subsample="subsampled")


def publish_dataset(config, workdir: str, summary: dict[str, Any], command: str | None = None) -> dict | None:
  """Write <workdir>/dataset/ (records + card); returns {folder, records, fields}, or None when no record was kept."""
  summary = json.loads(json.dumps(summary, sort_keys=True))  # Fresh and skipped stages' dicts in one key order.
  by_name = {m["name"]: m for m in summary["stages"]}
  answered = "answer" in by_name
  records = os.path.join(workdir, *(("answer", "records.jsonl") if answered else ("postprocess", "kept.jsonl")))
  folder = os.path.join(workdir, "dataset")
  if not os.path.exists(records) or os.path.getsize(records) == 0:
    print(f"[dataset] {records} holds no records: no dataset folder")
    shutil.rmtree(folder, ignore_errors=True)  # An older run's folder must not pass for this run's.
    return None
  softsrv = config.pipeline.method == "softsrv"
  metrics = {}
  if summary["mauve"]:
    metrics["MAUVE against the train and test folds (SoftSRV Tables 4, 5)"] = mauve_table(summary)
  card = publish.Card(
      title=f"{summary['label']} synthetic {config.task.upper()} data", description=_description(config, answered),
      method="SoftSRV" if softsrv else "prompt-template baseline (SoftSRV Appendix C)", variant=summary["label"],
      models=dict(generator=config.model.name, **({"answer": config.answer.model} if answered else {})),
      source=config.data.file or config.task, task=config.task, config_hash=summary["stages"][-1]["key"],
      counts=_counts(by_name),
      command=command or launch_command(config, workdir), metrics=metrics,
      tags=("softsrv",) if softsrv else ("softsrv", "prompt-templates"),
      details={"context model E": f"`{config.context.model}`"} if softsrv else {})
  return publish.write_dataset(folder, records, card)


def _description(config, answered: bool) -> str:
  what = "SFT records {prompt, response}: kept questions, each answered by the answer model" if answered else (
      "questions (the answer stage was off)")
  how = ("a frozen decoder fed the trained soft prompt P_theta(E(x)) of a training example x"
         if config.pipeline.method == "softsrv" else "the generator filling prompt templates with training examples")
  return (f"Synthetic {config.task.upper()}-style {what}. The questions were written by {how}, then deduplicated, "
          "decontaminated against the test fold (13-gram overlap) and diversity-subsampled (SoftSRV A.2-A.3).")


def _counts(by_name: dict[str, Any]) -> list[publish.Count]:
  gen = by_name["generate"]["counts"]
  missing = {"not generated": gen["in"] - gen["out"]} if gen["in"] > gen["out"] else {}
  counts = [publish.Count("generated", gen["out"], missing)]
  for s in by_name["postprocess"]["stages"]:
    counts.append(publish.Count(POSTPROCESS_COUNTS.get(s["stage"], s["stage"]), s["kept"], s["dropped"]))
  if "answer" in by_name:
    c = by_name["answer"]["counts"]
    counts.append(publish.Count("answered", c["out"], c.get("dropped") or {}))
  return counts


def launch_command(config, workdir: str) -> str:
  """launch/pipeline.py with the config fields that differ from the task's default config as flags."""
  flags = publish.config_overrides(config, get_config(config.task))
  return publish.command_line(["launch/pipeline.py", f"--config=configs/{config.task}.py", f"--workdir={workdir}",
                               *flags])
