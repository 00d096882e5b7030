"""notebooks/colab_tpu.ipynb: every code cell runs, in order, on the CPU against the synthetic data."""

import json
import os
import pathlib

import matplotlib
import pytest

from tests import test_learning
from tests.test_recorded import RECORD
from vireid_jax import evaluate

NOTEBOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks", "colab_tpu.ipynb")


@pytest.mark.slow
def test_colab_notebook_runs_on_cpu(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # the notebook writes runs/ and tfds/ under the working directory
  matplotlib.use("Agg")
  cells = [c for c in json.loads(pathlib.Path(NOTEBOOK).read_text())["cells"] if c["cell_type"] == "code"]
  assert len(cells) >= 6
  namespace = {}
  for i, cell in enumerate(cells):
    exec(compile("".join(cell["source"]), f"{NOTEBOOK}:cell{i}", "exec"), namespace)  # pylint: disable=exec-used
  assert not namespace["USE_REAL_DATA"] and namespace["CONFIG"] == "hctri"
  results, config = namespace["results"], namespace["config"]
  chance = max(RECORD["hctri"]["untrained_max"], RECORD["hctri"]["random_max"])  # the quick-start's config's
  mean = results["modes"]["all_single"]["mean"]
  assert mean[evaluate.reported(config.eval, "mAP")] > test_learning.threshold("hctri", chance), mean
  assert len(results["figures"]) == 4 and all(os.path.exists(p) for p in results["figures"])
  assert str(tmp_path) in results["figures"][0]
