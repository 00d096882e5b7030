"""Registries of named, declared units (loss terms, model heads) and their config blocks."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import ml_collections

T = TypeVar("T")


class Registry(dict, Generic[T]):
  """name -> unit, in registration order. Each unit declares its settings and their defaults
  (`defaults(unit)`); a config holds one block of settings per unit it uses."""

  def __init__(self, what: str, defaults: Callable[[T], Mapping[str, Any]]):
    super().__init__()
    self.what, self.defaults = what, defaults

  def register(self, name: str, unit: T) -> T:
    """Adds `unit` under a new `name`. The same definition registered again (its module imported
    again: a re-run notebook cell, a module imported both by name and as a config's `imports` file)
    replaces it; another unit under a taken name is an error."""
    if name in self and _origin(self[name]) != _origin(unit):
      raise ValueError(
          f"A {self.what} named {name!r} is already registered (by {_origin(self[name])[1]} in "
          f"{_origin(self[name])[0]})."
      )
    self[name] = unit
    return unit

  def settings(self, name: str, **overrides: Any) -> ml_collections.ConfigDict:
    """The config block of `name`: its settings' defaults, updated by `overrides`."""
    if name not in self:
      raise ValueError(f"Unknown {self.what} {name!r}; registered: {sorted(self)}.")
    unknown = sorted(set(overrides) - set(self.defaults(self[name])))
    if unknown:
      raise ValueError(
          f"The {self.what} {name!r} has no settings {unknown}; its settings: " f"{sorted(self.defaults(self[name]))}."
      )
    return ml_collections.ConfigDict({**self.defaults(self[name]), **overrides})

  def check_block(self, name: str, block: Mapping[str, Any], field: str, extra: tuple[str, ...] = ()) -> list[str]:
    """A problem naming `field` unless `block` holds exactly the settings of `name` (and `extra`)."""
    expected = set(self.defaults(self[name])) | set(extra)
    unknown, missing = sorted(set(block) - expected), sorted(expected - set(block))
    if not unknown and not missing:
      return []
    found = "; ".join(x for x in (unknown and f"unknown {unknown}", missing and f"missing {missing}") if x)
    return [f"{field}: expected the settings {sorted(expected)}; {found}."]


def _origin(unit: Any) -> tuple[str | None, str]:
  """Where a unit is defined: (source file, qualified name) of a class, or of a unit's `fn`."""
  defined = unit if inspect.isclass(unit) else getattr(unit, "fn", unit)
  try:
    file = os.path.realpath(inspect.getsourcefile(defined) or "")
  except TypeError:
    file = None
  return file, getattr(defined, "__qualname__", repr(defined))
