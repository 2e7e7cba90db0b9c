"""IFEval's instruction checkers (lm-eval's own `ifeval` task, prompt-level loose accuracy in NOMAD Table 1) on
hand-written responses. Offline: nltk's punkt data cannot be fetched, so its download is stubbed and the checkers
that split sentences with punkt (length_constraints:number_sentences, ...) are not exercised here."""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import pytest

nltk = pytest.importorskip("nltk", reason="nltk is not installed (scripts/setup.sh installs it)")
pytest.importorskip("lm_eval", reason="lm-eval is not installed (scripts/setup.sh installs it)")


@pytest.fixture(scope="module")
def ifeval(request):
  downloads = []
  saved, nltk.download = nltk.download, lambda *a, **k: downloads.append(a) or False  # No network, ever.
  request.addfinalizer(lambda: setattr(nltk, "download", saved))
  from lm_eval.tasks.ifeval import utils
  return utils


def _doc(ids, kwargs, prompt="Write something."):
  return dict(key=0, prompt=prompt, instruction_id_list=ids, kwargs=kwargs)


CASES = [  # (instruction ids, kwargs, response, followed strictly, followed loosely)
    (["change_case:english_lowercase"], [{}], "all lower case here, no capitals at all.", True, True),
    (["change_case:english_lowercase"], [{}], "One capital letter.", False, False),
    (["punctuation:no_comma"], [{}], "No commas in this sentence.", True, True),
    (["punctuation:no_comma"], [{}], "Well, there is one.", False, False),
    (["keywords:existence"], [{"keywords": ["banana", "apple"]}], "An apple and a banana.", True, True),
    (["keywords:existence"], [{"keywords": ["banana", "apple"]}], "Only an apple.", False, False),
    (["length_constraints:number_words"], [{"relation": "less than", "num_words": 5}], "Three short words", True, True),
    (["length_constraints:number_words"], [{"relation": "at least", "num_words": 5}], "Too short", False, False),
    (["detectable_format:number_bullet_lists"], [{"num_bullets": 2}], "* one\n* two", True, True),
    (["detectable_format:number_bullet_lists"], [{"num_bullets": 3}], "* one\n* two", False, False),
    (["detectable_format:title"], [{}], "<<A Title>>\nThe body.", True, True),
    (["startend:end_checker"], [{"end_phrase": "Is there anything else I can help with?"}],
     "Done. Is there anything else I can help with?", True, True),
    (["startend:quotation"], [{}], '"Wrapped in double quotes."', True, True),
    (["language:response_language"], [{"language": "en"}],
     "This answer is written in plain English, as the instruction asks.", True, True),
    # Loose accuracy forgives a first line of preamble (and markdown asterisks); strict does not.
    (["change_case:english_lowercase"], [{}], "Sure! Here it is:\nall lower case after the preamble.", False, True),
    # Prompt level: every instruction of the prompt must be followed.
    (["punctuation:no_comma", "keywords:existence"], [{}, {"keywords": ["pear"]}], "No pear, sorry.", False, False),
]


@pytest.mark.parametrize("ids, kwargs, response, strict, loose", CASES)
def test_instruction_checkers_on_hand_written_responses(ifeval, ids, kwargs, response, strict, loose):
  out = ifeval.process_results(_doc(ids, kwargs), [response])
  assert out["prompt_level_strict_acc"] == strict
  assert out["prompt_level_loose_acc"] == loose
