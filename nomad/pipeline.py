"""The NOMAD pipeline (Chen et al., Sec. 3-5): one config, one work dir, five stages, and the Table 1 driver.

  teacher       M_synthesis = a base LM fine-tuned on the seeded chat subset, prompt masking off (or on: the
                baseline teacher) (`nomad.teacher.train_teacher`, through `datasynth.train.sft`).
  generate      x_j ~ M_synthesis(. | "User: "), j = 0..N-1, temperature 1, top-p 0.9 (`nomad.generate`), chunked and
                resumable (`datasynth.jobs.chunked`).
  parse_filter  first rounds (`nomad.parse`), then repetition and coding filters (`nomad.filters`); writes
                parsed.jsonl (valid first rounds) and filtered.jsonl, with a count of each rejection / removal reason.
  normsim       NormSim(x) = max_{z in X_original} f(z)^T f(x) of prompts and responses (X_original: the whole
                source, the paper's X_TULU, or the teacher's subset: normsim.reference), for the parsed and filtered
                sets (`datasynth.evals.normsim`, Figure 2 as normsim.png; medians and quartiles in normsim.json).
  student       (pipeline.student) a prompt-masked student on X_train + the downstream set vs X_train alone at equal
                epochs and equal compute, scored on GSM8K and TriviaQA with standard errors (`nomad.student`).

`datasynth.jobs.stages` runs them: a rerun skips finished stages, resumes an interrupted one, and reruns a changed stage
and every later one. `summary.md` / `summary.json` in the work dir hold the per-stage table (counts, reasons, time),
the NormSim medians and the student table. `run_table1` runs the pipeline for the unmasked and the masked teacher
(sub-folders of one work dir), then one student per (teacher, filtered or not) and the two X_train baselines once
(`student/`), and writes table1.md / table1.json and one NormSim figure with a line per (teacher, set): the paper's
Table 1 / Figure 2 at the config's scale.

Every run ends by writing `<workdir>/dataset/`, the downstream synthetic set (the kept first rounds: filtered.jsonl,
or parsed.jsonl when `pipeline.filtered` is off) as a Hugging Face dataset folder (`datasynth.data.publish`): its
records {uid, task, prompt, response, meta} and a README.md card with the licenses (teacher, seed data), the teacher
(masked or unmasked), the counts generated -> parsed -> filtered with each reason, NormSim, the config hash and the
command. It is rebuilt from the manifests at the end of every run, so it always matches summary.json.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
from typing import Any

import jax

from datasynth.data import publish, sources
from datasynth.data.records import Record, load_records_jsonl
from datasynth.evals import normsim
from datasynth.evals.student_eval import is_lm_eval
from datasynth.jobs import chunked, stages
from datasynth.models import encoder as encoder_lib
from datasynth.models.cache import ModelCache, Role
from datasynth.models.encoder import load_sentence_encoder
from datasynth.models.loaders import check_name
from datasynth.train import loop, sft
from datasynth.utils import io, lock
from datasynth.utils.errors import UserError
from nomad import (conversations as conv_lib, config as config_lib, generate as generate_lib, student as student_lib,
                   teacher as teacher_lib)

SETS = ("unfiltered", "filtered")  # parse_filter outputs: parsed.jsonl, filtered.jsonl.
FILES = dict(unfiltered="parsed.jsonl", filtered="filtered.jsonl")
NORMSIM_REFERENCES = ("pool", "subset")  # normsim.reference: X_original of NormSim.


def model_roles(config) -> dict[str, Role]:
  """NOMAD's models by role: the teacher's base LM, the sentence encoder f of NormSim, the student's base LM."""
  return dict(teacher=Role(config.model), student=Role(config.student.model),
              encoder=Role(config.normsim.encoder or None, load_sentence_encoder))


def trained_role(teacher_dir: str) -> str:
  """The cache role of the teacher trained in `teacher_dir` by this process: (LoadedModel, provenance)."""
  return f"trained teacher {teacher_dir}"


def label(config) -> str:
  return "masked" if config.sft.prompt_masking else "unmasked"


