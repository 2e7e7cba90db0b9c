"""Every `:paper` preset holds the SoftSRV paper's settings, or says where and why it does not (softsrv/paper.py)."""

import pytest

from softsrv import paper
from tests.modules import readme_block

PRESETS = paper.presets()


def _cases():
  for (config, preset, task), _ in PRESETS.items():
    for s in paper.SETTINGS:
      if s.config == config and (not s.tasks or task in s.tasks):
        yield pytest.param(config, preset, task, s, id=f"{config}:{preset}:{task}:{s.field}")


@pytest.mark.parametrize("config,preset,task,setting", list(_cases()))
def test_every_setting_is_the_papers_value_or_a_listed_deviation(config, preset, task, setting):
  value = paper.config_value(PRESETS[(config, preset, task)], setting.field)
  deviation = paper.deviation_for(config, preset, setting.field)
  if deviation is None:
    assert value == setting.paper, (f"{config}:{preset} ({task or 'student'}) {setting.field} = {value!r}, the paper "
                                    f"({setting.section}) says {setting.paper!r}; fix it or list it in DEVIATIONS")
  else:  # A listed deviation must be real: the value differs from the paper's.
    assert value != setting.paper, f"{setting.field} is listed as a deviation of {preset} but equals the paper's"


def test_every_deviation_names_a_setting_the_paper_states_or_a_step_of_the_method():
  fields = {(s.config, s.field) for s in paper.SETTINGS}
  for d in paper.DEVIATIONS:
    assert d.paper and d.here and d.why, d
    assert d.field is None or (d.config, d.field) in fields, f"{d.field}: not a setting of SETTINGS"
    assert (d.field is None) == (d.config == "")


def test_the_paper_presets_depart_only_where_listed():
  listed = {(d.config, d.field) for d in paper.DEVIATIONS if d.preset in ("paper", "all") and d.field}
  assert listed == {("softsrv", "context.normalize"), ("table3", "mix.general")}


def test_the_readme_table_is_the_deviations_list_one_row_each():
  table = readme_block("<!-- softsrv.paper.deviations_markdown() -->", "<!-- end deviations -->",
                       "python -m softsrv.paper prints it")
  assert table == paper.deviations_markdown()
  rows = table.splitlines()[2:]
  assert len(rows) == len(paper.DEVIATIONS) == len(set(rows))


def test_the_settings_cover_what_the_issue_lists():
  fields = {s.field for s in paper.SETTINGS}
  for needed in ("soft_prompt.t", "train.steps", "train.lr", "train.optimizer", "soft_prompt.num_layers",
                 "soft_prompt.hidden", "soft_prompt.k", "baseline.temperature[pt]", "generate.num_samples",
                 "postprocess.num_subsample", "postprocess.clusters", "postprocess.svd_components",
                 "answer.decontaminate_ngram", "mauve.num_clusters", "sft.batch_size", "sft.seq_len", "sft.lr",
                 "sft.warmup_steps", "sft.decay", "sft.steps", "eval.shots[mbpp]", "eval.shots[gsm8k]"):
    assert needed in fields, needed
  assert {s.paper for s in paper.SETTINGS if s.field == "postprocess.num_subsample"} == {50_000, 20_000}
