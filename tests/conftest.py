"""Shared fixtures: the synthetic datasets built once per test session through the real builders."""

import ml_collections
import pytest
from absl import flags

from vireid_jax.data import datasets

# Grain worker processes read absl flags; outside `app.run` they must be marked parsed.
flags.FLAGS.mark_as_parsed()


def data_config(data_dir, dataset="sysu_mm01", **overrides):
  cfg = ml_collections.ConfigDict(dict(
      dataset=dataset, manual_dir="", data_dir=str(data_dir), builder_config="default", trial=1,
      sampler="pk", p=4, k=2, tuples=3, workers=0,
      augment=dict(height=64, width=32, pad=4, flip=True, channel_aug_prob=0.5, erasing_prob=0.5,
                   erasing_area=(0.02, 0.4), erasing_aspect=(0.3, 3.33))))
  cfg.update(overrides)
  return cfg


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
  return tmp_path_factory.mktemp("tfds")


@pytest.fixture(scope="session")
def sysu(data_dir):
  """(config, sources, columns per split) of the synthetic SYSU-MM01."""
  cfg = data_config(data_dir)
  src = datasets.sources(cfg)
  return cfg, src, {k: datasets.columns(v) for k, v in src.items()}
