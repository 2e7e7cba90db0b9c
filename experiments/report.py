r"""A work dir as one page a person can read at a glance: `report.html` (self-contained) and its twin `report.md`.

`build(workdir)` detects what the work dir holds (sweep.json: a sweep; else the first run kind of
`experiments.kinds` whose method says the work dir is its own) and gathers its sections; `write_report` renders them:

| kind     | detected by                                      | sections                                              |
|----------|--------------------------------------------------|-------------------------------------------------------|
| sweep    | sweep.json (launch/sweep.py)                     | runs table (overrides + final metrics), comparison    |
|          |                                                  | plot, the sweep file                                   |
| nomad    | summary.json or stages/ with method "nomad", or  | config, stage counts (kept / dropped by reason),      |
|          | a NormSim PNG                                    | final metrics (NormSim), figures, examples             |
| pipeline | summary.json or stages/ (launch/pipeline.py)     | config, stage counts, final metrics (MAUVE), figures, |
|          |                                                  | 10 generated examples beside 10 real ones              |
| train    | metrics.jsonl + run_config.json                  | config, final metrics, loss curve                      |
| evaluate | results.json                                     | config, final metric and MAUVE, metric vs steps       |

The HTML embeds every PNG as base64 and escapes every text it shows (configs, generated text: model output is
untrusted); the Markdown links the PNGs by relative path. Generated examples are a seeded random draw of the kept
questions (postprocess output, else the generated chunks); the real ones a draw of the task's train fold
(`datasynth.data.records.load_task`, the data dir from the config). A missing part is stated in its section, never
fatal; a JSON file that is there but unreadable (summary.json cut off) is an error naming it, never shown as a finished
run.
"""
from __future__ import annotations

import base64
import csv
import dataclasses
import glob
import html
import json
import os
import random
from typing import Any, Iterable

from datasynth.data.records import load_task
from datasynth.utils import io
from datasynth.utils.errors import UserError
from experiments import kinds

MAX_FIGURES = 24
MAX_TEXT = 1200  # Characters shown of one example.


# ------------------------------------------------------------------------------------------------------ blocks


@dataclasses.dataclass
class Table:
  header: list[str]
  rows: list[list[Any]]


@dataclasses.dataclass
class Figure:
  path: str  # Absolute path of a PNG.
  caption: str


@dataclasses.dataclass
class Text:
  text: str


@dataclasses.dataclass
class Code:
  text: str


@dataclasses.dataclass
class Examples:
  generated: list[str]
  real: list[str]
  note: str = ""


@dataclasses.dataclass
class Section:
  title: str
  blocks: list[Any]


@dataclasses.dataclass
class Report:
  title: str
  kind: str
  workdir: str
  sections: list[Section]


# --------------------------------------------------------------------------------------------------- detection




def _has(workdir: str, *names: str) -> bool:
  return all(os.path.exists(os.path.join(workdir, n)) for n in names)


FIGURE_ORDER = ("loss", "mauve", "normsim", "metric_vs_steps", "comparison")  # Pipeline order; others after.


def _figure_rank(path: str) -> tuple[int, str]:
  name = os.path.basename(path).lower()
  return next((i for i, k in enumerate(FIGURE_ORDER) if k in name), len(FIGURE_ORDER)), path


def _pngs(workdir: str) -> list[str]:
  return sorted(io.result_files(workdir, ".png"), key=_figure_rank)


def detect_kind(workdir: str) -> str:
  """sweep | nomad | pipeline | train | evaluate; anything else is a UserError naming what was looked for."""
  if not os.path.isdir(workdir):
    raise UserError(f"--workdir {workdir} is not a folder; pass the work dir of a pipeline, NOMAD, train, evaluate "
                    "or sweep run.")
  if _has(workdir, "sweep.json"):
    return "sweep"
  kind = kinds.detect(workdir)
  if kind:
    return kind
  raise UserError(f"{workdir} holds none of sweep.json, summary.json, stages/, results.json or metrics.jsonl; pass "
                  "the work dir of a finished (or started) pipeline, NOMAD, train, evaluate or sweep run.")


