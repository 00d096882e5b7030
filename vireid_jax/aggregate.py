r"""Mean ± std over several runs' results (e.g. the 10 RegDB trials, one model each).

  python -m vireid_jax.aggregate /tmp/agw_regdb/trial_*/results.json [--out=/tmp/agw_regdb/aggregate.json]

Each run's per-mode mean is one sample; the table prints mean ± std over the runs per mode
(RegDB: per direction).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from absl import app, flags

from vireid_jax import errors, evaluate


def read_runs(paths: Sequence[str]) -> list[dict[str, Any]]:
  """The results JSONs at `paths`, with errors that name the file."""
  if not paths:
    raise errors.UserError("Give the results.json files to aggregate, e.g. DIR/trial_*/results.json.")
  runs = []
  for path in paths:
    try:
      with open(path) as f:
        run = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
      raise errors.UserError(f"{path}: cannot read results JSON ({e}).") from e
    if not isinstance(run, dict) or "modes" not in run:
      raise errors.UserError(f"{path}: not a results file (no 'modes'); expected a run's results.json.")
    if runs and run["modes"].keys() != runs[0]["modes"].keys():
      raise errors.UserError(
          f"{path}: modes {sorted(run['modes'])} differ from {paths[0]}'s "
          f"{sorted(runs[0]['modes'])}; aggregate runs of one protocol."
      )
    runs.append(run)
  return runs


@errors.reports_user_errors
def main(argv):
  results = evaluate.aggregate(read_runs(argv[1:]))
  print(evaluate.format_table(results, count="runs"))
  if flags.FLAGS.out:
    evaluate.write_json(results, flags.FLAGS.out)


if __name__ == "__main__":  # flags defined here only, so importing the module defines none
  flags.DEFINE_string("out", None, "Also write the aggregate as JSON here.")
  app.run(main, flags_parser=errors.parse_flags)