def teacher_identity(config) -> dict[str, Any]:
  """What the trained teacher depends on (restart-safe SFT fields left out)."""
  s = loop.without_fields(config.sft.to_dict(), sft.SFTConfig.RUN_CONTROL)
  data = {k: v for k, v in config.data.to_dict().items() if k not in ("file", "pool_size") or v}  # data.file and
  # data.pool_size only when set: a run that reads no TULU file and uses the whole source keeps its key.
  return dict(model=config.model, data=data, format=config.format.to_dict(),
              teacher=config.teacher.to_dict(), sft=s)


def build_stages(config, workdir: str, models: ModelCache) -> list[stages.Stage]:
  workdir = os.path.abspath(workdir)
  teacher_dir, gen_dir, pf_dir = (os.path.join(workdir, n) for n in ("teacher", "generate", "parse_filter"))
  generate_lib.GenerateConfig.from_config(config)  # Bad generation settings stop before the teacher trains.
  generate_lib.filter_configs(config)
  if not models.loaded("encoder"):  # A missing sentence encoder stops here, not after the teacher and generation ran.
    folder = config.normsim.encoder or encoder_lib.default_encoder_path()
    if not os.path.isdir(folder):
      raise UserError(f"normsim.encoder={folder!r} is not a folder; pass a Hugging Face BERT / MPNet folder "
                      "(e.g. all-mpnet-base-v2) or leave it empty for the embedded all-MiniLM-L6-v2.")
  if config.pipeline.student:
    check_student(config)
  check_inputs(config, models)
  return [
      stages.Stage("teacher", teacher_identity(config), lambda d: _teacher(config, d, models)),
      stages.Stage("generate", dict(generate=config.generate.to_dict()),
                   lambda d: _generate(config, d, teacher_dir, models)),
      stages.Stage("parse_filter", dict(filters=config.filters.to_dict(), filtered=config.pipeline.filtered),
                   lambda d: _parse_filter(config, d, gen_dir)),
      stages.Stage("normsim", dict(normsim=config.normsim.to_dict(), label=label(config)),
                   lambda d: _normsim(config, d, pf_dir, models)),
  ] + ([stages.Stage("student", dict(student=config.student.to_dict(), filtered=config.pipeline.filtered),
                     lambda d: _student(config, d, pf_dir, models))] if config.pipeline.student else [])


def check_student(config) -> None:
  """Bad student settings, and lm-eval tasks that do not exist, stop before the teacher trains."""
  student_lib.validate(config)
  student_lib.check_lm_eval_tasks(config)


def check_inputs(config, models: ModelCache) -> None:
  """Every stage's model (a preset or an existing path, unless passed in loaded) and data (the teacher's chat source,
  the student's test folds), before the first stage runs: cheap existence checks, nothing loads."""
  if not models.loaded("teacher"):
    check_name(config.model, "model")
  if config.pipeline.student and not models.loaded("student"):
    check_name(config.student.model, "student.model")
  d = config.data
  if config.normsim.reference not in NORMSIM_REFERENCES:
    raise UserError(f"normsim.reference={config.normsim.reference!r}: expected one of {', '.join(NORMSIM_REFERENCES)}.")
  if d.source == conv_lib.TULU:
    conv_lib.tulu_path(d.file, d.data_dir or None)
  elif d.source in conv_lib.BUILTIN_SOURCES:
    sources.locate(d.source, "train", d.data_dir or None)
  elif not os.path.isfile(d.source):
    raise UserError(f"data.source={d.source!r} is neither one of {conv_lib.BUILTIN_SOURCES + (conv_lib.TULU,)} nor an "
                    "existing JSON Lines file; fix --config.data.source.")
  if config.pipeline.student:  # The harnesses' test folds; an lm-eval task's data is lm-eval's (check_student).
    for task in student_lib.tasks(config):
      if not is_lm_eval(task):
        sources.locate(task, "test", d.data_dir or None)


