r"""Sweeps in the XManager style: a grid of config overrides -> one run (and work dir) each -> one results table.

A sweep file (`sweeps/*.py`, see sweeps/README.md) defines `get_sweep()`, returning a list of override dicts built
with the helpers below, and names the launcher and config its runs use:

    LAUNCHER = "launch/train.py"   # One of LAUNCHER_KINDS, or any script with KIND = "train" | "pipeline" | ...
    CONFIG = "configs/mbpp.py"     # Passed as --config=CONFIG[:preset]

    def get_sweep():
      return product(sweep("preset", ["np", "mp2"]), sweep("soft_prompt.t", [16, 64]), sweep("seed", [0, 1]))

Keys of an override dict:
  `a.b.c`      a config field: `--config.a.b.c=<value>`;
  `--flag`     a launcher flag passed as is: `--flag=<value>` (True -> `--flag`, False -> `--noflag`);
  `preset`     presets appended after the config's colon (`configs/mbpp.py:mp2`);
  `launcher`, `config`, `kind`  per-run replacements of the module-level LAUNCHER / CONFIG / KIND;
  `name`       the run's name instead of the derived one.
A string value may contain `{workdir:NAME}`: the work dir of run NAME of the same sweep, listed before it (e.g.
`"--records": "{workdir:pipeline}/answer/records.jsonl"`). The run then waits for NAME: locally it starts once NAME
has finished (and is `blocked` if NAME failed); on a cluster the runs go in waves, each after the one before.
`{root}` is the sweep root, for what runs share without waiting for each other (`"context.cache_dir":
"{root}/cache"`: E(x), MAUVE features and PT calls memoised once for all runs, `datasynth.jobs.memo`).
A run's name is derived from its overrides in order (`preset=mp2, soft_prompt.t=16, seed=0` ->
`preset-mp2_t-16_seed-0`: the last part of each dotted key, characters outside [A-Za-z0-9.+-] as `_`); two runs of
one name are refused. Its work dir is `<root>/<name>`.

Whether a run has finished is decided per kind of launcher (`FINISHED`), so a rerun of the sweep skips finished runs
and reruns the others with the same work dir, which the launchers resume (Orbax checkpoints, stage manifests):

| kind     | launcher             | finished when                                                               |
|----------|----------------------|-----------------------------------------------------------------------------|
| train    | launch/train.py      | metrics.jsonl's last step >= train.steps, or checkpoints/<train.steps>/     |
| pipeline | launch/pipeline.py   | summary.json, and stages/<name>.json for every stage summary.json lists     |
| evaluate | launch/evaluate.py   | results.json                                                                |
| nomad    | launch/nomad.py      | with --table1: table1.json; else as pipeline (summary.json + manifests)     |

`run_local` runs the pending runs as subprocesses, N at a time, each logging to `<run>/sweep.log`; `write_scripts`
writes a job script per run, one array script (plain shell and Slurm) and, when `xmanager` is installed, an XManager
launch script; `write_results` collects every run's final metrics into results.md / results.csv and comparison.png.
The config file is imported (as config_flags would) to check override keys and read train.steps; nothing here
imports a method package.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import importlib.util
import io as _io
import itertools
import json
import math
import os
import pprint
import re
import shlex
import signal
import subprocess
import sys
import time
import traceback
from typing import Any, Callable, Iterable

from datasynth.evals.student_eval import metric_key, standard_error, task_standard_error
from datasynth.utils import interrupt, io
from datasynth.utils.errors import UserError

__all__ = ["sweep", "product", "zip_", "chain"]  # What a sweep file uses (`from experiments.sweep import *`).

Overrides = dict[str, Any]
RESERVED = ("preset", "launcher", "config", "kind", "name")
LAUNCHER_KINDS = {"launch/train.py": "train", "launch/pipeline.py": "pipeline", "launch/evaluate.py": "evaluate",
                  "launch/nomad.py": "nomad"}
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_FILE = "sweep_run.json"  # Per run: its identity (launcher, config, overrides), command and attempts.
LOG_FILE = "sweep.log"
SWEEP_FILE = "sweep.json"  # Per sweep root: every run (what the report reads).


# ------------------------------------------------------------------------------------------------- grid helpers


def sweep(key: str, values: Iterable[Any]) -> list[Overrides]:
  """One axis: [{key: v} for v in values]."""
  values = list(values)
  if not values:
    raise UserError(f"sweep({key!r}, []) has no values; give at least one.")
  return [{key: v} for v in values]


def _parts(parts: tuple, axes: dict[str, Iterable[Any]]) -> list[list[Overrides]]:
  return [list(p) for p in parts] + [sweep(k, v) for k, v in axes.items()]


def _merge(dicts: Iterable[Overrides]) -> Overrides:
  out: Overrides = {}
  for d in dicts:
    for k, v in d.items():
      if k in out and out[k] != v:
        raise UserError(f"Override {k!r} is set twice in one run ({out[k]!r} and {v!r}); sweep each key once.")
      out[k] = v
  return out


def product(*parts: list[Overrides], **axes: Iterable[Any]) -> list[Overrides]:
  """Every combination (the last part varies fastest): product(sweep("a", [1, 2]), b=[3, 4]) has 4 runs."""
  return [_merge(combo) for combo in itertools.product(*_parts(parts, axes))]


def zip_(*parts: list[Overrides], **axes: Iterable[Any]) -> list[Overrides]:
  """Element-wise: zip_(sweep("lr", [1e-3, 1e-4]), steps=[100, 200]) has 2 runs. Unequal lengths are an error."""
  lists = _parts(parts, axes)
  sizes = [len(p) for p in lists]
  if len(set(sizes)) > 1:
    raise UserError(f"zip_ of parts of unequal lengths {sizes}; give every part the same number of values "
                    "(or combine them with product).")
  return [_merge(combo) for combo in zip(*lists)]


def chain(*parts: list[Overrides]) -> list[Overrides]:
  """Concatenation: the runs of every part, one after another."""
  return [dict(d) for p in parts for d in p]


# ------------------------------------------------------------------------------------------------------- naming

_UNSAFE = re.compile(r"[^A-Za-z0-9.+-]")
MAX_NAME = 120


def _label(key: str) -> str:
  return key.lstrip("-").split(".")[-1]


def _value_text(v: Any) -> str:
  if isinstance(v, float):
    return repr(v)
  return str(v) if v != "" else "none"


def _safe(text: str) -> str:
  return _UNSAFE.sub("_", text)


def run_name(overrides: Overrides) -> str:
  """`{preset: mp2, soft_prompt.t: 16, seed: 0}` -> `preset-mp2_t-16_seed-0` (stable and filesystem-safe).

  Keys are shortened to their last dotted part unless two keys of the run share it; `launcher`, `config` and `kind`
  are left out (name such runs by their other keys, or give a `name`).
  """
  if "name" in overrides:
    name = _safe(str(overrides["name"]))
  else:
    items = [(k, v) for k, v in overrides.items() if k not in ("launcher", "config", "kind")]
    labels = [_label(k) for k, _ in items]
    keys = [lab if labels.count(lab) == 1 else k.lstrip("-") for (k, _), lab in zip(items, labels)]
    name = "_".join(f"{_safe(key)}-{_safe(_value_text(v))}" for key, (_, v) in zip(keys, items)) or "default"
  if name.startswith("."):
    name = "_" + name[1:]
  if len(name) > MAX_NAME:
    name = name[:MAX_NAME - 9] + "-" + hashlib.sha1(name.encode()).hexdigest()[:8]
  return name


# --------------------------------------------------------------------------------------------------------- runs

_REF = re.compile(r"\{workdir:([^{}]*)\}")
ROOT = "{root}"  # In a string value: the sweep root (e.g. a cache folder its runs share; no ordering implied).


def references(overrides: Overrides) -> list[str]:
  """Run names that the override values refer to as `{workdir:NAME}`, in order of first mention."""
  return _unique(name for v in overrides.values() if isinstance(v, str) for name in _REF.findall(v))


@dataclasses.dataclass(frozen=True)
class Run:
  name: str
  overrides: Overrides  # As the sweep file gave them (reserved keys included).
  launcher: str  # Path of the launcher script, relative to the repo or absolute.
  config: str  # --config value, presets included.
  kind: str  # A key of FINISHED.
  workdir: str  # Absolute.

  @property
  def settings(self) -> Overrides:
    """The overrides that become flags (config fields and launcher flags), `{workdir:NAME}` resolved."""
    root = os.path.dirname(self.workdir)
    return {k: _REF.sub(lambda m: os.path.join(root, m.group(1)), v).replace(ROOT, root) if isinstance(v, str) else v
            for k, v in self.overrides.items() if k not in RESERVED}

  @property
  def after(self) -> list[str]:
    """The runs this one waits for: those its values refer to as `{workdir:NAME}`."""
    return references(self.overrides)

  def args(self) -> list[str]:
    """Launcher arguments: --config, --workdir, then one flag per override."""
    out = [f"--config={self.config}", f"--workdir={self.workdir}"]
    for k, v in self.settings.items():
      if k.startswith("--"):
        out.append(k if v is True else f"--no{k[2:]}" if v is False else f"{k}={v}")
      else:
        out.append(f"--config.{k}={v}")
    return out

  def command(self, python: str = sys.executable) -> list[str]:
    return [python, self.launcher] + self.args()

  def identity(self) -> dict[str, Any]:
    return dict(name=self.name, launcher=self.launcher, config=self.config, kind=self.kind,
                overrides={k: self.overrides[k] for k in sorted(self.overrides)})


@dataclasses.dataclass
class Sweep:
  name: str
  path: str  # The sweep file.
  root: str  # Runs live in <root>/<run name>.
  repo: str  # Launchers run from here.
  runs: list[Run]
  metrics: tuple[str, ...] | None = None  # Columns to plot (None: every numeric metric).
  plot_axis: str | None = None  # Override key to draw lines over (None: bars per run).


def _import_file(path: str, what: str):
  if not os.path.isfile(path):
    raise UserError(f"{what.capitalize()} {path} does not exist; pass the path of a Python file.")
  spec = importlib.util.spec_from_file_location(f"_datasynth_{what.replace(' ', '_')}_{abs(hash(path))}", path)
  module = importlib.util.module_from_spec(spec)
  if REPO not in sys.path:
    sys.path.insert(0, REPO)
  try:
    spec.loader.exec_module(module)
  except SyntaxError as e:  # One line with the file, line and message, not the import machinery's traceback.
    raise UserError(f"{what} {e.filename or path}:{e.lineno}: {e.msg}; fix the file.") from e
  except Exception as e:  # pylint: disable=broad-except  # An error running the file: its own line in it.
    lines = [f.lineno for f in traceback.extract_tb(e.__traceback__) if os.path.abspath(f.filename) ==
             os.path.abspath(path)]
    where = f"{path}:{lines[-1]}" if lines else path
    raise UserError(f"{what} {where}: {type(e).__name__}: {e}; fix the file.") from e
  return module


def load_sweep(path: str, root: str | None = None, repo: str = REPO) -> Sweep:
  """Import a sweep file and expand get_sweep() into runs; every error names the file and the fix."""
  module = _import_file(path, "sweep file")
  if not callable(getattr(module, "get_sweep", None)):
    raise UserError(f"Sweep file {path} defines no get_sweep(); add `def get_sweep(): return product(...)` "
                    "(see sweeps/README.md).")
  grid = module.get_sweep()
  if not isinstance(grid, list) or not all(isinstance(d, dict) for d in grid):
    raise UserError(f"get_sweep() of {path} returned {type(grid).__name__}; return a list of override dicts.")
  if not grid:
    raise UserError(f"get_sweep() of {path} returned no runs; return at least one override dict.")
  name = os.path.splitext(os.path.basename(path))[0]
  root = os.path.abspath(root or os.path.join("workdirs", "sweeps", name))
  defaults = dict(launcher=getattr(module, "LAUNCHER", None), config=getattr(module, "CONFIG", None),
                  kind=getattr(module, "KIND", None))
  runs = expand(grid, root=root, repo=repo, where=path, **defaults)
  metrics = getattr(module, "METRICS", None)
  return Sweep(name=name, path=os.path.abspath(path), root=root, repo=repo, runs=runs,
               metrics=tuple(metrics) if metrics else None, plot_axis=getattr(module, "PLOT_AXIS", None))


def _resolve_kind(launcher: str | None, kind: str | None, repo: str, where: str) -> str:
  if not launcher:
    raise UserError(f"{where}: no launcher; set LAUNCHER = \"launch/train.py\" (or a per-run 'launcher' key).")
  if not os.path.isfile(os.path.join(repo, launcher)):
    raise UserError(f"{where}: unknown launcher {launcher!r} (no such file under {repo}); use one of "
                    f"{', '.join(LAUNCHER_KINDS)}.")
  kind = kind or LAUNCHER_KINDS.get(os.path.relpath(os.path.join(repo, launcher), repo))
  if kind not in FINISHED:
    raise UserError(f"{where}: unknown launcher {launcher!r}; use one of {', '.join(LAUNCHER_KINDS)}, or set "
                    f"KIND to one of {', '.join(FINISHED)} to say how its runs finish.")
  return kind


def _check_value(key: Any, value: Any, where: str) -> None:
  if not isinstance(key, str) or not key:
    raise UserError(f"{where}: override key {key!r} is not a string; use dotted config fields like 'train.steps'.")
  if not isinstance(value, (str, int, float, bool)):
    raise UserError(f"{where}: override {key}={value!r} is a {type(value).__name__}; use a str, int, float or "
                    "bool (one value per run).")


def expand(grid: list[Overrides], *, root: str, repo: str = REPO, launcher: str | None = None,
           config: str | None = None, kind: str | None = None, where: str = "sweep") -> list[Run]:
  """Override dicts -> Runs with names, work dirs, launchers and configs; refuses name collisions and unknown keys."""
  runs, seen = [], {}
  for overrides in grid:
    for k, v in overrides.items():
      _check_value(k, v, where)
    run_launcher = overrides.get("launcher", launcher)
    run_kind = _resolve_kind(run_launcher, overrides.get("kind", kind), repo, where)
    run_config = _config_arg(overrides.get("config", config), overrides.get("preset"), where)
    name = run_name(overrides)
    if name in seen:
      raise UserError(f"{where}: runs {seen[name]} and {overrides} are both named {name!r}; give them distinct "
                      "values or a 'name' key.")
    for ref in references(overrides):
      if ref not in seen:
        raise UserError(f"{where}: run {name!r} refers to {{workdir:{ref}}}, which is not a run listed before it; "
                        f"list run {ref!r} earlier in get_sweep() or fix the name (runs so far: "
                        f"{', '.join(seen) or 'none'}).")
    seen[name] = overrides
    runs.append(Run(name=name, overrides=dict(overrides), launcher=run_launcher, config=run_config, kind=run_kind,
                    workdir=os.path.join(os.path.abspath(root), name)))
  for run in runs:
    check_keys(run, repo)
  return runs


def _config_arg(config: str | None, preset: Any, where: str) -> str:
  if not config:
    raise UserError(f"{where}: no config; set CONFIG = \"configs/mbpp.py\" (or a per-run 'config' key).")
  if preset in (None, ""):
    return config
  return f"{config},{preset}" if ":" in config else f"{config}:{preset}"


# ------------------------------------------------------------------------------------------------------ configs

_CONFIGS: dict[tuple[str, str], Any] = {}


def load_config(run: Run, repo: str = REPO):
  """The run's ConfigDict as its launcher builds it: get_config(presets) of the config file, overrides applied."""
  path, _, arg = run.config.partition(":")
  path = path if os.path.isabs(path) else os.path.join(repo, path)
  if (path, arg) not in _CONFIGS:
    module = _import_file(path, "config file")
    if not callable(getattr(module, "get_config", None)):
      raise UserError(f"Config file {path} defines no get_config(); point CONFIG at an ml_collections config.")
    try:
      _CONFIGS[(path, arg)] = module.get_config(arg) if arg else module.get_config()
    except ValueError as e:  # An unknown preset, as config_flags would report it.
      raise UserError(f"Run {run.name}: --config={run.config} is refused by its config file: {e}") from e
  config = _CONFIGS[(path, arg)].copy_and_resolve_references()
  for k, v in run.settings.items():
    if not k.startswith("--"):
      _set_field(config, k, v, run.name)
  return config


