"""Registries of named, declared units (loss terms, model heads) and their config blocks."""

from __future__ import annotations

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
    """Adds `unit` under a new `name` (registered units are never replaced)."""
    if name in self:
      raise ValueError(f"A {self.what} named {name!r} is already registered.")
    self[name] = unit
    return unit

  def settings(self, name: str, **overrides: Any) -> ml_collections.ConfigDict:
    """The config block of `name`: its settings' defaults, updated by `overrides`."""
    if name not in self:
      raise ValueError(f"Unknown {self.what} {name!r}; registered: {sorted(self)}.")
    unknown = sorted(set(overrides) - set(self.defaults(self[name])))
    if unknown:
      raise ValueError(f"The {self.what} {name!r} has no settings {unknown}; its settings: "
                       f"{sorted(self.defaults(self[name]))}.")
    return ml_collections.ConfigDict({**self.defaults(self[name]), **overrides})

  def check_block(self, name: str, block: Mapping[str, Any], field: str, extra: tuple[str, ...] = ()) -> list[str]:
    """A problem naming `field` unless `block` holds exactly the settings of `name` (and `extra`)."""
    expected = set(self.defaults(self[name])) | set(extra)
    unknown, missing = sorted(set(block) - expected), sorted(expected - set(block))
    if not unknown and not missing:
      return []
    found = "; ".join(x for x in (unknown and f"unknown {unknown}", missing and f"missing {missing}") if x)
    return [f"{field}: expected the settings {sorted(expected)}; {found}."]
