"""Config files and presets: configs/{mbpp,gsm8k,boolq}.py load by path; :paper and the variant presets."""
import pytest

from softsrv.config import get_config
from tests.modules import load_file


def _load(task):
  return load_file(f"configs/{task}.py", f"config_{task}").get_config


@pytest.mark.parametrize("task", ["mbpp", "gsm8k", "boolq"])
def test_config_files_and_presets(task):
  get = _load(task)
  c = get(None)
  assert c.task == task and c.soft_prompt.variant == "mc" and c.data.data_dir == ""
  p = get("paper")  # The paper's settings.
  assert (p.soft_prompt.t, p.train.steps, p.train.lr, p.train.optimizer) == (128, 20_000, 5e-6, "adam")
  assert (p.soft_prompt.num_layers, p.soft_prompt.hidden, p.soft_prompt.k) == (3, 128, 2)
  assert get("paper,mp2").soft_prompt.variant == "mp" and get("mp3").soft_prompt.k == 3
  assert get("np").soft_prompt.variant == "np"


def test_unknown_preset_is_a_clear_error():
  with pytest.raises(ValueError, match="Unknown config preset 'papr'"):
    get_config("mbpp", "papr")
