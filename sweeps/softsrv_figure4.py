r"""SoftSRV Figure 4 at CPU scale: the student's BoolQ accuracy as the synthetic set grows (N_s = 32, 64, 128).

Command:
  python launch/sweep.py --sweep=sweeps/softsrv_figure4.py
  python launch/report.py --workdir=workdirs/sweeps/softsrv_figure4

Runs (4, in two waves; `launch/sweep.py --dry_run` lists them):
- `ss_mc`: `launch/pipeline.py --config=configs/boolq.py:sweep` with the answer stage on: SS_MC (30 steps) writes 256
  passage + question pairs, post-processing keeps N_s = 128, SmolLM2-135M-Instruct answers each (up to 48 tokens),
  giving `answer/records.jsonl`. MAUVE is off here (Table 5 measures it).
- `ns-32`, `ns-64`, `ns-128`: `launch/evaluate.py --task=boolq` fine-tunes SmolLM2-135M fully on the first N_s of
  those records for about two epochs (N_s / 3 steps of 2 x 256 packed tokens), then scores 200 BoolQ test
  questions by log-likelihood (" True" vs " False" after "Answer:", the harness's zero-shot prompt, so the score
  does not depend on the answer model's wording). `ns-32` also scores the untrained student (`accuracy_step0`).
  `accuracy_se` is the binomial standard error of each figure (about 0.035 at n = 200).
Each student run starts once `ss_mc` has finished (it reads `{workdir:ss_mc}`); a cluster runs them as a second wave.

Deviation from the paper: the paper fine-tunes Gemma 2B on up to 100K examples per method and task; here one CPU
task (BoolQ, the only one where a 135M student scores above zero) and hundreds of examples.
Runtime: not measured yet on the idle 2-core CPU (estimated 20-25 minutes: pipeline ~9, students ~5, four
evaluations of 200 questions ~2 each).
"""
from datasynth.sweep import chain

LAUNCHER = "launch/pipeline.py"
CONFIG = "configs/boolq.py:sweep"
METRICS = ("accuracy",)
PLOT_AXIS = "max_records"
SIZES = (32, 64, 128)  # N_s: the first N of the 128 kept and answered questions.


def student(n: int, first: bool) -> dict:
  return {"name": f"ns-{n}", "launcher": "launch/evaluate.py", "config": "configs/evaluate.py",
          "--task": "boolq", "--records": "{workdir:ss_mc}/answer/records.jsonl", "max_records": n,
          "sft.steps": max(1, n // 3), "sft.eval_every": max(1, n // 3) if first else 0,
          "sft.save_every": max(1, n // 3), "eval.mode": "few_shot", "eval.num_examples": 200,
          "eval.batch_size": 8}


def get_sweep():
  pipeline = {"name": "ss_mc", "pipeline.answer": True, "pipeline.mauve": False, "answer.max_new_tokens": 48}
  return chain([pipeline], [student(n, first=i == 0) for i, n in enumerate(SIZES)])
