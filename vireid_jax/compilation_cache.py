"""JAX's persistent compilation cache for the command lines: a restart, `--mode=eval`, `search`,
`export` and the benchmarks load the programs an earlier run compiled instead of compiling them
again (minutes for the full ResNet-50 on a CPU host).

The folder is `train.compilation_cache` (default `DEFAULT`, "" turns it off), at most `MAX_BYTES`
(the least recently used entries go first); JAX's own setting (`JAX_COMPILATION_CACHE_DIR`) wins
where it is set. Delete the folder to clear it. On several processes JAX writes entries from
process 0 only. Every program is kept, however quickly it compiled (JAX's default keeps those over
a second): building a model runs some eighty small initialisation programs, 8 of a warm start's
25 seconds for `hctri:test` on 2 CPU cores, and together they take under 2 MB.
"""

from __future__ import annotations

import os
import time

import jax
from absl import logging

DEFAULT = "~/.cache/vireid_jax/jax"
MAX_BYTES = 4 << 30
CACHE_SUFFIX, ATIME_SUFFIX = "-cache", "-atime"  # JAX's names of an entry and of its access time


def enable(directory: str) -> str | None:
  """Turns the cache on in `directory` (unless JAX's own setting names one); returns the folder in use.

  The size bound and the keep-everything rule apply to either folder, unless JAX's own settings
  give them: every process that writes a folder must bound it, since the bound's bookkeeping
  (an access-time file beside each entry) is written only by processes that do."""
  directory = jax.config.jax_compilation_cache_dir or os.path.expanduser(directory)
  if not directory:
    return None
  jax.config.update("jax_compilation_cache_dir", directory)
  if jax.config.jax_compilation_cache_max_size == -1:  # JAX's default: unbounded
    jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
  if jax.config.jax_persistent_cache_min_compile_time_secs == 1.0:  # JAX's default
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
  _give_every_entry_an_access_time(directory)
  logging.info("Compilation cache: %s", directory)
  return directory


def _give_every_entry_an_access_time(directory: str) -> None:
  """A process that leaves the folder unbounded (plain JAX given `JAX_COMPILATION_CACHE_DIR`)
  writes entries without the access-time file beside each; JAX's bound then fails on them at
  every later write in the folder. They get one (now), so the bound's bookkeeping is whole again."""
  if not os.path.isdir(directory):
    return
  stamp = time.time_ns().to_bytes(8, "little")
  for name in os.listdir(directory):
    if name.endswith(CACHE_SUFFIX):
      atime = os.path.join(directory, name[: -len(CACHE_SUFFIX)] + ATIME_SUFFIX)
      if not os.path.exists(atime):
        with open(atime, "wb") as f:
          f.write(stamp)
