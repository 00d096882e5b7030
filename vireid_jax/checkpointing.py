"""Orbax checkpoints of the whole training state: parameters, batch statistics, optimiser state,
step, the Grain iterator position and the run's elapsed time (so the ETA survives a restart).

Saves are atomic (Orbax writes a temporary directory and renames it), so a crash at any moment
leaves the last complete checkpoint; the last `keep` and the best `keep_best` by `best_metric`
are kept.
"""

from __future__ import annotations

import logging as std_logging
import os
from typing import Any

import grain
import orbax.checkpoint as ocp
from absl import logging
from orbax.checkpoint import checkpoint_managers as policies


def quiet_orbax_logs() -> None:
  """Drops Orbax's INFO lines (dozens per save) from the absl log; its warnings and errors pass."""
  logging.get_absl_handler().addFilter(
      lambda record: record.levelno > std_logging.INFO or "/orbax/" not in record.pathname)


class Checkpointer:
  """One CheckpointManager with items `state`, `data` (Grain iterator) and `meta` (JSON)."""

  def __init__(self, directory: str, *, keep: int, keep_best: int, best_metric: str):
    preserve = [policies.LatestN(keep)]
    if keep_best:
      # A metric the run does not report (e.g. a suffixed name) ranks last rather than crashing a save.
      preserve.append(policies.BestN(get_metric_fn=lambda m: m.get(best_metric, float("-inf")), n=keep_best,
                                     keep_checkpoints_without_metrics=False))
    options = ocp.CheckpointManagerOptions(preservation_policy=policies.AnyPreservationPolicy(preserve), create=True)
    self.manager = ocp.CheckpointManager(os.path.abspath(directory), item_names=("state", "data", "meta"),
                                         options=options)

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state: Any, iterator: Any, meta: dict[str, Any],
           metrics: dict[str, float] | None = None) -> None:
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), data=grain.checkpoint.CheckpointSave(iterator),
        meta=ocp.args.JsonSave(meta)), metrics=metrics, force=True)

  def meta(self, step: int) -> dict[str, Any]:
    """The JSON metadata of `step` (elapsed seconds, number of classes)."""
    return self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]

  def restore(self, step: int, abstract_state: Any, iterator: Any | None) -> tuple[Any, dict[str, Any]]:
    """Restores `state` into the structure and shardings of `abstract_state`, and the iterator in place."""
    items = dict(state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore())
    if iterator is not None:
      items["data"] = grain.checkpoint.CheckpointRestore(iterator)
    restored = self.manager.restore(step, args=ocp.args.Composite(**items))
    return restored["state"], restored["meta"]

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
