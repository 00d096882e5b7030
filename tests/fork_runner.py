"""Runs many `python -m <module> <args>` commands as forks of one process that has imported the
library's dependencies once (about 5 s of a command's start on 2 cores), so that a test can run
dozens of commands. Each fork is the command as a user runs it: its own folder, sys.argv, stdout
and stderr, exit status; it imports the command's module afresh (`runpy`, as `python -m` does).

  python -m tests.fork_runner JOBS.json PARALLEL

JOBS.json: [{"module", "args", "cwd", "out"}, ...]; each job's stdout and stderr go to
`<out>.stdout` / `<out>.stderr`, its exit status to `<out>.status`. See `tests.runs.run_modules`.
"""

import importlib
import json
import os
import runpy
import sys
import traceback

# What every command imports; none of them defines flags or starts a JAX backend, so forks are safe.
PRELOAD = (
    "jax",
    "flax.nnx",
    "grain",
    "orbax.checkpoint",
    "tensorflow_datasets",
    "vireid_jax.evaluate",
    "vireid_jax.export",
    "vireid_jax.inference",
    "vireid_jax.train",
)


def _child(job: dict) -> int:
  os.chdir(job["cwd"])
  for fd, stream in ((1, "stdout"), (2, "stderr")):
    f = os.open(f"{job['out']}.{stream}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(f, fd)
    os.close(f)
  sys.argv = [job["module"], *job["args"]]
  try:
    runpy.run_module(job["module"], run_name="__main__", alter_sys=True)
    return 0
  except SystemExit as e:  # what the interpreter does with it
    if e.code is None or isinstance(e.code, int):
      return e.code or 0
    print(e.code, file=sys.stderr)
    return 1
  except BaseException:  # pylint: disable=broad-except
    traceback.print_exc()
    return 1


def _start(job: dict) -> int:
  pid = os.fork()
  if pid == 0:
    status = 1
    try:
      status = _child(job)
    finally:
      sys.stdout.flush()
      sys.stderr.flush()
      os._exit(status)  # pylint: disable=protected-access
  return pid


def main(jobs_file: str, parallel: int) -> None:
  with open(jobs_file) as f:
    pending = json.load(f)
  running = {}
  while pending or running:
    while pending and len(running) < parallel:
      job = pending.pop(0)
      running[_start(job)] = job
    pid, status = os.wait()
    job = running.pop(pid)
    with open(f"{job['out']}.status", "w") as f:
      f.write(str(os.waitstatus_to_exitcode(status)))


if __name__ == "__main__":
  for name in PRELOAD:
    importlib.import_module(name)
  main(sys.argv[1], int(sys.argv[2]))
