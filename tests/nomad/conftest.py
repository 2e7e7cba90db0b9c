"""NOMAD test fixtures: a whitespace-splitting toy tokenizer (the chat module's worked example uses it)."""
import re

import pytest


class ToyTokenizer:
  """Pieces are runs of non-space or of space characters; ids grow as new pieces appear. BOS = 1, EOS = 2."""
  bos_id, eos_id, pad_id, add_bos = 1, 2, 0, True

  def __init__(self):
    self.vocab = {"<pad>": 0, "<bos>": 1, "<eos>": 2}

  def encode(self, text, *, add_bos=None, add_eos=False):
    ids = [self.vocab.setdefault(p, len(self.vocab)) for p in re.findall(r"\S+|\s+", text)]
    if self.add_bos if add_bos is None else add_bos:
      ids = [self.bos_id] + ids
    return ids + [self.eos_id] if add_eos else ids

  def pieces(self, ids):
    inverse = {i: p for p, i in self.vocab.items()}
    return [inverse[int(i)].replace(" ", "_") for i in ids]


@pytest.fixture
def toy_tokenizer():
  return ToyTokenizer()
