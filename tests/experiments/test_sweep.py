"""Sweeps: grid helpers, run names, local runs (skip finished, resume interrupted), results, cluster scripts.

The runs swept here are a tiny fake trainer (written by the `fake_sweep` fixture) that keeps launch/train.py's
contract: metrics.jsonl rows up to --config.train.steps, and a rerun with the same work dir continues from its last
row. It logs the step each attempt started from to starts.txt, stops with exit 3 before step $FAKE_CRASH_AT and
hangs before step $FAKE_HANG_AT (until the sweep is killed).
"""
import csv
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from datasynth.utils.errors import UserError
from experiments import sweep as sw

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FAKE_TRAIN = r'''
import json, os, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if "=" in a)
workdir, steps = args["workdir"], int(args.get("config.train.steps", 3))
t, seed = int(args.get("config.soft_prompt.t", 16)), int(args.get("config.seed", 0))
os.makedirs(workdir, exist_ok=True)
path = os.path.join(workdir, "metrics.jsonl")
rows = [json.loads(l) for l in open(path)] if os.path.exists(path) else []
start = rows[-1]["step"] if rows else 0
with open(os.path.join(workdir, "starts.txt"), "a") as f:
  f.write(f"{start}\n")
crash, hang = int(os.environ.get("FAKE_CRASH_AT", "0")), int(os.environ.get("FAKE_HANG_AT", "0"))
with open(os.path.join(workdir, "pid.txt"), "w") as f:
  f.write(str(os.getpid()))
for step in range(start + 1, steps + 1):
  if step == hang:
    time.sleep(120)
  if step == crash:
    print("simulated preemption", flush=True)
    sys.exit(3)
  with open(path, "a") as f:
    f.write(json.dumps(dict(step=step, loss=t + seed / 10 + (steps - step), heldout_loss=t + seed)) + "\n")
print("done", flush=True)
'''

FAKE_CONFIG = '''
import ml_collections
def get_config(arg=None):
  c = ml_collections.ConfigDict(dict(seed=0, train=dict(steps=3), soft_prompt=dict(t=16, variant="mc")))
  if arg == "np":
    c.soft_prompt.variant = "np"
  elif arg:
    raise ValueError(f"Unknown config preset {arg!r}")
  return c
'''


FAKE_EVAL = r'''
import json, os, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if "=" in a)
rows = [json.loads(l) for l in open(args["records"])]  # Fails (exit 1) while the run it reads has not written it.
os.makedirs(args["workdir"], exist_ok=True)
with open(os.path.join(args["workdir"], "results.json"), "w") as f:
  json.dump(dict(final=dict(records=len(rows), last_loss=rows[-1]["loss"])), f)
'''


@pytest.fixture
def fake_sweep(tmp_path):
  """Writes the fake trainer, its config and a sweep file; returns a function that writes a sweep body."""
  (tmp_path / "fake_train.py").write_text(FAKE_TRAIN)
  (tmp_path / "fake_config.py").write_text(FAKE_CONFIG)
  (tmp_path / "fake_eval.py").write_text(FAKE_EVAL)

  def write(body: str, name: str = "tiny.py", header: str | None = None) -> str:
    header = header if header is not None else (
        f"LAUNCHER = {str(tmp_path / 'fake_train.py')!r}\nCONFIG = {str(tmp_path / 'fake_config.py')!r}\n"
        "KIND = 'train'\n")
    path = tmp_path / name
    path.write_text("from experiments.sweep import product, zip_, sweep, chain\n" + header + textwrap.dedent(body))
    return str(path)
  return write


GRID = """
def get_sweep():
  return product(sweep("soft_prompt.t", [16, 64]), sweep("seed", [0, 1]))
"""


def _starts(run):
  with open(os.path.join(run.workdir, "starts.txt")) as f:
    return [int(x) for x in f.read().split()]


# ---------------------------------------------------------------------------------------------------- the grid


def test_product_has_one_run_per_combination_with_the_last_axis_varying_fastest():
  grid = sw.product(sw.sweep("variant", ["np", "mp2", "mp4", "mc"]), sw.sweep("t", [16, 64]), seed=[0, 1])
  assert len(grid) == 16
  assert grid[:3] == [dict(variant="np", t=16, seed=0), dict(variant="np", t=16, seed=1),
                      dict(variant="np", t=64, seed=0)]


def test_zip_pairs_values_element_wise_and_nests_inside_product():
  paired = sw.zip_(sw.sweep("train.lr", [1e-3, 1e-4]), steps=[100, 200])
  assert paired == [{"train.lr": 1e-3, "steps": 100}, {"train.lr": 1e-4, "steps": 200}]
  assert len(sw.product(paired, seed=[0, 1, 2])) == 6


def test_zip_of_unequal_lengths_is_a_user_error_naming_the_lengths():
  with pytest.raises(UserError, match=r"unequal lengths \[2, 3\]"):
    sw.zip_(sw.sweep("a", [1, 2]), sw.sweep("b", [1, 2, 3]))


