"""The code is as the configured formatter writes it (pyink, `[tool.pyink]` in pyproject.toml), and
the suite runs as `make test` arranges it."""

import os
import subprocess
import sys

import jax
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_code_is_formatted():
  done = subprocess.run(
      [sys.executable, "-m", "pyink", "--check", "."], cwd=ROOT, capture_output=True, text=True, timeout=300
  )
  assert done.returncode == 0, f"run `.venv/bin/python -m pyink .` to format:\n{done.stderr[-3000:]}"


@pytest.mark.xdist_group("self_check")
def test_grouped_tests_share_a_worker(request):
  """`make test` (`--dist loadgroup`) runs each `xdist_group` in one worker, so a costly session
  fixture that its tests share is set up once; pytest 9.2 with pytest-xdist 3.8 drops the groups
  silently (pyproject.toml keeps pytest below 9.2)."""
  if not getattr(request.config.option, "loadgroup", False):
    pytest.skip("the suite runs without pytest-xdist's --dist loadgroup")
  assert request.node.nodeid.endswith("@self_check"), request.node.nodeid


def test_default_tests_compile_with_most_optimisations_off():
  """tests/conftest.py: the default suite's programs, and those of the commands it starts."""
  assert jax.config.read("jax_disable_most_optimizations") and os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] == "1"
