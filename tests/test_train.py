"""End-to-end training: every method's test config, exact resume, NaN stop, sharding."""

import functools
import importlib
import json
import os
import pathlib
import socket
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

import configs
from vireid_jax import checkpointing, train

METHODS = configs.methods()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config(method, data_dir, **train_overrides):
  cfg = importlib.import_module(f"configs.{method}").get_config("test")
  cfg.data.data_dir = str(data_dir)
  cfg.train.update(train_overrides)
  return cfg


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


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_and_evaluates(method, data_dir, tmp_path):
  results = train.train_and_evaluate(config(method, data_dir), str(tmp_path))
  mode = next(iter(results["modes"].values()))
  assert 0.0 <= mode["mean"]["mAP"] <= 100.0 and mode["trials"][0]["queries"] > 0
  assert json.loads(pathlib.Path(tmp_path / "results.json").read_text())["modes"].keys() == results["modes"].keys()
  losses = losses_by_step(tmp_path)
  assert sorted(losses) == [1, 2, 3] and all(np.isfinite(list(losses.values())))
  assert final_state(str(tmp_path))[0] == 3


def test_resume_gives_identical_parameters_and_batches(data_dir, tmp_path):
  straight, first, second = (str(tmp_path / d) for d in ("straight", "interrupted", "interrupted"))
  train.train_and_evaluate(config("hctri", data_dir, steps=4), straight)
  train.train_and_evaluate(config("hctri", data_dir, steps=2), first)  # "killed" after step 2
  train.train_and_evaluate(config("hctri", data_dir, steps=4), second)  # same command again
  a, b = final_state(straight), final_state(second)
  assert a[0] == b[0] == 4
  for x, y in zip(jax.tree.leaves(a[1]), jax.tree.leaves(b[1])):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  la, lb = losses_by_step(straight), losses_by_step(second)
  assert la[3] == lb[3] and la[4] == lb[4]  # the same batches after the restart


def test_checkpoint_minutes_saves_by_wall_clock_time(data_dir, tmp_path):
  """With `train.checkpoint_minutes` passed at every logging step, every logged step is saved
  (`checkpoint_every` alone would save none before the end)."""
  cfg = config(
      "hctri", data_dir, steps=5, log_every=2, checkpoint_every=100, checkpoint_minutes=1e-9, keep_checkpoints=10
  )
  cfg.eval.figures = False
  train.train_and_evaluate(cfg, str(tmp_path))
  assert sorted(int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit()) == [2, 4, 5]


def test_non_finite_loss_stops_and_names_step_and_term(data_dir, tmp_path):
  cfg = config("agw", data_dir, steps=3, checkpoint_every=1)
  cfg.optimizer.update(lr=1e30, warmup=0)
  with pytest.raises(FloatingPointError, match=r"Non-finite loss at step \d+ in term\(s\) .*(identity|wrt)"):
    train.train_and_evaluate(cfg, str(tmp_path))
  steps = [d for d in os.listdir(tmp_path / "checkpoints") if d.isdigit()]
  if steps:  # whatever was saved holds only finite numbers
    _, state = final_state(str(tmp_path))
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state["model"]["params"]))


