"""The README's loss example runs as written and computes the hetero-centre triplet of the equation."""

import os
import pathlib
import re

import numpy as np

from tests.losses import brute_force

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def test_readme_loss_example(capsys):
  text = pathlib.Path(README).read_text()
  section = text.split("## Using the losses in your own JAX code", 1)[1]
  code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
  assert len(code.strip().splitlines()) <= 10
  namespace = {}
  exec(compile(code, README, "exec"), namespace)  # pylint: disable=exec-used
  assert "hetero-centre triplet" in capsys.readouterr().out
  f, y, m = (np.asarray(namespace[k]) for k in ("features", "labels", "modality"))
  expected = brute_force.hetero_center(f.astype(np.float64), y, m, 0.3, "mean")
  np.testing.assert_allclose(float(namespace["loss"]), expected, rtol=1e-5)
  assert namespace["grads"].shape == f.shape and np.isfinite(np.asarray(namespace["grads"])).all()


def test_readme_new_method_example(data_dir, tmp_path):
  """The "Adding a method" code registers its head and term, and its config trains one step."""
  from vireid_jax import objective, train
  from vireid_jax.models import heads

  section = pathlib.Path(README).read_text().split("## Adding a method", 1)[1].split("\n## ", 1)[0]
  library, config = re.findall(r"```python\n(.*?)```", section, re.S)
  namespace = {}
  try:
    exec(compile(library, README, "exec"), namespace)  # pylint: disable=exec-used
    exec(compile(config, README, "exec"), namespace)  # pylint: disable=exec-used
    cfg = namespace["get_config"]("test")
    cfg.data.data_dir = str(data_dir)
    cfg.train.steps = 1
    assert cfg.method == "mine" and cfg.loss.terms.spread.push == 0.2 and cfg.model.heads.scale.init == 2.0
    results = train.train_and_evaluate(cfg, str(tmp_path))
    assert results["modes"]["all_single"]["trials"][0]["queries"] > 0
  finally:
    heads.HEADS.pop("scale", None)
    objective.TERMS.pop("spread", None)
