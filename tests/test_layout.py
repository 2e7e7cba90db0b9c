"""The package layout's two rules (scripts/import_graph.py): no import circle among the project's modules, and every
import of a project module in the library packages (datasynth, softsrv, nomad, experiments) at its module's top."""
import os
import pathlib
import subprocess
import sys
import sysconfig

from tests.modules import load_file

REPO = pathlib.Path(__file__).resolve().parents[1]
import_graph = load_file("scripts/import_graph.py", "import_graph")


def _scan():
  cwd = os.getcwd()
  os.chdir(REPO)
  try:
    return import_graph.scan(import_graph.ROOTS)
  finally:
    os.chdir(cwd)


def test_no_import_circle_among_the_projects_modules():
  _, graph = _scan()
  assert import_graph.circles(graph) == []


def test_the_library_imports_the_project_only_at_module_top():
  inner, _ = _scan()
  assert [x for root in import_graph.LIBRARY for x in inner.get(root, [])] == []


def test_every_subpackage_says_what_it_holds_and_may_import():
  for init in sorted(REPO.glob("datasynth/*/__init__.py")) + [REPO / "experiments" / "__init__.py"]:
    text = init.read_text()
    assert text.startswith('"""') and "import" in text.split('"""')[1].lower(), init


def test_the_check_flag_passes_on_this_tree():
  out = subprocess.run([sys.executable, "scripts/import_graph.py", "--check"], cwd=REPO, capture_output=True,
                       text=True, timeout=120)
  assert out.returncode == 0, out.stdout + out.stderr
  assert "import circles: []" in out.stdout


def test_no_launcher_is_named_like_an_installed_module():
  # `python launch/X.py` puts launch/ on the import path ahead of the standard library and site-packages (only the
  # checkout goes before it): a launcher named like an installed package (e.g. lm_eval) is imported in its place.
  paths = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
  for launcher in sorted((REPO / "launch").glob("*.py")):
    name = launcher.stem
    found = [p for p in sorted(paths) if (pathlib.Path(p) / name).is_dir() or (pathlib.Path(p, f"{name}.py")).is_file()]
    assert not found and name not in sys.builtin_module_names, f"launch/{name}.py shadows {found}: rename it"
