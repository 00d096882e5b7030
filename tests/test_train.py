"""End-to-end training: every method's test config, exact resume, NaN stop, sharding."""

import functools
import importlib
import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

import configs
from vireid_jax import train

METHODS = configs.methods()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config(method, data_dir, **train_overrides):
  cfg = importlib.import_module(f"configs.{method}").get_config("test")
  cfg.data.data_dir = str(data_dir)
  cfg.train.update(train_overrides)
  return cfg


def final_state(workdir):
  """The raw saved training state of the latest checkpoint (nested dicts of arrays)."""
  manager = ocp.CheckpointManager(os.path.join(workdir, "checkpoints"), item_names=("state",))
  step = manager.latest_step()
  state = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))["state"]
  manager.close()
  return step, state


def losses_by_step(workdir):
  rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  return {r["step"]: r["loss/total"] for r in rows if "loss/total" in r}


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_and_evaluates(method, data_dir, tmp_path):
  results = train.train_and_evaluate(config(method, data_dir), str(tmp_path))
  mode = next(iter(results["modes"].values()))
  assert 0.0 <= mode["mean"]["mAP"] <= 100.0 and mode["trials"][0]["queries"] > 0
  assert json.load(open(tmp_path / "results.json"))["modes"].keys() == results["modes"].keys()
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


def test_non_finite_loss_stops_and_names_step_and_term(data_dir, tmp_path):
  cfg = config("agw", data_dir, steps=3, checkpoint_every=1)
  cfg.optimizer.update(lr=1e30, warmup=0)
  with pytest.raises(FloatingPointError, match=r"Non-finite loss at step \d+ in term\(s\) .*(identity|wrt)"):
    train.train_and_evaluate(cfg, str(tmp_path))
  steps = [d for d in os.listdir(tmp_path / "checkpoints") if d.isdigit()]
  if steps:  # whatever was saved holds only finite numbers
    _, state = final_state(str(tmp_path))
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state["params"]))


def test_paper_config_requires_imagenet_weights(data_dir, tmp_path):
  cfg = config("agw", data_dir)
  cfg.model.require_pretrained = True
  with pytest.raises(ValueError, match="model.pretrained: .*ImageNet ResNet-50"):
    train.train_and_evaluate(cfg, str(tmp_path))


def free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_eight_devices_and_two_processes_match_one(data_dir, tmp_path):
  """3 steps on 8 CPU devices (batch sharded), on 2 processes of 1 device each (jax.distributed on
  localhost, each host feeding its half of the batch) and on 1 device give the same losses and
  parameters.

  A small learning rate: the float32 all-reduce sums in another order than the serial sum
  (~1e-7 relative in step 1's gradients), and the tiny-batch BN network with HcTri's hinges
  amplifies that (measured: 1e-3 in the gradient norm by step 3 at lr 0.1; 3e-5 in the loss at
  lr 1e-3 with the per-part term), which says nothing about sharding.
  """
  script = ("import sys, jax, numpy as np; from absl import flags; flags.FLAGS.mark_as_parsed(); "
            "import importlib; from vireid_jax import sharding, train; from tests.test_train import final_state; "
            "sharding.initialize_distributed(); "
            "cfg = importlib.import_module('configs.hctri').get_config('test'); "
            f"cfg.data.data_dir = {str(data_dir)!r}; cfg.data.p = 8; cfg.optimizer.lr = 1e-4; "
            "train.train_and_evaluate(cfg, sys.argv[1]); "
            "params = jax.tree.leaves(final_state(sys.argv[1])[1]['params']); "
            "jax.process_index() == 0 and np.savez(sys.argv[1] + '/params.npz', *[np.asarray(x) for x in params])")

  def run(name, devices, processes=1):
    port = free_port()
    jobs = []
    for index in range(processes):
      env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "PYTHONPATH": ROOT}
      if processes > 1:
        env.update(JAX_COORDINATOR_ADDRESS=f"localhost:{port}", JAX_NUM_PROCESSES=str(processes),
                   JAX_PROCESS_ID=str(index))
      jobs.append(subprocess.Popen([sys.executable, "-c", script, str(tmp_path / name)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for job in jobs:
      _, err = job.communicate(timeout=600)
      assert job.returncode == 0, err[-3000:]
    return losses_by_step(tmp_path / name), np.load(tmp_path / name / "params.npz")

  l1, p1 = run("one", devices=1)
  for name, devices, processes in (("eight", 8, 1), ("two_processes", 1, 2)):
    losses, params = run(name, devices, processes)
    np.testing.assert_allclose([losses[s] for s in (1, 2, 3)], [l1[s] for s in (1, 2, 3)], rtol=1e-5)
    assert len(p1.files) == len(params.files) > 50
    for k in p1.files:
      np.testing.assert_allclose(params[k], p1[k], rtol=1e-5, atol=1e-5, err_msg=f"{name}: {k}")


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
