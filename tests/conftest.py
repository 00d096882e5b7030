"""Shared fixtures: the synthetic datasets built once per test session through the real builders."""

import concurrent.futures
import os
import signal
import sys
import types

import jax
import pytest
from absl import flags
from jax._src import xla_bridge

from configs import common, hctri
from vireid_jax import compilation_cache, models, objective, train
from vireid_jax.data import datasets
from tests import runs

# Grain worker processes read absl flags; outside `app.run` they must be marked parsed.
flags.FLAGS.mark_as_parsed()
# Repeated runs reuse compiled programs (first model builds and compiles dominate the suite); the
# commands that tests start share the folder, so they load what this process compiled.
compilation_cache.enable(compilation_cache.DEFAULT)


def data_config(data_dir, **overrides):
  """Small batches and images for tests."""
  cfg = common.data_config(data_dir=str(data_dir), p=4, k=2, tuples=3, workers=0)
  cfg.augment.update(height=64, width=32, pad=4, channel_aug_prob=0.5)
  cfg.update(overrides)
  return cfg


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
  """The default suite checks what programs compute, not how fast they run, and most of its time
  is compiling: a session without slow tests compiles with `runs.FAST_COMPILE_XLA_FLAGS`, and
  each of its tests with most of XLA's optimisations off (`pytest_runtest_setup`), together 0.25
  of the CPU time of XLA's defaults for a tiny train step (benchmarks/results/compile_time.json).
  The commands its tests start inherit both. XLA reads its flags once per process, when the
  backend starts (after collection); a session with slow tests keeps XLA's defaults throughout."""
  del config
  if any(item.get_closest_marker("slow") for item in items):
    return
  if xla_bridge.backends_are_initialized():
    raise pytest.UsageError("tests: a JAX backend started during collection, before the test XLA flags could apply.")
  os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {runs.FAST_COMPILE_XLA_FLAGS}".strip()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
  """Most of XLA's optimisations off for each default test (see above); the slow tests train for
  minutes against the benchmarks' records, so they compile as a user's run does."""
  fast_compile = item.get_closest_marker("slow") is None
  jax.config.update("jax_disable_most_optimizations", fast_compile)
  os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] = str(int(fast_compile))


@pytest.fixture
def registries():
  """Undoes what a test adds to the registries of loss terms and heads, and the modules that
  `config.imports` loaded for it."""
  saved = [(registry, dict(registry)) for registry in (objective.TERMS, models.HEADS)]
  modules = set(sys.modules)
  yield
  for registry, units in saved:
    registry.clear()
    registry.update(units)
  for name in set(sys.modules) - modules:
    if name.startswith("vireid_jax_imports."):
      del sys.modules[name]


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
  return tmp_path_factory.mktemp("tfds")


@pytest.fixture(scope="session")
def sysu(data_dir):
  """(config, sources, columns per split) of the synthetic SYSU-MM01."""
  cfg = data_config(data_dir)
  src = datasets.sources(cfg)
  return cfg, src, {k: datasets.columns(v) for k, v in src.items()}


@pytest.fixture(scope="session")
def hctri_run(data_dir, tmp_path_factory):
  """(config, workdir) of a finished 3-step hctri:test run, which wrote its figures
  (`tests/test_use.py` checks them); the config returned draws none, as drawing them (a t-SNE
  and two pages of pictures) would add a quarter to every test that evaluates with it. Copy the
  workdir before changing it."""
  cfg = hctri.get_config("test")
  cfg.data.data_dir = str(data_dir)
  workdir = str(tmp_path_factory.mktemp("hctri_run"))
  train.train_and_evaluate(cfg, workdir)
  cfg.eval.figures = False
  return cfg, workdir


TWO_PROCESS_STEPS = 8


@pytest.fixture(scope="session")
def two_processes(data_dir, tmp_path_factory):
  """Two jax.distributed processes on localhost (1 device each): `tests.sharded_gradients` writes
  the first batch's gradients (`out_dir`/two_processes.npz), then the same processes train
  hctri:test (8 identities a batch) through `vireid_jax.main` in `workdir`, and process 1 alone
  gets SIGTERM once it logs step 2. `outputs` and `statuses` per process."""
  out_dir, workdir = tmp_path_factory.mktemp("two_processes"), tmp_path_factory.mktemp("two_processes_run")
  jobs = runs.start(
      [
          "-m",
          "tests.sharded_gradients",
          str(data_dir),
          str(out_dir),
          "--config=configs/hctri.py:test",
          f"--workdir={workdir}",
          f"--config.data.data_dir={data_dir}",
          "--config.data.p=8",
          f"--config.train.steps={TWO_PROCESS_STEPS}",
          "--config.train.log_every=1",
          "--config.train.checkpoint_every=100",
          "--config.eval.figures=False",
      ],
      devices=1,
      processes=2,
  )
  outputs = ["", ""]
  with concurrent.futures.ThreadPoolExecutor(1) as pool:  # process 0's output is read all along
    first = pool.submit(jobs[0].communicate, timeout=600)
    for line in jobs[1].stdout:
      if f"step 2/{TWO_PROCESS_STEPS}" in line and f"step 2/{TWO_PROCESS_STEPS}" not in outputs[1]:
        jobs[1].send_signal(signal.SIGTERM)  # once
      outputs[1] += line
    outputs[0] = first.result()[0]
  statuses = [job.wait(timeout=600) for job in jobs]
  assert (out_dir / "two_processes.npz").exists(), outputs[0][-3000:] + outputs[1][-3000:]
  return types.SimpleNamespace(out_dir=out_dir, workdir=workdir, outputs=outputs, statuses=statuses)
