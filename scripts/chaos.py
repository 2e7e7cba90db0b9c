r"""Fault injection: kill -9 training (and generation) at random moments, restart until done, compare bitwise.

  python scripts/chaos.py --trials=5 --kills=2 [--jobs=softsrv,sft,generate,student,pipeline,nomad] [--seed=0]

Each job runs as a real subprocess on tiny settings (two tiny random Llamas with SmolLM2's tokenizer, saved as Orbax
model folders and passed as model.name=<folder>, so nothing heavy loads). First one uninterrupted reference run; then
K trials, each starting the job in a fresh work dir and sending SIGKILL at seeded random moments up to --kills times,
restarting after each kill, and letting the last start finish. A moment is drawn uniformly over the reference run's
working time, counted from when the job pins its run (run_config.json appears: interpreter start-up and imports,
where a kill tests nothing, are skipped), or over the whole run with --from_start.
Checks per trial: the final checkpoint (parameters, optimizer state, RNG, step) is bitwise equal to the reference's;
metrics.jsonl and the TensorBoard events hold each logged step exactly once, the same steps as the reference; and for
generation, the items are 0..N-1 without duplicates or gaps and equal the reference's text; for the student stage, every
run's checkpoint and logged steps as for training, and its results table (every score, step count and run) equal to
the reference's.
Prints a table: job, trials, kills, resumes, mismatches, clean stops. Exit status 1 when anything mismatched.

--signal=TERM sends SIGTERM instead of SIGKILL (a scheduler's preemption): an interrupted run must exit 75 (stopped
at a step or chunk boundary after saving it, or at once when no job was running yet; `datasynth.utils.interrupt`), or
-15 when the signal came while the interpreter was starting, before the launcher installed its handler; any other
status is a failure. The same checks
follow. `--signal=TERM --trials=10 --kills=3 --jobs=softsrv,sft,generate` makes up to 90 interruptions.

Jobs:
  softsrv   `launch/train.py --config=configs/mbpp.py` with tiny H and E (12 steps, checkpoint every 2).
  sft       `datasynth.train.sft.train_sft` on 24 MBPP records with the tiny H as the student (10 steps, save every 2);
            run through this script's own `--worker=sft` entry point.
  generate  `launch/generate.py` into chunk files + manifest.json, from a trained reference work dir; enabled when
            launch/generate.py writes chunked output (datasynth.jobs.chunked), else reported as skipped.
  student   NOMAD's student stage (`nomad.student.run_students`): the tiny H as the student, 12 Alpaca first rounds
            as X_train and 8 MBPP records as a synthetic set, so three SFT runs (train, train_2x, the mixture; save
            every step), each scored zero-shot on 6 TriviaQA questions; run through `--worker=student`.
  pipeline  `launch/pipeline.py --config=configs/mbpp.py` on the tiny models: train (6 steps) -> generate 16 ->
            postprocess to 8 -> dataset/ (no answer or MAUVE stage); checks the training and generation as above,
            the post-processing counts and the published dataset/data/train.jsonl byte for byte.
  nomad     `launch/nomad.py --config=configs/nomad.py:tiny` with the tiny H as the teacher's base model: teacher (8
            steps on 12 Alpaca conversations, checkpoint every 2) -> 16 conversations from "User: " in chunks of 4 ->
            parsing and filters -> NormSim; checks the teacher as for training, the conversations as for generation,
            and the later stages' counts.
"""
from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from datasynth.data.records import load_task  # noqa: E402
from datasynth.models.config import make_config  # noqa: E402
from datasynth.models.decoder import Decoder  # noqa: E402
from datasynth.models.loaders import LoadedModel, load_model, save_orbax  # noqa: E402
from datasynth.train import metrics as metrics_lib, sft  # noqa: E402
from nomad import config as nomad_config, pipeline, student  # noqa: E402

SOFTSRV_STEPS, SFT_STEPS = 12, 10
# What a job writes once start-up is over (kill moments count from it): the pinned run config, the manifest.
PIN = {"softsrv": "run_config.json", "sft": "run_config.json", "generate": "manifest.json",
       "student": "base_scores.json", "pipeline": "train/run_config.json", "nomad": "teacher/run_config.json"}