def _set_field(config, key: str, value: Any, name: str) -> None:
  *parents, leaf = key.split(".")
  node = config
  for part in parents:
    node = node.get(part) if hasattr(node, "get") else None
    if node is None:
      break
  if node is None or not hasattr(node, "keys") or leaf not in node.keys():
    raise UserError(f"Run {name}: override {key!r} is not a field of its config; check the spelling "
                    "(`python -c \"from configs import ...\"` lists the fields) or pass a launcher flag as '--flag'.")
  try:
    node[leaf] = value
  except TypeError as e:
    raise UserError(f"Run {name}: override {key}={value!r} has the wrong type for its config field ({e}).") from e


def check_keys(run: Run, repo: str = REPO) -> None:
  load_config(run, repo)


# ----------------------------------------------------------------------------------------------------- finished




def _read_jsonl(path: str) -> list[dict[str, Any]]:
  rows = []
  try:
    with open(path, encoding="utf-8") as f:
      for line in f:
        try:
          rows.append(json.loads(line))
        except json.JSONDecodeError:  # A line cut by a kill: the rest of the file is still read.
          continue
  except FileNotFoundError:
    pass
  return rows


def _train_finished(run: Run) -> bool:
  steps = int(load_config(run).train.steps)
  rows = [r for r in _read_jsonl(os.path.join(run.workdir, "metrics.jsonl")) if "step" in r]
  if rows and rows[-1]["step"] >= steps:
    return True
  return os.path.isdir(os.path.join(run.workdir, "checkpoints", str(steps)))


