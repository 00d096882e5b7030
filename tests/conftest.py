"""Shared fixtures: the synthetic datasets built once per test session through the real builders."""

import os
import sys

import jax
import pytest
from absl import flags

from configs import common, hctri
from vireid_jax import models, objective, train
from vireid_jax.data import datasets

# Grain worker processes read absl flags; outside `app.run` they must be marked parsed.
flags.FLAGS.mark_as_parsed()
# Repeated runs reuse compiled programs (first model builds and compiles dominate the suite).
jax.config.update("jax_compilation_cache_dir", os.path.expanduser("~/.cache/vireid_jax/jax_cache"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def data_config(data_dir, **overrides):
  """Small batches and images for tests."""
  cfg = common.data_config(data_dir=str(data_dir), p=4, k=2, tuples=3, workers=0)
  cfg.augment.update(height=64, width=32, pad=4, channel_aug_prob=0.5)
  cfg.update(overrides)
  return cfg


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
  """(config, workdir) of a finished 3-step hctri:test run; copy the workdir before changing it."""
  cfg = hctri.get_config("test")
  cfg.data.data_dir = str(data_dir)
  workdir = str(tmp_path_factory.mktemp("hctri_run"))
  train.train_and_evaluate(cfg, workdir)
  return cfg, workdir
