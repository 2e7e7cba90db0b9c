"""Tokenizers for the decoders: one wrapper over two backends.

- SentencePiece (Gemma): the model proto is rebuilt from a GGUF vocabulary (pieces, scores, types, byte fallback)
  or read from `tokenizer.model`. The `sentencepiece` library gives the same ids as Gemma's TensorFlow-text
  tokenizer, so TensorFlow is not needed.
- Hugging Face `tokenizers` (Llama-3 style and GPT-2 style byte-level BPE, e.g. SmolLM2): built from a GGUF vocabulary
  and merges or read from `tokenizer.json`.

BOS is added by this wrapper (never by the backend) according to `add_bos`, so a tokenizer converted from GGUF does not
silently prepend a token the original model never saw (SmolLM2's GGUF names `<|im_start|>` as BOS but the original
tokenizer adds none).
"""
from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np

from datasynth.utils.errors import UserError

SPM_FILE = "tokenizer.model"
HF_FILE = "tokenizer.json"
META_FILE = "tokenizer_meta.json"


class _SentencePiece:
  kind = "sentencepiece"

  def __init__(self, proto: bytes):
    import sentencepiece as spm
    self.proto = proto
    self.sp = spm.SentencePieceProcessor(model_proto=proto)

  def encode(self, text: str) -> list[int]:
    return self.sp.encode(text)

  def decode(self, ids: Sequence[int]) -> str:
    return self.sp.decode(list(ids))

  def piece(self, i: int) -> str:
    return self.sp.id_to_piece(i)

  @property
  def vocab_size(self) -> int:
    return self.sp.get_piece_size()

  def is_special(self, i: int) -> bool:
    return self.sp.is_control(i) or self.sp.is_unknown(i)

  def save(self, folder: str) -> None:
    with open(os.path.join(folder, SPM_FILE), "wb") as f:
      f.write(self.proto)


class _HFTokenizers:
  kind = "hf_tokenizers"

  def __init__(self, tok):
    self.tok = tok
    self._special = {t.content for t in tok.get_added_tokens_decoder().values() if t.special}

  def encode(self, text: str) -> list[int]:
    return self.tok.encode(text, add_special_tokens=False).ids

  def decode(self, ids: Sequence[int]) -> str:
    return self.tok.decode(list(ids), skip_special_tokens=False)

  def piece(self, i: int) -> str:
    return self.tok.id_to_token(i)

  @property
  def vocab_size(self) -> int:
    return self.tok.get_vocab_size(with_added_tokens=True)

  def is_special(self, i: int) -> bool:
    return self.tok.id_to_token(i) in self._special

  def save(self, folder: str) -> None:
    self.tok.save(os.path.join(folder, HF_FILE))