def _pipeline_finished(run: Run) -> bool:
  summary = io.read_json(os.path.join(run.workdir, "summary.json"))
  if not isinstance(summary, dict) or not summary.get("stages"):
    return False
  return all(os.path.isfile(os.path.join(run.workdir, "stages", f"{m['name']}.json")) for m in summary["stages"])


def _evaluate_finished(run: Run) -> bool:
  return isinstance(io.read_json(os.path.join(run.workdir, "results.json")), dict)


def _nomad_finished(run: Run) -> bool:
  if run.settings.get("--table1"):
    return isinstance(io.read_json(os.path.join(run.workdir, "table1.json")), dict)
  return _pipeline_finished(run)


FINISHED: dict[str, Callable[[Run], bool]] = dict(train=_train_finished, pipeline=_pipeline_finished,
                                                  evaluate=_evaluate_finished, nomad=_nomad_finished)


def is_finished(run: Run) -> bool:
  return FINISHED[run.kind](run)


def was_started(run: Run) -> bool:
  """Anything of the launcher's own in the work dir (so a rerun resumes rather than starts)."""
  if not os.path.isdir(run.workdir):
    return False
  return any(f not in (RUN_FILE, LOG_FILE) for f in os.listdir(run.workdir))


# ------------------------------------------------------------------------------------------------------ metrics


