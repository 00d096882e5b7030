"""Stopping a training run cleanly when the machine is taken away: SIGTERM (Colab, spot and
preemptible VMs, SLURM, Kubernetes) or SIGINT (Ctrl-C).

`Watch()` notes the first signal and lets the step in flight finish; the loop asks
`requested(step)` after each step, writes a checkpoint of that step and raises `Preempted`, which
`main` turns into exit status 128 + the signal's number (as shells report a process the signal
ended). A second signal while stopping means "now": it raises `StopNow` (a KeyboardInterrupt)
where the program is, and `main` exits with the same status; Orbax writes each checkpoint into a
temporary folder and renames it once complete, so the previous checkpoint stays intact and a
half-written one is never read. On several processes
(`jax.distributed` initialised) JAX's coordination service sees the preemption notice on any
host, and `reached_preemption_sync_point` makes every process stop after the same step.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import jax
from absl import logging
from jax.experimental import multihost_utils

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def signal_name(signum: int | None) -> str:
  return signal.Signals(signum).name if signum else "a preemption notice"


class Preempted(Exception):
  """The run stopped on a signal after writing a checkpoint of `step`."""

  def __init__(self, signum: int, step: int):
    super().__init__(f"stopped by {signal.Signals(signum).name} after step {step}, saved as its checkpoint")
    self.signum, self.step = signum, step

  @property
  def exit_status(self) -> int:
    return 128 + self.signum


class StopNow(KeyboardInterrupt):
  """A second signal: stop where the program is, without saving."""

  def __init__(self, signum: int):
    super().__init__(f"second {signal.Signals(signum).name}: stopping at once")
    self.signum = signum


class Watch:
  """Handles SIGINT, and on one process SIGTERM, for the duration of a `with` block (in the main
  thread; elsewhere it watches nothing). On several processes SIGTERM stays with JAX's
  preemption notifier, which `requested` asks."""

  def __init__(self):
    self.signum: int | None = None
    self._previous: dict[int, Any] = {}

  def __enter__(self) -> Watch:
    if threading.current_thread() is threading.main_thread():
      watched = SIGNALS if jax.process_count() == 1 else (signal.SIGINT,)
      self._previous = {s: signal.signal(s, self._handle) for s in watched}
    return self

  def __exit__(self, *exc) -> None:
    for s, handler in self._previous.items():
      signal.signal(s, handler)

  def _handle(self, signum: int, frame: Any) -> None:
    del frame
    if self.signum is not None:
      raise StopNow(signum)
    self.signum = signum
    logging.warning(
        "%s received: finishing the current step, then saving a checkpoint and stopping "
        "(send it again to stop at once).",
        signal.Signals(signum).name,
    )

  def requested(self, step: int) -> bool:
    """Whether to stop after `step`: this process's signal, or, on several processes, the step
    that all of them agreed on after a preemption notice reached any of them."""
    if jax.process_count() > 1:
      if multihost_utils.reached_preemption_sync_point(step):
        self.signum = self.signum or signal.SIGTERM
        return True
      return False
    return self.signum is not None
