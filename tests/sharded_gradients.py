"""One training batch's gradients and BatchNorm statistics as the training loop computes them, on
the device layouts this process can form (run by the tests as a subprocess).

  python -m tests.sharded_gradients DATA_DIR OUT_DIR [MAIN_FLAGS...]

Places the initial state and the first global batch of `hctri:test` (8 identities a batch) as
`train.train_and_evaluate` does, computes `train.gradients` under `jax.jit`, gathers the results
to every host and (process 0) writes `grad/<path>`, `rest/<path>` and `loss` to OUT_DIR/<layout>.npz:
on one process `one` (a mesh of its first device), `data_parallel` and `fsdp` (all its devices);
on several processes `two_processes`. Then, given MAIN_FLAGS, it runs `python -m vireid_jax.main
MAIN_FLAGS` in the same process (the training loop on those processes).
"""

import os
import runpy
import sys

import jax
import numpy as np
from absl import flags
from jax.experimental import multihost_utils

from configs import hctri
from vireid_jax import sharding, train
from vireid_jax.data import pipeline


def flat(prefix, tree):
  return {
      f"{prefix}/" + "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path): np.asarray(x)
      for path, x in jax.tree_util.tree_leaves_with_path(tree)
  }


def layouts():
  """(name, mesh, fsdp) for what this process sees."""
  if jax.process_count() > 1:
    return [("two_processes", sharding.make_mesh(), False)]
  one = jax.sharding.Mesh(np.array(jax.devices()[:1]), (sharding.DATA,), axis_types=(jax.sharding.AxisType.Auto,))
  return [("one", one, False), ("data_parallel", sharding.make_mesh(), False), ("fsdp", sharding.make_mesh(), True)]


def main(data_dir, out_dir):
  sharding.initialize_distributed()
  cfg = hctri.get_config("test")
  cfg.data.update(data_dir=data_dir, p=8)
  data = train.load_data(cfg)
  program, initial = train.create(cfg, data.num_classes, data.steps_per_epoch)
  local = next(
      iter(
          pipeline.train_dataset(
              data.sources["train"],
              data.train_cols,
              cfg.data,
              num_batches=1,
              seed=cfg.seed,
              process_index=jax.process_index(),
              process_count=jax.process_count(),
          )
      )
  )
  for name, mesh, fsdp in layouts():
    state = jax.device_put(initial, sharding.param_shardings(initial, mesh, fsdp))
    batch = sharding.global_batch(local, sharding.batch_sharding(mesh))
    total, _, rest, grads = jax.jit(lambda s, b: train.gradients(program, s, b))(state, batch)
    total, rest, grads = multihost_utils.process_allgather((total, rest, grads), tiled=True)
    if jax.process_index() == 0:
      np.savez(
          os.path.join(out_dir, f"{name}.npz"), loss=np.asarray(total), **flat("grad", grads), **flat("rest", rest)
      )


if __name__ == "__main__":
  flags.FLAGS.mark_as_parsed()
  main(sys.argv[1], sys.argv[2])
  if sys.argv[3:]:
    sys.argv = ["vireid_jax.main", *sys.argv[3:]]
    runpy.run_module("vireid_jax.main", run_name="__main__", alter_sys=True)