def _train_metrics(run: Run) -> dict[str, float]:
  rows = _read_jsonl(os.path.join(run.workdir, "metrics.jsonl"))
  out: dict[str, float] = {}
  for key in ("loss", "heldout_loss"):
    last = [r for r in rows if isinstance(r.get(key), (int, float))]
    if last:
      out[key] = last[-1][key]
  if rows:
    out["step"] = rows[-1].get("step")
  return out


def _mauve_metrics(mauve: Any) -> dict[str, float]:
  if not isinstance(mauve, dict):
    return {}
  return {f"mauve_{k}": v["mauve"] for k, v in mauve.items() if isinstance(v, dict) and "mauve" in v}


def _pipeline_metrics(run: Run) -> dict[str, float]:
  summary = io.read_json(os.path.join(run.workdir, "summary.json")) or {}
  out: dict[str, float] = {}
  for m in summary.get("stages") or []:
    final = m.get("final") or {}
    if isinstance(final.get("heldout_loss"), (int, float)):
      out["heldout_loss"] = final["heldout_loss"]
    out[f"{m['name']}_out"] = (m.get("counts") or {}).get("out")
  out.update(_mauve_metrics(summary.get("mauve")))
  out["seconds"] = round(sum(m.get("seconds") or 0 for m in summary.get("stages") or []), 1)
  return out


