"""configs/nomad.py:paper holds the NOMAD paper's settings, or says where and why it does not (nomad/paper.py); the
CPU default's departures are listed too; the README's table is the list."""

import pytest

from nomad import paper
from tests.modules import readme_block

PRESETS = paper.presets()


@pytest.mark.parametrize("preset,setting", [pytest.param(p, s, id=f"{p}:{s.field}") for p in paper.PRESETS
                                            for s in paper.SETTINGS])
def test_every_setting_is_the_papers_value_or_a_listed_deviation(preset, setting):
  value = paper.config_value(PRESETS[preset], setting.field)
  deviation = paper.deviation_for(preset, setting.field)
  if deviation is None:
    assert value == setting.paper, (f"configs/nomad.py:{preset} {setting.field} = {value!r}, the paper "
                                    f"({setting.section}) says {setting.paper!r}; fix it or list it in DEVIATIONS")
  else:  # A listed deviation must be real: the value differs from the paper's.
    assert value != setting.paper, f"{setting.field} is listed as a deviation of {preset} but equals the paper's"


def test_every_deviation_names_a_setting_the_paper_states_or_a_step_of_the_method():
  fields = {s.field for s in paper.SETTINGS}
  for d in paper.DEVIATIONS:
    assert d.paper and d.here and d.why and d.preset in ("all", *paper.PRESETS), d
    assert d.field is None or d.field in fields, f"{d.field}: not a setting of SETTINGS"


def test_the_paper_preset_departs_only_in_the_models_shipped_and_the_template_spacing():
  listed = {d.field for d in paper.DEVIATIONS if d.preset in ("paper", "all") and d.field}
  assert listed == {"model", "student.model", "normsim.encoder", "format.separator", "generate.prompt"}


def test_the_readme_table_is_the_deviations_list_one_row_each():
  table = readme_block("<!-- nomad.paper.deviations_markdown() -->", "<!-- end nomad deviations -->",
                       "python -m nomad.paper prints it")
  assert table == paper.deviations_markdown()
  rows = table.splitlines()[2:]
  assert len(rows) == len(paper.DEVIATIONS) == len(set(rows))


def test_the_settings_cover_what_the_issue_lists():
  fields = {s.field for s in paper.SETTINGS}
  for needed in ("data.source", "data.subset_size", "teacher.epochs", "sft.lr", "sft.batch_size",
                 "sft.prompt_masking", "generate.num_samples", "generate.temperature", "generate.top_p",
                 "generate.prompt", "normsim.reference", "normsim.encoder", "student.model", "student.epochs",
                 "student.epochs[equal_compute]", "student.sft.prompt_masking", "student.sft.lr",
                 "student.sft.batch_size", "student.tasks"):
    assert needed in fields, needed
