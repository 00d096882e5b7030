"""A run stopped by SIGTERM or SIGINT saves the step it finished and the same command continues
it: the same per-step losses and final evaluation as a run never stopped."""

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from tests.runs import final_state, losses_by_step
from vireid_jax import preemption

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 8
OVERRIDES = [
    f"--config.train.steps={STEPS}",
    "--config.train.log_every=1",
    "--config.train.checkpoint_every=2",
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
      *OVERRIDES,
  ]


def stop_after(cmd, step, signum):
  """Runs `cmd`, sends `signum` once, when its log first shows `step`; (exit status, output)."""
  proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  lines = []
  for line in proc.stdout:
    lines.append(line)
    if f"step {step}/{STEPS}" in line and not any(f"step {step}/{STEPS}" in seen for seen in lines[:-1]):
      proc.send_signal(signum)
  return proc.wait(timeout=300), "".join(lines)


@pytest.fixture(scope="module")
def straight(data_dir, tmp_path_factory):
  """The uninterrupted run (the same command, never stopped)."""
  workdir = tmp_path_factory.mktemp("straight")
  done = subprocess.run(command(data_dir, workdir), cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  return workdir


def saved_steps(workdir):
  """The complete checkpoints (Orbax writes into `<step>.orbax-checkpoint-tmp-*` and renames when done)."""
  return sorted(int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit())


def noticed_after(out, signum):
  """The last step the log shows finished before the handler noted `signum`: the run finishes the
  step in flight, so it stops after this step or the next (the test's signal can arrive steps
  after the log line that prompted it: a warm step takes tens of milliseconds)."""
  before = out.split(f"{signal.Signals(signum).name} received:", 1)[0]
  return int(re.findall(rf"step (\d+)/{STEPS}", before)[-1])


def continues_as_if_never_stopped(workdir, straight, data_dir):
  """The same command again: it resumes from the newest complete checkpoint and gives the losses
  and results of the run never stopped."""
  resumed_from = saved_steps(workdir)[-1]
  done = subprocess.run(command(data_dir, workdir), cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  assert f"Resumed from step {resumed_from}" in done.stderr
  assert losses_by_step(workdir) == losses_by_step(straight)
  ours, theirs = (json.loads(pathlib.Path(w, "results.json").read_text())["modes"] for w in (workdir, straight))
  assert ours == theirs
  (step, state), (straight_step, straight_state) = final_state(workdir), final_state(straight)
  assert step == straight_step == STEPS
  jax.tree.map(np.testing.assert_array_equal, state, straight_state)  # parameters, optimiser, BatchNorm


def test_sigterm_during_a_checkpoint_write_saves_the_finished_step_and_the_same_command_continues(
    straight, data_dir, tmp_path
):
  """SIGTERM once the log shows step 2, whose periodic checkpoint is then being written (every
  second step is saved, each write overlapping the next step): the write completes, the step in
  flight finishes and is saved, exit status 143; at most that one step's work is lost."""
  status, out = stop_after(command(data_dir, tmp_path), 2, signal.SIGTERM)
  assert status == 128 + signal.SIGTERM, out[-3000:]
  noticed, saved = noticed_after(out, signal.SIGTERM), saved_steps(tmp_path)
  assert noticed >= 2 and saved[-1] in (noticed, noticed + 1), (noticed, saved)
  assert f"Stopped by SIGTERM after step {saved[-1]}, saved" in out
  continues_as_if_never_stopped(tmp_path, straight, data_dir)


def test_a_second_sigint_while_saving_stops_at_once_and_the_previous_checkpoint_continues(straight, data_dir, tmp_path):
  """Ctrl-C once the log shows step 5, Ctrl-C again while the stop's checkpoint is written: exit
  status 130 at once; the periodic checkpoint before it is intact, the stop's own one complete or
  absent."""
  proc = subprocess.Popen(
      command(data_dir, tmp_path), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
  )
  lines, sent = [], 0
  for line in proc.stdout:
    lines.append(line)
    trigger = f"step 5/{STEPS}" if sent == 0 else "Writing the checkpoint of step"  # then the second
    if sent < 2 and trigger in line:
      proc.send_signal(signal.SIGINT)
      sent += 1
  out = "".join(lines)
  assert proc.wait(timeout=300) == 128 + signal.SIGINT, out[-3000:]
  assert "Stopped at once by SIGINT" in out and "Writing the checkpoint of step" in out, out[-3000:]
  noticed, saved = noticed_after(out, signal.SIGINT), saved_steps(tmp_path)
  stopping = int(re.search(r"Writing the checkpoint of step (\d+)", out).group(1))
  previous = (stopping - 1) // 2 * 2  # the periodic checkpoint before it (checkpoint_every=2)
  assert noticed >= 5 and stopping in (noticed, noticed + 1), (noticed, stopping)
  assert previous in saved and saved[-1] in (previous, stopping), (previous, stopping, saved)
  continues_as_if_never_stopped(tmp_path, straight, data_dir)


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
    with pytest.raises(preemption.StopNow, match=f"second {signal.Signals(signum).name}: stopping at once"):
      os.kill(os.getpid(), signum)
      time.sleep(1)
  assert signal.getsignal(signum) is before
  assert preemption.Preempted(signum, 7).exit_status == 128 + signum


@pytest.mark.xdist_group("two_processes")  # the fixture's processes run once, for both of its tests
def test_on_two_processes_a_notice_to_one_stops_both_after_the_same_step(two_processes):
  """jax.distributed on localhost, SIGTERM to process 1 only: both save and stop after one agreed step."""
  out = two_processes.outputs
  assert two_processes.statuses == [128 + signal.SIGTERM] * 2, out[0][-2000:] + out[1][-2000:]
  stopped = [re.search(r"Stopped after step (\d+)/", out[i]) for i in (0, 1)]
  assert all(stopped) and stopped[0].group(1) == stopped[1].group(1), (stopped, out[0][-2000:])
  assert os.path.isdir(two_processes.workdir / "checkpoints" / stopped[0].group(1))
