"""Flax decoders (Gemma 1/2/3, Llama, Qwen2) and sentence encoders, their configs, checkpoint loaders (GGUF, HF
folders, Orbax), tokenizers, LoRA, and the lazy cache of a pipeline's models by role. May import `datasynth.utils`.
Import the submodules themselves (`from datasynth.models.loaders import load_model`): this file imports nothing."""
