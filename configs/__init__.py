"""Run configs: one `get_config(arg)` file per method, built from the blocks in `common`."""

import ast
import os

# What makes a module of this folder one of the library's method configs (a user's config here need not be one).
LIBRARY_CONFIG = (
    "a library method config is a module configs/<name>.py with module-level ROWS (its provenance "
    "table), RESULTS (its paper's results) and a get_config() that builds method=<name>"
)


def methods(folder: str = os.path.dirname(__file__)) -> list[str]:
  """The library's method configs in `folder` (this one; see LIBRARY_CONFIG), sorted. Read from the files'
  top-level names without importing them, so a user's config here, even a broken one, is not listed."""
  names = []
  for file in sorted(os.listdir(folder)):
    if not file.endswith(".py") or file.startswith("_"):
      continue
    with open(os.path.join(folder, file)) as f:
      try:
        tree = ast.parse(f.read())
      except SyntaxError:
        continue
    assigned = {
        t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)
    }
    if {"ROWS", "RESULTS"} <= assigned:
      names.append(file[:-3])
  return names