@dataclasses.dataclass
class Tally:
  job: str
  trials: int = 0
  kills: int = 0
  resumes: int = 0
  mismatches: int = 0
  notes: list = dataclasses.field(default_factory=list)
  stops: int = 0  # --signal=TERM: interruptions that ended in a clean stop (exit 75, the boundary saved).


# ----------------------------------------------------------------------------------------------------- the jobs
def make_tiny_models(folder: str) -> tuple[str, str]:
  """Two tiny random Llamas (H: width 32, E: width 24) with SmolLM2's tokenizer, as Orbax model folders."""
  import flax.linen as nn
  import jax
  import numpy as np
  tok = load_model("smollm2-135m").tokenizer
  paths = []
  for name, seed, width in (("h", 0, 32), ("e", 1, 24)):
    cfg = make_config("llama", vocab_size=tok.vocab_size, width=width, num_layers=2, num_heads=4, num_kv_heads=2,
                      head_dim=8, mlp_dim=64, max_len=256, bos_id=tok.bos_id, eos_id=tok.eos_id, pad_id=tok.pad_id)
    params = nn.meta.unbox(Decoder(cfg).init(jax.random.key(seed), np.zeros((1, 4), np.int32))["params"])
    path = os.path.join(folder, name)
    save_orbax(LoadedModel(cfg, jax.tree.map(np.asarray, params), tok, path), path)
    paths.append(path)
  return paths[0], paths[1]


def softsrv_command(workdir: str, models: tuple[str, str], data_dir: str) -> list[str]:
  h, e = models
  over = dict(model_name=h, context_model=e)
  sets = {"model.name": over["model_name"], "context.model": over["context_model"], "data.data_dir": data_dir,
          "data.limit": 40, "data.heldout": 8, "data.max_len": 40, "soft_prompt.t": 4, "soft_prompt.hidden": 16,
          "context.max_len": 32, "context.batch_size": 16, "train.steps": SOFTSRV_STEPS, "train.batch_size": 8,
          "train.warmup_steps": 1, "train.log_every": 1, "train.eval_every": 3, "train.loss_chunk": 8,
          "train.num_devices": 1, "checkpoint.save_every": 2, "show_progress": False,
          "generate.num_samples": 24, "generate.batch_size": 4, "generate.chunk": 8, "generate.max_new_tokens": 8}
  return [sys.executable, os.path.join(REPO, "launch", "train.py"), "--config=" + os.path.join(REPO, "configs",
                                                                                              "mbpp.py"),
          f"--workdir={workdir}", *[f"--config.{k}={v}" for k, v in sets.items()]]


def pipeline_command(workdir: str, models: tuple[str, str], data_dir: str) -> list[str]:
  """The SoftSRV pipeline on the tiny models: train -> generate -> postprocess -> the dataset folder (no answer or
  MAUVE stage). Known limit: the tiny random H, prompted with [P][BOS], copies BOS and writes questions that decode to
  "", and post-processing now drops empty questions and stops when none remain, so this job fails at its reference
  run until the tiny H writes text (the suite's trials leave it out)."""
  cmd = softsrv_command(workdir, models, data_dir)
  cmd[1] = os.path.join(REPO, "launch", "pipeline.py")
  h, e = models
  sets = {"train.steps": 6, "generate.num_samples": 16, "postprocess.num_subsample": 8,
          "postprocess.svd_components": 4, "postprocess.clusters": 2, "pipeline.answer": False,
          "pipeline.mauve": False}
  return cmd + [f"--config.{k}={v}" for k, v in sets.items()]


def check_pipeline(workdir: str, ref: str) -> list[str]:
  """Every stage finished with the reference's counts; the trained theta, the generated items and the published
  records are the reference's, byte for byte."""
  problems = check_training(os.path.join(workdir, "train"), os.path.join(ref, "train"))
  problems += check_generation(os.path.join(workdir, "generate"), os.path.join(ref, "generate"))
  for name in ("postprocess",):
    with open(os.path.join(workdir, "stages", f"{name}.json")) as f, open(os.path.join(ref, "stages",
                                                                                       f"{name}.json")) as g:
      got, want = json.load(f), json.load(g)
    if got.get("counts") != want.get("counts"):
      problems.append(f"stage {name} counts {got.get('counts')} != reference {want.get('counts')}")
  with open(os.path.join(workdir, "dataset", "data", "train.jsonl"), "rb") as f, open(
      os.path.join(ref, "dataset", "data", "train.jsonl"), "rb") as g:
    if f.read() != g.read():
      problems.append("dataset/data/train.jsonl differs from the uninterrupted run's")
  return problems


