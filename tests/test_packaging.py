"""`pip install .` (not editable) gives a package that carries its bundled data and finds the model packages.

The project is cloned (what is committed, nothing more), built into a wheel whose file list must hold every bundled
file, and installed into a new virtual environment; a Python there, started outside any checkout, must import the
installed copy, read MBPP, GSM8K and BBH from the bundled data with no data folder, and find the embedded models."""
import json
import os
import pathlib
import site
import subprocess
import sys
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
BUNDLED = REPO / "datasynth" / "data" / "bundled"

PROBE = """
import json, os, sys
import datasynth
from datasynth.data.sources import BUNDLED_DIR, data_dirs, data_file
from datasynth.data.records import load_task
from datasynth.models import loaders
from datasynth.models.encoder import default_encoder_path
print(json.dumps(dict(
    package=datasynth.__file__, dirs=data_dirs(), mbpp=len(load_task("mbpp", "train")),
    gsm8k=len(load_task("gsm8k", "test")), bbh=data_file("bbh/bbh/navigate.json"),
    smollm2=os.path.isfile(loaders.resolve("smollm2-135m")), encoder=os.path.isdir(default_encoder_path()))))
"""


def _run(cmd, **kw):
  p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
  assert p.returncode == 0, f"{cmd}: {p.stdout[-2000:]}{p.stderr[-3000:]}"
  return p.stdout


def test_pip_install_dot_carries_the_bundled_data_and_finds_the_model_packages(tmp_path):
  if not (REPO / ".git").exists():
    pytest.skip(f"{REPO} is not a git checkout, so there is nothing to clone")
  src = tmp_path / "src"
  _run(["git", "clone", "-q", str(REPO), str(src)])
  # The build uses this environment's setuptools and wheel (no download): --no-build-isolation.
  _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"),
        str(src)])
  wheel, = (tmp_path / "dist").glob("datasynth-*.whl")
  names = set(zipfile.ZipFile(wheel).namelist())
  want = {str(p.relative_to(REPO)) for p in BUNDLED.rglob("*") if p.is_file()}
  assert len(want) > 70 and want <= names, sorted(want - names)[:5]  # Every bundled file, licenses included.

  # A new venv that sees this environment's dependencies (a .pth line; the editable install's finder is not loaded
  # that way) and gets the project from the wheel, as `pip install .` does.
  venv = tmp_path / "venv"
  _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
  py = venv / "bin" / "python"
  venv_site = pathlib.Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
  (venv_site / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
  _run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)])
  env = {k: v for k, v in os.environ.items() if k not in ("DATASYNTH_DATA", "PYTHONPATH")}
  out = _run([str(py), "-c", PROBE], cwd=tmp_path, env=env)  # Not in a checkout: no ../shared/data to find.
  got = json.loads(out.strip().splitlines()[-1])
  installed = venv_site / "datasynth"
  assert got["package"] == str(installed / "__init__.py")
  assert got["dirs"] == [str(installed / "data" / "bundled")]
  assert (got["mbpp"], got["gsm8k"]) == (374, 1319)
  assert got["bbh"] == str(installed / "data" / "bundled" / "bbh" / "bbh" / "navigate.json.xz")
  assert got["smollm2"] and got["encoder"]
