r"""First-round parsing of conversations the NOMAD teacher writes from the bare prefix "User: ".

Paper (Chen et al., Sec. 3): the teacher generates from "User: " until it stops; only the first round (the user turn
and the assistant turn after it) is kept, and generations that are not a complete conversation are discarded (30K raw
-> 25K valid). This module turns one generated continuation (the text after "User: ") and the sampler's `finished`
flag (the row ended with EOS or a stop string, rather than running out of tokens) into a (prompt, response) record or
a rejection reason:

  "<user turn>\n\nAssistant: <assistant turn>" + finished                 -> kept
  "<user turn>\n\nAssistant: <assistant turn>\n\nUser: ...", any finished -> kept; the second round is dropped
  no second "User:" and not finished                                      -> incomplete (truncated)
  "Assistant: ..." (no user text before the marker)                       -> role_switch
  "<user turn>\n\nUser: ..." or "...Assistant: a\n\nAssistant: ..."       -> role_switch (a role where the other is due)
  "\n\nAssistant: ..." (a separator but no user text)                     -> empty_user
  "<user turn>\n\nAssistant: \n\nUser: ..." or "...Assistant:  " + EOS    -> empty_assistant
  "<user turn>" + EOS, no "Assistant:" marker                             -> missing_assistant

Role markers are the stripped prefixes of the `ChatFormat` ("User:", "Assistant:") at the start of a line (after
optional spaces), since the template puts a newline before every marker; set `line_start=False` to accept a marker
anywhere after whitespace (for a format whose separator has no newline). Turns are stripped of surrounding
whitespace. The paper does not say how it detects an incomplete conversation; the rules above are ours.
"""
from __future__ import annotations

import collections
import dataclasses
import re
from typing import Any, Iterable, Mapping

from datasynth.data.records import Record
from nomad.conversations import ChatFormat

KEPT = "kept"
INCOMPLETE = "incomplete"
EMPTY_USER = "empty_user"
EMPTY_ASSISTANT = "empty_assistant"
MISSING_ASSISTANT = "missing_assistant"
ROLE_SWITCH = "role_switch"
REASONS = (INCOMPLETE, EMPTY_USER, EMPTY_ASSISTANT, MISSING_ASSISTANT, ROLE_SWITCH)


@dataclasses.dataclass(frozen=True)
class FirstRound:
  user: str | None  # The user turn (None when rejected).
  assistant: str | None  # The assistant turn (None when rejected).
  reason: str  # KEPT or one of REASONS.


def _marker_pattern(fmt: ChatFormat, line_start: bool) -> re.Pattern:
  roles = "|".join(re.escape(p.strip()) for p in (fmt.user_prefix, fmt.assistant_prefix))
  before = r"(?:^|(?<=\n))[ \t]*" if line_start else r"(?:^|(?<=\s))"
  return re.compile(before + f"({roles})")


def parse_first_round(text: str, finished: bool, fmt: ChatFormat = ChatFormat(), *,
                      line_start: bool = True) -> FirstRound:
  """The first round of `text` (a continuation of fmt.user_prefix), or the reason it is rejected."""
  user_marker, assistant_marker = fmt.user_prefix.strip(), fmt.assistant_prefix.strip()
  markers = list(_marker_pattern(fmt, line_start).finditer(text))
  reject = lambda reason: FirstRound(None, None, reason)
  if not markers:
    return reject(MISSING_ASSISTANT if finished else INCOMPLETE)
  first = markers[0]
  if first.group(1) == user_marker:
    return reject(ROLE_SWITCH)  # Two user turns in a row.
  head = text[:first.start()]
  user = head.strip()
  if not user:
    return reject(EMPTY_USER if "\n" in head else ROLE_SWITCH)  # "User: Assistant: ..." never wrote a user turn.
  end = markers[1] if len(markers) > 1 else None
  if end is not None and end.group(1) == assistant_marker:
    return reject(ROLE_SWITCH)  # Two assistant turns in a row.
  if end is None and not finished:
    return reject(INCOMPLETE)
  assistant = text[first.end():end.start() if end is not None else len(text)].strip()
  if not assistant:
    return reject(EMPTY_ASSISTANT)
  return FirstRound(user, assistant, KEPT)


def parse_generations(rows: Iterable[Mapping[str, Any] | tuple[str, bool]], fmt: ChatFormat = ChatFormat(), *,
                      text_key: str = "text", finished_key: str = "finished", line_start: bool = True,
                      uid_prefix: str = "nomad") -> tuple[list[Record], collections.Counter]:
  """Kept first rounds as `Record`s (prompt = user turn, response = assistant turn) and a Counter of outcomes.

  rows: (text, finished) pairs or mappings with `text_key` and `finished_key`; a mapping's other fields (seed,
  source index, config hash...) are kept in the record's meta as provenance. The Counter has KEPT and each reason.
  """
  records, counts = [], collections.Counter({reason: 0 for reason in (KEPT,) + REASONS})
  for i, row in enumerate(rows):
    if isinstance(row, Mapping):
      text, finished = row[text_key], bool(row[finished_key])
      meta = {k: v for k, v in row.items() if k not in (text_key, finished_key)}
    else:
      (text, finished), meta = row, {}
    parsed = parse_first_round(text, finished, fmt, line_start=line_start)
    counts[parsed.reason] += 1
    if parsed.reason == KEPT:
      meta = dict(meta, generation_index=i)
      records.append(Record(f"{uid_prefix}/{i}", "nomad", parsed.user, parsed.assistant, meta))
  return records, counts
