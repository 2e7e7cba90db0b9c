r"""SoftSRV Table 3 at CPU scale: a student trained on a fixed 80% / 20% mixture of general instructions and either
SS_MC data or the task's train data, scored on BoolQ.

Command:
  python launch/sweep.py --sweep=sweeps/softsrv_table3.py
  python launch/report.py --workdir=workdirs/sweeps/softsrv_table3

Runs (3, in two waves):
- `ss_mc`: `launch/pipeline.py --config=configs/boolq.py:sweep` with the answer stage on (as in
  sweeps/softsrv_figure4.py): 128 SS_MC passage + question pairs answered by SmolLM2-135M-Instruct.
- `mix-ss_mc`: `launch/evaluate.py --task=boolq --records={workdir:ss_mc}/answer/records.jsonl
  --config.mix.general=lima,alpaca`: 64 task records in a 320-record mixture, 80% LIMA + Alpaca
  (`../shared/data/instruct`, standing in for Gemma 2's post-training data), drawn at exact quotas
  (`datasynth.data.mixture`); 40 full fine-tuning steps of SmolLM2-135M (2 x 256 tokens), then 200 BoolQ test
  questions by log-likelihood with the binomial SE. It also scores the untrained student (`accuracy_step0`).
- `mix-train`: the same with `--baseline`: the 64 task records come from BoolQ's train set.

Deviation from the paper: Gemma 2B students on the real post-training mixture there; SmolLM2-135M, 320 records and
one task here.
Runtime: not measured yet on the idle 2-core CPU (estimated about 20 minutes: pipeline ~9, two students ~3 each,
three evaluations of 200 questions ~2 each).
"""
from datasynth.sweep import chain
from sweeps._boolq_students import RECORDS, pipeline, student

LAUNCHER = "launch/pipeline.py"
CONFIG = "configs/boolq.py:sweep"
METRICS = ("accuracy",)
MIXTURE = {"mix.general": "lima,alpaca", "mix.general_share": 0.8, "mix.num_records": 320, "max_records": 64}


def get_sweep():
  return chain([pipeline()], [student("mix-ss_mc", 40, True, **{"--records": RECORDS}, **MIXTURE),
                              student("mix-train", 40, False, **{"--baseline": True}, **MIXTURE)])
