"""The sequence embedder E: masked means of a small LM's representations, projection, cache, errors."""
import os

import numpy as np
import pytest

from softsrv import context

TEXTS = ["Write a function to add two numbers.", "Sort a list.", "Write a python function to reverse a string "
         "and count its vowels, ignoring case."]


def test_shapes_layers_and_projection(tiny):
  _, e = tiny
  for layer in (0, 1, -1):
    z = context.embed_texts(e, TEXTS, layer=layer, batch_size=2, normalize=False)
    assert z.shape == (3, e.config.width) and np.all(np.isfinite(z))
  z = context.embed_texts(e, TEXTS, projection_dim=5)
  assert z.shape == (3, 5)
  np.testing.assert_allclose(np.sqrt(np.mean(z * z, -1)), 1.0, rtol=1e-4)  # Per-example RMS normalisation.


def test_z_of_a_text_does_not_depend_on_its_batch(tiny):
  _, e = tiny
  alone = context.embed_texts(e, TEXTS[1:2], layer=-1, batch_size=4)
  together = context.embed_texts(e, TEXTS, layer=-1, batch_size=4)  # Padded beside longer texts.
  np.testing.assert_allclose(together[1], alone[0], rtol=1e-4, atol=1e-5)
  assert not np.allclose(together[0], together[1])


def test_input_embedding_layer_is_the_mean_of_token_embeddings(tiny):
  _, e = tiny
  z = context.embed_texts(e, TEXTS[:1], layer=0, normalize=False)
  ids = e.tokenizer.encode(TEXTS[0], add_bos=False)
  np.testing.assert_allclose(z[0], e.params["embedding"][ids].mean(0), rtol=1e-5, atol=1e-6)


def test_cache_is_reused_and_keyed_by_options(tiny, tmp_path):
  _, e = tiny
  z1 = context.cached_context(e, TEXTS, str(tmp_path), layer=-1)
  files = sorted(os.listdir(tmp_path))
  assert len(files) == 1 and files[0].endswith(".npy")
  np.save(tmp_path / files[0], z1 + 1.0)  # A cache hit returns the stored array, not a recomputation.
  np.testing.assert_allclose(context.cached_context(e, TEXTS, str(tmp_path), layer=-1), z1 + 1.0)
  context.cached_context(e, TEXTS, str(tmp_path), layer=0)
  assert len(os.listdir(tmp_path)) == 2


def test_bad_options_are_clear_errors(tiny):
  _, e = tiny
  with pytest.raises(ValueError, match="context.layer=5 is out of range"):
    context.embed_texts(e, TEXTS, layer=5)
  with pytest.raises(ValueError, match="at least one text"):
    context.embed_texts(e, [])
  with pytest.raises(ValueError, match="exceeds the context model's context"):
    context.embed_texts(e, TEXTS, max_len=10_000)