def test_a_key_set_twice_to_different_values_in_one_run_is_refused():
  with pytest.raises(UserError, match="set twice"):
    sw.product(sw.sweep("seed", [0]), sw.sweep("seed", [1]))


def test_chain_concatenates_grids():
  assert sw.chain(sw.sweep("a", [1, 2]), sw.sweep("b", [3])) == [{"a": 1}, {"a": 2}, {"b": 3}]


# -------------------------------------------------------------------------------------------------------- names


def test_run_name_follows_the_overrides_in_order_with_the_last_part_of_dotted_keys():
  assert sw.run_name({"variant": "mp2", "soft_prompt.t": 16, "seed": 0}) == "variant-mp2_t-16_seed-0"
  assert sw.run_name({"train.lr": 3e-3, "--baseline": True}) == "lr-0.003_baseline-True"
  assert sw.run_name({}) == "default"


def test_run_name_is_filesystem_safe_stable_and_bounded():
  name = sw.run_name({"data.file": "../a b/c*.jsonl"})
  assert name == "file-.._a_b_c_.jsonl" and "/" not in name
  long = {"data.file": "x" * 300}
  assert sw.run_name(long) == sw.run_name(dict(long)) and len(sw.run_name(long)) <= sw.MAX_NAME


def test_runs_whose_names_collide_are_refused(fake_sweep):
  path = fake_sweep("""
  def get_sweep():
    return [{"data.file": "a/b"}, {"data.file": "a_b"}]
                    """, header=None)
  with pytest.raises(UserError, match="both named 'file-a_b'"):
    sw.load_sweep(path, root="/tmp/unused")


# ---------------------------------------------------------------------------------------------------- bad input


def test_a_sweep_file_without_get_sweep_is_one_clear_error(fake_sweep):
  with pytest.raises(UserError, match="defines no get_sweep"):
    sw.load_sweep(fake_sweep("RUNS = []\n"))


def test_an_empty_sweep_is_one_clear_error(fake_sweep):
  with pytest.raises(UserError, match="returned no runs"):
    sw.load_sweep(fake_sweep("def get_sweep():\n  return []\n"))


def test_an_unknown_launcher_is_one_clear_error(fake_sweep, tmp_path):
  missing = fake_sweep(GRID, header=f"LAUNCHER = 'launch/nope.py'\nCONFIG = {str(tmp_path / 'fake_config.py')!r}\n")
  with pytest.raises(UserError, match="unknown launcher 'launch/nope.py'"):
    sw.load_sweep(missing)
  no_kind = fake_sweep(GRID, header=f"LAUNCHER = {str(tmp_path / 'fake_train.py')!r}\n"
                       f"CONFIG = {str(tmp_path / 'fake_config.py')!r}\n")
  with pytest.raises(UserError, match="set KIND"):
    sw.load_sweep(no_kind)


def test_an_override_that_is_no_config_field_or_an_unknown_preset_is_refused_before_anything_runs(fake_sweep):
  with pytest.raises(UserError, match="'soft_prompt.tt' is not a field"):
    sw.load_sweep(fake_sweep("def get_sweep():\n  return product(sweep('soft_prompt.tt', [16]))\n"))
  with pytest.raises(UserError, match="Unknown config preset 'mp9'"):
    sw.load_sweep(fake_sweep("def get_sweep():\n  return product(sweep('preset', ['mp9']))\n"))


def test_the_papers_variant_sweep_expands_into_16_train_runs_with_presets_and_flags():
  grid = sw.load_sweep(os.path.join(REPO, "sweeps", "softsrv_variants.py"), root="/tmp/softsrv_variants")
  assert len(grid.runs) == 16 and {r.kind for r in grid.runs} == {"train"}
  run = next(r for r in grid.runs if r.name == "preset-mp2_t-64_seed-1")
  assert run.command("python") == ["python", "launch/train.py", "--config=configs/mbpp.py:mp2",
                                   "--workdir=/tmp/softsrv_variants/preset-mp2_t-64_seed-1",
                                   "--config.soft_prompt.t=64", "--config.seed=1"]


# ------------------------------------------------------------------------------------------------- local runs