def _evaluate_metrics(run: Run) -> dict[str, float]:
  results = io.read_json(os.path.join(run.workdir, "results.json")) or {}
  final = results.get("final") or {}
  out = {k: v for k, v in final.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
  metric, n = results.get("metric"), results.get("num_eval_examples")
  if _is_number(out.get(metric)) and isinstance(n, int) and n > 0:  # The binomial SE, printed beside the figure.
    out[f"{metric}_se"] = standard_error(out[metric], n)
  evals = results.get("evals") or []
  if len(evals) > 1 and evals[0].get("step") == 0 and _is_number(evals[0].get(metric)):
    out[f"{metric}_step0"] = evals[0][metric]  # The untrained student (when this run evaluated step 0).
  out.update(_mauve_metrics(results.get("mauve")))
  return out


def _student_metrics(student: Any) -> dict[str, float]:
  """NOMAD's student table -> {"student_<run>_<task>": final metric, "..._se": its standard error} and the untrained
  student's (`task_standard_error`: binomial for a rate, lm-eval's sample standard error for another metric)."""
  if not isinstance(student, dict):
    return {}
  tasks, base = student.get("tasks") or {}, student.get("base") or {}
  rows = [("untrained", base, metric_key)] + [
      (_safe(name), scores, lambda t: t) for name, scores in (student.get("runs") or {}).items()]
  out = {}
  for name, scores, key in rows:
    for task in tasks:
      if _is_number(scores.get(key(task))):
        out[f"student_{name}_{task}"] = scores[key(task)]
        se = task_standard_error(task, scores[key(task)], (tasks[task] or {}).get("num_examples") or 0,
                                 scores.get(f"{key(task)}_stderr"))
        if not math.isnan(se):
          out[f"student_{name}_{task}_se"] = se
  return out


def _nomad_metrics(run: Run) -> dict[str, float]:
  """Table 1 (--table1): per teacher and set, n and the NormSim medians, then the students; else the pipeline's."""
  if not run.settings.get("--table1"):
    summary = io.read_json(os.path.join(run.workdir, "summary.json")) or {}
    out = dict(valid_rate=summary.get("valid_rate"),
               seconds=round(sum(m.get("seconds") or 0 for m in summary.get("stages") or []), 1))
    return {**out, **_student_metrics(summary.get("student"))}
  table = io.read_json(os.path.join(run.workdir, "table1.json")) or {}
  out: dict[str, float] = {}
  for row in table.get("rows") or []:
    cell = f"{row['teacher']}_{row['set']}"
    out[f"{cell}_n"] = row.get("n")
    for part in ("prompt", "response"):  # NormSim medians (None for an empty set).
      stats = row.get(part)
      if isinstance(stats, dict) and _is_number(stats.get("median")):
        out[f"{cell}_{part}_normsim"] = stats["median"]
  return {**out, **_student_metrics(table.get("student"))}


FINAL_METRICS: dict[str, Callable[[Run], dict[str, float]]] = dict(
    train=_train_metrics, pipeline=_pipeline_metrics, evaluate=_evaluate_metrics, nomad=_nomad_metrics)


def final_metrics(run: Run) -> dict[str, float]:
  return {k: v for k, v in FINAL_METRICS[run.kind](run).items() if v is not None}


# -------------------------------------------------------------------------------------------------------- local


def check_identity(run: Run) -> None:
  """A run dir started by another sweep definition (launcher, config, overrides) is refused, not mixed."""
  state = io.read_json(os.path.join(run.workdir, RUN_FILE)) or {}
  if state and state.get("identity") != run.identity():
    raise UserError(f"Work dir {run.workdir} holds run {state.get('identity')} of another sweep definition; use "
                    "another --root or delete that folder.")


def _record(run: Run, **fields) -> None:
  check_identity(run)
  path = os.path.join(run.workdir, RUN_FILE)
  state = io.read_json(path) or {}
  state.update(identity=run.identity(), command=run.command(), **fields)
  io.write_json(path, state)


def _start(run: Run, repo: str, log: Callable[[str], None]) -> subprocess.Popen:
  os.makedirs(run.workdir, exist_ok=True)
  how = "resuming" if was_started(run) else "starting"
  attempts = (io.read_json(os.path.join(run.workdir, RUN_FILE)) or {}).get("attempts", 0) + 1
  _record(run, attempts=attempts, status="running", started=time.time())
  log_file = open(os.path.join(run.workdir, LOG_FILE), "a", encoding="utf-8")
  log_file.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {how} (attempt {attempts}): "
                 f"{shlex.join(run.command())}\n")
  log_file.flush()
  log(f"[{run.name}] {how}: log {os.path.join(run.workdir, LOG_FILE)}")
  proc = subprocess.Popen(run.command(), cwd=repo, stdout=log_file, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, start_new_session=True)
  log_file.close()  # The child holds its own descriptor.
  return proc


def finish_run(run: Run, returncode: int, log: Callable[[str], None]) -> str:
  status = ("finished" if returncode == 0 and is_finished(run) else
            "interrupted" if returncode == interrupt.EXIT_INTERRUPTED else "failed" if returncode else "incomplete")
  _record(run, status=status, returncode=returncode, ended=time.time())
  log(f"[{run.name}] {status} (exit {returncode})")
  return status


DONE = ("finished", "skipped")  # Statuses a dependent run may start after.
RUNNER_GRACE_S = 25.0  # After SIGTERM: seconds for the children to save and exit (theirs: 20) before the runner exits.


def _readiness(run: Run, status: dict[str, str]) -> str:
  """ready | wait (a run it refers to has not ended) | blocked (one ended without finishing)."""
  states = [status.get(name) for name in run.after]
  if any(s is not None and s not in DONE for s in states):
    return "blocked"
  return "ready" if all(s in DONE for s in states) else "wait"


