"""sweeps/nomad_table2.py and sweeps/nomad_b2.py at both scales (NOMAD_SCALE): the runs, their configs as the
launcher builds them, and what each run's student trains on."""
import os

import pytest

from datasynth.utils.errors import UserError
from experiments import sweep as sw
from softsrv.paper import REPO


def _grid(name, scale, monkeypatch):
  monkeypatch.setenv("NOMAD_SCALE", scale)
  monkeypatch.setenv("NOMAD_TULU", "/data/tulu_v2_data.jsonl")
  grid = sw.load_sweep(os.path.join(REPO, "sweeps", f"{name}.py"), root=f"/tmp/{name}")
  return grid, [sw.load_config(r) for r in grid.runs]


@pytest.mark.parametrize("scale", ["paper", "cpu"])
def test_table2_trains_four_teachers_and_the_student_on_the_whole_pool_with_one_baseline(scale, monkeypatch):
  grid, configs = _grid("nomad_table2", scale, monkeypatch)
  assert [r.name for r in grid.runs] == ["nomasked_filtered15k", "nomasked_filtered300k", "masked_filtered15k",
                                         "masked_filtered300k"]
  assert {r.kind for r in grid.runs} == {"nomad"} and not any("--table1" in r.args() for r in grid.runs)
  assert [c.sft.prompt_masking for c in configs] == [False, False, True, True]
  small = 15000 if scale == "paper" else 64
  assert [c.data.subset_size for c in configs] == [small, 0, small, 0]
  assert {c.student.x_train for c in configs} == {"pool"} and all(c.pipeline.filtered for c in configs)
  assert [c.student.baselines for c in configs] == ["equal_epochs", "none", "none", "none"]
  if scale == "paper":
    assert {(c.data.source, c.data.file, c.student.epochs) for c in configs} == {
        ("tulu_v2", "/data/tulu_v2_data.jsonl", 2.0)}
    assert all("ifeval" not in c.student.tasks and "truthfulqa" in c.student.tasks for c in configs)
    assert configs[0].generate.num_samples == 30000 and configs[0].normsim.reference == "pool"
  else:  # The first 128 Alpaca conversations stand for the 300K pool; NormSim against it as at paper scale.
    assert {(c.data.source, c.data.pool_size, c.normsim.reference) for c in configs} == {("alpaca", 128, "pool")}
    assert configs[0].generate.num_samples == 96


@pytest.mark.parametrize("scale", ["paper", "cpu"])
def test_b2_trains_each_synthetic_set_alone_beside_its_mixture_for_table1_and_table2_cases(scale, monkeypatch):
  grid, configs = _grid("nomad_b2", scale, monkeypatch)
  assert all(c.student.synthetic_alone and c.student.baselines == "none" for c in configs)
  if scale == "paper":
    assert [r.name for r in grid.runs] == ["x15k_nomasked_filtered15k", "x15k_masked_filtered15k",
                                           "x300k_nomasked_filtered15k", "x300k_nomasked_filtered300k",
                                           "x300k_masked_filtered15k", "x300k_masked_filtered300k"]
    assert [c.student.x_train for c in configs] == ["subset"] * 2 + ["pool"] * 4
    assert [c.student.epochs for c in configs] == [4.0] * 2 + [2.0] * 4
    assert {c.student.tasks for c in configs} == {"gsm8k,lm_eval:bbh_local_fewshot"}
  else:  # The masked teacher writes no valid first round at this scale: the unmasked cases only.
    assert [r.name for r in grid.runs] == ["x15k_nomasked_filtered15k", "x300k_nomasked_filtered15k",
                                           "x300k_nomasked_filtered300k"]
    assert [c.student.x_train for c in configs] == ["subset", "pool", "pool"]
    assert {c.sft.prompt_masking for c in configs} == {False}
    assert {c.student.tasks for c in configs} == {"lm_eval:bbh_local_fewshot_cpu"}
    assert {c.data.pool_size for c in configs} == {128}


def test_a_bad_scale_is_one_line(monkeypatch):
  monkeypatch.setenv("NOMAD_SCALE", "gpu")
  with pytest.raises(UserError, match="NOMAD_SCALE='gpu': expected cpu or paper"):
    sw.load_sweep(os.path.join(REPO, "sweeps", "nomad_table2.py"), root="/tmp/x")


@pytest.mark.parametrize("scale", ["paper", "cpu"])
def test_the_comparison_plots_each_sets_figures_under_the_names_the_results_carry(scale, monkeypatch):
  """METRICS name nomad.results' columns (`filtered_*`, `student_<set>_<task>`) for each scale's tasks."""
  (grid, configs), (b2, b2_configs) = _grid("nomad_table2", scale, monkeypatch), _grid("nomad_b2", scale, monkeypatch)
  tasks = configs[0].student.tasks.split(",")
  assert grid.metrics[:3] == ("filtered_n", "filtered_prompt_normsim", "filtered_response_normsim")
  assert set(grid.metrics[3:]) == {f"student_{s}_filtered_{t}" for s in ("unmasked", "masked") for t in tasks}
  b2_task, = set(c.student.tasks for c in b2_configs)
  assert {"student_unmasked_filtered_alone_" + t for t in b2_task.split(",")} <= set(b2.metrics)
