r"""SoftSRV Table 5 on GSM8K at CPU scale: MAUVE of SS_NP, SS_MP2, SS_MC, PT and PT_SR questions against the train
and the test fold (and train vs test), 5 pipeline runs.

NOTE: the PT / PT_SR / undiversified-PT figures below were measured with the earlier reconstructed templates;
softsrv/templates.py now holds Appendix C verbatim (one train example per call, 'Question k:' items, PT_SR's
Stop in the refine output), so those rows are to be rerun and restated; the SoftSRV rows are unaffected.

Command:
  python launch/sweep.py --sweep=sweeps/softsrv_table5_gsm8k.py
  python launch/report.py --workdir=workdirs/sweeps/softsrv_table5_gsm8k

Each run is `launch/pipeline.py --config=configs/gsm8k.py:sweep[,<variant>]` (the `sweep` preset: questions only,
no answer stage, MAUVE with SmolLM2-135M features) with `sweeps._pipeline_runs` on top, as the MBPP table: LIGHT
(96 questions generated, N_s = 64 kept, MAUVE on 64 texts a side) at 20 training steps instead of 25 (a GSM8K step
costs ~8 s against MBPP's ~5: x is up to 64 tokens, not 32), LIGHT_PT_SR (one critique -> refine round of at most
64 tokens) and CACHES (E(x), the reference folds' features and the PT calls computed once under `<root>/cache`).

Measured 2026-12-03 on the 2-core CPU, one run at a time: 1,409 s (23.5 minutes) for the sweep; a 10-second test job
shared the machine during SS_NP, which also paid for E(x) over the 951 train questions and both folds' features.

| method | held-out loss | kept | MAUVE vs train | MAUVE vs test | seconds |
|---|---:|---:|---:|---:|---:|
| SS_NP | 2.669 | 64 | 0.009 | 0.021 | 556 |
| SS_MP2 | 2.691 | 64 | 0.013 | 0.011 | 251 |
| SS_MC | 2.315 | 64 | 0.164 | 0.107 | 218 |
| PT | - | 64 | 0.041 | 0.055 | 111 |
| PT_SR | - | 48 | 0.059 | 0.057 | 253 |
| train vs test | | | | 0.985 | |

Paper: its MAUVE table's GSM8K figures are not reproduced here (not at hand offline); its claim is that SoftSRV's
data matches the target distribution better than the hard-prompting baselines on each domain. Agrees: SS_MC is the
best method here by a wide margin (about 2x PT and PT_SR against the test fold, 3-4x against the train fold). PT_SR
is level with PT against the test fold (0.057 vs 0.055) and above it against the train fold (0.059 vs 0.041), but
with 48 and 64 texts a side these MAUVE values are too small and too noisy to rank the two. Disagrees, as on MBPP:
SS_NP and SS_MP2 score about as low as the baselines, because 20 CPU steps leave them far from the format (held-out
loss 2.67-2.69 against SS_MC's 2.32). PT's 10 calls listed 69 questions; PT_SR refined 62 of them once (no critique
said "Stop"), and the 270M model's refinements collapse to generic lines ("What is the correct answer?" 8 times,
"What is the answer?" 7), so 21 are exact duplicates (48 kept). The absolute values are not comparable with the
paper's: 64 texts a side, SmolLM2 features (train vs test 0.985).
"""
from experiments.sweep import chain, run_name, sweep
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
