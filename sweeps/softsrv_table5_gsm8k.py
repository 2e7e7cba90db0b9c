r"""SoftSRV Table 5 on GSM8K at CPU scale: MAUVE of SS_NP, SS_MP2, SS_MC, PT and PT_SR questions against the train
and the test fold (and train vs test), 5 pipeline runs.

Command:
  python launch/sweep.py --sweep=sweeps/softsrv_table5_gsm8k.py
  python launch/report.py --workdir=workdirs/sweeps/softsrv_table5_gsm8k

Each run is `launch/pipeline.py --config=configs/gsm8k.py:sweep[,<variant>]` (the `sweep` preset: questions only,
no answer stage, MAUVE with SmolLM2-135M features) with `sweeps._pipeline_runs` on top, as the MBPP table: LIGHT
(96 questions generated, N_s = 64 kept, MAUVE on 64 texts a side) at 20 training steps instead of 25 (a GSM8K step
costs ~8 s against MBPP's ~5: x is up to 64 tokens, not 32), LIGHT_PT_SR (one critique -> refine round of at most
64 tokens) and CACHES (E(x), the reference folds' features and the PT calls computed once under `<root>/cache`).

Runtime: not measured yet.
"""
from datasynth.sweep import chain, run_name, sweep
from sweeps._pipeline_runs import CACHES, LIGHT, LIGHT_PT_SR

LAUNCHER = "launch/pipeline.py"
CONFIG = "configs/gsm8k.py:sweep"
METRICS = ("mauve_train", "mauve_test")  # comparison.png: a bar pair per method.


# A GSM8K step costs ~8 s against MBPP's ~5 (x up to 64 tokens, not 32): 20 steps, not LIGHT's 25.
LIGHTER = {**LIGHT, "train.steps": 20, **LIGHT_PT_SR}


def get_sweep():
  runs = chain(
      sweep("preset", ["np", "mp2", "mc"]),  # SS_NP (Eq. 1), SS_MP2 (Eq. 2), SS_MC (Eq. 3).
      sweep("pipeline.method", ["pt", "pt_sr"]),  # The prompt-template baselines (softsrv.baselines).
  )
  return [{"name": run_name(run), **run, **LIGHTER, **CACHES} for run in runs]  # Named by the method alone.
