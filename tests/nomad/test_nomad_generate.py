"""NOMAD generation on a tiny random teacher: rows, independence of batch size / process split / resume, and the
parse + filter counts."""
import os

import pytest

from datasynth.jobs import chunked
from datasynth.utils.errors import UserError
from nomad import config as config_lib
from nomad import generate
from tests.softsrv.conftest import tiny_model

PROVENANCE = dict(step=2, fingerprint="abc123", model="tiny")


@pytest.fixture(scope="module")
def teacher(smollm2):
  return tiny_model(smollm2, 3)


def _config(**generate_fields):
  c = config_lib.get_config("tiny")
  c.generate.num_samples, c.generate.chunk_size, c.generate.max_new_tokens = 6, 3, 8
  for k, v in generate_fields.items():
    c.generate[k] = v
  return c


def _chunk_bytes(out):
  return [open(p, "rb").read() for p in chunked.chunk_files(out)]


def test_rows_carry_item_provenance_and_the_nomad_method(teacher, tmp_path):
  out = str(tmp_path / "g")
  stats = generate.generate(_config(), teacher, out, PROVENANCE)
  rows = list(chunked.read_rows(out))
  assert stats.items == 6 and [r["item"] for r in rows] == list(range(6))
  r = rows[0]
  assert (r["method"], r["teacher_step"], r["teacher_fingerprint"], r["seed"]) == ("nomad", 2, "abc123", 0)
  assert isinstance(r["text"], str) and isinstance(r["finished"], bool) and 1 <= r["num_tokens"] <= 8


def test_a_sample_depends_only_on_seed_and_item_not_on_batch_split_or_resume(teacher, tmp_path):
  one, two, three = (str(tmp_path / n) for n in ("one", "two", "three"))
  generate.generate(_config(batch_size=3), teacher, one, PROVENANCE)
  for p in range(2):  # Two processes, another batch size.
    generate.generate(_config(batch_size=2), teacher, two, PROVENANCE, process_index=p, process_count=2)
  assert _chunk_bytes(one) == _chunk_bytes(two)
  os.remove(chunked.chunk_path(one, 1))  # A kill before chunk 1 was written: the rerun makes only that chunk.
  stats = generate.generate(_config(batch_size=4), teacher, one, PROVENANCE)
  assert stats.items == 3 and stats.skipped_chunks == 1 and _chunk_bytes(one) == _chunk_bytes(two)
  generate.generate(_config(chunk_size=2, batch_size=2), teacher, three, PROVENANCE)  # Other chunking: same texts.
  texts = lambda out: {r["item"]: r["text"] for r in chunked.read_rows(out)}
  assert texts(three) == texts(one)
  other = str(tmp_path / "seed1")
  generate.generate(_config(seed=1), teacher, other, PROVENANCE)
  assert texts(other) != texts(one)


def test_a_folder_of_another_teacher_or_setting_is_refused(teacher, tmp_path):
  out = str(tmp_path / "g")
  generate.generate(_config(), teacher, out, PROVENANCE)
  with pytest.raises(UserError, match="holds the output of another run"):
    generate.generate(_config(), teacher, out, dict(PROVENANCE, step=3))


def test_the_prompt_drops_the_prefix_space_and_stops_at_the_next_user_turn():
  fmt = generate.chat_format(config_lib.get_config())
  assert generate.prompt_and_stops(fmt, generate.GenerateConfig()) == ("User:", ("\nUser:",))
  assert generate.prompt_and_stops(fmt, generate.GenerateConfig(strip_prefix_space=False,
                                                                stop_after_first_round=False)) == ("User: ", ())


@pytest.mark.parametrize("field,value", [("top_p", 0.0), ("temperature", 0.0), ("num_samples", 0)])
def test_bad_generation_settings_are_one_clear_error(field, value):
  with pytest.raises(UserError, match=field):
    generate.GenerateConfig.from_config(_config(**{field: value}))


ROWS = [
    dict(text="What is 2+2?\n\nAssistant: 4.", finished=True, item=0),  # kept
    dict(text="Name a color.\n\nAssistant: Blue.\n\nUser: And", finished=False, item=1),  # kept (second round cut)
    dict(text="Tell me a story about", finished=False, item=2),  # incomplete
    dict(text="Assistant: hi", finished=True, item=3),  # role_switch
    dict(text="Hi\n\nAssistant: ", finished=True, item=4),  # empty_assistant
    dict(text="Write python code to sort.\n\nAssistant: Use sorted().", finished=True, item=5),  # coding: python
    dict(text="Say no.\n\nAssistant: no no no no no no", finished=True, item=6),  # repetition: word_run
]


def test_parse_and_filter_counts_each_reason():
  parsed, kept, report = generate.parse_and_filter(ROWS, config_lib.get_config())
  assert [r.prompt for r in kept] == ["What is 2+2?", "Name a color."] and len(parsed) == 4
  assert report["parse"] == dict(kept=4, incomplete=1, empty_user=0, empty_assistant=1, missing_assistant=0,
                                 role_switch=1)
  assert report["filters"]["repetition"] == dict(word_run=1, total=1)
  assert report["filters"]["coding"] == dict(python=1, total=1)
  assert report["valid_rate"] == pytest.approx(4 / 7) and parsed[0].meta["item"] == 0


def test_malformed_generated_rows_are_one_clear_error():
  with pytest.raises(UserError, match="row 1 lacks a string 'text'"):
    generate.parse_and_filter([ROWS[0], dict(item=1, finished=True)], config_lib.get_config())
  with pytest.raises(UserError, match="No generated rows"):
    generate.parse_and_filter([], config_lib.get_config())