def nomad_command(workdir: str, models: tuple[str, str], data_dir: str) -> list[str]:
  """NOMAD's pipeline (`launch/nomad.py`, preset tiny) with the tiny H as the teacher's base model: teacher (8 SFT
  steps, checkpoint every 2) -> generation from "User: " (16 items in chunks of 4) -> parsing and filters ->
  NormSim."""
  sets = {"model": models[0], "data.data_dir": data_dir, "data.subset_size": 12, "sft.steps": 8, "sft.save_every": 2,
          "sft.log_every": 1, "generate.num_samples": 16, "generate.chunk_size": 4, "generate.max_new_tokens": 16}
  return [sys.executable, os.path.join(REPO, "launch", "nomad.py"),
          "--config=" + os.path.join(REPO, "configs", "nomad.py") + ":tiny", f"--workdir={workdir}",
          *[f"--config.{k}={v}" for k, v in sets.items()]]


def check_nomad(workdir: str, ref: str) -> list[str]:
  """The teacher as for training, the generated conversations as for generation, and every later stage's counts."""
  problems = check_training(os.path.join(workdir, "teacher"), os.path.join(ref, "teacher"))
  problems += check_generation(os.path.join(workdir, "generate"), os.path.join(ref, "generate"))
  for name in ("parse_filter", "normsim"):
    with open(os.path.join(workdir, "stages", f"{name}.json")) as f, open(os.path.join(ref, "stages",
                                                                                       f"{name}.json")) as g:
      got, want = json.load(f), json.load(g)
    if got.get("counts") != want.get("counts"):
      problems.append(f"stage {name} counts {got.get('counts')} != reference {want.get('counts')}")
  return problems


def generate_command(workdir: str, models: tuple[str, str], data_dir: str, out_dir: str) -> list[str]:
  cmd = softsrv_command(workdir, models, data_dir)
  cmd[1] = os.path.join(REPO, "launch", "generate.py")
  return cmd + [f"--out_dir={out_dir}"]


def sft_command(workdir: str, models: tuple[str, str], data_dir: str) -> list[str]:
  return [sys.executable, os.path.abspath(__file__), "--worker=sft", f"--workdir={workdir}", f"--model={models[0]}",
          f"--data_dir={data_dir}"]


def sft_worker(workdir: str, model_path: str, data_dir: str) -> None:
  """The SFT job: the tiny H fine-tuned (full) on 24 MBPP records with prompt masking."""
  records = load_task("mbpp", "train", data_dir)[:24]
  cfg = sft.SFTConfig(steps=SFT_STEPS, batch_size=4, seq_len=96, lr=1e-3, warmup_steps=1, log_every=1,
                      save_every=2, keep=2)
  sft.train_sft(records, load_model(model_path), cfg, workdir, show_progress=False)


def student_command(workdir: str, models: tuple[str, str], data_dir: str) -> list[str]:
  return [sys.executable, os.path.abspath(__file__), "--worker=student", f"--workdir={workdir}",
          f"--model={models[0]}", f"--data_dir={data_dir}"]


def student_worker(workdir: str, model_path: str, data_dir: str) -> None:
  """The student job: NOMAD's student stage on the tiny H (three runs, each scored on 6 TriviaQA questions)."""
  c = nomad_config.get_config("tiny")
  c.data.data_dir, c.data.subset_size = data_dir, 12
  s = c.student
  s.model, s.tasks, s.mode, s.batch_size = model_path, "triviaqa", "sft", 3
  s.num_examples.triviaqa, s.max_new_tokens.triviaqa = 6, 3
  s.sft.update(seq_len=64, batch_size=2, lr=1e-3, warmup_steps=0, log_every=1, save_every=1, keep=2)
  student.run_students(c, workdir, pipeline.original_records(c),
                       {"synthetic": load_task("mbpp", "train", data_dir)[:8]})