# ----------------------------------------------------------------------------------------------------- sections


def _manifests(workdir: str) -> list[dict[str, Any]]:
  summary = io.read_json_checked(os.path.join(workdir, "summary.json")) or {}
  if summary.get("stages"):
    return [m for m in summary["stages"] if isinstance(m, dict)]
  paths = sorted(glob.glob(os.path.join(workdir, "stages", "*.json")), key=os.path.getmtime)
  found = (io.read_json_checked(p) for p in paths if not p.endswith(".started.json"))
  return [m for m in found if isinstance(m, dict)]


def stages_section(manifests: list[dict[str, Any]]) -> Section:
  rows = []
  for m in manifests:
    c = m.get("counts") or {}
    dropped = c.get("dropped") or {}
    rows.append([m.get("name", "?"), c.get("in", ""), c.get("out", ""), sum(dropped.values()) if dropped else 0,
                 ", ".join(f"{k}: {v}" for k, v in dropped.items()) or "-", _num(m.get("seconds")),
                 "yes" if m.get("resumed") else "no"])
  if not rows:
    return Section("Stages", [Text("No stage manifests (stages/*.json) yet.")])
  return Section("Stages", [Table(["stage", "in", "kept (out)", "dropped", "dropped by reason", "time (s)",
                                   "resumed"], rows)])


def config_section(workdir: str, manifests: list[dict[str, Any]]) -> Section:
  blocks: list[Any] = []
  for path in sorted(glob.glob(os.path.join(workdir, "run_config.json")) +
                     glob.glob(os.path.join(workdir, "*", "run_config.json"))):
    blocks += [Text(os.path.relpath(path, workdir)), Code(_pretty(io.read_json_checked(path)))]
  for m in manifests:
    if m.get("config") is not None:
      blocks += [Text(f"stage {m.get('name')}"), Code(_pretty(m["config"]))]
  return Section("Config", blocks or [Text("No run_config.json or stage configs found.")])


def _pretty(obj: Any) -> str:
  return json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False, default=str)


def _num(v: Any) -> str:
  if isinstance(v, float):
    return f"{v:.4g}"
  return "" if v is None else str(v)


