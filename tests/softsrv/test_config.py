"""Config files and presets: configs/{mbpp,gsm8k,boolq}.py load by path; :paper and the variant presets."""
import importlib.util

import pytest

from softsrv.config import get_config


def _load(repo, task):
  spec = importlib.util.spec_from_file_location(f"config_{task}", repo / "configs" / f"{task}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config


@pytest.mark.parametrize("task", ["mbpp", "gsm8k", "boolq"])
def test_config_files_and_presets(repo, task):
  get = _load(repo, task)
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
