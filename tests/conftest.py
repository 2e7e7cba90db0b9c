"""Shared pytest fixtures: 8 fake CPU devices, the embedded checkpoints (loaded once), the data directories."""
import os

# Before JAX is imported anywhere: 8 host devices so sharded == unsharded tests run on one CPU machine.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import atexit
import pathlib
import shutil
import tempfile

# One persistent XLA compilation cache for the session (and the jobs the tests start as subprocesses): the release
# after every module (below) drops the compiled programs, and the embedded models' forward, training and sampling
# programs recur in many modules, so a later module loads them from disk instead of compiling them again (only
# programs that took over a second to compile are stored: JAX's default threshold). A fresh folder per session,
# removed at exit, so no run reads another run's programs.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _XLA_CACHE = tempfile.mkdtemp(prefix="datasynth-tests-xla-")
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _XLA_CACHE
  atexit.register(shutil.rmtree, _XLA_CACHE, ignore_errors=True)

import pytest

from datasynth.data import sources
from datasynth.data.sources import data_dirs
from datasynth.jobs import compiled
from datasynth.models.loaders import load_model
from datasynth.utils.errors import UserError

REPO = pathlib.Path(__file__).resolve().parents[1]
# The folder the project reads by default: $DATASYNTH_DATA, else ../shared/data beside the checkout, else the copy
# bundled with the package (a fresh clone: MBPP, GSM8K, BoolQ, MAWPS, BBH, TruthfulQA only).
DATA_DIR = pathlib.Path(data_dirs()[0])
UNBUNDLED = (("lima", "train"), ("alpaca", "train"), ("triviaqa", "dev"))  # Sets a clone does not carry.


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs():
  """After each test module, drop its compiled programs: in one process the suite would otherwise pass Linux's cap
  on memory maps (vm.max_map_count) and die inside XLA's compiler (see datasynth/jobs/compiled.py)."""
  yield
  compiled.release()


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
  """The benchmark data folder (the bundled copy when neither $DATASYNTH_DATA nor ../shared/data is there)."""
  if not DATA_DIR.exists():
    pytest.fail(f"Benchmark data not found at {DATA_DIR}; $DATASYNTH_DATA names a folder that does not exist.")
  return DATA_DIR


@pytest.fixture(scope="session")
def full_data_dir(data_dir) -> pathlib.Path:
  """The data folder, for tests that also need the sets the project does not bundle (the instruction sets LIMA and
  Alpaca: non-commercial licenses; the TriviaQA subset: no stated license); skipped, with the reason, without them."""
  try:
    for task, split in UNBUNDLED:
      sources.locate(task, split, str(data_dir))
  except UserError as e:
    pytest.skip(f"needs the instruction sets and TriviaQA, which are not bundled (put ../shared/data beside the "
                f"checkout or set $DATASYNTH_DATA): {str(e)[:120]}")
  return data_dir


@pytest.fixture(scope="session")
def smollm2():
  return load_model("smollm2-135m")


@pytest.fixture(scope="session")
def gemma3():
  return load_model("gemma3-270m")
