"""Test helpers over repository files: load a file that is not in a package (scripts/, launch/, configs/) as a module,
and read a block of README.md between two markers."""
import importlib.util
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def load_file(relpath: str, name: str):
  """`<repo>/<relpath>` executed as module `name`, registered in sys.modules (dataclasses look their module up)."""
  spec = importlib.util.spec_from_file_location(name, REPO / relpath)
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module
  spec.loader.exec_module(module)
  return module


def readme_block(start: str, end: str, fix: str) -> str:
  """README.md's text between the marker lines `start` and `end`, stripped; asserts both are there (`fix` says how to
  make the block)."""
  text = (REPO / "README.md").read_text(encoding="utf-8")
  assert start in text and end in text, f"README lacks the block {start} ... {end}; {fix}"
  return text.split(start)[1].split(end)[0].strip()
