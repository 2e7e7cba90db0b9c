"""Shared machinery of the learned synthetic-data generators; it knows no method (neither `softsrv` nor `nomad`).

Subpackages, each importing only those listed before it (and `sharding`, which sits on `models`):
- `utils`: atomic file writes, `UserError`, the progress bar, the launchers' CLI wrapper, the work-dir lock, stop
  signals. Imports nothing else of the project.
- `models`: Flax decoders and sentence encoders, their configs, checkpoint loaders, tokenizers, LoRA.
- `sharding` (a module): the mesh and logical-axis partition rules.
- `decode`: token choice, the compiled prefill / decode kernels, static and continuous batching, `sample_text`,
  chat templates.
- `data`: task data sets with one record type, the on-disk layouts, mixtures, the bundled copies.
- `train`: train state and optimizer, checkpoints, metrics, the non-finite guard, the one loop, losses, SFT (which
  reads `data` records).
- `evals`: MAUVE, NormSim, the task harnesses, the fine-tuned student's evaluation (may import all of the above).
- `postprocess`: dedup, decontamination, diversity subsampling (may import all of the above).
- `jobs`: staged work dirs, chunked resumable output, memo, compiled-program release, answers (may import all of
  the above).
Above `datasynth`: the methods (`softsrv`, `nomad`), then `experiments` (sweeps, reports), then `launch/`.
"""
