"""The commands' compilation cache: off with "", JAX's own folder setting wins, and every process
that writes a folder bounds it (the bound's access-time files are written beside each entry)."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = """
import sys, jax, jax.numpy as jnp
from vireid_jax import compilation_cache
print(compilation_cache.enable(sys.argv[1]), jax.config.jax_compilation_cache_max_size)
jax.jit(lambda x: x * 2 + 1)(jnp.ones(3)).block_until_ready()  # a program that compiles in microseconds
"""


def run(folder, env=None):
  env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")} | (env or {})
  done = subprocess.run(
      [sys.executable, "-c", SCRIPT, folder], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
  )
  assert done.returncode == 0, done.stderr[-2000:]
  assert "Error writing persistent compilation cache" not in done.stderr, done.stderr[-2000:]
  return done.stdout.split()


@pytest.mark.parametrize("ours", [True, False])
def test_the_folder_in_use_is_bounded_and_keeps_every_program(tmp_path, ours):
  from vireid_jax import compilation_cache

  folder = tmp_path / "cache"
  used, max_size = run(str(folder)) if ours else run("~/elsewhere", {"JAX_COMPILATION_CACHE_DIR": str(folder)})
  assert used == str(folder) and int(max_size) == compilation_cache.MAX_BYTES
  entries = [f for f in os.listdir(folder) if f.endswith("-cache")]
  assert entries and all(os.path.exists(folder / f.replace("-cache", "-atime")) for f in entries)


def test_an_empty_folder_turns_it_off(tmp_path):
  assert run("") == ["None", "-1"]


def test_entries_an_unbounded_process_wrote_get_an_access_time(tmp_path):
  """Plain JAX given JAX_COMPILATION_CACHE_DIR writes entries without access times, on which
  every later bounded write would fail; enabling the folder gives them one."""
  folder = tmp_path / "cache"
  env = {"JAX_COMPILATION_CACHE_DIR": str(folder), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
  plain = subprocess.run(
      [sys.executable, "-c", "import jax, jax.numpy as jnp; jax.jit(lambda x: x - 3)(jnp.ones(2)).block_until_ready()"],
      env={k: v for k, v in os.environ.items() if not k.startswith("JAX_")} | env,
      capture_output=True,
      text=True,
      timeout=120,
  )
  assert plain.returncode == 0, plain.stderr[-2000:]
  orphans = [f for f in os.listdir(folder) if f.endswith("-cache")]
  assert orphans and not any(f.endswith("-atime") for f in os.listdir(folder))  # what JAX leaves
  run(str(folder))  # no failed write, and:
  assert all(os.path.exists(folder / f.replace("-cache", "-atime")) for f in orphans)
