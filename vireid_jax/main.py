"""Entry point.

  python -m vireid_jax.main --config=configs/hctri.py:synthetic --workdir=/tmp/run
  python -m vireid_jax.main --config=configs/hctri.py --workdir=/tmp/run --mode=eval
  python -m vireid_jax.main --config=configs/agw.py --workdir=/tmp/run --config.optimizer.lr=0.05
"""

import logging as std_logging

from absl import app, flags, logging
from ml_collections import config_flags

from vireid_jax import evaluate, sharding, train

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/eat.py:regdb.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and results go.")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "eval"], "train (and evaluate) or evaluate only.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "With --mode=eval: a checkpoint directory "
                                  "(default: the latest in --workdir).")
flags.mark_flags_as_required(["config", "workdir"])


def _quiet_orbax(record) -> bool:
  """Drops Orbax's per-save INFO lines (dozens per checkpoint); its warnings and errors pass."""
  return record.levelno > std_logging.INFO or "/orbax/" not in record.pathname


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.get_absl_handler().addFilter(_quiet_orbax)
  sharding.initialize_distributed()
  config = _CONFIG.value
  if _MODE.value == "train":
    results = train.train_and_evaluate(config, _WORKDIR.value)
  else:
    results = train.evaluate_checkpoint(config, _WORKDIR.value, _CHECKPOINT.value)
  logging.info("Results written to %s/results.json", _WORKDIR.value)
  print(evaluate.format_table(results))


if __name__ == "__main__":
  app.run(main)
