"""End-to-end training: every method's test config, time-based checkpoints, NaN stop, sharding
(exact resume: tests/test_preemption.py)."""

import functools
import importlib
import json
import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

import configs
from tests import runs
from tests.runs import final_state, losses_by_step
from vireid_jax import evaluate, train

METHODS = configs.methods()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config(method, data_dir, **train_overrides):
  """`method:test` on the session's data, without figures (drawn and checked once: `hctri_run`)."""
  cfg = importlib.import_module(f"configs.{method}").get_config("test")
  cfg.data.data_dir = str(data_dir)
  cfg.eval.figures = False
  cfg.train.update(train_overrides)
  return cfg


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_and_evaluates(method, data_dir, tmp_path):
  cfg = config(method, data_dir)
  results = train.train_and_evaluate(cfg, str(tmp_path))
  mode = next(iter(results["modes"].values()))
  assert 0.0 <= mode["mean"][evaluate.reported(cfg.eval, "mAP")] <= 100.0 and mode["trials"][0]["queries"] > 0
  assert json.loads(pathlib.Path(tmp_path / "results.json").read_text())["modes"].keys() == results["modes"].keys()
  losses = losses_by_step(tmp_path)
  assert sorted(losses) == [1, 2, 3] and all(np.isfinite(list(losses.values())))
  assert final_state(str(tmp_path))[0] == 3


@pytest.mark.parametrize("method", METHODS)
def test_every_methods_llcm_config_is_valid(method):
  """Every method's `:llcm` is its SYSU-MM01 config on the LLCM data and protocol: what a method
  adds (model, heads, terms) meets LLCM only through the config, which this checks whole; the run
  below trains and evaluates one."""
  cfg = importlib.import_module(f"configs.{method}").get_config("llcm,test")
  train.check(cfg)
  assert cfg.data.dataset == "llcm" and cfg.eval.protocol == "llcm"
  assert cfg.train.best_metric == "eval/infrared_to_visible/mAP"


def test_training_and_evaluation_on_llcm(data_dir, tmp_path):
  """`:llcm,test`: the synthetic LLCM tree, one step, the LLCM protocol's first direction."""
  cfg = importlib.import_module("configs.agw").get_config("llcm,test")
  cfg.data.data_dir = str(data_dir)
  cfg.train.update(steps=1, checkpoint_every=100)
  cfg.eval.figures = False
  results = train.train_and_evaluate(cfg, str(tmp_path))
  assert results["protocol"] == "llcm" and list(results["modes"]) == ["infrared_to_visible"]
  trial = results["modes"]["infrared_to_visible"]["trials"][0]
  assert 0.0 < trial["mAP"] <= 100.0 and trial["skipped_queries"] == 0
  assert trial["gallery"] < trial["queries"]  # one sampled visible image per identity and camera


def test_checkpoint_minutes_saves_by_wall_clock_time(data_dir, tmp_path):
  """With `train.checkpoint_minutes` passed at every logging step, every logged step is saved
  (`checkpoint_every` alone would save none before the end)."""
  cfg = config(
      "hctri", data_dir, steps=5, log_every=2, checkpoint_every=100, checkpoint_minutes=1e-9, keep_checkpoints=10
  )
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


def test_identity_groups_that_do_not_divide_the_test_split_fail_before_training(data_dir, tmp_path):
  cfg = config("agw", data_dir)
  cfg.eval.gallery_identities = 7  # the default tree's 30 test identities
  with pytest.raises(
      ValueError, match="eval.gallery_identities: the test split's 30 identities do not make groups of 7"
  ):
    train.train_and_evaluate(cfg, str(tmp_path))
  assert not os.listdir(tmp_path)


@pytest.mark.xdist_group("two_processes")  # the fixture's processes run once, for both of its tests
def test_sharded_gradients_and_batch_statistics_match_one_device(data_dir, tmp_path, two_processes):
  """One batch's gradients and updated BatchNorm statistics, as the loop computes them, on 8
  devices (batch sharded; parameters replicated, or FSDP-sharded) and on 2 processes of 1 device
  each (each host feeding its half of the batch) equal those on 1 device, leaf by leaf, to 1e-4
  of the leaf's largest entry: float32 sums in another order differ by ~1e-7, while a gradient or
  a BatchNorm mean taken over one device's share of the batch differs at the scale of the
  values themselves. The training loop on the 2 processes logs the same first loss."""
  (job,) = runs.start(["-m", "tests.sharded_gradients", str(data_dir), str(tmp_path)], devices=8, processes=1)
  out = job.communicate(timeout=600)[0]
  assert job.returncode == 0, out[-3000:]
  one = np.load(tmp_path / "one.npz")
  grads = [k for k in one.files if k.startswith("grad/")]
  stats = [k for k in one.files if k.startswith("rest/") and ("/mean/" in k or "/var/" in k)]
  assert len(grads) > 50 and len(stats) > 20 and all(np.abs(one[k]).max() > 0 for k in grads)
  for name, folder in (("data_parallel", tmp_path), ("fsdp", tmp_path), ("two_processes", two_processes.out_dir)):
    other = np.load(folder / f"{name}.npz")
    assert sorted(other.files) == sorted(one.files)
    np.testing.assert_allclose(other["loss"], one["loss"], rtol=1e-6)
    for k in grads + stats:
      np.testing.assert_allclose(other[k], one[k], rtol=0, atol=1e-4 * np.abs(one[k]).max(), err_msg=f"{name}: {k}")
  losses = losses_by_step(two_processes.workdir)
  assert 1 in losses and all(np.isfinite(list(losses.values())))
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
