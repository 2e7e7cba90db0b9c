"""datasynth.data.mixture: exact quotas at fixed ratios, seeded draws, upsampling in whole passes, bad weights."""
import collections

import pytest

from datasynth.data.mixture import mix_records, quotas
from datasynth.data.records import Record
from datasynth.utils.errors import UserError
from softsrv import evaluate
from tests.modules import load_file


def _records(name, n):
  return [Record(f"{name}/{i}", name, f"{name} prompt {i}", f"{name} response {i}") for i in range(n)]


def test_quotas_sum_to_num_and_follow_the_ratios():
  assert quotas({"general": 0.8, "task": 0.2}, 1000) == {"general": 800, "task": 200}
  assert quotas({"a": 1, "b": 1, "c": 1}, 10) == {"a": 4, "b": 3, "c": 3}  # Largest remainder, ties in order.
  assert quotas({"a": 2.0, "b": 0.0}, 5) == {"a": 5, "b": 0}
  q = quotas({"a": 0.37, "b": 0.41, "c": 0.22}, 997)
  assert sum(q.values()) == 997 and all(abs(q[k] - w * 997) < 1 for k, w in dict(a=0.37, b=0.41, c=0.22).items())


def test_the_mixture_has_each_source_at_its_share_and_is_seeded():
  general, task = _records("general", 50), _records("task", 7)
  mixed = mix_records({"general": general, "task": task}, {"general": 0.8, "task": 0.2}, num=40, seed=3)
  counts = collections.Counter(r.meta["mixture_source"] for r in mixed)
  assert counts == {"general": 32, "task": 8}
  general_uids = [r.uid for r in mixed if r.meta["mixture_source"] == "general"]
  assert len(set(general_uids)) == 32  # 32 of 50: drawn without replacement.
  task_uses = collections.Counter(r.uid for r in mixed if r.meta["mixture_source"] == "task")
  assert sorted(task_uses.values()) == [1] * 6 + [2]  # 8 from 7: one whole pass, then one more record.
  again = mix_records({"general": general, "task": task}, {"general": 0.8, "task": 0.2}, num=40, seed=3)
  assert [r.uid for r in again] == [r.uid for r in mixed]
  other = mix_records({"general": general, "task": task}, {"general": 0.8, "task": 0.2}, num=40, seed=4)
  assert [r.uid for r in other] != [r.uid for r in mixed]
  assert general[0].meta == {}  # The inputs are not modified.


@pytest.mark.parametrize("weights,num,match", [
    ({"general": 0.8}, 10, "one weight per source"),
    ({"general": -1.0, "task": 1.0}, 10, "finite numbers >= 0"),
    ({"general": 0.0, "task": 0.0}, 10, "positive sum"),
    ({"general": float("nan"), "task": 1.0}, 10, "finite numbers"),
    ({"general": 0.5, "task": 0.5}, 0, "mixture size 0"),
])
def test_bad_mixtures_are_one_clear_error(weights, num, match):
  with pytest.raises(UserError, match=match):
    mix_records({"general": _records("general", 3), "task": _records("task", 3)}, weights, num)


def test_an_empty_source_with_a_positive_weight_is_an_error():
  with pytest.raises(UserError, match=r"\['task'\] hold no records"):
    mix_records({"general": _records("general", 3), "task": []}, {"general": 0.5, "task": 0.5}, 4)


def _evaluate_launcher():
  return evaluate, load_file("configs/evaluate.py", "configs_evaluate_mix")


def test_the_student_launcher_mixes_general_instructions_at_the_configured_share(full_data_dir):
  data_dir = full_data_dir
  launcher, configs = _evaluate_launcher()
  config = configs.get_config("cpu")
  config.data_dir = str(data_dir)
  config.max_records = 20
  plain, _ = launcher.load_train_records(config, task="gsm8k", records_path=None, baseline=True)
  config.mix.general = "lima,alpaca"  # Table 3: 80% general instructions, 20% the task's records.
  mixed, source = launcher.load_train_records(config, task="gsm8k", records_path=None, baseline=True)
  counts = collections.Counter(r.meta["mixture_source"] for r in mixed)
  assert counts == {"general": 80, "task": 20} and "lima,alpaca (share 0.8)" in source
  assert {r.uid for r in mixed if r.meta["mixture_source"] == "task"} == {r.uid for r in plain}
  assert {r.task for r in mixed if r.meta["mixture_source"] == "general"} <= {"lima", "alpaca"}
  config.mix.general = "tulu"
  with pytest.raises(UserError, match="mix.general='tulu'"):
    launcher.load_train_records(config, task="gsm8k", records_path=None, baseline=True)


def test_the_launcher_refuses_a_bad_mixture_before_anything_loads(full_data_dir, tmp_path):
  data_dir = full_data_dir
  launcher, configs = _evaluate_launcher()
  config = configs.get_config("cpu")
  config.data_dir = str(data_dir)
  config.mix.general, config.mix.general_share = "lima", 1.0
  with pytest.raises(UserError, match=r"mix.general_share=1.0 must be in \[0, 1\)"):
    launcher.validate(config, task="gsm8k", workdir=str(tmp_path / "w"), records_path=None, baseline=True)
