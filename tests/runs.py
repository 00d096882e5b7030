"""Tests' helpers for runs: a model's forward pass, starting commands (several jax.distributed
processes among them) as forks of a pre-imported server, reading what a run wrote."""

import json
import os
import pathlib
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time

import orbax.checkpoint as ocp
from flax import nnx

from vireid_jax import checkpointing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The default suite's XLA flags (`tests/conftest.py`): XLA's older CPU code emitters (elemental IR
# instead of the fusion emitters), which compile a tiny train step in less than half the CPU time
# (`python -m benchmarks.compile_time`).
FAST_COMPILE_XLA_FLAGS = "--xla_cpu_use_fusion_emitters=false"


def forward(model, images, modality=None):
  """`model(images[, modality])` as one compiled program (BatchNorm statistics updated in place
  in training mode): op by op, a first call compiles every primitive on its own, ten times slower."""
  return nnx.jit(lambda m, x: m(x) if modality is None else m(x, modality))(model, images)


class Forker:
  """Starts `python -m <module> <args>` commands as forks of one server process that imported the
  library's dependencies once (`tests/fork_server.py`): each a process of its own, as a user's
  command is, without its 3.5 s of imports. `env`: the server's environment (what is read at
  import), and each command's by default. A context manager; closing stops the server."""

  def __init__(self, env=None):
    self.env = dict(os.environ if env is None else env)
    self._tmp = tempfile.TemporaryDirectory()
    self._server = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tests", "fork_server.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=self.env,
        cwd=ROOT,
        text=True,
    )
    self._started, self._exits, self._ended = queue.Queue(), {}, threading.Condition()
    self._lock, self._count = threading.Lock(), 0
    threading.Thread(target=self._read, daemon=True).start()

  def _read(self):
    for line in self._server.stdout:
      kind, pid, *status = line.split()
      if kind == "started":
        self._started.put(int(pid))
      else:
        with self._ended:
          self._exits[int(pid)] = int(status[0])
          self._ended.notify_all()

  def start(self, args, cwd=ROOT, env=None, merge_stderr=False):
    """Forks `python -m args[0] *args[1:]` in `cwd`; a `Forked` (stderr into stdout if `merge_stderr`)."""
    with self._lock:
      self._count += 1
      out = os.path.join(self._tmp.name, f"{self._count}.out")
      err = None if merge_stderr else os.path.join(self._tmp.name, f"{self._count}.err")
      for path in filter(None, (out, err)):
        open(path, "w").close()
      job = dict(args=list(args), cwd=str(cwd), env=self.env if env is None else env, stdout=out, stderr=err)
      self._server.stdin.write(json.dumps(job) + "\n")
      self._server.stdin.flush()
      pid = self._started.get(timeout=60)
    return Forked(self, pid, [sys.executable, "-m", *args], out, err)

  def run(self, args, cwd=ROOT, env=None, timeout=600):
    """`start` and wait: a `subprocess.CompletedProcess` with text stdout and stderr."""
    proc = self.start(args, cwd, env)
    stdout, stderr = proc.communicate(timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)

  def wait(self, pid, timeout=None):
    with self._ended:
      if not self._ended.wait_for(lambda: pid in self._exits, timeout):
        raise subprocess.TimeoutExpired(str(pid), timeout)
      return self._exits[pid]

  def poll(self, pid):
    with self._ended:
      return self._exits.get(pid)

  def close(self):
    self._server.stdin.close()
    self._server.wait(timeout=60)
    self._tmp.cleanup()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


class Forked:
  """A command `Forker.start` forked, used as a `subprocess.Popen` with text output: `stdout`
  yields its lines as it writes them; `send_signal`, `wait`, `communicate`, `returncode`."""

  def __init__(self, forker, pid, args, out, err):
    self.forker, self.pid, self.args, self._out, self._err = forker, pid, args, out, err
    self.returncode = None

  def poll(self):
    self.returncode = self.forker.poll(self.pid)
    return self.returncode

  def wait(self, timeout=None):
    self.returncode = self.forker.wait(self.pid, timeout)
    return self.returncode

  def send_signal(self, signum):
    if self.poll() is None:
      os.kill(self.pid, signum)

  @property
  def stdout(self):
    with open(self._out) as f:
      pending = ""
      while True:
        ended = self.poll() is not None  # before the read: nothing is written after it ends
        pending += f.read()
        *lines, pending = pending.split("\n")
        yield from (line + "\n" for line in lines)
        if ended:
          break
        time.sleep(0.02)
      if pending:
        yield pending

  def communicate(self, timeout=None):
    self.wait(timeout)
    read = lambda path: pathlib.Path(path).read_text() if path else None
    return read(self._out), read(self._err)


def run_modules(forker, jobs, parallel=4, timeout=900):
  """Runs each (module, args, cwd) job with `forker`, `parallel` at a time; a
  `subprocess.CompletedProcess` per job, in order (text stdout and stderr)."""
  done = []
  for first in range(0, len(jobs), parallel):
    started = [forker.start([module, *args], cwd) for module, args, cwd in jobs[first : first + parallel]]
    for proc in started:
      stdout, stderr = proc.communicate(timeout)
      done.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
  return done


def free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def start(forker, args, devices, processes):
  """Forks `python -m <args>` as `processes` jax.distributed processes on localhost (one process:
  no coordinator), each seeing `devices` CPU devices, stderr into stdout."""
  port = free_port()
  jobs = []
  for index in range(processes):
    xla_flags = f"{forker.env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
    env = {**forker.env, "XLA_FLAGS": xla_flags, "PYTHONPATH": ROOT}
    if processes > 1:
      env.update(
          JAX_COORDINATOR_ADDRESS=f"localhost:{port}", JAX_NUM_PROCESSES=str(processes), JAX_PROCESS_ID=str(index)
      )
    jobs.append(forker.start(args, env=env, merge_stderr=True))
  return jobs


def final_state(workdir):
  """The raw saved training state of the latest checkpoint: {"model": ..., "train": ...} nested dicts of arrays."""
  items = checkpointing.ARRAY_ITEMS
  manager = ocp.CheckpointManager(os.path.join(workdir, "checkpoints"), item_names=items)
  step = manager.latest_step()
  restored = manager.restore(step, args=ocp.args.Composite(**{name: ocp.args.StandardRestore() for name in items}))
  manager.close()
  return step, {name: restored[name] for name in items}


def losses_by_step(workdir):
  rows = [json.loads(line) for line in pathlib.Path(os.path.join(workdir, "metrics.jsonl")).read_text().splitlines()]
  return {r["step"]: r["loss/total"] for r in rows if "loss/total" in r}
