"""Entry point.

  python -m vireid_jax.main --config=configs/hctri.py:synthetic            # work directory runs/hctri
  python -m vireid_jax.main --config=configs/hctri.py --workdir=/tmp/run --mode=eval
  python -m vireid_jax.main --config=configs/hctri.py --workdir=/tmp/run --mode=export --split=test
  python -m vireid_jax.main --config=configs/agw.py --workdir=/tmp/run --config.optimizer.lr=0.05

Bad input (a config field, the dataset folder, a weights file, a checkpoint) is reported as one
message naming it, with exit status 2 and no traceback, before any slow work. Training stopped by
SIGTERM or SIGINT saves a checkpoint of the step it finished and exits with status 128 + the
signal's number (143, 130); the same command continues from it. A second signal stops at once
(same status), and the run continues from the newest complete checkpoint.
"""

import os
import shlex
import signal
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from vireid_jax import checkpointing, compilation_cache, errors, evaluate, inference, preemption, sharding, train

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/eat.py:regdb.", lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where checkpoints, metrics and results go (default: " "runs/<method>)."
)
_MODE = flags.DEFINE_enum(
    "mode",
    "train",
    ["train", "eval", "export"],
    "train (and evaluate), evaluate only, or export features of --split to .npz.",
)
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint",
    None,
    "With --mode=eval/export: a checkpoint step directory " "(default: the newest in --workdir/checkpoints).",
)
_SPLIT = flags.DEFINE_string("split", "test", "With --mode=export: the split to embed (train or test).")
flags.mark_flags_as_required(["config"])


@errors.reports_user_errors
def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  checkpointing.quiet_orbax_logs()
  sharding.initialize_distributed()
  config = _CONFIG.value
  compilation_cache.enable(config.train.compilation_cache)
  workdir = _WORKDIR.value or os.path.join("runs", config.method)
  print(f"Work directory: {os.path.abspath(workdir)}", flush=True)
  logging.info("Work directory %s", os.path.abspath(workdir))
  if _MODE.value == "export":
    print(f"Features written to {inference.export_features(config, workdir, _CHECKPOINT.value, _SPLIT.value)}")
    return
  if _MODE.value == "train":
    try:
      results = train.train_and_evaluate(config, workdir)
    except preemption.Preempted as e:
      print(
          f"Stopped by {preemption.signal_name(e.signum)} after step {e.step}, saved. Continue with the same command:\n"
          f"  {shlex.join([os.path.basename(sys.executable), '-m', 'vireid_jax.main', *sys.argv[1:]])}",
          flush=True,
      )
      raise SystemExit(e.exit_status) from None
    except KeyboardInterrupt as e:  # a second signal while stopping (StopNow), or Ctrl-C outside the loop
      signum = e.signum if isinstance(e, preemption.StopNow) else signal.SIGINT
      print(
          f"Stopped at once by {preemption.signal_name(signum)}; the same command continues from the newest "
          "complete checkpoint.",
          flush=True,
      )
      sys.stderr.flush()
      # At once: a checkpoint write still in Orbax's threads would abort the interpreter's exit
      # ("terminate called ..."); cut short, it leaves a temporary folder that restores skip.
      os._exit(128 + signum)
  else:
    results = inference.evaluate_checkpoint(config, workdir, _CHECKPOINT.value)
  print(evaluate.format_table(results))
  print(f"Results: {workdir}/results.json")
  for path in results.get("figures", []):
    print(f"Figure: {path}")


if __name__ == "__main__":
  app.run(main, flags_parser=errors.parse_flags)