def test_a_run_stopped_by_an_error_frees_the_workers_shared_memory(data_dir, tmp_path):
  """Grain workers hand batches over in shared memory; a run that stops early (here a non-finite
  loss at step 2, with batches still in flight) closes its iterators, so Python's resource
  tracker finds nothing leaked at exit."""
  done = subprocess.run(
      [
          sys.executable,
          "-m",
          "vireid_jax.main",
          "--config=configs/agw.py:test",
          f"--workdir={tmp_path}",
          f"--config.data.data_dir={data_dir}",
          "--config.data.workers=2",
          "--config.train.steps=20",
          "--config.optimizer.lr=1e30",
          "--config.optimizer.warmup=0",
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=600,
      env={**os.environ, "PYTHONPATH": ROOT},
  )
  assert done.returncode == 1 and "FloatingPointError: Non-finite loss at step" in done.stderr, done.stderr[-2000:]
  assert "leaked shared_memory" not in done.stderr, done.stderr[-2000:]


def test_paper_config_requires_imagenet_weights(data_dir, tmp_path):
  cfg = config("agw", data_dir)
  cfg.model.require_pretrained = True
  with pytest.raises(ValueError, match="model.pretrained: .*ImageNet ResNet-50"):
    train.train_and_evaluate(cfg, str(tmp_path))


def free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def run_processes(args, devices, processes, timeout=600):
  """Runs `python -m <args>` as `processes` jax.distributed processes on localhost, each seeing
  `devices` CPU devices; asserts that every one succeeds."""
  port = free_port()
  jobs = []
  for index in range(processes):
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "PYTHONPATH": ROOT}
    if processes > 1:
      env.update(
          JAX_COORDINATOR_ADDRESS=f"localhost:{port}", JAX_NUM_PROCESSES=str(processes), JAX_PROCESS_ID=str(index)
      )
    jobs.append(
        subprocess.Popen(
            [sys.executable, *args], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
    )
  for job in jobs:
    _, err = job.communicate(timeout=timeout)
    assert job.returncode == 0, err[-3000:]


def test_sharded_gradients_and_batch_statistics_match_one_device(data_dir, tmp_path):
  """One batch's gradients and updated BatchNorm statistics, as the loop computes them, on 8
  devices (batch sharded; parameters replicated, or FSDP-sharded) and on 2 processes of 1 device
  each (each host feeding its half of the batch) equal those on 1 device, leaf by leaf, to 1e-4
  of the leaf's largest entry: float32 sums in another order differ by ~1e-7, while a gradient or
  a BatchNorm mean taken over one device's share of the batch differs at the scale of the
  values themselves. The training loop on 2 processes logs the same first loss."""

  def run(name, devices, processes=1, *flags):
    out = str(tmp_path / f"{name}.npz")
    run_processes(["-m", "tests.sharded_gradients", str(data_dir), out, *flags], devices, processes)
    return np.load(out)

  one = run("one", 1)
  grads = [k for k in one.files if k.startswith("grad/")]
  stats = [k for k in one.files if k.startswith("rest/") and ("/mean/" in k or "/var/" in k)]
  assert len(grads) > 50 and len(stats) > 20 and all(np.abs(one[k]).max() > 0 for k in grads)
  for name, devices, processes, flags in (
      ("data_parallel", 8, 1, ()),
      ("fsdp", 8, 1, ("--fsdp",)),
      ("two_processes", 1, 2, ()),
  ):
    other = run(name, devices, processes, *flags)
    assert sorted(other.files) == sorted(one.files)
    np.testing.assert_allclose(other["loss"], one["loss"], rtol=1e-6)
    for k in grads + stats:
      np.testing.assert_allclose(other[k], one[k], rtol=0, atol=1e-4 * np.abs(one[k]).max(), err_msg=f"{name}: {k}")

  # The whole loop on 2 processes (checkpoints, evaluation) starts from that same first step.
  script = (
      "import sys; from absl import flags; flags.FLAGS.mark_as_parsed(); "
      "from vireid_jax import sharding, train; from configs import hctri; "
      "sharding.initialize_distributed(); cfg = hctri.get_config('test'); "
      f"cfg.data.data_dir = {str(data_dir)!r}; cfg.data.p = 8; train.train_and_evaluate(cfg, sys.argv[1])"
  )
  run_processes(["-c", script, str(tmp_path / "loop")], 1, 2)
  losses = losses_by_step(tmp_path / "loop")
  assert sorted(losses) == [1, 2, 3] and all(np.isfinite(list(losses.values())))
  np.testing.assert_allclose(losses[1], one["loss"], rtol=1e-6)


def test_train_step_compiles_once(data_dir):
  from vireid_jax import sharding
  from vireid_jax.data import datasets, pipeline

  cfg = config("danet", data_dir)
  sources = datasets.sources(cfg.data)
  cols = datasets.columns(sources["train"])
  program, state = train.create(cfg, int(cols["label"].max()) + 1, steps_per_epoch=10)
  mesh = sharding.make_mesh()
  state = jax.device_put(state, sharding.param_shardings(state, mesh, fsdp=False))  # as the loop places it
  step_fn = jax.jit(functools.partial(train.train_step, program), donate_argnums=0)
  batches = pipeline.train_dataset(sources["train"], cols, cfg.data, num_batches=4, seed=0)
  batch_sharding = sharding.batch_sharding(mesh)
  for batch in batches:
    state, _ = step_fn(state, sharding.global_batch(batch, batch_sharding))
  assert int(state.step) == 4
  assert step_fn._cache_size() == 1  # pylint: disable=protected-access
