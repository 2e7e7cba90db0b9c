"""Strip outputs, execution counts and run metadata from notebooks, in place, so they are committed clean.

  python scripts/strip_notebooks.py                 # every notebook under colab/
  python scripts/strip_notebooks.py path.ipynb ...  # the given ones

tests/colab/test_notebooks.py refuses a committed notebook with outputs; this makes it pass. Cell sources, tags
(the `parameters` cell) and the notebook's kernel metadata are kept.
"""
import pathlib
import sys

import nbformat

REPO = pathlib.Path(__file__).resolve().parents[1]


def strip(nb) -> bool:
  """Clear outputs, execution counts and per-cell execution timing; True when anything changed."""
  changed = False
  for cell in nb.cells:
    if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
      cell.outputs, cell.execution_count, changed = [], None, True
    if "execution" in cell.metadata:
      del cell.metadata["execution"]
      changed = True
  return changed


def main(argv: list[str]) -> int:
  paths = [pathlib.Path(a) for a in argv] or sorted((REPO / "colab").glob("*.ipynb"))
  for path in paths:
    nb = nbformat.read(str(path), as_version=4)
    if strip(nb):
      nbformat.write(nb, str(path))
      print(f"stripped {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