def run_local(sw: Sweep, parallel: int = 1, log: Callable[[str], None] = print, poll_s: float = 0.05
              ) -> dict[str, str]:
  """Run every unfinished run, `parallel` at a time, each after the runs it refers to; returns
  {run name: finished | skipped | failed | incomplete | interrupted (exit 75: stopped by a signal after saving) |
  blocked (a run it refers to did not finish)}. SIGTERM / SIGINT to the runner stop its runs (they save and exit 75)
  and raise `interrupt.Interrupted` (exit 75)."""
  if parallel < 1:
    raise UserError(f"--parallel={parallel}; pass 1 or more.")
  status: dict[str, str] = {}
  pending = []
  for run in sw.runs:
    check_identity(run)  # Every run before any starts.
    if is_finished(run):
      status[run.name] = "skipped"
      log(f"[{run.name}] finished earlier; skipped")
    else:
      pending.append(run)
  running: dict[str, tuple[Run, subprocess.Popen]] = {}
  with interrupt.StopSignals(RUNNER_GRACE_S) as stop:  # SIGTERM / SIGINT: stop the children, then exit 75.
    try:
      while pending or running:
        if stop.signum is not None:
          log(f"stopped by {signal.Signals(stop.signum).name}: stopping {len(running)} run(s); rerun the sweep to "
              f"resume (exit status {interrupt.EXIT_INTERRUPTED})")
          raise interrupt.Interrupted(interrupt.EXIT_INTERRUPTED)
        for run in list(pending):
          readiness = _readiness(run, status)
          if readiness == "blocked":
            pending.remove(run)
            status[run.name] = "blocked"
            log(f"[{run.name}] blocked: {', '.join(n for n in run.after if status.get(n) not in DONE)} did not "
                "finish; fix that run and rerun the sweep")
          elif readiness == "ready" and len(running) < parallel:
            pending.remove(run)
            running[run.name] = (run, _start(run, sw.repo, log))
        for name, (run, proc) in list(running.items()):
          if proc.poll() is not None:
            status[name] = finish_run(run, proc.returncode, log)
            del running[name]
        time.sleep(poll_s if running else 0)
    except BaseException:
      for run, proc in running.values():  # Our own children (each leads its own process group): they save and
        with contextlib.suppress(ProcessLookupError):  # exit 75 at their next boundary (`datasynth.utils.interrupt`).
          os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        _record(run, status="interrupted", ended=time.time())
      raise
  return status


