"""The run kinds (experiments/kinds.py): each launcher is a file of the repository, each kind's readers come from its
method, and the report's detection tries NOMAD's pipeline before SoftSRV's. Also the launchers' default work dir."""
import json
import os

from datasynth.utils import cli
from experiments import kinds
from nomad import results as nomad_results
from softsrv import results as softsrv_results

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_every_kind_names_a_launcher_of_the_repository_and_the_launchers_map_back():
  assert list(kinds.KINDS) == ["train", "pipeline", "evaluate", "nomad"]
  assert all(os.path.isfile(os.path.join(REPO, k.launcher)) for k in kinds.KINDS.values())
  assert {kinds.LAUNCHER_KINDS[k.launcher] for k in kinds.KINDS.values()} == set(kinds.KINDS)
  assert kinds.KINDS["nomad"].detect is nomad_results.is_workdir
  assert kinds.KINDS["evaluate"].detect is softsrv_results.is_evaluate_workdir


def test_a_nomad_pipeline_in_progress_is_told_from_softsrvs_by_its_normsim_figure(tmp_path):
  os.makedirs(tmp_path / "stages")
  assert kinds.detect(str(tmp_path)) == "pipeline" and not nomad_results.finished(str(tmp_path), table1=False)
  os.makedirs(tmp_path / "normsim")
  (tmp_path / "normsim" / "normsim.png").write_bytes(b"")
  assert kinds.detect(str(tmp_path)) == "nomad"
  (tmp_path / "summary.json").write_text(json.dumps(dict(method="nomad", stages=[dict(name="normsim", seconds=2.5)],
                                                         valid_rate=0.5)))
  assert not nomad_results.finished(str(tmp_path), table1=False)  # Its one stage has no manifest yet.
  (tmp_path / "stages" / "normsim.json").write_text("{}")
  assert nomad_results.finished(str(tmp_path), table1=False)
  assert nomad_results.final_metrics(str(tmp_path), table1=False) == dict(valid_rate=0.5, seconds=2.5)
  assert kinds.detect(str(tmp_path / "normsim")) is None
  # With its NormSim medians (keyed "<label> <set>"): n and the medians per set; an empty set has n = 0.
  stats = lambda median: dict(n=3, median=median, q1=0.1, q3=0.9)
  (tmp_path / "summary.json").write_text(json.dumps(dict(
      method="nomad", label="unmasked", stages=[dict(name="normsim", seconds=2.5)], valid_rate=0.5,
      normsim={"unmasked filtered": dict(prompt=stats(0.3), response=stats(0.25))})))
  assert nomad_results.final_metrics(str(tmp_path), table1=False) == dict(
      valid_rate=0.5, seconds=2.5, unfiltered_n=0, filtered_n=3, filtered_prompt_normsim=0.3,
      filtered_response_normsim=0.25)


def test_the_default_work_dir_is_the_config_name_and_presets_under_workdirs():
  assert cli.default_workdir("configs/mbpp.py") == os.path.join("workdirs", "mbpp")
  assert cli.default_workdir("configs/mbpp.py:paper,mp2") == os.path.join("workdirs", "mbpp-paper-mp2")
  pipeline = cli.default_workdir("configs/nomad.py:table1", "pipeline-")
  assert pipeline == os.path.join("workdirs", "pipeline-nomad-table1")
