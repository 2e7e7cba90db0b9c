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

Measured on the idle 2-core CPU, the runs one after another: 2026-12-02 18:46-19:15, about 29 minutes for the sweep.
`ss_mc` 16 minutes (train 532 s: E over 660 passages, then 30 steps at ~11 s/step; generate 256 s; postprocess 2.7 s:
0 duplicates, 0 sharing a 13-gram with the test fold, 128 kept of 256; answer 159 s: 128 answered, 0 empty),
`mix-ss_mc` about 9 minutes (40 SFT steps at ~6 s/step, two 200-question evaluations of ~90 s), `mix-train` about 5
minutes. `mix-train` was rerun alone on 2026-12-03, when the machine ran the same SFT step at ~10 s: 556 s.

| student trained on (320 records, 80% LIMA + Alpaca) | steps | train loss | BoolQ accuracy (n = 200) |
|---|---:|---:|---|
| nothing (untrained SmolLM2-135M) | 0 | - | 0.525 +- 0.035 |
| + 20% SS_MC records (`mix-ss_mc`) | 40 | 1.826 | 0.595 +- 0.035 |
| + 20% BoolQ train records (`mix-train`) | 40 | 2.484 | 0.455 +- 0.035 |

Against the paper: its Table 3 asks whether SS_MC data can stand in for the task's real train data in a fixed
mixture; its figures are not available offline here, so only the question is compared, not numbers. Here the SS_MC
mixture gives the best student, +0.07 over the untrained one (1.4 SE of the difference, not distinguishable from
noise) and +0.14 over the train-data mixture (2.8 SE). The train-data mixture scores below the untrained student:
it answers False on 132 of the 200 test questions although 44 of its 64 BoolQ records answer True (and 125 of the
200 test questions are True). Each record is a passage of up to ~250 tokens with a one-token answer, so 40 steps
move the True / False prior more than they teach the decision; not investigated further.
"""
from experiments.sweep import chain
from sweeps._boolq_students import RECORDS, pipeline, student

LAUNCHER = "launch/pipeline.py"
CONFIG = "configs/boolq.py:sweep"
METRICS = ("accuracy",)
MIXTURE = {"mix.general": "lima,alpaca", "mix.general_share": 0.8, "mix.num_records": 320, "max_records": 64}


def get_sweep():
  return chain([pipeline()], [student("mix-ss_mc", 40, True, **{"--records": RECORDS}, **MIXTURE),
                              student("mix-train", 40, False, **{"--baseline": True}, **MIXTURE)])
