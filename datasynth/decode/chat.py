"""Chat templates of the known models, rendered without `transformers` (one user turn, then the reply's opening).

An instruction-tuned answer model is prompted the way it was trained: its chat template wraps the user turn and
opens the assistant turn, and the reply ends at the template's turn-end token. Three formats cover the models this
project runs:
- `smollm2`: SmolLM2-Instruct's ChatML, including the default system turn its template inserts when the
  conversation has none ("You are a helpful AI assistant named SmolLM, trained by Hugging Face"):
  `<|im_start|>system\\n...<|im_end|>\\n<|im_start|>user\\n{u}<|im_end|>\\n<|im_start|>assistant\\n`.
- `chatml`: the same turns without a system turn (Qwen-style ChatML models with their own system text are a
  `ChatFormat(...)` away).
- `gemma`: Gemma instruction models, `<start_of_turn>user\\n{u}<end_of_turn>\\n<start_of_turn>model\\n` (the
  tokenizer adds `<bos>`, which Gemma's own template writes as text).
- `none`: base models (the embedded Gemma 3 270M): the text goes in as is.

`detect(model)` reads the chat template the checkpoint ships (the GGUF field `tokenizer.chat_template`, or an HF
folder's `tokenizer_config.json` / `chat_template.jinja`) and maps it to one of these by its markers; a model with
no template is `none`. Rendering is a plain string so any sampler can take it; `check(fmt, tokenizer)` makes sure the
tokenizer maps each marker to one special token (a SentencePiece model rebuilt from a GGUF file does not parse
control tokens inside text, so a Gemma-IT GGUF must be loaded from its HF folder instead).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os

from datasynth.utils.errors import UserError

SMOLLM_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


@dataclasses.dataclass(frozen=True)
class ChatFormat:
  name: str
  user: str = "{user}"  # The user turn; `{user}` is the message.
  reply: str = ""  # Opens the assistant turn (the model continues from here).
  system: str = ""  # A system turn rendered before the user turn ("" = none).
  end: str = ""  # The turn-end marker the reply stops at ("" = the model's EOS only).
  markers: tuple[str, ...] = ()  # Special tokens the tokenizer must map to one id each.

  def render(self, user: str) -> str:
    return self.system + self.user.replace("{user}", user) + self.reply


FORMATS = {
    "smollm2": ChatFormat("smollm2", "<|im_start|>user\n{user}<|im_end|>\n", "<|im_start|>assistant\n",
                          f"<|im_start|>system\n{SMOLLM_SYSTEM}<|im_end|>\n", "<|im_end|>",
                          ("<|im_start|>", "<|im_end|>")),
    "chatml": ChatFormat("chatml", "<|im_start|>user\n{user}<|im_end|>\n", "<|im_start|>assistant\n", "",
                         "<|im_end|>", ("<|im_start|>", "<|im_end|>")),
    "gemma": ChatFormat("gemma", "<start_of_turn>user\n{user}<end_of_turn>\n", "<start_of_turn>model\n", "",
                        "<end_of_turn>", ("<start_of_turn>", "<end_of_turn>")),
    "none": ChatFormat("none"),
}


def classify(template: str | None) -> str:
  """A chat template's source text -> the name of the format it renders (by its markers)."""
  if not template:
    return "none"
  if "<|im_start|>" in template:
    return "smollm2" if "SmolLM" in template else "chatml"
  if "<start_of_turn>" in template:
    return "gemma"
  raise UserError(f"Unknown chat template (neither ChatML nor Gemma turns): {template[:80]!r}...; pass chat= one of "
                  f"{sorted(FORMATS)} explicitly.")


def shipped_template(source: str) -> str | None:
  """The chat template a checkpoint ships: GGUF metadata, or an HF folder's tokenizer files; None if there is none."""
  if os.path.isfile(source) and source.endswith(".gguf"):
    st = os.stat(source)
    return _gguf_template(os.path.abspath(source), st.st_size, st.st_mtime_ns)
  if os.path.isdir(source):
    jinja = os.path.join(source, "chat_template.jinja")
    if os.path.exists(jinja):
      with open(jinja, encoding="utf-8") as f:
        return f.read()
    cfg = os.path.join(source, "tokenizer_config.json")
    if os.path.exists(cfg):
      with open(cfg, encoding="utf-8") as f:
        return json.load(f).get("chat_template")
  return None


@functools.lru_cache(maxsize=8)
def _gguf_template(path: str, size: int, mtime_ns: int) -> str | None:  # Parsing a GGUF header takes seconds.
  import gguf
  field = gguf.GGUFReader(path).fields.get("tokenizer.chat_template")
  return None if field is None else str(field.contents())


def detect(model) -> ChatFormat:
  """The chat format of a `LoadedModel` from the template its checkpoint ships (`none` when it ships none)."""
  return FORMATS[classify(shipped_template(str(model.source)))]


def resolve(chat: str | ChatFormat, model) -> ChatFormat:
  """`chat` = "auto" (detect), a format name, or a ChatFormat; checked against the model's tokenizer."""
  if isinstance(chat, ChatFormat):
    fmt = chat
  elif chat == "auto":
    fmt = detect(model)
  elif chat in FORMATS:
    fmt = FORMATS[chat]
  else:
    raise UserError(f"Unknown chat format {chat!r}; expected auto or one of {sorted(FORMATS)}.")
  check(fmt, model.tokenizer)
  return fmt


def check(fmt: ChatFormat, tokenizer) -> None:
  for marker in fmt.markers:
    ids = tokenizer.encode(marker, add_bos=False)
    if len(ids) != 1:
      raise UserError(f"The tokenizer splits the chat marker {marker!r} into {len(ids)} tokens, so format "
                      f"{fmt.name!r} cannot be rendered as text for it; load the model from its HF folder (whose "
                      "tokenizer parses special tokens) or pass chat='none'.")


def end_ids(fmt: ChatFormat, tokenizer) -> tuple[int, ...]:
  """Token ids that end a reply: the tokenizer's EOS and the format's turn-end marker."""
  ids = [] if tokenizer.eos_id is None else [int(tokenizer.eos_id)]
  if fmt.end:
    ids += tokenizer.encode(fmt.end, add_bos=False)
  return tuple(dict.fromkeys(ids))
