"""How much of the gap between two `:synthetic` runs is which people the test split holds.

  python -m benchmarks.split_noise [--method=danet] [--runs=1/2,2/1] [--more=300]

Trains `method:synthetic` once per run `init/batches` (`model.seed`/`seed`, on every core of this
machine), then scores each model in galleries as large as the config's test split: that split
itself, and `--more` people more, written into the same synthetic tree under the same cameras
(`synthetic.SysuSpec.more_test_identities`) and taken in groups of the test split's size (all-search
single-shot mAP, the config's gallery trials). A gap between two models that comes from the models
holds in every group; one that comes from the people the test split holds does not.

Writes `benchmarks/results/split_noise.json` (each run's mAP per group, the groups' size, the
machine); the README quotes it (`tests/test_recorded.py`).
"""

import dataclasses
import json
import os
import tempfile

import numpy as np
from absl import app, flags

from benchmarks import synthetic_learning
from vireid_jax import evaluate, inference, train
from vireid_jax.data import datasets, synthetic

_METHOD = flags.DEFINE_string("method", "danet", "The method whose `:synthetic` config is trained.")
_RUNS = flags.DEFINE_list("runs", ["1/2", "2/1"], "Runs, as init/batches: the seeds of model.seed and seed.")
_MORE = flags.DEFINE_integer("more", 300, "People added to the test split, scored in groups of its size.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir",
    os.path.join(tempfile.gettempdir(), "vireid_jax_learning_data"),
    "Where the config's synthetic dataset is built (shared with benchmarks.synthetic_learning).",
)
_OUT = flags.DEFINE_string("out", os.path.join(os.path.dirname(__file__), "results", "split_noise.json"), "The record.")


def group_maps(cfg, features: np.ndarray, columns: dict, groups: list[np.ndarray]) -> list[float]:
  """All-search mAP of `features` [N, D] over the images of each group of identities."""
  maps = []
  for identities in groups:
    keep = np.isin(columns["identity"], identities)
    results = evaluate.evaluate_features(features[keep], {k: v[keep] for k, v in columns.items()}, cfg.eval)
    maps.append(synthetic_learning.all_search_map(cfg, results))
  return maps


def main(argv):
  del argv
  runs = [tuple(map(int, run.split("/"))) for run in _RUNS.value]
  with tempfile.TemporaryDirectory() as tmp:
    base = synthetic_learning.synthetic_config(_METHOD.value, 0, _DATA_DIR.value)
    test = np.unique(datasets.columns(datasets.sources(base.data)["test"])["identity"])
    spec = dataclasses.replace(synthetic.sysu_spec(base.data.synthetic_identities), more_test_identities=_MORE.value)
    synthetic.write_sysu(os.path.join(tmp, "raw"), spec)
    rows = []
    for init, batches in runs:
      cfg = synthetic_learning.synthetic_config(_METHOD.value, batches, _DATA_DIR.value, {"model.seed": init})
      workdir = os.path.join(tmp, f"run_{init}_{batches}")
      trained = train.train_and_evaluate(cfg, workdir)
      cfg.data.manual_dir, cfg.data.data_dir = os.path.join(tmp, "raw"), os.path.join(tmp, "tfds")
      source = datasets.sources(cfg.data)["test"]
      columns = datasets.columns(source)
      model, _ = inference.restore(cfg, workdir)
      features = inference.features(cfg, model, source, columns)
      more = np.setdiff1d(np.unique(columns["identity"]), test)
      groups = [test] + [more[i : i + len(test)] for i in range(0, len(more), len(test))]
      rows.append(
          dict(
              init=init,
              batches=batches,
              trained=synthetic_learning.all_search_map(cfg, trained),
              groups=group_maps(cfg, features, columns, groups),
          )
      )
      print(rows[-1], flush=True)
  record = dict(
      method=_METHOD.value,
      group_identities=len(test),
      more=_MORE.value,
      machine=synthetic_learning.machine(),
      config=synthetic_learning.recorded_config(_METHOD.value),
      runs=rows,
  )
  with open(_OUT.value, "w") as f:
    json.dump(record, f, indent=1, sort_keys=True)
    f.write("\n")


if __name__ == "__main__":
  app.run(main)
