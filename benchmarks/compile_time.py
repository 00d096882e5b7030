"""CPU time to compile one tiny train step (`hctri:test`) under XLA's defaults and under the test
suite's settings, each in a fresh process with no compilation cache: most of the default suite's
time is compiling such programs (`tests/conftest.py`).

  python -m benchmarks.compile_time [--repeats=3] [--out=benchmarks/results/compile_time.json]

Settings: XLA's defaults (as a user's run compiles); `jax_disable_most_optimizations`; and that
plus `tests.runs.FAST_COMPILE_XLA_FLAGS`, what the default suite uses. Prints the median CPU and
wall seconds of `repeats` processes each and the ratio to the defaults; writes them to `--out`
(the figure `tests/conftest.py` quotes, checked by tests/test_recorded.py).
"""

import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import jax
from absl import app, flags

from benchmarks import accelerator_aot
from configs import hctri
from tests import runs
from vireid_jax import train

_REPEATS = flags.DEFINE_integer("repeats", 3, "Fresh processes per setting (the median is reported).")
_OUT = flags.DEFINE_string("out", "benchmarks/results/compile_time.json", "Where the figures are written.")
_CHILD = flags.DEFINE_bool("child", False, "Internal: compile once in this process and print the seconds.")
SETTINGS = (  # (name, jax_disable_most_optimizations, XLA_FLAGS)
    ("XLA defaults", False, ""),
    ("most optimisations off", True, ""),
    ("the default suite's", True, runs.FAST_COMPILE_XLA_FLAGS),
)


def compile_once() -> tuple[float, float]:
  """(CPU seconds of all threads, wall seconds) of compiling `hctri:test`'s lowered train step."""
  cfg = hctri.get_config("test")
  program, state = train.create(cfg, 20, steps_per_epoch=10)
  lowered = jax.jit(functools.partial(train.train_step, program)).lower(state, accelerator_aot.abstract_batch(cfg)[0])
  cpu, wall = time.process_time(), time.perf_counter()
  lowered.compile()
  return time.process_time() - cpu, time.perf_counter() - wall


def measure(disable_most_optimizations: bool, xla_flags: str) -> tuple[float, float]:
  env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
  env.update(JAX_DISABLE_MOST_OPTIMIZATIONS=str(int(disable_most_optimizations)), XLA_FLAGS=xla_flags)
  done = subprocess.run(
      [sys.executable, "-m", "benchmarks.compile_time", "--child"], env=env, capture_output=True, text=True, check=True
  )
  cpu, wall = done.stdout.split()[-2:]
  return float(cpu), float(wall)


def main(_):
  if _CHILD.value:
    print(*(round(s, 2) for s in compile_once()))
    return
  rows = []
  print(f"{'setting':26s} {'CPU s':>7s} {'wall s':>7s} {'CPU / defaults':>15s}")
  for name, disable, xla_flags in SETTINGS:
    times = [measure(disable, xla_flags) for _ in range(_REPEATS.value)]
    cpu, wall = (round(statistics.median(t[i] for t in times), 2) for i in (0, 1))
    rows.append({"setting": name, "cpu_s": cpu, "wall_s": wall})
    print(f"{name:26s} {cpu:7.2f} {wall:7.2f} {cpu / rows[0]['cpu_s']:15.2f}", flush=True)
  record = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "config": "hctri:test", "rows": rows}
  with open(_OUT.value, "w") as f:
    json.dump(record, f, indent=1)
  print(f"Written to {_OUT.value}")


if __name__ == "__main__":
  app.run(main)
