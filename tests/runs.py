"""Tests' helpers for runs: a model's forward pass, starting (several jax.distributed) processes,
reading what a run wrote."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile

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


def run_modules(jobs, parallel=4, timeout=900):
  """Runs each (module, args, cwd) job as `python -m module *args` in `cwd`, `parallel` at a time,
  as forks of one process that imported the library's dependencies once (`tests.fork_runner`);
  returns a `subprocess.CompletedProcess` per job, in order (text stdout and stderr)."""
  with tempfile.TemporaryDirectory() as tmp:
    specs = [
        dict(module=m, args=list(a), cwd=str(c), out=os.path.join(tmp, str(i))) for i, (m, a, c) in enumerate(jobs)
    ]
    with open(os.path.join(tmp, "jobs.json"), "w") as f:
      json.dump(specs, f)
    env = {**os.environ, "PYTHONPATH": ROOT}
    cmd = [sys.executable, "-m", "tests.fork_runner", os.path.join(tmp, "jobs.json"), str(parallel)]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, timeout=timeout)
    read = lambda spec, what: pathlib.Path(f"{spec['out']}.{what}").read_text()
    return [
        subprocess.CompletedProcess(
            [sys.executable, "-m", s["module"], *s["args"]],
            int(read(s, "status")),
            read(s, "stdout"),
            read(s, "stderr"),
        )
        for s in specs
    ]


def free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def start(args, devices, processes):
  """Starts `python <args>` as `processes` jax.distributed processes on localhost (one process: no
  coordinator), each seeing `devices` CPU devices, output piped (stderr into stdout)."""
  port = free_port()
  jobs = []
  for index in range(processes):
    xla_flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
    env = {**os.environ, "XLA_FLAGS": xla_flags, "PYTHONPATH": ROOT}
    if processes > 1:
      env.update(
          JAX_COORDINATOR_ADDRESS=f"localhost:{port}", JAX_NUM_PROCESSES=str(processes), JAX_PROCESS_ID=str(index)
      )
    jobs.append(
        subprocess.Popen(
            [sys.executable, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    )
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
