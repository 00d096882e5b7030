r"""Trains and evaluates one model per RegDB trial, then aggregates (the published protocol).

  python -m vireid_jax.regdb_trials --config=configs/agw.py:regdb --workdir=/tmp/agw_regdb \
      --config.model.pretrained=resnet50.npz [--trials=1,2,3]

Trial t trains in `<workdir>/trial_<t>` (each resumes from its own checkpoints, so the command can
be re-run after a crash); at the end `<workdir>/aggregate.json` and the mean ± std table. To run
the trials as separate jobs instead, give each job `python -m vireid_jax.main ... --config.data.trial=t
--workdir=<workdir>/trial_<t>` and then `python -m vireid_jax.aggregate <workdir>/trial_*/results.json`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from vireid_jax import checkpointing, errors, evaluate, sharding, train


def run_trials(config: Any, workdir: str, trials: Sequence[int]) -> dict[str, Any]:
  """Trains and evaluates `config` on each trial in turn; returns the aggregate over them."""
  if config.data.dataset != "regdb":
    raise errors.UserError(
        f"data.dataset: regdb_trials needs a RegDB config (e.g. configs/agw.py:regdb), " f"got {config.data.dataset!r}."
    )
  if not trials or any(t not in range(1, 11) for t in trials):
    raise errors.UserError(f"--trials: expected numbers in 1..10, got {list(trials)}.")
  for t in trials:  # every trial's config and split files, before the first one trains
    cfg = config.copy_and_resolve_references()
    cfg.data.trial = t
    train.check(cfg)
  runs = []
  for t in trials:
    cfg = config.copy_and_resolve_references()
    cfg.data.trial = t
    logging.info("RegDB trial %d (%d of %d)", t, len(runs) + 1, len(trials))
    runs.append(train.train_and_evaluate(cfg, os.path.join(workdir, f"trial_{t}")))
  results = evaluate.aggregate(runs)
  if jax.process_index() == 0:
    evaluate.write_json(results, os.path.join(workdir, "aggregate.json"))
  return results


@errors.reports_user_errors
def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  checkpointing.quiet_orbax_logs()
  sharding.initialize_distributed()
  args = flags.FLAGS
  if not all(t.strip().isdigit() for t in args.trials):
    raise errors.UserError(f"--trials: expected numbers in 1..10, got {','.join(args.trials)!r}.")
  workdir = args.workdir or os.path.join("runs", f"{args.config.method}_regdb")
  print(f"Work directory: {os.path.abspath(workdir)}", flush=True)
  results = run_trials(args.config, workdir, [int(t) for t in args.trials])
  print(evaluate.format_table(results, count="runs"))
  print(f"Aggregate: {workdir}/aggregate.json")


if __name__ == "__main__":  # flags defined here only, so importing the module defines none
  config_flags.DEFINE_config_file("config", None, "A RegDB config, e.g. configs/agw.py:regdb.", lock_config=True)
  flags.DEFINE_string("workdir", None, "Trial t goes to <workdir>/trial_<t> (default: runs/<method>_regdb).")
  flags.DEFINE_list("trials", [str(t) for t in range(1, 11)], "The RegDB trials to run (1..10).")
  flags.mark_flags_as_required(["config"])
  app.run(main, flags_parser=errors.parse_flags)
