"""`config.imports`: the modules that register the loss terms and heads a run config uses.

A config built on a user's own term or head names the module that registers it (as big_vision's
`pp_modules`): a module name on `sys.path` (`"my_package.losses"`) or a Python file (`"mine.py"`,
relative to the config file that names it). Files are recorded with their absolute path, so the
run's `config.json` rebuilds the run from its work directory alone, from any directory: `main`,
`search`, `export` and every restore import the entries before they read the config's terms and
heads. A config file calls `configs.common.imports(__file__, ...)` before it builds its blocks.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable

from vireid_jax import errors


def resolve(entries: Iterable[str], base_dir: str) -> tuple[str, ...]:
  """The entries with each `.py` file made absolute against `base_dir` (module names unchanged)."""
  return tuple(
      os.path.abspath(os.path.join(base_dir, os.path.expanduser(e))) if e.endswith(".py") else e for e in entries
  )


def load(entries: Iterable[str]) -> None:
  """Imports every entry once per process (again importing one is a no-op). A missing module or file
  is a UserError naming the `imports` entry; an error inside the module keeps its traceback."""
  for entry in entries:
    if entry.endswith(".py"):
      _load_file(entry)
    else:
      try:
        importlib.import_module(entry)
      except ModuleNotFoundError as e:
        if e.name is None or not (entry == e.name or entry.startswith(e.name + ".")):
          raise  # the module exists and imports something missing: its own traceback
        raise errors.UserError(
            f"imports: no module named {entry!r} on the Python path (a module name, or a "
            ".py file relative to the config file)."
        ) from e


def _load_file(path: str) -> None:
  if not os.path.isfile(path):
    raise errors.UserError(
        f"imports: {path} is not a file (a .py file relative to the config file, or a module "
        "name on the Python path)."
    )
  name = f"vireid_jax_imports.{os.path.splitext(os.path.basename(path))[0]}"
  loaded = sys.modules.get(name)
  if loaded is not None:
    if os.path.samefile(loaded.__file__, path):
      return
    raise errors.UserError(f"imports: {path} and {loaded.__file__} have the same module name; rename one.")
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module
  try:
    spec.loader.exec_module(module)
  except BaseException:
    del sys.modules[name]  # a failed import is not cached: fixing the file and retrying works
    raise
