"""Chat data for the NOMAD teacher: loading, the unified template, the seeded subset and the loss masks."""
import dataclasses
import json

import numpy as np
import pytest

from datasynth.data.records import Record, load_task
from datasynth.train import sft
from datasynth.utils.errors import UserError
from nomad import conversations

TWO_ROUNDS = conversations.Conversation("toy/0", (("Hi", "Hello"), ("Why?", "Fun")))


def _write_jsonl(path, rows):
  path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
  return str(path)


def test_default_format_is_the_sft_chat_template():
  assert conversations.ChatFormat().sft_template() == sft.TEMPLATES["chat"] == "User: {prompt}\n\nAssistant: {response}"


def test_render_writes_every_round_in_order():
  assert conversations.render(TWO_ROUNDS) == "User: Hi\n\nAssistant: Hello\n\nUser: Why?\n\nAssistant: Fun"
  fmt = conversations.ChatFormat(user_prefix="Q: ", assistant_prefix="A: ", separator="\n", turn_separator="\n---\n")
  assert conversations.render(TWO_ROUNDS, fmt) == "Q: Hi\nA: Hello\n---\nQ: Why?\nA: Fun"


def test_the_docstrings_worked_example_of_the_loss_mask(toy_tokenizer):
  masked = conversations.tokenize_conversation(TWO_ROUNDS, toy_tokenizer, prompt_masking=True)
  unmasked = conversations.tokenize_conversation(TWO_ROUNDS, toy_tokenizer, prompt_masking=False)
  assert toy_tokenizer.pieces(masked.ids) == ["<bos>", "User:", "_", "Hi", "\n\n", "Assistant:", "_", "Hello", "\n\n",
                                              "User:", "_", "Why?", "\n\n", "Assistant:", "_", "Fun", "<eos>"]
  table = {line.split()[0]: line.split()[1:] for line in conversations.__doc__.splitlines() if line.startswith("  ")}
  assert table["token"] == [p.replace("\n", "\\n") for p in toy_tokenizer.pieces(masked.ids)]
  assert masked.loss_mask.astype(int).tolist() == [int(v) for v in table["masked"]] == [0] * 7 + [1] + [0] * 7 + [1, 1]
  assert unmasked.loss_mask.astype(int).tolist() == [int(v) for v in table["unmasked"]] == [0] + [1] * 16
  np.testing.assert_array_equal(masked.ids, unmasked.ids)


def test_masked_loss_covers_exactly_the_assistant_turns_of_a_multi_turn_conversation(toy_tokenizer):
  conv = conversations.Conversation("c", (("one two", "three four five"), ("six", "seven"), ("eight nine", "ten")))
  ex = conversations.tokenize_conversation(conv, toy_tokenizer, prompt_masking=True, add_eos=False)
  targets = [p for p, m in zip(toy_tokenizer.pieces(ex.ids), ex.loss_mask) if m]
  assert targets == ["three", "_", "four", "_", "five", "seven", "ten"]


def test_a_single_round_tokenises_as_sft_tokenize_with_the_chat_template(toy_tokenizer):
  conv = conversations.Conversation("c", (("What is 2 + 2?", "It is 4."),))
  for masking in (True, False):
    ours = conversations.to_examples([conv], toy_tokenizer, prompt_masking=masking)[0]
    ref = sft.tokenize([conv.to_record()], toy_tokenizer, template="chat", prompt_masking=masking)[0]
    np.testing.assert_array_equal(ours.ids, ref.ids)
    np.testing.assert_array_equal(ours.loss_mask, ref.loss_mask)


def test_truncation_keeps_the_head_and_drops_examples_without_targets(toy_tokenizer):
  long = conversations.Conversation("long", (("a b c d e f", "g"),))
  assert len(conversations.to_examples([long, TWO_ROUNDS], toy_tokenizer, prompt_masking=True, max_len=8)) == 1
  assert len(conversations.to_examples([long], toy_tokenizer, prompt_masking=False, max_len=8)[0].ids) == 8
  with pytest.raises(UserError, match="seq_len"):
    conversations.to_examples([long], toy_tokenizer, prompt_masking=True, max_len=8)
  with pytest.raises(UserError, match="more than seq_len=8"):
    conversations.to_examples([long], toy_tokenizer, max_len=8, truncate=False)


def test_lima_keeps_its_multi_turn_history(full_data_dir):
  data_dir = full_data_dir
  convs = conversations.load_conversations("lima", str(data_dir))
  assert len(convs) == 1029
  multi = [c for c in convs if len(c.turns) > 1]
  assert len(multi) == 29
  text = conversations.render(multi[0])
  assert text.count("User: ") == len(multi[0].turns) == text.count("Assistant: ")
  assert text.endswith(multi[0].turns[-1][1])