def waves(runs: list[Run]) -> list[list[Run]]:
  """Runs grouped so that every run comes one wave after the last of the runs it refers to (wave 0: none)."""
  level: dict[str, int] = {}
  for run in runs:  # Referenced runs are listed earlier (expand checks), so one pass suffices.
    level[run.name] = 1 + max((level[name] for name in run.after), default=-1)
  out: list[list[Run]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
  for run in runs:
    out[level[run.name]].append(run)
  return out


def plan(sw: Sweep) -> list[dict[str, str]]:
  """What a local run would do with each run: skip, resume or start (for --dry_run)."""
  return [dict(name=r.name, action="skip" if is_finished(r) else "resume" if was_started(r) else "start",
               after=", ".join(r.after), command=shlex.join(r.command("python"))) for r in sw.runs]


# ------------------------------------------------------------------------------------------------------ scripts


def job_script(run: Run, repo: str) -> str:
  """One run as a shell script: cd to the repo, run the launcher, log to the run's sweep.log (rerun = resume)."""
  cmd = shlex.join(["${PYTHON:-python3}"] + [run.launcher] + run.args()).replace("'${PYTHON:-python3}'",
                                                                                 '"${PYTHON:-python3}"')
  return "\n".join([
      "#!/usr/bin/env bash",
      f"# Sweep run {run.name}: rerunning this script resumes it from its work dir.",
      "set -euo pipefail",
      f"cd \"${{DATASYNTH_REPO:-{repo}}}\"",
      f"mkdir -p {shlex.quote(run.workdir)}",
      f"{cmd} >> {shlex.quote(os.path.join(run.workdir, LOG_FILE))} 2>&1",
      ""])


def _array_body(sw: Sweep, script_dir: str) -> list[str]:
  lines = ["RUNS=("]
  lines += [f"  {shlex.quote(os.path.join(script_dir, r.name + '.sh'))}  # {i}" for i, r in enumerate(sw.runs)]
  lines += [")", ""]
  return lines


def array_script(sw: Sweep, script_dir: str) -> str:
  """Plain shell: `bash array.sh INDEX` runs one job; without an index, every job in turn."""
  return "\n".join([
      "#!/usr/bin/env bash",
      f"# Sweep {sw.name}: {len(sw.runs)} runs. `bash array.sh I` runs run I (0-{len(sw.runs) - 1}); no index: all.",
      "set -euo pipefail"] + _array_body(sw, script_dir) + [
      "if [[ $# -gt 0 ]]; then",
      "  bash \"${RUNS[$1]}\"",
      "else",
      "  for job in \"${RUNS[@]}\"; do bash \"$job\"; done",
      "fi",
      ""])


def slurm_script(sw: Sweep, script_dir: str, time_limit: str = "24:00:00") -> str:
  """A Slurm array job: `sbatch slurm.sbatch`; task I runs run I."""
  return "\n".join([
      "#!/usr/bin/env bash",
      f"#SBATCH --job-name={sw.name}",
      f"#SBATCH --array=0-{len(sw.runs) - 1}",
      f"#SBATCH --output={os.path.join(sw.root, 'slurm-%A_%a.out')}",
      f"#SBATCH --time={time_limit}",
      "#SBATCH --cpus-per-task=4",
      "# Add the partition and accelerators of your cluster, e.g. #SBATCH --gres=gpu:1",
      "set -euo pipefail"] + _array_body(sw, script_dir) + [
      "bash \"${RUNS[$SLURM_ARRAY_TASK_ID]}\"",
      ""])


def slurm_submit_script(sw: Sweep, script_dir: str) -> str:
  """`bash slurm_submit.sh`: slurm.sbatch once per wave, each wave after the one before (afterok)."""
  index = {r.name: i for i, r in enumerate(sw.runs)}
  lines = ["#!/usr/bin/env bash",
           f"# Sweep {sw.name}: submits slurm.sbatch once per wave of runs; a wave starts when every task of the one",
           "# before it has finished successfully (runs that read another run's work dir come after it).",
           "set -euo pipefail",
           f"cd {shlex.quote(script_dir)}",
           "jid="]
  for k, wave in enumerate(waves(sw.runs)):
    names = " ".join(r.name for r in wave)
    lines.append(f"# wave {k}: {names}")
    lines.append(f"jid=$(sbatch --parsable --array={','.join(str(index[r.name]) for r in wave)} "
                 "${jid:+--dependency=afterok:$jid} slurm.sbatch)")
    lines.append('echo "wave %d: job $jid"' % k)
  return "\n".join(lines + [""])


def xmanager_script(sw: Sweep) -> str:
  """An XManager launch script (text; xmanager is imported only when the script runs): one job per run."""
  launchers = sorted({r.launcher for r in sw.runs})
  jobs = [[dict(launcher=r.launcher, args=_xm_args(r)) for r in wave] for wave in waves(sw.runs)]
  return "\n".join([
      f'"""XManager launch script for sweep {sw.name} ({len(sw.runs)} runs), written by launch/sweep.py.',
      "",
      f"  xmanager launch {os.path.join(sw.root, 'scripts', 'xm_launch.py')}",
      "",
      "Runs each job with xm_local.Local (swap in xm_local.Vertex(requirements=xm.JobRequirements(A100=1)) for",
      "Vertex AI). WAVES: the jobs of a wave start once every job of the wave before has completed (a run that",
      'reads another run\'s work dir comes after it). A job rerun with the same --workdir resumes."""',
      "import asyncio",
      "",
      "from absl import app",
      "from xmanager import xm",
      "from xmanager import xm_local",
      "",
      f"REPO = {sw.repo!r}",
      f"LAUNCHERS = {launchers!r}",
      f"WAVES = {pprint.pformat(jobs, indent=1, width=116, sort_dicts=False)}",
      "",
      "",
      "async def launch():",
      f"  async with xm_local.create_experiment(experiment_title={sw.name!r}) as experiment:",
      "    packageables = [",
      "        xm.Packageable(",
      "            executable_spec=xm.PythonContainer(path=REPO, entrypoint=xm.CommandList([f'python3 {launcher}'])),",
      "            executor_spec=xm_local.Local.Spec())",
      "        for launcher in LAUNCHERS]",
      "    executables = dict(zip(LAUNCHERS, experiment.package(packageables)))",
      "    for k, wave in enumerate(WAVES):",
      "      units = [await experiment.add(xm.Job(executable=executables[job['launcher']],",
      "                                           executor=xm_local.Local(), args=job['args'])) for job in wave]",
      "      if k + 1 < len(WAVES):",
      "        for unit in units:",
      "          await unit.wait_until_complete()",
      "",
      "",
      "def main(_):",
      "  asyncio.run(launch())",
      "",
      "",
      "if __name__ == '__main__':",
      "  app.run(main)",
      ""])


def _xm_args(run: Run) -> dict[str, Any]:
  """The run's flags as XManager's args dict ({"config.soft_prompt.t": 16} is rendered --config.soft_prompt.t=16)."""
  out: dict[str, Any] = {}
  for arg in run.args():
    key, _, value = arg[2:].partition("=")
    out[key] = value if value else True
  return out


def xmanager_installed() -> bool:
  return importlib.util.find_spec("xmanager") is not None


def write_scripts(sw: Sweep, xmanager: bool | None = None) -> list[str]:
  """<root>/scripts/: <run>.sh per run, array.sh, slurm.sbatch + slurm_submit.sh (its waves), and xm_launch.py
  when xmanager is installed."""
  script_dir = os.path.join(sw.root, "scripts")
  written = []
  for run in sw.runs:
    written.append(_write_executable(os.path.join(script_dir, f"{run.name}.sh"), job_script(run, sw.repo)))
  written.append(_write_executable(os.path.join(script_dir, "array.sh"), array_script(sw, script_dir)))
  written.append(_write_executable(os.path.join(script_dir, "slurm.sbatch"), slurm_script(sw, script_dir)))
  written.append(_write_executable(os.path.join(script_dir, "slurm_submit.sh"), slurm_submit_script(sw, script_dir)))
  if xmanager_installed() if xmanager is None else xmanager:
    written.append(_write_executable(os.path.join(script_dir, "xm_launch.py"), xmanager_script(sw)))
  write_sweep_json(sw)
  return written


def _write_executable(path: str, text: str) -> str:
  io.write_text(path, text)
  os.chmod(path, 0o755)
  return path


def write_sweep_json(sw: Sweep) -> str:
  path = os.path.join(sw.root, SWEEP_FILE)
  io.write_json(path, dict(name=sw.name, sweep_file=sw.path, repo=sw.repo, plot_axis=sw.plot_axis,
                           runs=[dict(r.identity(), workdir=r.workdir, command=r.command()) for r in sw.runs]))
  return path


# ------------------------------------------------------------------------------------------------------ results


def collect(sw: Sweep) -> tuple[list[str], list[dict[str, Any]]]:
  """One row per run: run, status, each override, each final metric; returns (columns, rows)."""
  keys = _unique(k for r in sw.runs for k in r.overrides if k != "name")
  rows, metric_cols = [], []
  for run in sw.runs:
    metrics = final_metrics(run)
    metric_cols = _unique(metric_cols + list(metrics))
    status = "finished" if is_finished(run) else "started" if was_started(run) else "pending"
    rows.append(dict(run=run.name, status=status, **{k: run.overrides.get(k, "") for k in keys}, **metrics))
  return ["run", "status"] + keys + metric_cols, rows


def _unique(items: Iterable[str]) -> list[str]:
  return list(dict.fromkeys(items))


def _cell(v: Any) -> str:
  if isinstance(v, float):
    return f"{v:.4g}"
  return "" if v is None else str(v)


def results_csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
  buf = _io.StringIO()
  writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
  writer.writeheader()
  for row in rows:
    writer.writerow({c: row.get(c, "") for c in columns})
  return buf.getvalue()


def results_markdown(sw: Sweep, columns: list[str], rows: list[dict[str, Any]]) -> str:
  lines = [f"# Sweep {sw.name}", "", f"{len(rows)} runs from `{sw.path}`; work dirs under `{sw.root}`.", "",
           "| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
  lines += ["| " + " | ".join(_cell(row.get(c)).replace("|", "\\|") for c in columns) + " |" for row in rows]
  return "\n".join(lines + ["", "![comparison](comparison.png)", ""])


def metric_columns(sw: Sweep, columns: list[str], rows: list[dict[str, Any]]) -> list[str]:
  keys = {k for r in sw.runs for k in r.overrides} | {"run", "status", "step"}
  keys |= {c for c in columns if c.endswith("_se") and c[:-3] in columns}  # Drawn as error bars, not panels.
  numeric = [c for c in columns if c not in keys and any(_is_number(r.get(c)) for r in rows)]
  return [c for c in numeric if c in sw.metrics] if sw.metrics else numeric


def _is_number(v: Any) -> bool:
  return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def plot_comparison(sw: Sweep, columns: list[str], rows: list[dict[str, Any]], png: str) -> str | None:
  """A panel per metric: a bar per run, or (plot_axis set) a line over that axis per group of the other overrides."""
  metrics = metric_columns(sw, columns, rows)
  if not metrics:
    return None
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  height = 4.0 if sw.plot_axis else max(2.5, 0.28 * len(rows) + 1.5)  # Bars: one row per run, names on the left.
  fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics) + (0 if sw.plot_axis else 3), height),
                           squeeze=False)
  for ax, metric in zip(axes[0], metrics):
    if sw.plot_axis:
      plot_lines(ax, sw, rows, metric)
    else:
      _bars(ax, rows, metric)
    ax.set_title(metric)
  fig.suptitle(f"Sweep {sw.name}")
  fig.tight_layout()
  io.save_figure(fig, png)
  plt.close(fig)
  return png


