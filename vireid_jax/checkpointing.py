"""Orbax checkpoints of the whole training state, in four items: `model` (parameters and batch
statistics: all that inference restores), `train` (step, optimiser state, frozen loss networks,
non-finite tracking), `data` (the Grain iterator position) and `meta` (JSON: the number of classes
and the run's elapsed time, so the ETA survives a restart).

Saves are atomic (Orbax writes a temporary directory and renames it), so a crash at any moment
leaves the last complete checkpoint; the last `keep` and the best `keep_best` by `best_metric`
are kept. A checkpoint damaged afterwards (a truncated file: a full disk, a broken copy) is
detected when it is read: `restore_newest` skips it with a warning that names it and continues
from the newest intact one; a checkpoint of another model (a different config in the same work
directory) is an error that names the differing arrays.
"""

from __future__ import annotations

import json
import logging as std_logging
import os
import re
import shutil
import sys
import warnings
from collections.abc import Callable
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp
from absl import logging
from etils import epath
from jax.experimental import multihost_utils
from orbax.checkpoint import checkpoint_managers as policies

from vireid_jax import errors

DAMAGED = "damaged_checkpoints"  # sibling of the checkpoints folder: where damaged steps are set aside
# How TensorStore (under Orbax) reports a file that is truncated, missing or not what its index says.
_ORBAX_READ = "_read_array_index_and_device_put"  # Orbax's coroutine that reads one array
_STORAGE_ERROR = re.compile(r"(DATA_LOSS|OUT_OF_RANGE|NOT_FOUND|FAILED_PRECONDITION|INVALID_ARGUMENT): ")


def is_damage(error: BaseException) -> bool:
  """Whether `error`, raised while reading a checkpoint, says that its files are damaged (missing,
  truncated, unreadable or not valid JSON), as opposed to a bug in restoring. Orbax wraps the
  storage error, so the chain of causes is searched."""
  while error is not None:
    if isinstance(error, (OSError, json.JSONDecodeError, UnicodeDecodeError)) or (
        isinstance(error, ValueError) and _STORAGE_ERROR.match(str(error))
    ):
      return True
    error = error.__cause__ or error.__context__
  return False


def quiet_orbax_logs() -> None:
  """Drops Orbax's INFO lines (dozens per save) from the absl log; its warnings and errors pass."""
  logging.get_absl_handler().addFilter(
      lambda record: record.levelno > std_logging.INFO or "/orbax/" not in record.pathname
  )


ARRAY_ITEMS = ("model", "train")  # the array trees of a step, restored into given structures


