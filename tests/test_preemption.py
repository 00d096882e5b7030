"""A run stopped by SIGTERM or SIGINT saves the step it finished and the same command continues
it: the same per-step losses and final evaluation as a run never stopped."""

import json
import os
import pathlib
import signal
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


def command(data_dir, workdir):
  return [
      sys.executable,
      "-m",
      "vireid_jax.main",
      "--config=configs/hctri.py:test",
      f"--workdir={workdir}",
      f"--config.data.data_dir={data_dir}",
      "--config.train.compilation_cache=",
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
def straight(data_dir, tmp_path_factory):
  """The uninterrupted run (the same command, never stopped)."""
  workdir = tmp_path_factory.mktemp("straight")
  done = subprocess.run(command(data_dir, workdir), cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  return workdir


@pytest.mark.parametrize("signum", [signal.SIGTERM])  # SIGINT: the same handler (below)
def test_a_signal_saves_the_finished_step_and_the_same_command_continues(signum, straight, data_dir, tmp_path):
  status, out = stop_after(command(data_dir, tmp_path), 3, [signum], os.environ)
  assert status == 128 + signum, out[-3000:]
  saved = sorted(int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit())
  assert saved and saved[-1] in (3, 4), saved  # at most the step in flight after the signal
  assert f"Stopped by {signal.Signals(signum).name} after step {saved[-1]}, saved" in out
  done = subprocess.run(command(data_dir, tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=600)
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
