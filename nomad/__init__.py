"""NOMAD: a teacher fine-tuned without prompt masking that writes whole conversations (Chen et al.).

- `chat`: conversations (LIMA, Alpaca, JSON Lines) in the "User: ... Assistant: ..." template, seeded subsets, the
  teacher's examples with or without prompt masking.
- `teacher`, `config`: the teacher trained through `datasynth.train.sft` (configs/nomad.py).
- `parse`: the first round of a continuation of "User: ", or why it is rejected.
- `filters`: repetition and coding-keyword filters with removal counts.
NormSim lives in `datasynth.evals.normsim` (any method's synthetic data can be scored with it).
"""
