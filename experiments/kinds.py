"""The kinds of launcher run: each kind's launcher, and which of its method's readers say how a run of it ends.

A method owns the formats its commands write and reads them back itself (`softsrv.results`, `nomad.results`); this
table is the one place that ties a launcher to those readers, so the sweep (has a run finished, its final metrics)
and the report (what a work dir holds) ask a kind instead of parsing files:

| kind     | launcher           | readers                                                                        |
|----------|--------------------|--------------------------------------------------------------------------------|
| train    | launch/train.py    | softsrv.results: train_finished (the config's train.steps), train_metrics      |
| pipeline | launch/pipeline.py | softsrv.results: pipeline_finished, pipeline_metrics                           |
| evaluate | launch/evaluate.py | softsrv.results: evaluate_finished, evaluate_metrics                           |
| nomad    | launch/nomad.py    | nomad.results: finished, final_metrics (with --table1: Table 1's)              |

A kind's `finished` and `final_metrics` take a run (a `experiments.sweep.Run`: its work dir, its launcher flags and
its config); `detect` takes a work dir. `DETECTED` is the order the report tries them in: NOMAD's pipeline before
SoftSRV's (both write summary.json and stages/), then evaluate, then train.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Protocol

from nomad import results as nomad_results
from softsrv import results as softsrv_results


class RunLike(Protocol):
  """What a kind reads of a run (`experiments.sweep.Run`)."""
  workdir: str

  @property
  def settings(self) -> Mapping[str, Any]: ...  # Launcher flags ("--table1") and config fields, resolved.

  def loaded_config(self) -> Any: ...  # The run's ConfigDict as its launcher builds it.


@dataclasses.dataclass(frozen=True)
class RunKind:
  name: str
  launcher: str  # Relative to the repository.
  finished: Callable[[RunLike], bool]  # Whether the run has finished (a rerun of the sweep skips it).
  final_metrics: Callable[[RunLike], dict[str, Any]]  # Its final numbers (None for one it has not got).
  detect: Callable[[str], bool]  # Whether a work dir holds a run of this kind (finished or started).


KINDS: dict[str, RunKind] = {k.name: k for k in (
    RunKind("train", "launch/train.py",
            lambda run: softsrv_results.train_finished(run.workdir, int(run.loaded_config().train.steps)),
            lambda run: softsrv_results.train_metrics(run.workdir), softsrv_results.is_train_workdir),
    RunKind("pipeline", "launch/pipeline.py", lambda run: softsrv_results.pipeline_finished(run.workdir),
            lambda run: softsrv_results.pipeline_metrics(run.workdir), softsrv_results.is_pipeline_workdir),
    RunKind("evaluate", "launch/evaluate.py", lambda run: softsrv_results.evaluate_finished(run.workdir),
            lambda run: softsrv_results.evaluate_metrics(run.workdir), softsrv_results.is_evaluate_workdir),
    RunKind("nomad", "launch/nomad.py",
            lambda run: nomad_results.finished(run.workdir, table1=bool(run.settings.get("--table1"))),
            lambda run: nomad_results.final_metrics(run.workdir, table1=bool(run.settings.get("--table1"))),
            nomad_results.is_workdir),
)}
LAUNCHER_KINDS = {k.launcher: k.name for k in KINDS.values()}  # launch/<file>.py -> its kind.
DETECTED = ("nomad", "pipeline", "evaluate", "train")


def detect(workdir: str) -> str | None:
  """The kind of run a work dir holds (the first of DETECTED whose `detect` says so), or None."""
  return next((name for name in DETECTED if KINDS[name].detect(workdir)), None)