def check_student(workdir: str, ref: str) -> list[str]:
  problems = []
  runs, got = (sorted(os.listdir(os.path.join(d, "runs"))) for d in (ref, workdir))
  if got != runs:
    return [f"run folders {got} != reference {runs}"]
  for run in runs:
    problems += [f"{run}: {p}" for p in check_training(os.path.join(workdir, "runs", run),
                                                       os.path.join(ref, "runs", run))]
  with open(os.path.join(workdir, "results.json")) as f, open(os.path.join(ref, "results.json")) as g:
    if json.load(f) != json.load(g):
      problems.append("results.json (scores, steps, runs) differs from the uninterrupted run's")
  return problems


def generation_is_chunked() -> bool:
  """Whether launch/generate.py (being rewritten) writes chunk-XXXXX.jsonl files and a manifest."""
  with open(os.path.join(REPO, "launch", "generate.py")) as f:
    launcher = f.read()
  with open(os.path.join(REPO, "softsrv", "generate.py")) as f:
    library = f.read()
  return "chunked" in launcher + library


# --------------------------------------------------------------------------------------------------- the checks
def final_state(workdir: str) -> tuple[int, dict]:
  """(step, {leaf path: numpy array}) of the latest checkpoint in a work dir."""
  import jax
  import numpy as np
  import orbax.checkpoint as ocp
  ckdir = os.path.join(workdir, "checkpoints")
  steps = sorted(int(d) for d in os.listdir(ckdir) if d.isdigit())
  with ocp.StandardCheckpointer() as ckpt:
    tree = ckpt.restore(os.path.join(ckdir, str(steps[-1]), "default"))
  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  unkey = lambda v: jax.random.key_data(v) if jax.dtypes.issubdtype(v.dtype, jax.dtypes.prng_key) else v
  return steps[-1], {jax.tree_util.keystr(k): np.asarray(unkey(v)) for k, v in flat}


def bitwise_equal(a: dict, b: dict) -> bool:
  return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and
                                      a[k].tobytes() == b[k].tobytes() for k in a)


def logged_steps(workdir: str) -> tuple[list[int], list[int]]:
  """Steps with a loss in metrics.jsonl, and in the TensorBoard events (each in file order)."""
  rows = metrics_lib.MetricsWriter(workdir, tensorboard=False).read()
  tb = metrics_lib.read_tensorboard_scalars(os.path.join(workdir, "tensorboard"))
  return [r["step"] for r in rows if "loss" in r], sorted(s for s, tag, _ in tb if tag == "loss")


def generated_items(out_dir: str) -> list[tuple[int, str]]:
  rows = []
  for path in sorted(glob.glob(os.path.join(out_dir, "**", "*.jsonl"), recursive=True)):
    with open(path) as f:
      rows += [json.loads(line) for line in f if line.strip()]
  return sorted((int(r["item"]), r["text"]) for r in rows)


def check_training(workdir: str, ref: str) -> list[str]:
  problems = []
  step, state = final_state(workdir)
  ref_step, ref_state = final_state(ref)
  if step != ref_step or not bitwise_equal(state, ref_state):
    problems.append(f"final checkpoint (step {step}) differs from the uninterrupted run's (step {ref_step})")
  steps, tb_steps = logged_steps(workdir)
  ref_steps, _ = logged_steps(ref)
  if steps != ref_steps:
    problems.append(f"metrics.jsonl steps {steps} != reference {ref_steps}")
  if tb_steps != ref_steps:
    problems.append(f"TensorBoard steps {tb_steps} != reference {ref_steps}")
  return problems


def check_generation(out_dir: str, ref_dir: str) -> list[str]:
  items, ref = generated_items(out_dir), generated_items(ref_dir)
  ids = [i for i, _ in items]
  problems = []
  if ids != list(range(len(ref))):
    problems.append(f"items {ids[:5]}... ({len(ids)}) are not 0..{len(ref) - 1} exactly once")
  elif items != ref:
    problems.append("generated texts differ from the uninterrupted run's")
  return problems


