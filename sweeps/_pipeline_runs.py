"""What the SoftSRV pipeline sweeps of Table 5 and Figure 7 share (not a sweep itself: a leading underscore).

- `CACHES`: one memo folder under the sweep root for E(x) of the train set, the MAUVE features of the train and
  test folds and the PT calls (`datasynth.jobs.memo`), which every pipeline run of a task would otherwise compute anew
  (PT_SR's first phase is PT's calls). Results do not change; the files are content-addressed and written
  atomically, so runs in parallel or on a cluster may share it.
- `LIGHT`: what brings 4-5 pipeline runs under 30 minutes on the 2 cores, on top of the `sweep` preset (60 steps
  for MBPP, 256 generated, N_s = 128, MAUVE on 128 texts a side: 65 minutes for the MBPP Table 5): 25 training
  steps, 96 questions generated, N_s = 64 kept, MAUVE on 64 texts a side.
- `LIGHT_PT_SR`: one critique -> refine round of at most 64 tokens for PT_SR (the paper's R is larger; 2 rounds of
  128 took 39 minutes alone in the MBPP Table 5).
"""

CACHES = {f"{section}.cache_dir": "{root}/cache" for section in ("context", "mauve", "baseline")}
LIGHT = {"train.steps": 25, "generate.num_samples": 96, "postprocess.num_subsample": 64, "mauve.num_examples": 64}
LIGHT_PT_SR = {"baseline.rounds": 1, "baseline.sr_max_new_tokens": 64}