# ---------------------------------------------------------------------------------------------------------- stages
def _teacher(config, stage_dir: str, models: ModelCache) -> dict[str, Any]:
  result = teacher_lib.train_teacher(config, stage_dir, model=models["teacher"],
                                     show_progress=bool(config.show_progress))
  models.put(trained_role(stage_dir), (dataclasses.replace(models["teacher"], params=jax.device_get(result.params)),
                                       teacher_lib.teacher_provenance(stage_dir)))
  summary = _stage_output(os.path.join(stage_dir, "teacher_summary.json"))
  return dict(counts={"in": summary["conversations"], "out": 1}, final=dict(
      step=summary["steps"], loss=summary["final_loss"]), outputs=[os.path.join(stage_dir, "loss.png")])


def _generate(config, stage_dir: str, teacher_dir: str, models: ModelCache) -> dict[str, Any]:
  role = trained_role(teacher_dir)
  trained, provenance = (models[role] if models.loaded(role) else
                         teacher_lib.load_teacher(config, teacher_dir, model=models["teacher"]))
  stats = generate_lib.generate(config, trained, stage_dir, provenance)
  rows = list(chunked.read_rows(stage_dir))
  finished = sum(bool(r["finished"]) for r in rows)
  return dict(counts={"in": config.generate.num_samples, "out": len(rows)}, ended_by_eos_or_stop=finished,
              tokens=sum(int(r["num_tokens"]) for r in rows), rate=stats.line(), outputs=[stage_dir])


def _parse_filter(config, stage_dir: str, gen_dir: str) -> dict[str, Any]:
  parsed, kept, report = generate_lib.parse_and_filter(chunked.read_rows(gen_dir), config)
  for name, records in (("unfiltered", parsed), ("filtered", kept)):
    io.write_jsonl(os.path.join(stage_dir, FILES[name]), (r.to_json() for r in records))
  io.write_json(os.path.join(stage_dir, "report.json"), report)
  dropped = {k: v for k, v in report["parse"].items() if k != "kept" and v}
  for name in ("repetition", "coding"):
    dropped.update({f"{name}/{k}": v for k, v in report["filters"].get(name, {}).items() if k != "total" and v})
  out = len(kept) if config.pipeline.filtered else len(parsed)
  return dict(counts={"in": report["generated"], "out": out, "dropped": dropped}, parsed=len(parsed),
              filtered=len(kept), valid_rate=report["valid_rate"], report=report,
              outputs=[os.path.join(stage_dir, FILES["filtered" if config.pipeline.filtered else "unfiltered"])])


def first_rounds(conversations) -> list[Record]:
  return [Record(c.uid, "chat", c.turns[0][0], c.turns[0][1]) for c in conversations]


def original_records(config) -> list[Record]:
  """The teacher's subset as first rounds."""
  return first_rounds(conv_lib.load_chat_data(teacher_lib.data_config(config)))


def pool_records(config) -> list[Record]:
  """The whole source the subset is drawn from as first rounds (the paper's X_TULU)."""
  return first_rounds(conv_lib.load_pool(teacher_lib.data_config(config)))


def source_records(config, which: str) -> list[Record]:
  """First rounds of the whole pool (`which` = "pool") or of the teacher's subset ("subset"): NormSim's X_original
  (normsim.reference; the paper's is the pool) and the student's X_train (student.x_train: subset for Table 1, pool
  for Table 2)."""
  return pool_records(config) if which == "pool" else original_records(config)


def _read_records(path: str) -> list[Record]:
  if not os.path.exists(path) or os.path.getsize(path) == 0:
    return []
  return load_records_jsonl(path)


def normsim_values(config, pf_dir: str, models: ModelCache) -> dict[str, dict[str, list[float]]]:
  """{"<label> <set>": {"prompt": [...], "response": [...]}} for each non-empty set."""
  original = source_records(config, config.normsim.reference)
  encode = lambda texts: models["encoder"].encode(texts, batch_size=int(config.normsim.batch_size))
  runs = {}
  for name in SETS:
    records = _read_records(os.path.join(pf_dir, FILES[name]))
    if records:
      values = normsim.prompt_response_normsim(encode, records, original)
      runs[f"{label(config)} {name}"] = {f: [float(x) for x in v] for f, v in values.items()}
  return runs


