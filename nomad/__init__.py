"""NOMAD: a teacher fine-tuned without prompt masking that writes whole conversations (Chen et al.).

- `conversations`: conversations (LIMA, Alpaca, JSON Lines) in the "User: ... Assistant: ..." template, seeded
  subsets, the teacher's examples with or without prompt masking.
- `teacher`, `config`: the teacher trained through `datasynth.train.sft` (configs/nomad.py).
- `generate`: sampling from the bare prefix "User: " with the trained teacher.
- `parse`: the first round of a continuation of "User: ", or why it is rejected.
- `filters`: repetition and coding-keyword filters with removal counts.
- `student`: the student trained on X_train + the synthetic set against X_train alone, and its scores.
- `pipeline`: the stages in one work dir, and the Table 1 driver.
- `results`: a finished run's work dir read back (finished or not, final metrics; the sweep and report ask it).
NormSim lives in `datasynth.evals.normsim` (any method's synthetic data can be scored with it).
"""