def _flatten(obj: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
  if isinstance(obj, dict):
    for k, v in obj.items():
      yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
  elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
    yield prefix, obj


def mauve_table(mauve: dict[str, Any], label: str) -> Table:
  rows = []
  for name, m in mauve.items():
    if isinstance(m, dict) and "mauve" in m:
      q, p = ("train", "test") if name == "train_vs_test" else (label, name)
      rows.append([q, p, _num(m["mauve"]), m.get("num_clusters", ""), m.get("num_p", ""), m.get("num_q", "")])
  return Table(["q", "p", "MAUVE", "clusters", "n_p", "n_q"], rows)


def metrics_section(summary: dict[str, Any], manifests: list[dict[str, Any]]) -> Section:
  """MAUVE (and any other scores the summary holds), plus each stage's own final numbers."""
  blocks: list[Any] = []
  if isinstance(summary.get("mauve"), dict):
    blocks += [Text("MAUVE (SoftSRV Tables 4, 5)"), mauve_table(summary["mauve"], summary.get("label", "ours"))]
  others = [(k, v) for key in summary if key not in ("stages", "mauve", "dataset")  # dataset: a folder, not a score.
            for k, v in _flatten(summary[key], key)]
  for m in manifests:
    for key in ("final", "normsim", "metrics"):
      others += list(_flatten(m.get(key), f"{m.get('name')}.{key}"))
  if others:
    blocks.append(Table(["metric", "value"], [[k, _num(v)] for k, v in others]))
  return Section("Final metrics", blocks or [Text("No final metrics yet.")])


def figures_section(workdir: str, pngs: list[str] | None = None) -> Section:
  pngs = (pngs if pngs is not None else _pngs(workdir))[:MAX_FIGURES]
  if not pngs:
    return Section("Figures", [Text("No PNG figures in the work dir yet.")])
  return Section("Figures", [Figure(p, os.path.relpath(p, workdir)) for p in pngs])


# ---------------------------------------------------------------------------------------------------- examples

_GENERATED = ("postprocess/kept.jsonl", "postprocess/subsample.jsonl", "filter/kept.jsonl", "kept.jsonl")


def generated_file(workdir: str) -> list[str]:
  """The kept questions if post-processing ran, else every generated chunk."""
  for name in _GENERATED:
    if os.path.isfile(os.path.join(workdir, name)):
      return [os.path.join(workdir, name)]
  return sorted(glob.glob(os.path.join(workdir, "generate", "*.jsonl")))


def _text(row: dict[str, Any]) -> str:
  for key in ("text", "question", "prompt", "conversation"):
    if isinstance(row.get(key), str):
      return row[key] + (f"\n\n{row['response']}" if key == "prompt" and isinstance(row.get("response"), str)
                         else "")
  return json.dumps(row, ensure_ascii=False)


def _draw(items: list[str], num: int, seed: int) -> list[str]:
  items = list(items)
  picked = random.Random(seed).sample(items, min(num, len(items)))
  return [t if len(t) <= MAX_TEXT else t[:MAX_TEXT] + " [...]" for t in picked]


def _find_key(obj: Any, key: str) -> Any:
  if isinstance(obj, dict):
    if obj.get(key):
      return obj[key]
    for v in obj.values():
      found = _find_key(v, key)
      if found:
        return found
  return None


def real_examples(task: str | None, data_dir: str | None, num: int, seed: int, chat: bool = False
                  ) -> tuple[list[str], str]:
  if not task:
    return [], "The task is unknown (no 'task' in summary.json or the config): no real examples."
  try:
    records = load_task(task, "train", data_dir or None)
  except (OSError, ValueError) as e:
    return [], f"Real {task} examples unavailable: {e}"
  texts = [f"User: {r.prompt}\nAssistant: {r.response}" if chat else r.prompt for r in records]
  return _draw(texts, num, seed), f"{task} train fold ({len(records)} examples)"


def examples_section(workdir: str, task: str | None, data_dir: str | None, num: int, seed: int,
                     chat: bool = False) -> Section:
  files = generated_file(workdir)
  rows = [r for f in files for r in io.read_jsonl_lenient(f)]
  generated = _draw([_text(r) for r in rows], num, seed)
  real, real_note = real_examples(task, data_dir, num, seed, chat)
  source = ", ".join(os.path.relpath(f, workdir) for f in files) or "none yet"
  note = f"{len(generated)} of {len(rows)} generated ({source}; seed {seed}) beside {len(real)} real: {real_note}"
  return Section("Examples", [Examples(generated, real, note)])


# ------------------------------------------------------------------------------------------------------- kinds


def _pipeline(workdir: str, kind: str, num: int, seed: int, data_dir: str | None) -> Report:
  summary = io.read_json_checked(os.path.join(workdir, "summary.json")) or {}
  manifests = _manifests(workdir)
  config = {m.get("name"): m.get("config") for m in manifests}
  task = summary.get("task") or _find_key(config, "task")
  data_dir = data_dir or _find_key(config, "data_dir")
  label = summary.get("label") or summary.get("method") or kind
  status = "finished" if summary else "in progress (no summary.json yet)"
  head = Section("Run", [Table(["kind", "method", "task", "work dir", "status"],
                               [[kind, label, task or "?", workdir, status]])])
  sections = [head, stages_section(manifests), metrics_section(summary, manifests), figures_section(workdir),
              examples_section(workdir, task, data_dir, num, seed, chat=kind == "nomad"),
              config_section(workdir, manifests)]
  return Report(f"{label} on {task or '?'}: {os.path.basename(workdir)}", kind, workdir, sections)


def _train(workdir: str, kind: str, num: int, seed: int, data_dir: str | None) -> Report:
  rows = io.read_jsonl_lenient(os.path.join(workdir, "metrics.jsonl"))
  final = {}
  for row in rows:
    final.update({k: v for k, v in row.items() if isinstance(v, (int, float))})
  config = io.read_json_checked(os.path.join(workdir, "run_config.json"))
  metrics = Section("Final metrics", [Table(["metric", "value"], [[k, _num(v)] for k, v in final.items()])])
  sections = [metrics, figures_section(workdir)]
  if generated_file(workdir):
    task = _find_key(config, "task")
    sections.append(examples_section(workdir, task, data_dir or _find_key(config, "data_dir"), num, seed))
  sections.append(config_section(workdir, []))
  return Report(f"Training run {os.path.basename(workdir)}", kind, workdir, sections)


def _evaluate(workdir: str, kind: str, num: int, seed: int, data_dir: str | None) -> Report:
  del num, seed, data_dir
  results = io.read_json_checked(os.path.join(workdir, "results.json")) or {}
  blocks: list[Any] = []
  final = results.get("final") or {}
  if final:
    blocks.append(Table(["metric", "value"], [[k, _num(v)] for k, v in _flatten(final)]))
  if isinstance(results.get("mauve"), dict):
    blocks += [Text("MAUVE of the records"), mauve_table(results["mauve"], "records")]
  config = {k: v for k, v in results.items() if k not in ("evals", "final", "best", "mauve")}
  sections = [Section("Final metrics", blocks or [Text("No final metrics.")]), figures_section(workdir),
              Section("Config", [Code(_pretty(config))])]
  return Report(f"Evaluation {results.get('task', '')} {os.path.basename(workdir)}", kind, workdir, sections)


def _sweep(workdir: str, kind: str, num: int, seed: int, data_dir: str | None) -> Report:
  del num, seed, data_dir
  info = io.read_json_checked(os.path.join(workdir, "sweep.json")) or {}
  runs = info.get("runs") or []
  csv_path = os.path.join(workdir, "results.csv")
  if os.path.isfile(csv_path):
    with open(csv_path, encoding="utf-8") as f:
      table = list(csv.reader(f))
    rows = [[_num(_as_number(c)) for c in row] for row in table[1:]]
    results = Section("Runs", [Table(table[0], rows)] if table else [Text("results.csv is empty.")])
  else:
    results = Section("Runs", [Table(["run", "work dir"], [[r.get("name"), r.get("workdir")] for r in runs]),
                               Text("No results.csv yet: run `launch/sweep.py --mode=collect`.")])
  pngs = [p for p in [os.path.join(workdir, "comparison.png")] if os.path.isfile(p)]
  sweep_file = info.get("sweep_file")
  source = open(sweep_file, encoding="utf-8").read() if sweep_file and os.path.isfile(sweep_file) else ""
  config = Section("Config", [Text(f"sweep file {sweep_file}"), Code(source or _pretty(runs))])
  sections = [results, figures_section(workdir, pngs), config]
  return Report(f"Sweep {info.get('name', os.path.basename(workdir))} ({len(runs)} runs)", kind, workdir, sections)


def _as_number(cell: str) -> Any:
  """A CSV cell as a float when it is one with a fraction (4 significant digits on the page), else as is."""
  try:
    return float(cell) if "." in cell or "e" in cell.lower() else cell
  except ValueError:
    return cell


BUILDERS = dict(sweep=_sweep, nomad=_pipeline, pipeline=_pipeline, train=_train, evaluate=_evaluate)


def build(workdir: str, *, num_examples: int = 10, seed: int = 0, data_dir: str | None = None) -> Report:
  workdir = os.path.abspath(workdir)
  kind = detect_kind(workdir)
  return BUILDERS[kind](workdir, kind, num_examples, seed, data_dir)


# ------------------------------------------------------------------------------------------------------- render

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #e8eef7; } tr:nth-child(even) td { background: #f7f7f7; }
pre { background: #f4f4f4; padding: 0.6em; overflow-x: auto; max-height: 30em; font-size: 0.8em; }
figure { display: inline-block; margin: 0.5em; } img { max-width: 540px; border: 1px solid #ddd; }
table.examples { width: 100%; }
.examples td { width: 50%; white-space: pre-wrap; font-family: monospace; font-size: 0.8em; }
"""


def _e(v: Any) -> str:
  return html.escape(_num(v) if not isinstance(v, str) else v, quote=True)


def _html_block(block: Any) -> str:
  if isinstance(block, Table):
    head = "".join(f"<th>{_e(h)}</th>" for h in block.header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in block.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
  if isinstance(block, Figure):
    with open(block.path, "rb") as f:
      data = base64.b64encode(f.read()).decode("ascii")
    return (f'<figure><img alt="{_e(block.caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(block.caption)}</figcaption></figure>")
  if isinstance(block, Code):
    return f"<pre>{_e(block.text)}</pre>"
  if isinstance(block, Examples):
    n = max(len(block.generated), len(block.real))
    cells = "".join(f"<tr><td>{_e(_at(block.generated, i))}</td><td>{_e(_at(block.real, i))}</td></tr>"
                    for i in range(n))
    return (f"<p>{_e(block.note)}</p><table class=\"examples\"><thead><tr><th>generated</th><th>real</th></tr>"
            f"</thead><tbody>{cells}</tbody></table>")
  return f"<p>{_e(block.text)}</p>"


def _at(items: list[str], i: int) -> str:
  return items[i] if i < len(items) else ""


def render_html(report: Report) -> str:
  body = "".join(f"<section><h2>{_e(s.title)}</h2>{''.join(_html_block(b) for b in s.blocks)}</section>"
                 for s in report.sections)
  return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_e(report.title)}</title>"
          f"<style>{_CSS}</style></head><body><h1>{_e(report.title)}</h1>"
          f"<p>{_e(report.kind)} work dir <code>{_e(report.workdir)}</code></p>{body}</body></html>\n")


def _md_cell(v: Any) -> str:
  return (_num(v) if not isinstance(v, str) else v).replace("|", "\\|").replace("\n", "<br>")


def _md_block(block: Any, out_dir: str) -> list[str]:
  if isinstance(block, Table):
    lines = ["| " + " | ".join(_md_cell(h) for h in block.header) + " |", "|" + "---|" * len(block.header)]
    return lines + ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows] + [""]
  if isinstance(block, Figure):
    return [f"![{block.caption}]({os.path.relpath(block.path, out_dir)})", ""]
  if isinstance(block, Code):
    return ["```", block.text, "```", ""]
  if isinstance(block, Examples):
    rows = [[_at(block.generated, i), _at(block.real, i)] for i in range(max(len(block.generated), len(block.real)))]
    return [block.note, ""] + _md_block(Table(["generated", "real"], rows), out_dir)
  return [block.text, ""]


def render_markdown(report: Report, out_dir: str) -> str:
  lines = [f"# {report.title}", "", f"{report.kind} work dir `{report.workdir}`", ""]
  for s in report.sections:
    lines += [f"## {s.title}", ""] + [line for b in s.blocks for line in _md_block(b, out_dir)]
  return "\n".join(lines)


def write_report(workdir: str, out_dir: str | None = None, **kwargs) -> tuple[str, str]:
  """report.html and report.md in `out_dir` (default: the work dir); returns their paths."""
  report = build(workdir, **kwargs)
  out_dir = os.path.abspath(out_dir or workdir)
  paths = os.path.join(out_dir, "report.html"), os.path.join(out_dir, "report.md")
  io.write_text(paths[0], render_html(report))
  io.write_text(paths[1], render_markdown(report, out_dir))
  return paths