def test_alpaca_folds_the_input_into_the_user_turn(full_data_dir):
  data_dir = full_data_dir
  convs = conversations.load_conversations("alpaca", str(data_dir))
  assert len(convs) == 999 and all(len(c.turns) == 1 for c in convs)
  rec = next(r for r in load_task("alpaca", "train", str(data_dir)) if "\n" in r.prompt)
  assert next(c for c in convs if c.uid == rec.uid).turns[0][0] == rec.prompt


def test_jsonl_of_prompt_response_and_of_messages(tmp_path):
  path = _write_jsonl(tmp_path / "c.jsonl", [
      {"prompt": "p", "response": "r"},
      {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "u1"},
                    {"role": "assistant", "content": "a1"}, {"role": "user", "content": "u2"},
                    {"role": "assistant", "content": "a2"}]},
  ])
  convs = conversations.load_conversations(path)
  assert convs[0].turns == (("p", "r"),)
  assert convs[1].turns == (("Be brief.\n\nu1", "a1"), ("u2", "a2"))
  assert convs[1].uid == "c.jsonl/1"


def test_subset_is_seeded_sized_and_in_original_order():
  convs = [conversations.Conversation(f"u/{i}", (("q", "a"),)) for i in range(50)]
  a, b = conversations.select_subset(convs, 10, seed=3), conversations.select_subset(convs, 10, seed=3)
  assert [c.uid for c in a] == [c.uid for c in b] and len(a) == 10
  assert [c.uid for c in a] != [c.uid for c in conversations.select_subset(convs, 10, seed=4)]
  idx = [int(c.uid.split("/")[1]) for c in a]
  assert idx == sorted(idx)
  assert conversations.select_subset(convs, 0) == convs


def test_subset_larger_than_the_data_names_both_numbers():
  convs = [conversations.Conversation("u", (("q", "a"),))] * 5
  with pytest.raises(UserError, match=r"subset_size=6 .* holds 5 conversations"):
    conversations.select_subset(convs, 6)


def test_empty_data_is_one_clear_error(tmp_path):
  with pytest.raises(UserError, match="empty"):
    conversations.select_subset([], 0)
  path = _write_jsonl(tmp_path / "empty.jsonl", [])
  with pytest.raises(UserError, match="holds no conversations"):
    conversations.load_conversations(path)


@pytest.mark.parametrize("row,match", [
    ("{not json", "malformed JSON"),
    ({"question": "q"}, "prompt and response"),
    ({"messages": [{"role": "assistant", "content": "a"}]}, "alternate"),
    ({"messages": [{"role": "user", "content": "u"}]}, "end with an assistant"),
    ({"messages": [{"role": "bot", "content": "u"}]}, "role"),
    ({"prompt": "p", "response": "r", "history": [["only one"]]}, "history"),
])
def test_malformed_records_name_the_file_and_line(tmp_path, row, match):
  path = _write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "ok", "response": "ok"}, row])
  with pytest.raises(UserError, match=match) as e:
    conversations.load_conversations(path)
  assert "bad.jsonl:2" in str(e.value)


def test_unknown_source_says_what_to_pass():
  with pytest.raises(UserError, match="neither one of"):
    conversations.load_conversations("tulu-v2")


def test_config_selects_the_subset(full_data_dir):
  data_dir = full_data_dir
  cfg = conversations.ChatDataConfig(source="alpaca", data_dir=str(data_dir), subset_size=100, seed=1)
  convs = conversations.load_chat_data(cfg)
  assert len(convs) == 100 and len({c.uid for c in convs}) == 100


def test_pool_size_makes_the_first_conversations_the_pool_the_subset_is_drawn_from(full_data_dir):
  whole = conversations.load_pool(conversations.ChatDataConfig(source="alpaca", data_dir=str(full_data_dir)))
  cfg = conversations.ChatDataConfig(source="alpaca", data_dir=str(full_data_dir), pool_size=40, subset_size=10)
  pool = conversations.load_pool(cfg)
  assert [c.uid for c in pool] == [c.uid for c in whole[:40]] and len(whole) > 40
  subset = conversations.load_chat_data(cfg)
  assert len(subset) == 10 and {c.uid for c in subset} <= {c.uid for c in pool}
  with pytest.raises(UserError, match=f"data.pool_size={len(whole) + 1} but 'alpaca' holds {len(whole)} conversations"):
    conversations.load_pool(dataclasses.replace(cfg, pool_size=len(whole) + 1))


def test_record_round_trip():
  rec = TWO_ROUNDS.to_record()
  assert rec == Record("toy/0", "chat", "Why?", "Fun", {"history": [["Hi", "Hello"]]})
  assert conversations.from_record(rec).turns == TWO_ROUNDS.turns
