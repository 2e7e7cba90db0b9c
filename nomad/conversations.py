r"""NOMAD's teacher data: conversations rendered as "User: ... Assistant: ...", a seeded subset, and loss masks.

Paper (Chen et al., Sec. 3): the synthesis model M_synthesis is a pretrained LM fine-tuned on instruction data in one
unified template, "User: [prompt] Assistant: [response]", *without* prompt masking (the loss covers the user turn as
well as the assistant turn, so the model learns to write prompts), on a deliberately small subset (15K of the 300K
TULU v2 conversations). Here:

- `load_conversations(source)`: LIMA (multi-turn: `meta["history"]` holds the earlier rounds) or Alpaca from the
  shared data folder through `datasynth.data.records.load_task`, the TULU v2 SFT mixture (source "tulu_v2", the
  paper's data: `read_tulu`), or any JSON Lines of {prompt, response} (optionally with "history": [[user,
  assistant], ...]) or {messages: [{role, content}, ...]}.
- `read_tulu(path)`: the mixture as released, allenai/tulu-v2-sft-mixture on the Hugging Face hub (326,154
  {dataset, id, messages} rows): its JSON Lines (open-instruct's tulu_v2_data.jsonl), a clone of the hub repository
  (data/train-*.parquet), a `datasets` copy (`save_to_disk` folder, or one .arrow / .parquet file). `data.file`
  names it; empty, `tulu_path` looks for <data dir>/tulu_v2/tulu_v2_data.jsonl, then an HF copy in <data dir>/tulu_v2/.
  A conversation the unified template cannot hold (no assistant turn, two turns of one role in a row, an empty
  messages list) is skipped and counted (`read_tulu` prints the count): the paper does not say how it treated them,
  and one odd row of 326K should not stop a run.
- `select_subset(conversations, subset_size, seed)`: the paper's training-set-size knob (0 = all).
- `render(conversation, fmt)`: the text the teacher sees; every round is rendered, in order.
- `to_examples(...)`: `datasynth.train.sft.Example`s (token ids + loss mask) for `datasynth.train.sft.train`.

The format is one definition: `ChatFormat`'s defaults are `datasynth.train.sft.CHAT_USER / CHAT_ASSISTANT / CHAT_SEP`,
the pieces of `sft.TEMPLATES["chat"]`, so a single-round conversation tokenises exactly as `sft.tokenize(...,
template="chat")` would (tested). The paper writes the template on one line; the separator between a user turn and
"Assistant: " (and between rounds) is "\n\n" here, as in the SFT code's chat template, so that the first-round parser
(`nomad.parse`) can find role markers at line starts.

Loss mask, worked example: conversation [("Hi", "Hello"), ("Why?", "Fun")] with a whitespace-splitting toy tokenizer
that adds BOS, and EOS after the last turn (tokens: "_" is a space, "\n\n" the separator):

  token    <bos> User: _ Hi \n\n Assistant: _ Hello \n\n User: _ Why? \n\n Assistant: _ Fun <eos>
  masked     0     0   0 0   0       0      0   1    0     0   0  0    0       0      0  1    1
  unmasked   0     1   1 1   1       1      1   1    1     1   1  1    1       1      1  1    1

Masked (a student, `prompt_masking=True`): only assistant-turn text and the final EOS are targets. Unmasked (NOMAD's
teacher): every token but the first (which nothing predicts). `tests/nomad/test_conversations.py` checks this table.

Departures: system messages in {messages} records are prepended to the first user turn (TULU v2 has a few; the
unified template has no system role). Every round's text is tokenised separately and concatenated, as `sft.tokenize`
tokenises prompt and response separately, so token boundaries never straddle a role change.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Sequence

import numpy as np

from datasynth.data import sources
from datasynth.data.records import Record, load_task
from datasynth.data.records import read_jsonl
from datasynth.train import sft
from datasynth.utils.errors import UserError

BUILTIN_SOURCES = ("lima", "alpaca")  # Read through datasynth.data.records.load_task.
TULU = "tulu_v2"  # The paper's data (Sec. 4.1), read by `read_tulu`.
TULU_HUB = "https://huggingface.co/datasets/allenai/tulu-v2-sft-mixture"
TULU_LAYOUTS = ("tulu_v2/tulu_v2_data.jsonl", "tulu_v2")  # Under a data dir: the JSON Lines, else an HF copy folder.


@dataclasses.dataclass(frozen=True)
class ChatFormat:
  """The unified template. Defaults reproduce `sft.TEMPLATES["chat"]`: "User: {u}\\n\\nAssistant: {a}"."""
  user_prefix: str = sft.CHAT_USER  # Before each user turn; generation starts from this prefix.
  assistant_prefix: str = sft.CHAT_ASSISTANT  # Before each assistant turn.
  separator: str = sft.CHAT_SEP  # Between a user turn and the assistant prefix.
  turn_separator: str = sft.CHAT_SEP  # Between an assistant turn and the next round's user prefix.

  def sft_template(self) -> str:
    """The single-round template string `datasynth.train.sft` takes (`SFTConfig.template`)."""
    return self.user_prefix + "{prompt}" + self.separator + self.assistant_prefix + "{response}"


@dataclasses.dataclass(frozen=True)
class Conversation:
  uid: str  # Provenance: "<source>/<index>".
  turns: tuple[tuple[str, str], ...]  # (user turn, assistant turn) rounds, in order; at least one.

  def to_record(self) -> Record:
    """The last round as a `Record` (earlier rounds in meta["history"]), as `load_task` gives LIMA."""
    *history, (user, assistant) = self.turns
    return Record(self.uid, "chat", user, assistant, dict(history=[list(t) for t in history]))


@dataclasses.dataclass(frozen=True)
class ChatDataConfig:
  source: str = "lima"  # lima | alpaca (shared data folder) | tulu_v2 | a path to JSON Lines of {prompt, response}/
  # {messages}.
  data_dir: str = ""  # Data folder for lima/alpaca/tulu_v2 ("" = $DATASYNTH_DATA, else ../shared/data; not bundled).
  file: str = ""  # tulu_v2: the mixture's JSON Lines, HF copy folder, .arrow or .parquet file ("" = look in data_dir).
  subset_size: int = 0  # Conversations kept, drawn without replacement (paper: 15K of 300K); 0 = all.
  seed: int = 0  # Seed of the subset draw.
  pool_size: int = 0  # The source's first N conversations are the whole pool X_original (0 = all; paper: all 300K):
  # a CPU-scale stand-in for Table 2's "all 300K" that a student can train on in minutes.
  format: ChatFormat = ChatFormat()  # The unified template's separators.


# ------------------------------------------------------------------------------------------------------ loading


def from_record(r: Record) -> Conversation:
  """A `Record` (history in meta["history"] as [[user, assistant], ...]) as a conversation."""
  history = (r.meta.get("history") or []) if isinstance(r.meta, dict) else []
  turns = tuple((str(u), str(a)) for u, a in history) + ((r.prompt, r.response),)
  return Conversation(r.uid, turns)


def _from_messages(messages: Any, where: str) -> tuple[tuple[str, str], ...]:
  if not isinstance(messages, list) or not messages:
    raise UserError(f"{where}: 'messages' must be a non-empty list of {{role, content}}; fix that line.")
  system, turns, user = [], [], None
  for m in messages:
    role, content = (m.get("role"), m.get("content")) if isinstance(m, dict) else (None, None)
    if not isinstance(content, str) or role not in ("system", "user", "assistant"):
      raise UserError(f"{where}: each message needs a role (system, user or assistant) and a string content; got "
                      f"{str(m)[:80]!r}.")
    if role == "system":
      system.append(content)
    elif role == "user" and user is None:
      user = content
    elif role == "assistant" and user is not None:
      turns.append((user, content))
      user = None
    else:
      raise UserError(f"{where}: messages must alternate user, assistant (starting with user); found two "
                      f"{role!r} messages in a row or an assistant message first.")
  if user is not None or not turns:
    raise UserError(f"{where}: the conversation must end with an assistant message.")
  if system:
    turns[0] = ("\n\n".join(system + [turns[0][0]]), turns[0][1])
  return tuple(turns)


def _from_row(row: dict[str, Any], where: str) -> tuple[tuple[str, str], ...]:
  if "messages" in row:
    return _from_messages(row["messages"], where)
  if not isinstance(row.get("prompt"), str) or not isinstance(row.get("response"), str):
    raise UserError(f"{where}: a record needs string fields prompt and response, or a messages list; got fields "
                    f"{sorted(row)}.")
  history = row.get("history") or []
  if not all(isinstance(t, (list, tuple)) and len(t) == 2 for t in history):
    raise UserError(f"{where}: 'history' must be a list of [user, assistant] pairs.")
  return tuple((str(u), str(a)) for u, a in history) + ((row["prompt"], row["response"]),)


def read_conversations_jsonl(path: str) -> list[Conversation]:
  try:
    rows = read_jsonl(path)
  except (FileNotFoundError, ValueError) as e:  # Missing file or malformed line: the reader names the line.
    raise UserError(f"Chat data {path}: {e}") from e
  name = os.path.basename(path)
  return [Conversation(str(r.get("uid", f"{name}/{n}")), _from_row(r, f"{path}:{n + 1}")) for n, r in enumerate(rows)]


def tulu_path(file: str = "", data_dir: str | None = None) -> str:
  """Where the TULU v2 mixture is: `file` when given (it must exist), else the first of TULU_LAYOUTS under the data
  folders (`datasynth.data.sources.data_dirs`); absent is one line naming the place and the public source."""
  if file:
    if os.path.exists(file):
      return file
    where = f"data.file={file!r}"
  else:
    for folder in sources.data_dirs(data_dir):
      for rel in TULU_LAYOUTS:
        if os.path.exists(os.path.join(folder, rel)):
          return os.path.join(folder, rel)
    where = " or ".join(os.path.join(d, TULU_LAYOUTS[1]) for d in sources.data_dirs(data_dir)
                        if d != sources.BUNDLED_DIR)
  raise UserError(f"No TULU v2 mixture at {where}; download allenai/tulu-v2-sft-mixture ({TULU_HUB}) and pass "
                  "--config.data.file=<its tulu_v2_data.jsonl, clone folder or save_to_disk folder>.")


def tulu_rows(path: str) -> list[dict[str, Any]]:
  """The raw rows of a TULU v2 copy at `path` (see the module docstring for the formats)."""
  if os.path.isdir(path):
    rows = sources.read_hf_copy(path, "train")
    if rows is None:
      raise UserError(f"{path} holds no TULU v2 copy (no data/train-*.parquet, train.jsonl, save_to_disk folder); "
                      f"download allenai/tulu-v2-sft-mixture ({TULU_HUB}) into it.")
    return rows
  if path.endswith(".parquet"):
    return sources.read_parquet([path])
  if path.endswith(".arrow"):
    try:  # A `datasets` cache / save_to_disk shard: memory-mapped Arrow, read through `datasets`.
      import datasets  # optional dependency: datasets
    except ImportError as e:
      raise UserError(f"{path} is an Arrow file; reading it needs `datasets` (pip install datasets).") from e
    return datasets.Dataset.from_file(path).to_list()
  try:
    return read_jsonl(path)
  except (FileNotFoundError, ValueError) as e:
    raise UserError(f"TULU v2 data {path}: {e}") from e


def read_tulu(path: str) -> list[Conversation]:
  """The TULU v2 mixture's conversations (uid = the row's id); rows the template cannot hold are skipped, counted."""
  out, skipped = [], 0
  for n, row in enumerate(tulu_rows(path)):
    try:
      out.append(Conversation(str(row.get("id") or f"{TULU}/{n}"), _from_messages(row.get("messages"), f"{path}:{n}")))
    except UserError:
      skipped += 1
  if skipped:
    print(f"[tulu_v2] {path}: skipped {skipped} of {len(out) + skipped} conversations (no assistant turn, or roles "
          "out of order)", flush=True)
  return out


def load_conversations(source: str, data_dir: str | None = None, file: str = "") -> list[Conversation]:
  """Conversations of a built-in source (lima, alpaca, tulu_v2) or a JSON Lines file; empty input is an error."""
  if source == TULU:
    convs = read_tulu(tulu_path(file, data_dir))
  elif source in BUILTIN_SOURCES:
    try:
      convs = [from_record(r) for r in load_task(source, "train", data_dir or None)]
    except (FileNotFoundError, ValueError) as e:
      raise UserError(f"Chat data {source!r}: {e}") from e
  elif os.path.isfile(source):
    convs = read_conversations_jsonl(source)
  else:
    raise UserError(f"Chat data source {source!r} is neither one of {BUILTIN_SOURCES + (TULU,)} nor an existing "
                    "JSON Lines file; pass a built-in name or a path.")
  if not convs:
    raise UserError(f"Chat data {source!r} holds no conversations; an empty data set cannot train a teacher.")
  return convs


def check_count(name: str, value: int, n: int, holder: str) -> None:
  """A conversation count (0 = all) must lie in 0..n: else one line naming the setting and its range."""
  if value < 0 or value > n:
    raise UserError(f"{name}={value} but {holder} holds {n} conversations; choose 0 (all) to {n}.")


def select_subset(conversations: Sequence[Conversation], subset_size: int, seed: int = 0) -> list[Conversation]:
  """`subset_size` conversations drawn without replacement (seeded), in their original order; 0 keeps all."""
  n = len(conversations)
  if n == 0:
    raise UserError("The chat data set is empty; there is nothing to select a subset from.")
  check_count("subset_size", subset_size, n, "the chat data")
  if subset_size == 0:
    return list(conversations)
  idx = np.sort(np.random.default_rng(seed).choice(n, subset_size, replace=False))
  return [conversations[i] for i in idx]


def load_chat_data(cfg: ChatDataConfig) -> list[Conversation]:
  """The configured source, subset by `cfg.subset_size` / `cfg.seed`."""
  return select_subset(load_pool(cfg), cfg.subset_size, cfg.seed)


def load_pool(cfg: ChatDataConfig) -> list[Conversation]:
  """The pool the subset is drawn from (the paper's X_TULU, 300K): the configured source, or its first
  `cfg.pool_size` conversations."""
  convs = load_conversations(cfg.source, cfg.data_dir or None, cfg.file)
  check_count("data.pool_size", cfg.pool_size, len(convs), repr(cfg.source))
  return convs[:cfg.pool_size] if cfg.pool_size else convs


# -------------------------------------------------------------------------------------------------- rendering


def segments(conv: Conversation, fmt: ChatFormat = ChatFormat()) -> list[tuple[str, bool]]:
  """The rendered text as (piece, is_assistant_turn) pieces: role prefixes and user turns, then assistant turns."""
  out = []
  for i, (user, assistant) in enumerate(conv.turns):
    head = (fmt.turn_separator if i else "") + fmt.user_prefix + user + fmt.separator + fmt.assistant_prefix
    out += [(head, False), (assistant, True)]
  return out


def render(conv: Conversation, fmt: ChatFormat = ChatFormat()) -> str:
  """Every round of `conv` in the unified template: "User: u1\\n\\nAssistant: a1\\n\\nUser: u2 ..."."""
  return "".join(text for text, _ in segments(conv, fmt))


def tokenize_conversation(conv: Conversation, tokenizer, fmt: ChatFormat = ChatFormat(), *,
                          prompt_masking: bool = False, add_eos: bool = True) -> sft.Example:
  """Token ids and loss mask of one conversation (see the module docstring's worked example)."""
  ids, mask = [], []
  parts = segments(conv, fmt)
  for k, (text, is_assistant) in enumerate(parts):
    last = k == len(parts) - 1
    piece = tokenizer.encode(text, add_bos=None if k == 0 else False, add_eos=add_eos and last)
    ids += piece
    mask += [is_assistant or not prompt_masking] * len(piece)
  if not prompt_masking:
    mask = [True] * len(ids)
  if mask:
    mask[0] = False  # The first token is never predicted.
  return sft.Example(np.asarray(ids, np.int32), np.asarray(mask, bool), conv.uid)


def to_examples(conversations: Sequence[Conversation], tokenizer, fmt: ChatFormat = ChatFormat(), *,
                prompt_masking: bool = False, add_eos: bool = True, max_len: int | None = None,
                truncate: bool = True) -> list[sft.Example]:
  """What `datasynth.train.sft.train` trains on. prompt_masking=False: NOMAD's teacher (loss on every token); True: the
  loss covers assistant turns only. Examples longer than max_len are cut (truncate=True) or an error; an example
  left with no loss token is dropped."""
  out = []
  for conv in conversations:
    ex = tokenize_conversation(conv, tokenizer, fmt, prompt_masking=prompt_masking, add_eos=add_eos)
    if max_len is not None and len(ex.ids) > max_len:
      if not truncate:
        raise UserError(f"Conversation {conv.uid} has {len(ex.ids)} tokens, more than seq_len={max_len}; raise "
                        "seq_len or set truncate=True.")
      ex = sft.Example(ex.ids[:max_len], ex.loss_mask[:max_len], ex.uid)
    if ex.loss_mask.any():
      out.append(ex)
  if not out:
    raise UserError(f"No usable teacher examples among {len(conversations)} conversations (empty input, or every "
                    "assistant turn cut off by seq_len); check the chat data and seq_len.")
  return out
