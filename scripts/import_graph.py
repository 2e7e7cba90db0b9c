"""The project's import graph: imports of its own modules placed inside functions, and import circles.

    python scripts/import_graph.py                      # counts over the whole repository
    python scripts/import_graph.py datasynth softsrv    # only these folders
    python scripts/import_graph.py --check              # exit 1 on a circle or a function-level import in the library

A project import is one of `datasynth`, `softsrv`, `nomad` or `experiments`. Module-top imports (including those under
a top-level `if` / `try`) draw the graph's edges; an import nested in a function or class body is "function-level".
`--check` fails on any circle among the project's modules and on any function-level project import inside the
library packages (the folders named by LIBRARY), except one whose line says why with a comment naming an optional
dependency (`# optional dependency: lm-eval`): a module that imports a heavy, optional package is imported only where
it is used; tests, launchers, benchmarks and scripts are only counted.
Run from the repository root.
"""
from __future__ import annotations

import argparse
import ast
import os
import sys

PROJECT = ("datasynth", "softsrv", "nomad", "experiments")
LIBRARY = PROJECT
ROOTS = PROJECT + ("launch", "tests", "benchmarks", "scripts", "sweeps", "configs")
OPTIONAL = "# optional dependency:"  # The comment that lets a function-level import of a module stand.


def module_name(path: str) -> str:
  return path[:-3].replace(os.sep, ".").removesuffix(".__init__")


def python_files(root: str):
  for folder, _, files in os.walk(root):
    for f in sorted(files):
      if f.endswith(".py"):
        yield os.path.join(folder, f)


def project_imports(tree: ast.Module):
  """(node, [imported dotted names], at module top) for every import of a project module."""
  top = {id(n) for n in tree.body}
  for n in tree.body:  # `if` / `try` at module top count as top.
    if isinstance(n, (ast.If, ast.Try)):
      top |= {id(c) for c in ast.walk(n) if isinstance(c, (ast.Import, ast.ImportFrom))}
  for n in ast.walk(tree):
    if isinstance(n, ast.Import):
      names = [a.name for a in n.names]
    elif isinstance(n, ast.ImportFrom) and not n.level and n.module:
      names = [n.module] + [f"{n.module}.{a.name}" for a in n.names]
    else:
      continue
    if any(x.split(".")[0] in PROJECT for x in names):
      yield n, [x for x in names if x.split(".")[0] in PROJECT], id(n) in top


def scan(roots) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
  """(function-level imports per root as "path:line", import edges between modules)."""
  inner: dict[str, list[str]] = {}
  graph: dict[str, set[str]] = {}
  for root in roots:
    if not os.path.isdir(root):
      continue
    for path in python_files(root):
      with open(path, encoding="utf-8") as f:
        text = f.read()
      tree, lines = ast.parse(text, path), text.splitlines()
      edges = graph.setdefault(module_name(path), set())
      for node, names, at_top in project_imports(tree):
        if not at_top and OPTIONAL not in lines[node.lineno - 1]:
          inner.setdefault(root, []).append(f"{path}:{node.lineno}")
        edges.update(names)
  return inner, graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
  """Strongly connected components of more than one module among the project's modules (Tarjan)."""
  mods = {m for m in graph if m.split(".")[0] in PROJECT}
  g = {m: sorted(x for x in graph[m] if x in mods and x != m) for m in mods}
  index: dict[str, int] = {}
  low: dict[str, int] = {}
  stack: list[str] = []
  on_stack: set[str] = set()
  out: list[list[str]] = []

  def visit(v: str) -> None:
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in g[v]:
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      comp = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        comp.append(w)
        if w == v:
          break
      if len(comp) > 1:
        out.append(sorted(comp))

  sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
  for v in sorted(g):
    if v not in index:
      visit(v)
  return out


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("roots", nargs="*", help=f"folders to scan (default: {' '.join(ROOTS)})")
  parser.add_argument("--check", action="store_true", help="exit 1 on a circle or a function-level library import")
  args = parser.parse_args(argv)
  inner, graph = scan(args.roots or ROOTS)
  found = circles(graph)
  print("function-level project imports:", {k: len(v) for k, v in inner.items()},
        "total", sum(map(len, inner.values())))
  print("import circles:", found)
  if not args.check:
    return 0
  library = [x for root in LIBRARY for x in inner.get(root, [])]
  for where in library:
    print(f"function-level project import: {where}")
  return 1 if found or library else 0


if __name__ == "__main__":
  sys.exit(main())