class Tokenizer:
  """encode/decode with explicit BOS/EOS handling and batch padding."""

  def __init__(self, backend, *, bos_id: int | None, eos_id: int | None, pad_id: int | None, add_bos: bool):
    self.backend = backend
    self.bos_id, self.eos_id, self.add_bos = bos_id, eos_id, add_bos
    self.pad_id = pad_id if pad_id is not None else (eos_id if eos_id is not None else 0)

  @property
  def vocab_size(self) -> int:
    return self.backend.vocab_size

  def encode(self, text: str, *, add_bos: bool | None = None, add_eos: bool = False) -> list[int]:
    ids = self.backend.encode(text)
    if (self.add_bos if add_bos is None else add_bos) and self.bos_id is not None:
      ids = [self.bos_id] + ids
    if add_eos and self.eos_id is not None:
      ids = ids + [self.eos_id]
    return ids

  def decode(self, ids: Sequence[int], *, skip_special: bool = True) -> str:
    ids = [int(i) for i in ids]
    if skip_special:
      ids = [i for i in ids if not self.backend.is_special(i)]
    return self.backend.decode(ids)

  def pieces(self, ids: Sequence[int]) -> list[str]:
    return [self.backend.piece(int(i)) for i in ids]

  def pad_batch(self, batch: Sequence[Sequence[int]], *, length: int | None = None,
                side: str = "right") -> tuple[np.ndarray, np.ndarray]:
    """Pad id lists to `length` (default: the longest). Returns int32 ids [B, L] and a bool mask of real tokens.

    A sequence longer than `length` is an error naming its index, never a silent truncation.
    """
    if side not in ("left", "right"):
      raise UserError(f"side must be 'left' or 'right', got {side!r}.")
    longest = max((len(s) for s in batch), default=0)
    length = longest if length is None else length
    ids = np.full((len(batch), length), self.pad_id, np.int32)
    mask = np.zeros((len(batch), length), bool)
    for row, seq in enumerate(batch):
      if len(seq) > length:
        raise UserError(f"Sequence {row} has {len(seq)} tokens, more than the allowed {length}; "
                        "shorten the text or raise the maximum length.")
      sl = slice(0, len(seq)) if side == "right" else slice(length - len(seq), length)
      ids[row, sl], mask[row, sl] = seq, True
    return ids, mask

  def encode_batch(self, texts: Sequence[str], *, length: int | None = None, side: str = "right",
                   add_bos: bool | None = None, add_eos: bool = False) -> tuple[np.ndarray, np.ndarray]:
    return self.pad_batch([self.encode(t, add_bos=add_bos, add_eos=add_eos) for t in texts], length=length, side=side)

  # Persistence: the backend's own file plus a small JSON of ids.
  def save(self, folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    self.backend.save(folder)
    meta = dict(kind=self.backend.kind, bos_id=self.bos_id, eos_id=self.eos_id, pad_id=self.pad_id,
                add_bos=self.add_bos)
    with open(os.path.join(folder, META_FILE), "w") as f:
      json.dump(meta, f)

  @classmethod
  def load(cls, folder: str) -> "Tokenizer":
    with open(os.path.join(folder, META_FILE)) as f:
      meta = json.load(f)
    kind = meta.pop("kind")
    if kind == "sentencepiece":
      with open(os.path.join(folder, SPM_FILE), "rb") as f:
        backend = _SentencePiece(f.read())
    else:
      import tokenizers
      backend = _HFTokenizers(tokenizers.Tokenizer.from_file(os.path.join(folder, HF_FILE)))
    return cls(backend, **meta)


def sentencepiece_from_vocab(pieces: Sequence[str], scores: Sequence[float], types: Sequence[int], *,
                             bos_id: int, eos_id: int, unk_id: int, pad_id: int | None,
                             add_bos: bool, add_dummy_prefix: bool) -> Tokenizer:
  """Rebuild a SentencePiece BPE model (Gemma) from its vocabulary. Types use SentencePiece's numbering
  (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte), which GGUF keeps."""
  from sentencepiece import sentencepiece_model_pb2 as pb
  m = pb.ModelProto()
  for piece, score, typ in zip(pieces, scores, types):
    if int(typ) == 4:  # llama.cpp writes user-defined pieces with plain spaces ("pre-normalised"); SentencePiece
      piece = piece.replace(" ", "\u2581")  # matches them after escaping spaces to U+2581, as the original stores.
    sp = m.pieces.add()
    sp.piece, sp.score, sp.type = piece, float(score), int(typ)
  m.trainer_spec.model_type = pb.TrainerSpec.BPE
  m.trainer_spec.vocab_size = len(pieces)
  m.trainer_spec.byte_fallback = any(int(t) == 6 for t in types)
  m.trainer_spec.unk_id, m.trainer_spec.bos_id, m.trainer_spec.eos_id = unk_id, bos_id, eos_id
  m.trainer_spec.pad_id = -1 if pad_id is None else pad_id
  m.normalizer_spec.name = "identity"
  m.normalizer_spec.add_dummy_prefix = add_dummy_prefix
  m.normalizer_spec.remove_extra_whitespaces = False
  m.normalizer_spec.escape_whitespaces = True
  return Tokenizer(_SentencePiece(m.SerializeToString()), bos_id=bos_id, eos_id=eos_id, pad_id=pad_id,
                   add_bos=add_bos)


# Pre-tokenizer splits of llama.cpp's `tokenizer.ggml.pre` names for byte-level BPE vocabularies.
_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def byte_level_bpe_from_vocab(pieces: Sequence[str], merges: Sequence[str], types: Sequence[int], *, pre: str,
                              bos_id: int | None, eos_id: int | None, pad_id: int | None,
                              add_bos: bool) -> Tokenizer:
  """Rebuild a GPT-2 style byte-level BPE tokenizer (SmolLM2, Llama 3, Qwen2) from its vocabulary and merges."""
  import tokenizers
  from tokenizers import decoders, models, pre_tokenizers
  vocab = {p: i for i, p in enumerate(pieces)}
  tok = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m.split(" ", 1)) for m in merges],
                                        fuse_unk=False, byte_fallback=False))
  byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
  if pre in ("smollm", "gpt2", "default", "starcoder"):
    # Digits one by one (SmolLM/StarCoder), then GPT-2's regex.
    steps = [pre_tokenizers.Digits(individual_digits=True)] if pre in ("smollm", "starcoder") else []
    tok.pre_tokenizer = pre_tokenizers.Sequence(steps + [byte_level])
  elif pre in ("llama-bpe", "llama3", "qwen2"):
    split = tokenizers.Regex(_LLAMA3_SPLIT)
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(split, behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
  else:
    raise UserError(f"Unsupported byte-level pre-tokenizer {pre!r} in the GGUF vocabulary; "
                    "supported: smollm, starcoder, gpt2, default, llama-bpe, qwen2.")
  tok.decoder = decoders.ByteLevel()
  special = [tokenizers.AddedToken(p, special=True, normalized=False)
             for p, t in zip(pieces, types) if int(t) in (3, 4)]
  tok.add_special_tokens(special)
  return Tokenizer(_HFTokenizers(tok), bos_id=bos_id, eos_id=eos_id, pad_id=pad_id, add_bos=add_bos)


def load_hf_tokenizer(folder: str, *, add_bos: bool, bos_id: int | None, eos_id: int | None,
                      pad_id: int | None) -> Tokenizer:
  """Tokenizer of a Hugging Face model folder: tokenizer.json if present, else the SentencePiece tokenizer.model."""
  json_path, spm_path = os.path.join(folder, HF_FILE), os.path.join(folder, SPM_FILE)
  if os.path.exists(json_path):
    import tokenizers
    backend = _HFTokenizers(tokenizers.Tokenizer.from_file(json_path))
  elif os.path.exists(spm_path):
    with open(spm_path, "rb") as f:
      backend = _SentencePiece(f.read())
  else:
    raise UserError(f"No {HF_FILE} or {SPM_FILE} in {folder}; copy the model's tokenizer files there.")
  return Tokenizer(backend, bos_id=bos_id, eos_id=eos_id, pad_id=pad_id, add_bos=add_bos)
