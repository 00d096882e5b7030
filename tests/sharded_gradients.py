"""One training batch's gradients and BatchNorm statistics as the training loop computes them, on
whatever devices and processes this process sees (run by tests/test_train.py as a subprocess).

  python -m tests.sharded_gradients DATA_DIR OUT.npz [--fsdp]

Places the initial state and the first global batch of `hctri:test` (8 identities a batch) as
`train.train_and_evaluate` does, computes `train.gradients` under `jax.jit`, gathers the results
to every host and (process 0) writes `grad/<path>`, `rest/<path>` and `loss` to OUT.npz.
"""

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


def main(data_dir, out, fsdp):
  sharding.initialize_distributed()
  cfg = hctri.get_config("test")
  cfg.data.update(data_dir=data_dir, p=8)
  data = train.load_data(cfg)
  program, state = train.create(cfg, data.num_classes, data.steps_per_epoch)
  mesh = sharding.make_mesh()
  state = jax.device_put(state, sharding.param_shardings(state, mesh, fsdp))
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
  batch = sharding.global_batch(local, sharding.batch_sharding(mesh))
  total, _, rest, grads = jax.jit(lambda s, b: train.gradients(program, s, b))(state, batch)
  total, rest, grads = multihost_utils.process_allgather((total, rest, grads), tiled=True)
  if jax.process_index() == 0:
    np.savez(out, loss=np.asarray(total), **flat("grad", grads), **flat("rest", rest))


if __name__ == "__main__":
  flags.FLAGS.mark_as_parsed()
  main(sys.argv[1], sys.argv[2], "--fsdp" in sys.argv[3:])
