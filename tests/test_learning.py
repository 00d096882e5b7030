"""The synthetic quick-start really learns: `configs/hctri.py:synthetic` (what `make demo` trains)
must beat both chance and its own untrained model on the synthetic SYSU test split."""

import numpy as np
import pytest

from configs import hctri
from vireid_jax import evaluate, train


@pytest.mark.slow
def test_synthetic_training_beats_chance_and_the_untrained_model(data_dir, tmp_path):
  cfg = hctri.get_config("synthetic")
  cfg.data.data_dir = str(data_dir)
  trained = train.train_and_evaluate(cfg, str(tmp_path))["modes"]["all_single"]["mean"]["mAP"]

  data = train.load_data(cfg)
  program, state = train.create(cfg, data.num_classes, data.steps_per_epoch)
  features = train.split_features(cfg, program, state, data.sources["test"], data.test_cols)
  untrained = evaluate.evaluate_features(features, data.test_cols, cfg.eval)["modes"]["all_single"]["mean"]["mAP"]
  # Chance: features that carry no identity information, through the same protocol.
  noise = np.random.default_rng(0).normal(size=(len(data.test_cols["identity"]), 64)).astype(np.float32)
  chance = evaluate.evaluate_features(noise, data.test_cols, cfg.eval)["modes"]["all_single"]["mean"]["mAP"]

  assert chance < 15.0 and untrained < 15.0  # the protocol is not trivially easy
  assert trained > 2.0 * max(chance, untrained) and trained > 20.0, (trained, untrained, chance)
