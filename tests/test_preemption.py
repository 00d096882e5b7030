"""A run stopped by SIGTERM or SIGINT saves the step it finished and the same command continues
it: the same per-step losses and final evaluation as a run never stopped."""

import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from vireid_jax import preemption

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 8
OVERRIDES = [
    f"--config.train.steps={STEPS}",
    "--config.train.log_every=1",
    "--config.train.checkpoint_every=100",
    "--config.eval.figures=False",
]


def command(data_dir, workdir, cache):
  return [
      sys.executable,
      "-m",
      "vireid_jax.main",
      "--config=configs/hctri.py:test",
      f"--workdir={workdir}",
      f"--config.data.data_dir={data_dir}",
      f"--config.train.compilation_cache={cache}",
      *OVERRIDES,
  ]


def stop_after(cmd, step, signums, env):
  """Runs `cmd`, sends `signums` (one after another) once its log shows `step`; (exit status, output)."""
  proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
  lines = []
  for line in proc.stdout:
    lines.append(line)
    if f"step {step}/{STEPS}" in line and signums:
      for signum in signums:
        proc.send_signal(signum)
      signums = ()
  return proc.wait(timeout=300), "".join(lines)


def losses(workdir):
  rows = [json.loads(line) for line in pathlib.Path(workdir, "metrics.jsonl").read_text().splitlines()]
  return {r["step"]: r["loss/total"] for r in rows if "loss/total" in r}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
  """A compilation cache of these tests' own: the first run fills it, the others start warm."""
  return str(tmp_path_factory.mktemp("compilation_cache"))


@pytest.fixture(scope="module")
def straight(data_dir, cache, tmp_path_factory):
  """The uninterrupted run (the same command, never stopped)."""
  workdir = tmp_path_factory.mktemp("straight")
  done = subprocess.run(command(data_dir, workdir, cache), cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  return workdir


@pytest.mark.parametrize("signum", [signal.SIGTERM])  # SIGINT: the same handler (below)
def test_a_signal_saves_the_finished_step_and_the_same_command_continues(signum, straight, data_dir, cache, tmp_path):
  status, out = stop_after(command(data_dir, tmp_path, cache), 3, [signum], os.environ)
  assert status == 128 + signum, out[-3000:]
  saved = sorted(int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit())
  assert saved and saved[-1] in (3, 4), saved  # at most the step in flight after the signal
  assert f"Stopped by {signal.Signals(signum).name} after step {saved[-1]}, saved" in out
  done = subprocess.run(command(data_dir, tmp_path, cache), cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  assert f"Resumed from step {saved[-1]}" in done.stderr
  assert losses(tmp_path) == losses(straight)
  ours, theirs = (json.loads(pathlib.Path(w, "results.json").read_text())["modes"] for w in (tmp_path, straight))
  assert ours == theirs


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_first_signal_asks_to_stop_and_a_second_stops_at_once(signum):
  """What the run above relies on, for both signals: the first is noted (the step in flight
  finishes), the second raises where the program is; the handlers before are back afterwards."""
  before = signal.getsignal(signum)
  with preemption.Watch() as watch:
    assert not watch.requested(1)
    os.kill(os.getpid(), signum)
    time.sleep(0.01)  # Python runs the handler at the next bytecode boundary of the main thread
    assert watch.requested(1) and watch.signum == signum
    with pytest.raises(KeyboardInterrupt, match=f"second {signal.Signals(signum).name}: stopping at once"):
      os.kill(os.getpid(), signum)
      time.sleep(1)
  assert signal.getsignal(signum) is before
  assert preemption.Preempted(signum, 7).exit_status == 128 + signum


def test_on_two_processes_a_notice_to_one_stops_both_after_the_same_step(data_dir, tmp_path):
  """jax.distributed on localhost, SIGTERM to process 1 only: both save and stop after one agreed step."""
  with socket.socket() as s:
    s.bind(("localhost", 0))
    port = s.getsockname()[1]
  procs = []
  for index in (0, 1):
    env = dict(
        os.environ, JAX_COORDINATOR_ADDRESS=f"localhost:{port}", JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(index)
    )
    procs.append(
        subprocess.Popen(
            command(data_dir, tmp_path, ""),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    )
  out = {}
  for line in procs[1].stdout:
    out[1] = out.get(1, "") + line
    if f"step 2/{STEPS}" in line:
      procs[1].send_signal(signal.SIGTERM)
  out[0] = procs[0].communicate(timeout=300)[0]
  stopped = [re.search(r"Stopped after step (\d+)/", out[i]) for i in (0, 1)]
  assert [p.wait(timeout=300) for p in procs] == [128 + signal.SIGTERM] * 2, out[0][-2000:] + out[1][-2000:]
  assert all(stopped) and stopped[0].group(1) == stopped[1].group(1), (stopped, out[0][-2000:])
  assert os.path.isdir(tmp_path / "checkpoints" / stopped[0].group(1))