# ----------------------------------------------------------------------------------------------------- running
def run_to_end(cmd: list[str], env: dict, marker: str | None = None, timeout: float = 900) -> float:
  """Run to completion; returns the seconds from when `marker` appeared (from the start without one) to the end."""
  t0 = time.perf_counter()
  p = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  seen = wait_for(marker, p) if marker else t0
  _, err = p.communicate(timeout=timeout)
  if p.returncode != 0:
    raise RuntimeError(f"{' '.join(cmd[:3])} failed ({p.returncode}):\n{err[-3000:]}")
  return time.perf_counter() - (seen or t0)


def wait_for(marker: str, p: subprocess.Popen) -> float | None:
  """Poll until `marker` exists (returns that moment) or the process ends (None)."""
  while p.poll() is None:
    if os.path.exists(marker):
      return time.perf_counter()
    time.sleep(0.05)
  return None


def run_with_kills(cmd: list[str], env: dict, rng: random.Random, kills: int, span: float, log,
                   marker: str | None = None, signum: int = signal.SIGKILL) -> tuple[int, int, float | None, int]:
  """Start `cmd`, send `signum` at up to `kills` random moments in [0, span) (restarting each time), then let it
  finish.

  Moments count from when `marker` appears (from the start without one). Returns (kills delivered, restarts,
  seconds of a run that ended before its kill moment, or None, clean stops). Such a run ends the trial early (that
  kill is not delivered); the caller then aims later trials inside that run's time. SIGTERM: the run must exit 75
  (a clean stop) or -15 (killed in interpreter start-up, before the launcher's handler); anything else raises.
  """
  delivered, restarts, stops = 0, 0, 0
  for attempt in range(kills + 1):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if attempt < kills:
      at = rng.uniform(0.0, span)
      seen = wait_for(marker, p) if marker else t0
      try:
        p.wait(timeout=max(at - (time.perf_counter() - (seen or t0)), 0.0))
      except subprocess.TimeoutExpired:
        p.send_signal(signum)
        _, err = p.communicate(timeout=900)
        if p.returncode == 0:  # It finished before the signal landed.
          return delivered, restarts, None, stops
        if signum == signal.SIGTERM and p.returncode not in (75, -signal.SIGTERM):
          raise RuntimeError(f"SIGTERM: exit status {p.returncode}, expected 75 (or -15 in start-up):\n{err[-3000:]}")
        delivered += 1
        restarts += 1
        stops += p.returncode == 75
        log(f"    {signal.Signals(signum).name} at {at:.1f}s (exit {p.returncode}); restart")
        continue
    _, err = p.communicate(timeout=900)
    if p.returncode != 0:
      raise RuntimeError(f"restarted job failed ({p.returncode}):\n{err[-3000:]}")
    return delivered, restarts, (time.perf_counter() - (seen or t0)) if attempt < kills else None, stops
  return delivered, restarts, None, stops


def job_env() -> dict:
  env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), JAX_PLATFORMS="cpu")
  env.pop("XLA_FLAGS", None)  # One CPU device, as an ordinary run.
  # No persistent compilation cache (the test suite sets one): the reference run would fill it and the trials load
  # from it, so they would finish in a fraction of the reference's time and every kill moment would miss.
  env.pop("JAX_COMPILATION_CACHE_DIR", None)
  return env


def chaos(jobs: list[str], trials: int, kills: int, seed: int, root: str, data_dir: str, log=print,
          from_start: bool = False, signum: int = signal.SIGKILL) -> list[Tally]:
  env = job_env()
  models = make_tiny_models(os.path.join(root, "models"))
  tallies = []
  for job in jobs:
    tally = Tally(job)
    tallies.append(tally)
    if job == "generate" and not generation_is_chunked():
      tally.notes.append("skipped: launch/generate.py does not write chunked output yet")
      continue
    rng = random.Random(f"{seed}-{job}")
    ref = os.path.join(root, job, "reference")
    build, check = _job(job, models, data_dir, root)
    marker = (lambda wd: None) if from_start else (lambda wd: os.path.join(wd, PIN[job]))
    span = run_to_end(build(ref), env, marker(ref))
    log(f"{job}: reference run {span:.1f}s {'in all' if from_start else 'after ' + PIN[job] + ' appeared'}")
    for trial in range(trials):
      workdir = os.path.join(root, job, f"trial{trial}")
      delivered, restarts, early, stops = run_with_kills(build(workdir), env, rng, kills, span, log, marker(workdir),
                                                         signum)
      if early is not None:
        span = min(span, 0.9 * early)
      problems = check(workdir, ref)
      tally.trials += 1
      tally.kills += delivered
      tally.resumes += restarts
      tally.stops += stops
      tally.mismatches += bool(problems)
      tally.notes += [f"trial {trial}: {p}" for p in problems]
      log(f"  {job} trial {trial}: {delivered} kill(s), {'OK' if not problems else '; '.join(problems)}")
  return tallies