def _normsim(config, stage_dir: str, pf_dir: str, models: ModelCache) -> dict[str, Any]:
  runs = normsim_values(config, pf_dir, models)
  io.write_json(os.path.join(stage_dir, "normsim_values.json"), runs)
  n = sum(len(v["prompt"]) for v in runs.values())
  if not runs:  # Nothing survived parsing: no curve to draw; the summary says so.
    return dict(counts={"in": 0, "out": 0}, normsim={}, outputs=[])
  summaries = normsim.write_report(runs, stage_dir, title=f"NormSim ({label(config)} teacher)")
  return dict(counts={"in": n, "out": n}, normsim=summaries, outputs=[os.path.join(stage_dir, "normsim.png")])


def downstream_set(config) -> str:
  return "filtered" if config.pipeline.filtered else "unfiltered"


def _student(config, stage_dir: str, pf_dir: str, models: ModelCache) -> dict[str, Any]:
  name = downstream_set(config)
  synthetic = {f"{label(config)} {name}": _read_records(os.path.join(pf_dir, FILES[name]))}
  x_train = source_records(config, config.student.x_train)
  table = student_lib.run_students(config, stage_dir, x_train, synthetic, model=models["student"])
  return dict(counts={"in": sum(len(v) for v in synthetic.values()), "out": len(table["runs"])},
              student=student_lib.summary(table), outputs=[os.path.join(stage_dir, "results.md")])


def _stage_output(path: str) -> dict[str, Any]:
  """A JSON file an earlier stage wrote: `io.read_json`, except that absent or not JSON raises FileNotFoundError
  rather than giving None, on purpose: it is a bug of the stage order (never a user's input) and must not pass as
  empty."""
  value = io.read_json(path)
  if value is None:
    raise FileNotFoundError(f"{path}: missing or not JSON; the stage that writes it has not finished.")
  return value


# ------------------------------------------------------------------------------------------------------------ main
def run(config, workdir: str, *, models: ModelCache | None = None, command: str | None = None,
        **given) -> dict[str, Any]:
  """Run (or resume) the pipeline under `workdir`; returns the summary written to summary.json.

  command: the command line that started the run (the launcher's argv), for the dataset card; None rebuilds one from
  the config (`launch/nomad.py` with the fields that differ from the default config as flags).
  """
  workdir = os.path.abspath(workdir)
  if os.path.isfile(workdir):
    raise UserError(f"--workdir {workdir} is a file; pass a folder.")
  models = models or ModelCache(model_roles(config), **given)
  with lock.hold(workdir):  # The stages, the summary and the dataset folder: one writer (run_stages re-enters it).
    return _run(config, workdir, models, command)


def _run(config, workdir: str, models: ModelCache, command: str | None) -> dict[str, Any]:
  manifests = stages.run_stages(workdir, build_stages(config, workdir, models))
  by_name = {m["name"]: m for m in manifests}
  summary = dict(method="nomad", label=label(config), filtered=bool(config.pipeline.filtered), stages=manifests,
                 valid_rate=by_name["parse_filter"]["valid_rate"], normsim=by_name["normsim"]["normsim"],
                 student=by_name["student"]["student"] if "student" in by_name else None)
  summary["dataset"] = publish_dataset(config, workdir, summary, command)
  io.write_json(os.path.join(workdir, "summary.json"), summary)
  io.write_text(os.path.join(workdir, "summary.md"), summary_markdown(summary))
  return summary


def summary_markdown(summary: dict[str, Any]) -> str:
  lines = [f"# NOMAD ({summary['label']} teacher)", "", stages.summary_table(summary["stages"]), "",
           f"Valid first rounds: {summary['valid_rate']:.1%} of the generations.", ""]
  if summary["normsim"]:
    lines += ["## NormSim (Figure 2)", "", normsim_table(summary["normsim"]), "",
              "![NormSim](normsim/normsim.png)", ""]
  if summary.get("student"):
    lines += ["## Student (X_train + X_synthesis vs X_train)", "", student_lib.score_table(summary["student"]), "",
              "Details and plots: student/results.md.", ""]
  if summary.get("dataset"):
    lines += [f"Dataset folder (Hugging Face layout, card in its README.md): dataset/ "
              f"({summary['dataset']['records']} records).", ""]
  return "\n".join(lines)


