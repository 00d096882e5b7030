"""The README's loss example runs as written and computes the hetero-centre triplet of the equation."""

import os
import re

import numpy as np

from tests.losses import brute_force

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def test_readme_loss_example(capsys):
  text = open(README).read()
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
