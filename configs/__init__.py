"""Run configs: one `get_config(arg)` file per method, built from the blocks in `common`."""

import importlib
import os
import pkgutil


def methods() -> list[str]:
  """The method configs in this folder: every module whose `get_config()` builds the method of
  its own name (so `common` and the `tiny` test alias are not methods), sorted."""
  names = []
  for module in pkgutil.iter_modules([os.path.dirname(__file__)]):
    config = importlib.import_module(f"{__name__}.{module.name}")
    if hasattr(config, "get_config") and config.get_config().method == module.name:
      names.append(module.name)
  return sorted(names)
