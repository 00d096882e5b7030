"""Training input pipeline throughput at 288x144: Grain with 1, 2 and all workers vs a plain loop.

  python -m benchmarks.input_pipeline [--batches=60] [--source_sizes=128x64,384x192]

For each stored image size it writes a synthetic SYSU-MM01 tree, builds it through the TFDS
builder, and times the training pipeline (sample, read, decode, resize to 288x144, augment).
The baseline, measured in the same run, does the same work for the same batches in a plain
Python loop in this process. Prints images/s and the ratio.
"""

import os
import tempfile
import time

import ml_collections
import numpy as np
from absl import app, flags

from configs import common
from vireid_jax.data import datasets, pipeline, samplers, synthetic, transforms

_BATCHES = flags.DEFINE_integer(
    "batches",
    60,
    "Batches timed per setting, after one warm-up batch (with fewer, "
    "the batches the workers prefetch during the warm-up inflate the rate).",
)
_SIZES = flags.DEFINE_list("source_sizes", ["128x64", "384x192"], "Stored image sizes HxW to benchmark.")


def config(workers: int, manual_dir: str, data_dir: str) -> ml_collections.ConfigDict:
  cfg = common.data_config(manual_dir=manual_dir, data_dir=data_dir, workers=workers)
  cfg.augment.channel_aug_prob = 0.5
  return cfg


def plain_loop(source, cols, cfg, batches: int) -> float:
  """Images/s of sampling + read + decode + augment in a Python loop, no Grain."""
  index = samplers.ModalityIndex.from_columns(cols["label"], cols["modality"])
  start = None
  for b in range(batches + 1):
    if b == 1:
      start = time.perf_counter()
    records = samplers.pk_batch(index, b, p=cfg.p, k=cfg.k, seed=0).reshape(-1)
    images = []
    for j, r in enumerate(records):
      row = source[int(r)]
      image = transforms.decode(row["image"], row["path"])
      images.append(
          transforms.train_transform(image, int(row["modality"]), np.random.default_rng([0, b, j]), cfg.augment)
      )
    np.stack(images)
  return batches * len(records) / (time.perf_counter() - start)


def grain_rate(source, cols, cfg, batches: int) -> float:
  it = iter(pipeline.train_dataset(source, cols, cfg, num_batches=batches + 1, seed=0))
  first = next(it)  # warm-up: worker start-up is not throughput
  start = time.perf_counter()
  n = sum(b["image"].shape[0] * b["image"].shape[1] for b in it)
  assert n == batches * first["image"].shape[0] * first["image"].shape[1]
  return n / (time.perf_counter() - start)


def main(_):
  print(f"batches of 64 images out at 288x144, {_BATCHES.value} timed batches, {os.cpu_count()} CPUs")
  print(f"{'stored size':12s} {'setting':24s} {'images/s':>10s} {'ratio':>7s}")
  for size in _SIZES.value:
    height, width = (int(v) for v in size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
      raw = os.path.join(tmp, "raw")
      synthetic.write_sysu(
          raw, synthetic.SysuSpec(num_identities=40, num_train=30, num_val=0, height=height, width=width)
      )
      cfg = config(0, raw, os.path.join(tmp, "tfds"))
      source = datasets.sources(cfg)["train"]
      cols = datasets.columns(source)
      base = plain_loop(source, cols, cfg, _BATCHES.value)
      print(f"{size:12s} {'plain Python loop':24s} {base:10.1f} {1.0:7.2f}")
      for workers in sorted({1, 2, os.cpu_count()}):
        cfg.workers = workers
        rate = grain_rate(source, cols, cfg, _BATCHES.value)
        print(f"{size:12s} {f'grain, {workers} worker(s)':24s} {rate:10.1f} {rate / base:7.2f}")


if __name__ == "__main__":
  app.run(main)
