"""Evaluation: MAUVE (distribution match), a sandbox for untrusted Python, and task harnesses.

- `mauve`: features (mean-pooled decoder hidden states), joint PCA + k-means quantisation, divergence curve, area.
- `sandbox`: run model-written Python with namespaces, resource limits, its own uid and a wall-clock kill.
- `normsim`: NormSim (max cosine similarity to the original set, NOMAD Sec. 5), blocked; Figure 2's curve.
- `mbpp`, `gsm8k`, `boolq`, `triviaqa`: prompts, answer extraction and scoring; each takes a model callable
  (`generate_fn: list[str] -> list[str]` or `loglik_fn: list[(context, continuation)] -> list[float]`).
- `lm`: those callables implemented with our Decoder (greedy generation, continuation log-likelihood).
- `baseline`: base-model numbers on each harness (`python -m datasynth.evals.baseline`).
- `student_eval`: the fine-tuned student's evaluation (task metrics with standard errors, multi-task, metric-vs-steps
  PNG).
May import `datasynth.utils`, `models`, `sharding`, `decode`, `train` and `data`. This file imports nothing, so
importing one harness (`from datasynth.evals import mbpp`) does not load the others.
"""
