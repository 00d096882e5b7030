"""The code is as the configured formatter writes it (pyink, `[tool.pyink]` in pyproject.toml)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_code_is_formatted():
  done = subprocess.run(
      [sys.executable, "-m", "pyink", "--check", "."], cwd=ROOT, capture_output=True, text=True, timeout=300
  )
  assert done.returncode == 0, f"run `.venv/bin/python -m pyink .` to format:\n{done.stderr[-3000:]}"