def normsim_table(summaries: dict[str, dict[str, dict[str, float]]]) -> str:
  lines = ["| run | n | prompt median (q1-q3) | response median (q1-q3) |", "|---|---:|---:|---:|"]
  for run, s in summaries.items():
    p, r = s["prompt"], s["response"]
    lines.append(f"| {run} | {p['n']} | {p['median']:.3f} ({p['q1']:.3f}-{p['q3']:.3f}) | "
                 f"{r['median']:.3f} ({r['q1']:.3f}-{r['q3']:.3f}) |")
  return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------- dataset
def publish_dataset(config, workdir: str, summary: dict[str, Any], command: str | None = None) -> dict | None:
  """Write <workdir>/dataset/ (the downstream set + card); returns {folder, records, fields}, or None when empty."""
  summary = json.loads(json.dumps(summary, sort_keys=True))  # Fresh and skipped stages' dicts in one key order.
  name = downstream_set(config)
  records = os.path.join(workdir, "parse_filter", FILES[name])
  folder = os.path.join(workdir, "dataset")
  if not os.path.exists(records) or os.path.getsize(records) == 0:
    print(f"[dataset] {records} holds no records: no dataset folder")
    shutil.rmtree(folder, ignore_errors=True)  # An older run's folder must not pass for this run's.
    return None
  by_name = {m["name"]: m for m in summary["stages"]}
  source = config.data.source
  pool = f" (its first {config.data.pool_size})" if config.data.pool_size else ""
  metrics = {}
  if summary["normsim"]:
    reference = f"the whole source{pool}" if config.normsim.reference == "pool" else "the teacher's subset"
    metrics[f"NormSim against {reference} (NOMAD Figure 2; higher = closer to the seed data)"] = (
        normsim_table(summary["normsim"]))
  if summary.get("student"):
    metrics["Student (X_train + this set vs X_train)"] = student_lib.score_table(summary["student"])
  card = publish.Card(
      title=f"NOMAD synthetic conversations ({label(config)} teacher, {name})", description=_description(config, name),
      method="NOMAD", variant=f"{label(config)} teacher, {name} set", models={"teacher": config.model},
      source=source, config_hash=summary["stages"][-1]["key"],
      counts=_counts(by_name, name), command=command or launch_command(config, workdir), metrics=metrics,
      tags=("nomad", "conversational"),
      details={"teacher training": f"fine-tuned here on {config.data.subset_size or 'all'} conversations of "
                                   f"`{source}`{pool} (seed {config.data.seed}), prompt masking "
                                   f"{'on' if config.sft.prompt_masking else 'off'}",
               "valid first rounds": f"{summary['valid_rate']:.1%} of the generations"})
  return publish.write_dataset(folder, records, card)


def _description(config, name: str) -> str:
  kept = "complete first rounds kept" + (", repeated-word and code samples removed" if name == "filtered" else "")
  return ("Synthetic first-round conversations {prompt, response} written by a NOMAD teacher (the base LM fine-tuned "
          f"on a small subset of `{config.data.source}`), sampled from the bare prefix \"User: \" (temperature "
          f"{config.generate.temperature}, top-p {config.generate.top_p}); {kept}.")


def _counts(by_name: dict[str, Any], name: str) -> list[publish.Count]:
  gen, pf = by_name["generate"], by_name["parse_filter"]
  report = pf["report"]
  counts = [publish.Count("generated", gen["counts"]["out"]),
            publish.Count("parsed (complete first rounds)", pf["parsed"],
                          {k: v for k, v in report["parse"].items() if k != "kept" and v})]
  if name == "filtered":
    dropped = {f"{f}/{k}": v for f in ("repetition", "coding") for k, v in report["filters"].get(f, {}).items()
               if k != "total" and v}
    counts.append(publish.Count("filtered (repetition, code)", pf["filtered"], dropped))
  return counts


def launch_command(config, workdir: str) -> str:
  """launch/nomad.py with the config fields that differ from the default config as flags."""
  flags = publish.config_overrides(config, config_lib.get_config())
  return publish.command_line(["launch/nomad.py", "--config=configs/nomad.py", f"--workdir={workdir}", *flags])


