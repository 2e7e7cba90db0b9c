"""Training shared by every trainer (SoftSRV embeddings, SFT of students and teachers).

- `state`: `TrainState` and the optimizer / schedule; `checkpoint`: the pinned Orbax checkpointer and read-only
  restore; `metrics`: JSON Lines + TensorBoard + PNG curves; `finite`: the non-finite guard.
- `loop`: the one train loop; `losses`: the next-token NLL; `sft`: supervised fine-tuning with or without prompt
  masking.
May import `datasynth.utils`, `datasynth.models`, `datasynth.sharding` and `datasynth.data`.
"""
