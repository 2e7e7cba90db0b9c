r"""SoftSRV Table 5 on MBPP at CPU scale: MAUVE of SS_NP, SS_MP2, SS_MC, PT and PT_SR questions against the train
and the test fold (and train vs test), 5 pipeline runs.

Command:
  python launch/sweep.py --sweep=sweeps/softsrv_table5_mbpp.py
  python launch/report.py --workdir=workdirs/sweeps/softsrv_table5_mbpp

Each run is `launch/pipeline.py --config=configs/mbpp.py:sweep[,<variant>]` (the `sweep` preset: questions only,
no answer stage, MAUVE with SmolLM2-135M features) with what LIGHTER sets on top so five runs fit 30 minutes: 25
training steps, 96 questions generated, N_s = 64 kept after dedup / subsampling / decontamination, MAUVE on 64 texts
a side, and one critique -> refine round of at most 64 tokens each for PT_SR (the paper's R is larger); the PT runs
set `pipeline.method`.

Measured 2026-12-02 on the 2-core CPU **before LIGHTER** (60 steps, 256 generated, N_s = 128, MAUVE on 128 a side;
PT_SR with 2 rounds of 128 tokens), partly while other jobs ran: 3,890 s (65 minutes) in all, 2,354 s of it PT_SR's
generation; on 2026-12-03 the SS_NP run alone at 40 steps took 11.5 minutes (train 391 s: E pass 43 s, first step
68 s with compilation, then 4.8 s/step; generate 188 s; MAUVE 106 s). Hence LIGHTER, measured below.

| method | held-out loss | kept | MAUVE vs train | MAUVE vs test | seconds |
|---|---:|---:|---:|---:|---:|
| SS_NP | 3.145 | 128 | 0.005 | 0.006 | 433 |
| SS_MP2 | 3.229 | 128 | 0.008 | 0.008 | 423 |
| SS_MC | 1.785 | 128 | 0.933 | 0.897 | 389 |
| PT | - | 128 | 0.036 | 0.044 | 291 |
| PT_SR | - | 115 | 0.140 | 0.153 | 2,354 |
| train vs test | | | | 0.939 | |

Paper (Table 4, MBPP, MAUVE against the test fold): SS_MC 0.477, PT 0.463, train 0.963. Agrees: SS_MC is the best
method and PT_SR improves on PT. Disagrees: SS_NP and SS_MP2 score below PT here; at 60 CPU steps their held-out
loss (3.1-3.2) is far from SS_MC's (1.8), so they have not learned the format yet (the paper trains 20K steps), and
SS_MC's MAUVE here is close to train vs test, far above the paper's, because the CPU MAUVE uses 128 texts a side
and SmolLM2 features with about 13 clusters (the paper: thousands of texts, 32 clusters, a larger feature model).
"""
from datasynth.sweep import chain, run_name, sweep
from sweeps._pipeline_runs import CACHES, LIGHT, LIGHT_PT_SR

LAUNCHER = "launch/pipeline.py"
CONFIG = "configs/mbpp.py:sweep"
METRICS = ("mauve_train", "mauve_test")  # comparison.png: a bar pair per method.


def get_sweep():
  runs = chain(
      sweep("preset", ["np", "mp2", "mc"]),  # SS_NP (Eq. 1), SS_MP2 (Eq. 2), SS_MC (Eq. 3).
      sweep("pipeline.method", ["pt", "pt_sr"]),  # The prompt-template baselines (softsrv.baselines).
  )
  return [{"name": run_name(run), **run, **LIGHT, **LIGHT_PT_SR, **CACHES} for run in runs]  # Named by the method alone.