# ---------------------------------------------------------------------------------------------------------- Table 1
def run_table1(config, workdir: str, **given) -> dict[str, Any]:
  """Unmasked vs masked teacher x filtered vs not: one pipeline per teacher, one table and one NormSim figure."""
  workdir = os.path.abspath(workdir)
  with lock.hold(workdir):  # The table's own files; each teacher's pipeline locks its sub-folder too.
    return _run_table1(config, workdir, ModelCache(model_roles(config), **given))


def _run_table1(config, workdir: str, base: ModelCache) -> dict[str, Any]:
  if config.pipeline.student:  # The students train after both teachers: their data and settings are checked first.
    check_inputs(config, base)
    check_student(config)
  runs, rows = {}, []
  for masked in (False, True):
    c = copy.deepcopy(config)
    c.sft.prompt_masking = masked
    c.pipeline.student = False  # The students of every (teacher, set) train below, with one pair of baselines.
    summary = run(c, os.path.join(workdir, label(c)), models=base)  # One base LM and encoder for both teachers.
    pf_dir = os.path.join(workdir, label(c), "parse_filter")
    runs.update(_stage_output(os.path.join(workdir, label(c), "normsim", "normsim_values.json")))
    by_name = {m["name"]: m for m in summary["stages"]}
    report = _stage_output(os.path.join(pf_dir, "report.json"))
    for name in SETS:
      s = (summary["normsim"] or {}).get(f"{label(c)} {name}")
      rows.append(dict(teacher=label(c), set=name, n=by_name["parse_filter"]["parsed" if name == "unfiltered"
                                                                            else "filtered"],
                       valid_rate=summary["valid_rate"], prompt=s and s["prompt"], response=s and s["response"],
                       parse=report["parse"], filters=report["filters"],
                       seconds={m["name"]: m["seconds"] for m in summary["stages"]}))
  figure = None
  if runs:
    normsim.write_report(runs, workdir, title="NormSim: unmasked vs masked teacher")
    figure = os.path.join(workdir, "normsim.png")
  student = None
  if config.pipeline.student:  # Table 1's downstream columns: a student per (teacher, set) and the two baselines.
    synthetic = {f"{teacher} {name}": _read_records(os.path.join(workdir, teacher, "parse_filter", FILES[name]))
                 for teacher in ("unmasked", "masked") for name in SETS}
    x_train = source_records(config, config.student.x_train)
    student = student_lib.summary(student_lib.run_students(config, os.path.join(workdir, "student"), x_train,
                                                           synthetic, model=base["student"]))
  table = dict(rows=rows, figure=figure, student=student)
  io.write_json(os.path.join(workdir, "table1.json"), table)
  io.write_text(os.path.join(workdir, "table1.md"), table1_markdown(table))
  return table


def table1_markdown(table: dict[str, Any]) -> str:
  lines = ["# NOMAD Table 1 (CPU scale): teacher masking x filtering", "",
           "| teacher | set | n | valid rate | prompt NormSim median | response NormSim median | removed by filters |"
           " stage times (s) |", "|---|---|---:|---:|---:|---:|---|---|"]
  for r in table["rows"]:
    med = lambda s: "-" if not s else f"{s['median']:.3f}"
    removed = ", ".join(f"{k}: {r['filters'][k]['total']}" for k in ("repetition", "coding") if k in r["filters"])
    removed = removed if r["set"] == "filtered" else "-"
    times = ", ".join(f"{k} {v:.0f}" for k, v in r["seconds"].items())
    lines.append(f"| {r['teacher']} | {r['set']} | {r['n']} | {r['valid_rate']:.1%} | {med(r['prompt'])} | "
                 f"{med(r['response'])} | {removed} | {times} |")
  reasons = {r["teacher"]: r["parse"] for r in table["rows"]}
  lines += ["", "Parse outcomes per teacher: " + "; ".join(
      f"{t}: " + ", ".join(f"{k} {v}" for k, v in p.items()) for t, p in reasons.items()), ""]
  if table["figure"]:
    lines += ["![NormSim](normsim.png)", ""]
  if table.get("student"):
    lines += ["## Students (X_train + each set vs X_train at equal epochs and equal compute)", "",
              student_lib.score_table(table["student"]), "", "Details and plots: student/results.md.", ""]
  return "\n".join(lines)