def test_a_local_sweep_runs_every_run_two_at_a_time_and_collects_one_csv_row_each(fake_sweep, tmp_path):
  grid = sw.load_sweep(fake_sweep(GRID), root=str(tmp_path / "root"))
  status = sw.run_local(grid, parallel=2, log=lambda _: None)
  assert status == {r.name: "finished" for r in grid.runs}
  out = sw.write_results(grid)
  with open(out["csv"]) as f:
    rows = list(csv.DictReader(f))
  assert [r["run"] for r in rows] == ["t-16_seed-0", "t-16_seed-1", "t-64_seed-0", "t-64_seed-1"]
  assert list(rows[0]) == ["run", "status", "soft_prompt.t", "seed", "loss", "heldout_loss", "step"]
  assert [(r["soft_prompt.t"], r["seed"], float(r["loss"]), r["step"]) for r in rows] == [
      ("16", "0", 16.0, "3"), ("16", "1", 16.1, "3"), ("64", "0", 64.0, "3"), ("64", "1", 64.1, "3")]
  with open(out["png"], "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert "| t-64_seed-1 | finished | 64 | 1 | 64.1 | 65 | 3 |" in open(out["md"]).read()
  assert "=== " in open(os.path.join(grid.runs[0].workdir, sw.LOG_FILE)).read()


def test_a_rerun_skips_finished_runs(fake_sweep, tmp_path):
  grid = sw.load_sweep(fake_sweep(GRID), root=str(tmp_path / "root"))
  sw.run_local(grid, log=lambda _: None)
  assert sw.run_local(grid, log=lambda _: None) == {r.name: "skipped" for r in grid.runs}
  assert all(_starts(r) == [0] for r in grid.runs)
  assert [p["action"] for p in sw.plan(grid)] == ["skip"] * 4


def test_a_half_finished_sweep_resumes_the_interrupted_run_where_it_stopped(fake_sweep, tmp_path, monkeypatch):
  grid = sw.load_sweep(fake_sweep(GRID), root=str(tmp_path / "root"))
  sw.run_local(sw.Sweep(**{**vars(grid), "runs": grid.runs[:1]}), log=lambda _: None)  # Run 0 finished.
  monkeypatch.setenv("FAKE_CRASH_AT", "3")  # The others stop after step 2 (a preempted job).
  first = sw.run_local(grid, log=lambda _: None)
  assert first == {"t-16_seed-0": "skipped", **{r.name: "failed" for r in grid.runs[1:]}}
  assert [p["action"] for p in sw.plan(grid)] == ["skip", "resume", "resume", "resume"]
  monkeypatch.delenv("FAKE_CRASH_AT")
  lines = []
  second = sw.run_local(grid, log=lines.append)
  assert second == {"t-16_seed-0": "skipped", **{r.name: "finished" for r in grid.runs[1:]}}
  assert [_starts(r) for r in grid.runs] == [[0], [0, 2], [0, 2], [0, 2]]
  assert any(line.startswith("[t-64_seed-1] resuming") for line in lines)
  state = json.load(open(os.path.join(grid.runs[1].workdir, sw.RUN_FILE)))
  assert state["attempts"] == 2 and state["status"] == "finished"


def test_a_sweep_killed_mid_run_stops_its_child_and_the_rerun_resumes_it(fake_sweep, tmp_path, monkeypatch):
  grid = sw.load_sweep(fake_sweep(GRID), root=str(tmp_path / "root"))
  one = sw.Sweep(**{**vars(grid), "runs": grid.runs[:1]})
  metrics = os.path.join(grid.runs[0].workdir, "metrics.jsonl")

  def preempted(*_):
    raise RuntimeError("preempted")

  def kill_after_step_1():  # The sweep process is killed while its run hangs after writing step 1.
    while not (os.path.exists(metrics) and open(metrics).read().count("\n") >= 1):
      time.sleep(0.02)
    os.kill(os.getpid(), signal.SIGUSR1)

  monkeypatch.setenv("FAKE_HANG_AT", "2")
  previous = signal.signal(signal.SIGUSR1, preempted)
  try:
    threading.Thread(target=kill_after_step_1, daemon=True).start()
    with pytest.raises(RuntimeError, match="preempted"):
      sw.run_local(one, log=lambda _: None)
  finally:
    signal.signal(signal.SIGUSR1, previous)
  child = int(open(os.path.join(grid.runs[0].workdir, "pid.txt")).read())
  with pytest.raises(ProcessLookupError):
    os.kill(child, 0)  # The run's process was stopped (and reaped) with the sweep.
  assert json.load(open(os.path.join(grid.runs[0].workdir, sw.RUN_FILE)))["status"] == "interrupted"
  monkeypatch.delenv("FAKE_HANG_AT")
  assert sw.run_local(one, log=lambda _: None) == {"t-16_seed-0": "finished"}
  assert _starts(grid.runs[0]) == [0, 1]


def test_a_work_dir_of_another_sweep_definition_is_refused(fake_sweep, tmp_path):
  grid = sw.load_sweep(fake_sweep(GRID), root=str(tmp_path / "root"))
  sw.run_local(sw.Sweep(**{**vars(grid), "runs": grid.runs[:1]}), log=lambda _: None)
  os.remove(os.path.join(grid.runs[0].workdir, "metrics.jsonl"))  # Unfinished: a rerun would start in it.
  header = (f"LAUNCHER = {str(tmp_path / 'fake_train.py')!r}\n"
            f"CONFIG = {str(tmp_path / 'fake_config.py') + ':np'!r}\nKIND = 'train'\n")
  changed = sw.load_sweep(fake_sweep(GRID, header=header), root=str(tmp_path / "root"))
  with pytest.raises(UserError, match="another sweep definition"):
    sw.run_local(changed, log=lambda _: None)


# ----------------------------------------------------------------------------------------------- finished table


def test_a_train_run_is_finished_by_its_last_metrics_step_or_a_checkpoint_at_the_final_step(fake_sweep, tmp_path):
  run = sw.load_sweep(fake_sweep(GRID), root=str(tmp_path / "root")).runs[0]
  os.makedirs(run.workdir)
  with open(os.path.join(run.workdir, "metrics.jsonl"), "w") as f:
    f.write('{"step": 2, "loss": 1.0}\n{"step": 3, "lo')  # A row cut by a kill.
  assert not sw.is_finished(run)
  os.makedirs(os.path.join(run.workdir, "checkpoints", "3"))
  assert sw.is_finished(run)


def test_a_pipeline_run_is_finished_when_summary_json_and_every_stage_manifest_exist(tmp_path):
  run = sw.Run(name="p", overrides={}, launcher="launch/pipeline.py", config="configs/mbpp.py", kind="pipeline",
               workdir=str(tmp_path))
  os.makedirs(tmp_path / "stages")
  (tmp_path / "summary.json").write_text(json.dumps(dict(stages=[dict(name="train"), dict(name="generate")])))
  (tmp_path / "stages" / "train.json").write_text("{}")
  assert not sw.is_finished(run)
  (tmp_path / "stages" / "generate.json").write_text("{}")
  assert sw.is_finished(run)


def test_an_evaluate_run_is_finished_by_results_json_and_reports_its_final_metric_and_mauve(tmp_path):
  run = sw.Run(name="e", overrides={}, launcher="launch/evaluate.py", config="configs/evaluate.py",
               kind="evaluate", workdir=str(tmp_path))
  assert not sw.is_finished(run)
  (tmp_path / "results.json").write_text(json.dumps(dict(metric="pass_at_1", final=dict(step=40, pass_at_1=0.25),
                                                         mauve=dict(test=dict(mauve=0.8)))))
  assert sw.is_finished(run) and sw.final_metrics(run) == dict(step=40, pass_at_1=0.25, mauve_test=0.8)
  (tmp_path / "results.json").write_text(json.dumps(dict(  # With its test-subset size: the SE; with step 0: it too.
      metric="accuracy", num_eval_examples=200, final=dict(step=20, accuracy=0.6),
      evals=[dict(step=0, accuracy=0.5), dict(step=20, accuracy=0.6)])))
  got = sw.final_metrics(run)
  assert got == dict(step=20, accuracy=0.6, accuracy_se=pytest.approx((0.6 * 0.4 / 200) ** 0.5), accuracy_step0=0.5)


# ------------------------------------------------------------------------------------------------ dependencies

DEPENDENT = """
def get_sweep():
  evaluate = dict(launcher=LAUNCHER.replace("fake_train", "fake_eval"), kind="evaluate")
  return chain(sweep("soft_prompt.t", [16, 64]),
               [dict(evaluate, name="eval-t16", **{"--records": "{workdir:t-16}/metrics.jsonl"}),
                dict(evaluate, name="eval-t64", **{"--records": "{workdir:t-64}/metrics.jsonl"})])
"""


def test_a_run_that_reads_another_runs_work_dir_gets_its_path_and_starts_after_it_finishes(fake_sweep, tmp_path):
  grid = sw.load_sweep(fake_sweep(DEPENDENT), root=str(tmp_path / "root"))
  ev16 = grid.runs[2]
  assert [r.after for r in grid.runs] == [[], [], ["t-16"], ["t-64"]]
  assert f"--records={tmp_path / 'root' / 't-16' / 'metrics.jsonl'}" in ev16.args()
  assert ev16.identity()["overrides"]["--records"] == "{workdir:t-16}/metrics.jsonl"  # Root-independent.
  assert [[r.name for r in w] for w in sw.waves(grid.runs)] == [["t-16", "t-64"], ["eval-t16", "eval-t64"]]
  order = []
  status = sw.run_local(grid, parallel=4, log=order.append)  # Four slots, yet the evals wait for their trainers.
  assert status == {r.name: "finished" for r in grid.runs}
  started = [line.split("]")[0][1:] for line in order if "starting" in line]
  ended = [line.split("]")[0][1:] for line in order if "finished (exit" in line]
  assert started.index("eval-t16") > ended.index("t-16") and started.index("eval-t64") > ended.index("t-64")
  assert sw.final_metrics(ev16) == dict(records=3, last_loss=16.0)


def test_root_in_a_value_is_the_sweep_root_and_implies_no_ordering(fake_sweep, tmp_path):
  grid = sw.load_sweep(fake_sweep("""
def get_sweep():
  return [dict(run, **{"--cache_dir": "{root}/cache"}) for run in sweep("soft_prompt.t", [16, 64])]
                                  """), root=str(tmp_path / "root"))
  assert [r.after for r in grid.runs] == [[], []] and len(sw.waves(grid.runs)) == 1
  assert all(f"--cache_dir={tmp_path / 'root'}/cache" in r.args() for r in grid.runs)
  assert grid.runs[0].identity()["overrides"]["--cache_dir"] == "{root}/cache"  # Root-independent.


def test_a_run_whose_dependency_failed_is_blocked_not_started_and_the_rerun_finishes_both(
    fake_sweep, tmp_path, monkeypatch):
  grid = sw.load_sweep(fake_sweep(DEPENDENT), root=str(tmp_path / "root"))
  monkeypatch.setenv("FAKE_CRASH_AT", "2")
  lines = []
  assert sw.run_local(grid, log=lines.append) == {"t-16": "failed", "t-64": "failed", "eval-t16": "blocked",
                                                  "eval-t64": "blocked"}
  assert not os.path.exists(grid.runs[2].workdir)
  assert any(line.startswith("[eval-t16] blocked: t-16 did not finish") for line in lines)
  monkeypatch.delenv("FAKE_CRASH_AT")
  assert sw.run_local(grid, log=lambda _: None) == {r.name: "finished" for r in grid.runs}
  assert _starts(grid.runs[0]) == [0, 1] and sw.final_metrics(grid.runs[3]) == dict(records=3, last_loss=64.0)


def test_a_reference_to_a_run_not_listed_before_is_one_clear_error(fake_sweep):
  body = """
def get_sweep():
  return [dict(name="eval", **{"--records": "{workdir:train}/m.jsonl"}), dict(name="train")]
"""
  with pytest.raises(UserError, match=r"run 'eval' refers to \{workdir:train\}, which is not a run listed before"):
    sw.load_sweep(fake_sweep(body))


def test_cluster_scripts_of_a_sweep_with_dependencies_submit_one_wave_after_the_other(fake_sweep, tmp_path):
  grid = sw.load_sweep(fake_sweep(DEPENDENT), root=str(tmp_path / "root"))
  sw.write_scripts(grid, xmanager=False)
  scripts = tmp_path / "root" / "scripts"
  submit = [line for line in (scripts / "slurm_submit.sh").read_text().splitlines() if line.startswith("jid=$(")]
  assert submit == ["jid=$(sbatch --parsable --array=0,1 ${jid:+--dependency=afterok:$jid} slurm.sbatch)",
                    "jid=$(sbatch --parsable --array=2,3 ${jid:+--dependency=afterok:$jid} slurm.sbatch)"]
  assert f"--records={tmp_path / 'root' / 't-64' / 'metrics.jsonl'}" in (scripts / "eval-t64.sh").read_text()
  subprocess.run(["bash", str(scripts / "array.sh")], check=True, env={**os.environ, "PYTHON": sys.executable})
  assert all(sw.is_finished(r) for r in grid.runs)  # In list order, every run after the ones it reads.
  namespace = {}
  text = sw.xmanager_script(grid)
  exec(text.split("from absl import app")[1].split("async def launch")[0].replace("from xmanager import xm\n", "")
       .replace("from xmanager import xm_local\n", ""), namespace)
  assert [[j["args"]["workdir"] for j in w] for w in namespace["WAVES"]] == [
      [r.workdir for r in grid.runs[:2]], [r.workdir for r in grid.runs[2:]]]
  assert "await unit.wait_until_complete()" in text


def test_a_nomad_table1_run_is_finished_by_table1_json_and_reports_each_cell_and_student(tmp_path):
  run = sw.Run(name="t1", overrides={"--table1": True}, launcher="launch/nomad.py", config="configs/nomad.py",
               kind="nomad", workdir=str(tmp_path))
  assert not sw.is_finished(run)
  stats = lambda m: dict(n=10, median=m, q1=0.0, q3=1.0, mean=m)
  (tmp_path / "table1.json").write_text(json.dumps(dict(
      rows=[dict(teacher="unmasked", set="filtered", n=36, prompt=stats(0.3), response=stats(0.28)),
            dict(teacher="masked", set="unfiltered", n=0, prompt=None, response=None)],
      student=dict(tasks={"triviaqa": dict(metric="exact_match", num_examples=160)},
                   base={"triviaqa/exact_match": 0.0625},
                   runs={"train": dict(steps=13, records=100, triviaqa=0.05),
                         "unmasked filtered": dict(steps=15, records=136, triviaqa=0.07)}))))
  assert sw.is_finished(run) and sw.final_metrics(run) == {
      "unmasked_filtered_n": 36, "unmasked_filtered_prompt_normsim": 0.3, "unmasked_filtered_response_normsim": 0.28,
      "masked_unfiltered_n": 0, "student_untrained_triviaqa": 0.0625, "student_train_triviaqa": 0.05,
      "student_unmasked_filtered_triviaqa": 0.07, **{  # Each with its binomial standard error on 160 questions.
          f"student_{k}_triviaqa_se": math.sqrt(p * (1 - p) / 160)
          for k, p in (("untrained", 0.0625), ("train", 0.05), ("unmasked_filtered", 0.07))}}
  plain = sw.Run(**{**vars(run), "overrides": {}})  # Without --table1: one pipeline, finished as a pipeline is.
  assert not sw.is_finished(plain)


# ---------------------------------------------------------------------------------------------- cluster scripts


def test_cluster_scripts_have_one_array_line_per_run_a_slurm_header_and_resumable_job_scripts(fake_sweep, tmp_path):
  grid = sw.load_sweep(fake_sweep(GRID), root=str(tmp_path / "root"))
  written = sw.write_scripts(grid, xmanager=False)
  scripts = tmp_path / "root" / "scripts"
  assert sorted(os.path.basename(p) for p in written) == sorted([f"{r.name}.sh" for r in grid.runs] +
                                                                ["array.sh", "slurm.sbatch", "slurm_submit.sh"])
  array, slurm = (scripts / "array.sh").read_text(), (scripts / "slurm.sbatch").read_text()
  for text in (array, slurm):
    assert [line.split()[0] for line in text.splitlines() if line.endswith(".sh'") or ".sh  #" in line] == [
        str(scripts / f"{r.name}.sh") for r in grid.runs]
  assert "#SBATCH --array=0-3" in slurm and "${RUNS[$SLURM_ARRAY_TASK_ID]}" in slurm
  submit = (scripts / "slurm_submit.sh").read_text()  # No run reads another's: one wave of all four.
  assert [line for line in submit.splitlines() if line.startswith("jid=$(")] == [
      "jid=$(sbatch --parsable --array=0,1,2,3 ${jid:+--dependency=afterok:$jid} slurm.sbatch)"]
  job = (scripts / "t-64_seed-1.sh").read_text()
  assert "--config.soft_prompt.t=64 --config.seed=1" in job and f"--workdir={grid.runs[3].workdir}" in job
  assert os.access(scripts / "t-64_seed-1.sh", os.X_OK)
  subprocess.run(["bash", str(scripts / "array.sh"), "3"], check=True, env={**os.environ, "PYTHON": sys.executable})
  assert sw.is_finished(grid.runs[3]) and not sw.is_finished(grid.runs[0])


def test_the_xmanager_script_uses_its_api_and_adds_one_job_per_run_without_importing_it(fake_sweep, tmp_path):
  grid = sw.load_sweep(fake_sweep(GRID.replace('sweep("seed", [0, 1])', 'sweep("--verbose", [True, False])')),
                       root=str(tmp_path / "root"))
  text = sw.xmanager_script(grid)
  compile(text, "xm_launch.py", "exec")
  for call in ("from xmanager import xm_local", "xm_local.create_experiment(", "xm.Packageable(",
               "xm.PythonContainer(", "experiment.package(", "experiment.add(xm.Job(", "xm_local.Local()"):
    assert call in text
  namespace = {}
  exec(text.split("from absl import app")[1].split("async def launch")[0].replace("from xmanager import xm\n", "")
       .replace("from xmanager import xm_local\n", ""), namespace)
  jobs = namespace["WAVES"][0]  # One wave: no run reads another's work dir.
  assert len(namespace["WAVES"]) == 1 and len(jobs) == 4 and jobs[2]["args"] == {
      "config": grid.runs[2].config, "workdir": grid.runs[2].workdir, "config.soft_prompt.t": "64", "verbose": True}
  assert jobs[3]["args"]["noverbose"] is True
  assert "xmanager" not in sys.modules


# ----------------------------------------------------------------------------------------------------- launcher


def test_launch_sweep_dry_run_lists_every_run_and_a_bad_sweep_exits_2_with_one_line(fake_sweep, tmp_path):
  env = {**os.environ, "PYTHONPATH": REPO}
  dry = subprocess.run([sys.executable, "launch/sweep.py", f"--sweep={fake_sweep(GRID)}", "--dry_run",
                        f"--root={tmp_path / 'root'}"], cwd=REPO, capture_output=True, text=True, env=env)
  assert dry.returncode == 0 and dry.stdout.count("start  t-") == 4 and not (tmp_path / "root").exists()
  bad_file = fake_sweep("X = 1\n", name="bad.py")
  bad = subprocess.run([sys.executable, "launch/sweep.py", f"--sweep={bad_file}"], cwd=REPO, capture_output=True,
                       text=True, env=env)
  assert bad.returncode == 2 and bad.stderr.strip().startswith("error: Sweep file") and "\n" not in bad.stderr.strip()


def test_the_comparison_plot_draws_a_line_over_the_plot_axis_per_group_of_the_other_overrides(fake_sweep, tmp_path):
  grid = sw.load_sweep(fake_sweep("PLOT_AXIS = 'soft_prompt.t'\nMETRICS = ['loss']\n" + GRID),
                       root=str(tmp_path / "root"))
  sw.run_local(grid, log=lambda _: None)
  columns, rows = sw.collect(grid)
  assert sw.metric_columns(grid, columns, rows) == ["loss"]
  assert sw.line_groups(grid, rows, "loss") == {"seed=0": [(16, 16.0, None), (64, 64.0, None)],
                                                "seed=1": [(16, 16.1, None), (64, 64.1, None)]}
  assert sw.write_results(grid)["png"].endswith("comparison.png")


def test_plot_lines_are_told_apart_only_by_keys_that_differ_at_one_axis_value(fake_sweep, tmp_path):
  body = """
PLOT_AXIS = "soft_prompt.t"
def get_sweep():  # train.steps follows t, so it splits no line; seed does.
  return product(zip_(sweep("soft_prompt.t", [16, 64]), sweep("train.steps", [2, 3])), sweep("seed", [0, 1]))
"""
  grid = sw.load_sweep(fake_sweep(body), root=str(tmp_path / "root"))
  rows = [dict(run=r.name, **r.overrides, loss=float(i)) for i, r in enumerate(grid.runs)]
  assert sw.line_groups(grid, rows, "loss") == {"seed=0": [(16, 0.0, None), (64, 2.0, None)],
                                                "seed=1": [(16, 1.0, None), (64, 3.0, None)]}
  one = [row for row in rows if row["seed"] == 0]
  assert sw.line_groups(grid, one, "loss") == {"loss": [(16, 0.0, None), (64, 2.0, None)]}


# ------------------------------------------------------------------------------------------ the papers' sweeps


def _paper(name):
  return sw.load_sweep(os.path.join(REPO, "sweeps", f"{name}.py"), root=f"/tmp/{name}")


def test_table5_sweeps_run_the_three_softsrv_variants_and_both_prompt_baselines_on_the_sweep_preset():
  for task in ("mbpp", "gsm8k"):
    grid = _paper(f"softsrv_table5_{task}")
    assert [r.name for r in grid.runs] == ["preset-np", "preset-mp2", "preset-mc", "method-pt", "method-pt_sr"]
    assert [r.config for r in grid.runs[:3]] == [f"configs/{task}.py:sweep,{v}" for v in ("np", "mp2", "mc")]
    assert {r.kind for r in grid.runs} == {"pipeline"} and grid.metrics == ("mauve_train", "mauve_test")
    configs = [sw.load_config(r) for r in grid.runs]
    assert [c.pipeline.method for c in configs] == ["softsrv"] * 3 + ["pt", "pt_sr"]
    assert all(c.generate.num_samples == 96 and c.postprocess.num_subsample == 64 and c.mauve.num_examples == 64
               and not c.pipeline.answer for c in configs)
    assert (configs[4].baseline.rounds, configs[4].baseline.sr_max_new_tokens) == (1, 64)  # LIGHT_PT_SR.
    # Every run shares one memo folder under the sweep root: E(x), the reference folds' MAUVE features, PT calls.
    assert {(c.context.cache_dir, c.mauve.cache_dir, c.baseline.cache_dir) for c in configs} == {
        (f"/tmp/softsrv_table5_{task}/cache",) * 3}
  assert [sw.load_config(r).train.steps for r in _paper("softsrv_table5_mbpp").runs] == [25] * 5
  assert [sw.load_config(r).train.steps for r in _paper("softsrv_table5_gsm8k").runs] == [20] * 5


def test_figure7_and_figure5_sweep_k_and_the_pt_diversification():
  fig7 = _paper("softsrv_figure7")
  assert [sw.load_config(r).soft_prompt.k for r in fig7.runs] == [1, 2, 4, 8] and fig7.plot_axis == "soft_prompt.k"
  assert {sw.load_config(r).soft_prompt.variant for r in fig7.runs} == {"mp"}
  assert [r.name for r in fig7.runs] == ["k-1", "k-2", "k-4", "k-8"]
  assert {(c.train.steps, c.generate.num_samples, c.context.cache_dir) for c in map(sw.load_config, fig7.runs)} == {
      (25, 96, "/tmp/softsrv_figure7/cache")}
  fig5 = _paper("softsrv_figure5")
  assert [sw.load_config(r).pipeline.method for r in fig5.runs] == ["pt", "pt_undiversified"]


def test_figure4_trains_students_on_growing_prefixes_of_one_pipelines_records_after_it_finishes():
  grid = _paper("softsrv_figure4")
  assert [r.name for r in grid.runs] == ["ss_mc", "ns-32", "ns-64", "ns-128"]
  assert [[r.name for r in w] for w in sw.waves(grid.runs)] == [["ss_mc"], ["ns-32", "ns-64", "ns-128"]]
  assert sw.load_config(grid.runs[0]).pipeline.answer is True
  students = [sw.load_config(r) for r in grid.runs[1:]]
  assert [c.max_records for c in students] == [32, 64, 128] and {c.eval.num_examples for c in students} == {200}
  assert [c.sft.eval_every for c in students] == [10, 0, 0]  # Only the first scores the untrained student too.
  assert "--records=/tmp/softsrv_figure4/ss_mc/answer/records.jsonl" in grid.runs[2].args()
  assert "--task=boolq" in grid.runs[1].args() and grid.runs[1].kind == "evaluate"


def test_table3_mixes_80_percent_general_instructions_with_softsrv_or_train_records():
  grid = _paper("softsrv_table3")
  assert [r.name for r in grid.runs] == ["ss_mc", "mix-ss_mc", "mix-train"]
  assert [r.after for r in grid.runs] == [[], ["ss_mc"], []]
  for run in grid.runs[1:]:
    c = sw.load_config(run)
    assert (c.mix.general, c.mix.general_share, c.mix.num_records, c.max_records) == ("lima,alpaca", 0.8, 320, 64)
  assert "--baseline" in grid.runs[2].args() and not any(a.startswith("--records") for a in grid.runs[2].args())


def test_nomad_table1_is_one_nomad_run_of_the_table1_preset():
  grid = _paper("nomad_table1")
  (run,) = grid.runs
  assert run.kind == "nomad" and run.command("python") == [
      "python", "launch/nomad.py", "--config=configs/nomad.py:table1", "--workdir=/tmp/nomad_table1/table1",
      "--table1"]


def test_a_metric_with_a_standard_error_is_drawn_with_error_bars_not_as_a_panel_of_its_own(fake_sweep, tmp_path):
  grid = sw.load_sweep(fake_sweep("PLOT_AXIS = 'soft_prompt.t'\n" + GRID), root=str(tmp_path / "root"))
  rows = [dict(run=r.name, **r.overrides, accuracy=0.5 + i / 10, accuracy_se=0.03) for i, r in enumerate(grid.runs)]
  columns = ["run", "status", "soft_prompt.t", "seed", "accuracy", "accuracy_se"]
  assert sw.metric_columns(grid, columns, rows) == ["accuracy"]
  assert [se for points in sw.line_groups(grid, rows, "accuracy").values() for _, _, se in points] == [0.03] * 4
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots()
  sw.plot_lines(ax, grid, rows, "accuracy")
  bars = [c for c in ax.containers if isinstance(c, matplotlib.container.ErrorbarContainer)]
  assert len(bars) == 2 and all(c.has_yerr for c in bars)  # One line per seed, each with +- 1 SE.
  plt.close(fig)


def test_a_sigtermed_sweep_stops_its_child_exits_75_and_the_rerun_resumes_it(fake_sweep, tmp_path):
  path = fake_sweep(GRID)
  grid = sw.load_sweep(path, root=str(tmp_path / "root"))
  metrics = os.path.join(grid.runs[0].workdir, "metrics.jsonl")
  env = dict(os.environ, PYTHONPATH=REPO, FAKE_HANG_AT="2")
  cmd = [sys.executable, os.path.join(REPO, "launch", "sweep.py"), f"--sweep={path}", f"--root={tmp_path / 'root'}"]
  proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  deadline = time.time() + 120
  while not (os.path.exists(metrics) and open(metrics).read().count("\n") >= 1) and time.time() < deadline:
    time.sleep(0.05)  # The first run hangs after writing step 1.
  proc.send_signal(signal.SIGTERM)
  out, _ = proc.communicate(timeout=120)
  assert proc.returncode == 75, out
  assert "stopped by SIGTERM: stopping 1 run(s)" in out
  child = int(open(os.path.join(grid.runs[0].workdir, "pid.txt")).read())
  with pytest.raises(ProcessLookupError):
    os.kill(child, 0)  # The run's process was stopped (and reaped) with the sweep.
  assert json.load(open(os.path.join(grid.runs[0].workdir, sw.RUN_FILE)))["status"] == "interrupted"
  env.pop("FAKE_HANG_AT")
  rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
  assert rerun.returncode == 0, rerun.stdout + rerun.stderr
  assert _starts(grid.runs[0]) == [0, 1]


def test_a_run_that_exits_75_is_interrupted_not_failed(fake_sweep, tmp_path):
  grid = sw.load_sweep(fake_sweep(GRID), root=str(tmp_path / "root"))
  assert sw.finish_run(grid.runs[0], 75, lambda _: None) == "interrupted"
  assert sw.finish_run(grid.runs[0], 3, lambda _: None) == "failed"
