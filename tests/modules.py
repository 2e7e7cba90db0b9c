"""Load a repository file that is not in a package (scripts/, launch/, configs/) as a module, for tests."""
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
