r"""SoftSRV Table 5 on GSM8K at CPU scale: MAUVE of SS_NP, SS_MP2, SS_MC, PT and PT_SR questions against the train
and the test fold (and train vs test), 5 pipeline runs.

Command:
  python launch/sweep.py --sweep=sweeps/softsrv_table5_gsm8k.py
  python launch/report.py --workdir=workdirs/sweeps/softsrv_table5_gsm8k

Each run is `launch/pipeline.py --config=configs/gsm8k.py:sweep[,<variant>]` (the `sweep` preset: 40 training steps (the GSM8K CPU default),
256 questions generated, N_s = 128 kept after dedup / subsampling / decontamination, MAUVE on 128 texts a side with
SmolLM2-135M features, no answer stage), and PT_SR with one critique -> refine round of at most 64 tokens each
(LIGHTER: the MBPP sweep's PT_SR took 39 minutes alone with 2 rounds of 128); the PT runs set `pipeline.method`.
Runtime: not measured yet (the MBPP table, 5 runs of the same shape, took 65 minutes before LIGHTER).
"""
from datasynth.sweep import chain, run_name, sweep
from sweeps._pipeline_runs import CACHES, LIGHT, LIGHT_PT_SR

LAUNCHER = "launch/pipeline.py"
CONFIG = "configs/gsm8k.py:sweep"
METRICS = ("mauve_train", "mauve_test")  # comparison.png: a bar pair per method.


# GSM8K steps cost ~8 s against MBPP's ~5 (x up to 64 tokens, not 32), hence 20 steps, not LIGHT's 25.
LIGHTER = {**LIGHT, "train.steps": 20, **LIGHT_PT_SR}


def get_sweep():
  runs = chain(
      sweep("preset", ["np", "mp2", "mc"]),  # SS_NP (Eq. 1), SS_MP2 (Eq. 2), SS_MC (Eq. 3).
      sweep("pipeline.method", ["pt", "pt_sr"]),  # The prompt-template baselines (softsrv.baselines).
  )
  return [{"name": run_name(run), **run, **LIGHTER, **CACHES} for run in runs]  # Named by the method alone.
