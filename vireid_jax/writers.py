"""Scalar metrics to `metrics.jsonl` (always) and TensorBoard event files (when tensorboardX is
installed). CLU's writers need TensorFlow, which this library does not install."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import jax


class MetricWriter:
  """Writes from process 0 only; `write_scalars(step, {name: value})`."""

  def __init__(self, workdir: str):
    self.active = jax.process_index() == 0
    self.path = os.path.join(workdir, "metrics.jsonl")
    self.tensorboard = None
    if self.active:
      os.makedirs(workdir, exist_ok=True)
      try:
        from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top

        self.tensorboard = SummaryWriter(os.path.join(workdir, "tensorboard"))
      except ImportError:
        pass

  def write_scalars(self, step: int, scalars: dict[str, Any]) -> None:
    if not self.active:
      return
    values = {k: float(v) for k, v in scalars.items()}
    with open(self.path, "a") as f:
      f.write(json.dumps({"step": step, **values}) + "\n")
    if self.tensorboard is not None:
      for k, v in values.items():
        self.tensorboard.add_scalar(k, v, step)

  def close(self) -> None:
    if self.tensorboard is not None:
      self.tensorboard.close()


def hms(seconds: float) -> str:
  """h:mm:ss of a duration (0:00:00 where it is not finite, e.g. an ETA before any rate)."""
  seconds = int(seconds) if math.isfinite(seconds) else 0
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
