"""Device mesh and shardings: data parallel over every device of every host.

Batches shard along their item axis over the mesh's `data` axis; parameters are replicated, or
(`fsdp=True`) sharded along their largest dimension that the device count divides.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from absl import logging
from jax.sharding import NamedSharding, PartitionSpec as P

DATA = "data"


def initialize_distributed() -> None:
  """`jax.distributed.initialize()` where a multi-host environment provides its coordinates
  (TPU pods, SLURM, or JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID); once per
  process (a second call, e.g. `main` run from a script that initialised it, does nothing)."""
  if jax.distributed.is_initialized():
    pass
  elif os.environ.get("JAX_COORDINATOR_ADDRESS"):
    jax.distributed.initialize(
        os.environ["JAX_COORDINATOR_ADDRESS"], int(os.environ["JAX_NUM_PROCESSES"]), int(os.environ["JAX_PROCESS_ID"])
    )
  elif "SLURM_JOB_ID" in os.environ and int(os.environ.get("SLURM_NTASKS", "1")) > 1:
    jax.distributed.initialize()
  elif os.environ.get("TPU_WORKER_HOSTNAMES", "").count(",") > 0:
    jax.distributed.initialize()
  logging.info(
      "process %d of %d, %d local / %d global devices",
      jax.process_index(),
      jax.process_count(),
      jax.local_device_count(),
      jax.device_count(),
  )


def make_mesh() -> jax.sharding.Mesh:
  """A 1-D mesh over all devices. Auto axis types: losses that argmin/argmax over the sharded
  batch fail to type-check under the Explicit default."""
  return jax.make_mesh((jax.device_count(),), (DATA,), axis_types=(jax.sharding.AxisType.Auto,))


def batch_sharding(mesh: jax.sharding.Mesh) -> NamedSharding:
  """Training arrays are [2 (modality), n, ...]: shard n."""
  return NamedSharding(mesh, P(None, DATA))


def param_shardings(tree: Any, mesh: jax.sharding.Mesh, fsdp: bool) -> Any:
  """Replicated, or FSDP-style: each array sharded along its largest divisible dimension."""
  n = mesh.shape[DATA]

  def spec(x) -> NamedSharding:
    shape = getattr(x, "shape", ())
    if fsdp and shape:
      for axis in np.argsort(shape)[::-1]:
        if shape[axis] % n == 0 and shape[axis] >= n:
          parts = [None] * len(shape)
          parts[axis] = DATA
          return NamedSharding(mesh, P(*parts))
    return NamedSharding(mesh, P())

  return jax.tree.map(spec, tree)


def global_batch(local: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
  """Assembles the global batch from this host's part (its slice of the item axis)."""
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local.items()}
