"""Forks `python -m <module> <args>` commands from one process that has imported the library's
dependencies once (about 3.5 s of every command's start on 2 cores), so that the tests can start
dozens of commands. Each fork is the command as `python -m` runs it: its own working folder,
environment, `sys.argv`, `sys.path[0]` (the working folder, then `PYTHONPATH`), stdin (empty),
stdout and stderr; it imports the command's module afresh (`runpy`) and ends as the interpreter
does (SystemExit's status, a traceback and status 1 for an exception, signals, atexit handlers).

  python tests/fork_server.py     # started by `tests.runs.Forker`, which speaks its protocol

Reads one job per line on stdin, JSON: {"args": [module, *args], "cwd", "env", "stdout", "stderr"}
(file paths; "stderr" null: into stdout). Writes "started <pid>" per job and "exited <pid>
<status>" when it ends (`os.waitstatus_to_exitcode`: minus the signal number if a signal ended it).
"""

import importlib
import json
import os
import runpy
import sys
import threading

# What the commands import; none of them starts a JAX backend or a thread, so forks are safe.
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
SERVER_PATH = list(sys.path[1:])  # without this file's folder, which `python -m` would not put there


def _send(line: str) -> None:
  os.write(1, f"{line}\n".encode())  # one write of a short line: whole, whichever thread writes it


def _reap(started: threading.Semaphore) -> None:
  while True:
    started.acquire()  # one child to wait for
    pid, status = os.wait()
    _send(f"exited {pid} {os.waitstatus_to_exitcode(status)}")


def serve() -> dict | None:
  """Forks a child per job line; returns the job in the child, None in the server once stdin ends."""
  started = threading.Semaphore(0)
  threading.Thread(target=_reap, args=(started,), daemon=True).start()
  for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
      return job
    _send(f"started {pid}")
    started.release()
  return None


def become(job: dict) -> None:
  """Turns this forked child into the job's process and runs its module as `__main__`."""
  os.chdir(job["cwd"])
  os.environ.clear()
  os.environ.update(job["env"])
  os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
  for fd, path in ((1, job["stdout"]), (2, job["stderr"] or job["stdout"])):
    os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), fd)
  extra = [p for p in job["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
  sys.path[:] = [job["cwd"], *extra, *(p for p in SERVER_PATH if p not in extra)]
  module, *args = job["args"]
  sys.argv = [module, *args]
  runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
  for name in PRELOAD:
    importlib.import_module(name)
  forked = serve()
  if forked is None:
    sys.exit(0)
  become(forked)