class Checkpointer:
  """One CheckpointManager with the array items `model` and `train`, `data` (Grain iterator) and
  `meta` (JSON)."""

  def __init__(self, directory: str, *, keep: int, keep_best: int, best_metric: str):
    preserve = [policies.LatestN(keep)]
    if keep_best:
      # A metric the run does not report (e.g. a suffixed name) ranks last rather than crashing a save.
      preserve.append(
          policies.BestN(
              get_metric_fn=lambda m: m.get(best_metric, float("-inf")),
              n=keep_best,
              keep_checkpoints_without_metrics=False,
          )
      )
    options = ocp.CheckpointManagerOptions(preservation_policy=policies.AnyPreservationPolicy(preserve), create=True)
    self.directory = os.path.abspath(directory)
    self.manager = ocp.CheckpointManager(self.directory, item_names=(*ARRAY_ITEMS, "data", "meta"), options=options)

  def steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def step_dir(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def save(
      self,
      step: int,
      items: dict[str, Any],
      iterator: Any,
      meta: dict[str, Any],
      metrics: dict[str, float] | None = None,
  ) -> None:
    """Writes `items` ({"model": tree, "train": tree}), the iterator's position and `meta` as `step`."""
    self.manager.save(
        step,
        args=ocp.args.Composite(
            **{name: ocp.args.StandardSave(items[name]) for name in ARRAY_ITEMS},
            data=grain.checkpoint.CheckpointSave(iterator),
            meta=ocp.args.JsonSave(meta),
        ),
        metrics=metrics,
        force=True,
    )

  def meta(self, step: int) -> dict[str, Any]:
    """The JSON metadata of `step` (elapsed seconds, number of classes)."""
    return self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]

  def check_matches(self, step: int, abstract: dict[str, Any]) -> None:
    """Raises UserError, naming the differing arrays, if checkpoint `step` holds other arrays than
    the items of `abstract` (e.g. the work directory of a run with another config)."""
    handler = ocp.StandardCheckpointHandler()
    saved = {
        f"{name}/{k}": v
        for name in abstract
        for k, v in _shapes(handler.metadata(epath.Path(self.step_dir(step)) / name)).items()
    }
    wanted = {f"{name}/{k}": v for name, tree in abstract.items() for k, v in _shapes(tree).items()}
    if saved == wanted:
      return
    model_first = lambda k: (not k.startswith("model/"), k)  # the optimiser state mirrors the parameters
    diffs = [
        f"{k}: saved {saved.get(k, 'absent')}, config gives {wanted.get(k, 'absent')}"
        for k in sorted(set(saved) | set(wanted), key=model_first)
        if saved.get(k) != wanted.get(k)
    ]
    raise errors.UserError(
        f"{self.step_dir(step)} was written by another model than this config builds ({len(diffs)} arrays "
        "differ):\n  "
        + "\n  ".join(diffs[:8])
        + ("\n  ..." if len(diffs) > 8 else "")
        + "\nResume with the config of the run that wrote it (its config.json), or use a new work directory."
    )

  def restore(self, step: int, abstract: dict[str, Any], iterator: Any | None) -> dict[str, Any]:
    """The items named in `abstract` (e.g. {"model": tree}), restored into its structures and
    shardings; the iterator restored in place unless None."""
    items = {name: ocp.args.StandardRestore(tree) for name, tree in abstract.items()}
    if iterator is not None:
      items["data"] = grain.checkpoint.CheckpointRestore(iterator)
    restored = self.manager.restore(step, args=ocp.args.Composite(**items))
    return {name: restored[name] for name in abstract}

  def restore_newest(
      self,
      abstract: Callable[[dict[str, Any]], dict[str, Any]],
      iterator: Any | None,
      *,
      steps: list[int] | None = None,
      set_aside_damaged: bool,
  ) -> tuple[int, dict[str, Any], dict[str, Any]] | None:
    """(step, items, meta) of the newest intact checkpoint among `steps` (default: all), with the
    iterator restored in place; None when there is none. `abstract(meta)` gives the items to
    restore and their structures and shardings (`{"model": tree}` for inference).

    A checkpoint whose files are damaged (`is_damage`) is skipped with a warning that names it and, with
    `set_aside_damaged` (a run that will write those steps again), moved to
    `../damaged_checkpoints/<step>` (kept, never deleted). UserError naming every damaged
    checkpoint when none of `steps` is intact. Any other error is raised as it is, moving nothing.
    """
    damaged = []
    for step in sorted(self.steps() if steps is None else steps, reverse=True):
      try:
        meta = self.meta(step)
        wanted = abstract(meta)
        self.check_matches(step, wanted)
        items = self.restore(step, wanted, iterator)
      except Exception as e:  # pylint: disable=broad-except
        if not is_damage(e):
          raise  # a bug keeps its traceback; nothing is moved
        _ignore_abandoned_reads()
        damaged.append(self._damaged(step, e))
        continue
      if damaged:
        logging.warning("Continuing from step %d, the newest intact checkpoint.", step)
        if set_aside_damaged:
          self._set_aside(damaged)
      return step, items, meta
    if damaged:
      raise errors.UserError(
          f"No intact checkpoint: {', '.join(self.step_dir(s) for s in damaged)} "
          f"{'is' if len(damaged) == 1 else 'are'} damaged (truncated or unreadable files). Nothing was changed: "
          "restore them from a copy, or move them away to start over."
      )
    return None

  def _damaged(self, step: int, error: Exception) -> int:
    logging.warning(
        "Checkpoint %s is damaged and is skipped (%s: %s).",
        self.step_dir(step),
        type(error).__name__,
        " ".join(str(error).split())[:300],
    )
    return step

  def _set_aside(self, steps: list[int]) -> None:
    """Moves damaged steps out of the way of the steps the run will write again (process 0 moves)."""
    if jax.process_index() == 0:
      target = os.path.join(os.path.dirname(self.directory), DAMAGED)
      os.makedirs(target, exist_ok=True)
      for step in steps:
        destination, suffix = os.path.join(target, str(step)), 1
        while os.path.exists(destination):
          destination, suffix = os.path.join(target, f"{step}.{suffix}"), suffix + 1
        shutil.move(self.step_dir(step), destination)
        logging.warning("Moved damaged checkpoint %s to %s.", self.step_dir(step), destination)
    multihost_utils.sync_global_devices("vireid_jax: damaged checkpoints set aside")
    self.manager.reload()

  def wait(self) -> None:
    """Returns once every checkpoint saved so far is completely written."""
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


def _ignore_abandoned_reads() -> None:
  """When one array of a damaged checkpoint fails to read, Orbax abandons its reads of the other
  arrays: coroutines that later, in TensorStore's threads, warn that they were never awaited or
  raise when closed, and reads that finish after Orbax closed their event loop and cannot report
  back to it. Once a damaged checkpoint has been read, this process ignores exactly those (its
  unraisable-exception hook and warning filters pass everything else on)."""
  if getattr(sys.unraisablehook, "ignores_abandoned_reads", False):
    return
  default = sys.unraisablehook

  def hook(unraisable):
    abandoned_read = getattr(unraisable.object, "__qualname__", None) == _ORBAX_READ
    late_read = (
        unraisable.object is None
        and isinstance(unraisable.exc_value, RuntimeError)
        and str(unraisable.exc_value) == "Event loop is closed"
    )
    if not (abandoned_read or late_read):
      default(unraisable)

  hook.ignores_abandoned_reads = True
  sys.unraisablehook = hook
  warnings.filterwarnings("ignore", message=f"coroutine '{_ORBAX_READ}' was never awaited", category=RuntimeWarning)


def _shapes(tree: Any) -> dict[str, tuple[tuple[int, ...], str]]:
  """{"a/b/c": (shape, dtype)} of an array tree (Orbax metadata or abstract arrays alike)."""
  return {
      "/".join(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path): (
          tuple(x.shape),
          str(x.dtype),
      )
      for path, x in jax.tree_util.tree_leaves_with_path(tree)
  }
