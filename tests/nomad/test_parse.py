"""First-round parser: what is kept from a continuation of "User: ", and why the rest is rejected."""
import pytest

from nomad import parse
from nomad.conversations import ChatFormat


@pytest.mark.parametrize("text,finished,want", [
    ("What is 2 + 2?\n\nAssistant: It is 4.", True, ("What is 2 + 2?", "It is 4.")),
    ("Name a colour.\nAssistant: Blue.\n", True, ("Name a colour.", "Blue.")),
    ("Q?\n\nAssistant: A.\n\nUser: And then?\n\nAssistant: B.", False, ("Q?", "A.")),  # Second round ends the first.
    ("Q?\n\nAssistant: A.\n\nUser: And th", False, ("Q?", "A.")),  # Truncated inside the second round: still kept.
    ("Explain: User: is a word.\n\nAssistant: Fine.", True, ("Explain: User: is a word.", "Fine.")),  # Mid-line.
])
def test_kept_first_rounds(text, finished, want):
  got = parse.parse_first_round(text, finished)
  assert got.reason == parse.KEPT and (got.user, got.assistant) == want


@pytest.mark.parametrize("text,finished,reason", [
    ("Q?\n\nAssistant: It is", False, parse.INCOMPLETE),  # Ran out of tokens in the assistant turn.
    ("Tell me a long sto", False, parse.INCOMPLETE),  # Ran out of tokens in the user turn.
    ("Assistant: Hello, how can I help?", True, parse.ROLE_SWITCH),  # "Assistant:" before any user text.
    ("Q?\n\nUser: Q again?\n\nAssistant: A.", True, parse.ROLE_SWITCH),  # "User:" where the assistant should be.
    ("Q?\n\nAssistant: A.\n\nAssistant: B.", True, parse.ROLE_SWITCH),  # Two assistant turns in a row.
    ("\n\nAssistant: A.", True, parse.EMPTY_USER),
    ("Q?\n\nAssistant:   \n\nUser: Next?", True, parse.EMPTY_ASSISTANT),
    ("Q?\n\nAssistant:", True, parse.EMPTY_ASSISTANT),
    ("Just a user turn and then the end.", True, parse.MISSING_ASSISTANT),
])
def test_rejected_generations_and_their_reason(text, finished, reason):
  got = parse.parse_first_round(text, finished)
  assert got.reason == reason and got.user is None and got.assistant is None


def test_markers_follow_the_configured_format():
  fmt = ChatFormat(user_prefix="Q: ", assistant_prefix="A: ", separator=" ", turn_separator=" ")
  got = parse.parse_first_round("Why? A: Because. Q: More?", False, fmt, line_start=False)
  assert (got.user, got.assistant) == ("Why?", "Because.")
  assert parse.parse_first_round("Why? A: Because.", True, fmt).reason == parse.MISSING_ASSISTANT  # Needs a newline.


def test_parse_generations_counts_every_reason_and_keeps_provenance():
  rows = [
      {"text": "Q1?\n\nAssistant: A1.", "finished": True, "seed": 7},
      {"text": "Q2?\n\nAssistant: A2", "finished": False, "seed": 7},
      {"text": "Assistant: hi", "finished": True, "seed": 7},
      {"text": "Q4?\n\nAssistant: A4.\n\nUser: more", "finished": False, "seed": 7},
  ]
  records, counts = parse.parse_generations(rows)
  assert [(r.prompt, r.response) for r in records] == [("Q1?", "A1."), ("Q4?", "A4.")]
  assert [r.meta for r in records] == [{"seed": 7, "generation_index": 0}, {"seed": 7, "generation_index": 3}]
  assert counts[parse.KEPT] == 2 and counts[parse.INCOMPLETE] == 1 and counts[parse.ROLE_SWITCH] == 1
  assert sum(counts.values()) == len(rows) and counts[parse.EMPTY_USER] == 0


def test_parse_generations_takes_text_finished_pairs():
  records, counts = parse.parse_generations([("Q?\nAssistant: A.", True), ("", True)])
  assert len(records) == 1 and counts[parse.MISSING_ASSISTANT] == 1 and records[0].uid == "nomad/0"
