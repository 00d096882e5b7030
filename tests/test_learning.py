"""Every method's `:synthetic` config really learns: trained from random weights on the synthetic
SYSU-MM01 tree, it must beat both chance and its own untrained model clearly (all-search mAP).
About 3-6 minutes per method on 2 CPU cores; `make demo` trains `configs/hctri.py:synthetic`."""

import importlib

import numpy as np
import pytest

import configs
from vireid_jax import evaluate, train


@pytest.mark.slow
@pytest.mark.parametrize("method", configs.methods())
def test_synthetic_training_beats_chance_and_the_untrained_model(method, data_dir, tmp_path):
  cfg = importlib.import_module(f"configs.{method}").get_config("synthetic")
  cfg.data.data_dir = str(data_dir)
  trained = train.train_and_evaluate(cfg, str(tmp_path))["modes"]["all_single"]["mean"]["mAP"]

  data = train.load_data(cfg)
  program, state = train.create(cfg, data.num_classes, data.steps_per_epoch)
  features = train.split_features(cfg, program, state, data.sources["test"], data.test_cols)
  untrained = evaluate.evaluate_features(features, data.test_cols, cfg.eval)["modes"]["all_single"]["mean"]["mAP"]
  # Chance: features that carry no identity information, through the same protocol.
  noise = np.random.default_rng(0).normal(size=(len(data.test_cols["identity"]), 64)).astype(np.float32)
  chance = evaluate.evaluate_features(noise, data.test_cols, cfg.eval)["modes"]["all_single"]["mean"]["mAP"]
  print(f"{method}: all-search mAP trained {trained:.2f}, untrained {untrained:.2f}, chance {chance:.2f}")

  assert chance < 15.0 and untrained < 15.0  # the protocol is not trivially easy
  assert trained > 2.0 * max(chance, untrained), (trained, untrained, chance)