def _job(job: str, models, data_dir: str, root: str):
  if job == "softsrv":
    return (lambda wd: softsrv_command(wd, models, data_dir)), check_training
  if job == "sft":
    return (lambda wd: sft_command(wd, models, data_dir)), check_training
  if job == "student":
    return (lambda wd: student_command(wd, models, data_dir)), check_student
  if job == "pipeline":
    return (lambda wd: pipeline_command(wd, models, data_dir)), check_pipeline
  if job == "nomad":
    return (lambda wd: nomad_command(wd, models, data_dir)), check_nomad
  if job == "generate":  # All trials generate from one trained work dir, each into its own out dir.
    trained = os.path.join(root, "generate", "trained")
    if not os.path.exists(os.path.join(trained, "checkpoints")):
      run_to_end(softsrv_command(trained, models, data_dir), job_env())
    return ((lambda out: generate_command(trained, models, data_dir, out)),
            lambda out, ref: check_generation(out, ref))
  raise ValueError(f"Unknown job {job!r}; expected softsrv, sft, generate, student, pipeline or nomad.")


def table(tallies: list[Tally]) -> str:
  lines = ["| job | trials | kills | resumes | mismatches | clean stops (75) |", "|---|---:|---:|---:|---:|---:|"]
  lines += [f"| {t.job} | {t.trials} | {t.kills} | {t.resumes} | {t.mismatches} | {t.stops} |" for t in tallies]
  notes = [f"- {t.job}: {n}" for t in tallies for n in t.notes]
  return "\n".join(lines + ([""] + notes if notes else []))


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--jobs", default="softsrv,sft,generate,student",
                  help="comma-separated: softsrv, sft, generate, student, pipeline, nomad")
  ap.add_argument("--trials", type=int, default=5, help="trials per job (K)")
  ap.add_argument("--kills", type=int, default=2, help="SIGKILLs per trial (restarted after each)")
  ap.add_argument("--seed", type=int, default=0, help="seeds the kill moments")
  ap.add_argument("--from_start", action="store_true", help="draw kill moments over the whole run, start-up too")
  ap.add_argument("--signal", default="KILL", choices=["KILL", "TERM"],
                  help="KILL (kill -9) or TERM (preemption: the job must stop cleanly with exit status 75)")
  ap.add_argument("--keep", default=None, help="work under this folder and keep it (default: a temp dir, removed)")
  ap.add_argument("--data_dir", default=None,
                  help="benchmark data (default: $DATASYNTH_DATA, ../shared/data, the bundled copy)")
  ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
  ap.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
  ap.add_argument("--model", default=None, help=argparse.SUPPRESS)
  args = ap.parse_args(argv)
  data_dir = args.data_dir or ""  # "": the default folders (datasynth.data.sources.data_dirs).
  if args.worker in ("sft", "student"):
    (sft_worker if args.worker == "sft" else student_worker)(args.workdir, args.model, data_dir)
    return 0
  root = args.keep or tempfile.mkdtemp(prefix="chaos-")
  try:
    tallies = chaos(args.jobs.split(","), args.trials, args.kills, args.seed, root, data_dir,
                    log=lambda *a: print(*a, flush=True), from_start=args.from_start,
                    signum=getattr(signal, "SIG" + args.signal))
  finally:
    if not args.keep:
      shutil.rmtree(root, ignore_errors=True)
  print(table(tallies))
  return 1 if any(t.mismatches for t in tallies) else 0


if __name__ == "__main__":
  sys.exit(main())
