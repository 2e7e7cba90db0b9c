"""Flax decoders (Gemma 1/2/3, Llama, Qwen2), their checkpoint loaders and tokenizers."""
from datasynth.models.config import DecoderConfig, make_config
from datasynth.models.decoder import Decoder, DecoderOutput, attach_prefix, cast_params, init_cache, unstack_layers
from datasynth.models.loaders import LoadedModel, load_gguf, load_hf, load_model, load_orbax, save_orbax
from datasynth.models.tokenizer import Tokenizer