def _bars(ax, rows: list[dict[str, Any]], metric: str) -> None:
  values = [r[metric] if _is_number(r.get(metric)) else 0.0 for r in rows]
  errors = [r.get(f"{metric}_se") if _is_number(r.get(f"{metric}_se")) else 0.0 for r in rows]
  ax.barh(range(len(rows)), values, xerr=errors if any(errors) else None, color="tab:blue")
  ax.set_yticks(range(len(rows)), [r["run"] for r in rows], fontsize=7)
  ax.invert_yaxis()  # The first run on top, as in the table.


def line_groups(sw: Sweep, rows: list[dict[str, Any]], metric: str) -> dict[str, list[tuple[Any, float, Any]]]:
  """{label of the other overrides: [(plot_axis value, metric, its `<metric>_se` or None)] sorted by the axis
  value}: one line each."""
  axis = sw.plot_axis
  drawn = [row for row in rows if _is_number(row.get(metric)) and row.get(axis, "") != ""]
  keys = [k for k in _unique(k for r in sw.runs for k in r.overrides) if k != axis and k not in RESERVED]
  at = lambda a: [row for row in drawn if str(row[axis]) == a]
  # Lines are told apart by the keys that differ between runs at one axis value (not those that follow the axis).
  others = [k for k in keys if any(len({str(row.get(k, "")) for row in at(a)}) > 1
                                   for a in {str(row[axis]) for row in drawn})]
  groups: dict[str, list[tuple[Any, float, Any]]] = {}
  for row in drawn:
    label = ", ".join(f"{_label(k)}={row.get(k)}" for k in others if row.get(k, "") != "") or metric
    se = row.get(f"{metric}_se")
    groups.setdefault(label, []).append((row[axis], row[metric], se if _is_number(se) else None))
  return {label: sorted(points, key=lambda p: (str(type(p[0])), p[0])) for label, points in groups.items()}


def plot_lines(ax, sw: Sweep, rows: list[dict[str, Any]], metric: str) -> None:
  groups = line_groups(sw, rows, metric)
  for label, points in groups.items():
    errors = [se or 0.0 for _, _, se in points]  # +- 1 SE where the run reported one.
    ax.errorbar([str(x) for x, _, _ in points], [y for _, y, _ in points], yerr=errors if any(errors) else None,
                marker="o", capsize=3, label=label)
  ax.set_xlabel(_label(sw.plot_axis))
  if len(groups) <= 12:
    ax.legend(fontsize=6)


def write_results(sw: Sweep) -> dict[str, str]:
  """results.csv, results.md and comparison.png under the sweep root; returns their paths."""
  columns, rows = collect(sw)
  out = dict(csv=os.path.join(sw.root, "results.csv"), md=os.path.join(sw.root, "results.md"))
  io.write_text(out["csv"], results_csv(columns, rows))
  io.write_text(out["md"], results_markdown(sw, columns, rows))
  png = plot_comparison(sw, columns, rows, os.path.join(sw.root, "comparison.png"))
  if png:
    out["png"] = png
  write_sweep_json(sw)
  return out
