"""Compilations of the inference path per evaluation: `vireid_jax.inference`'s one jitted
embedding per process against a fresh `jax.jit` per evaluation (what `train.embedder` did), in the
same run.

  python -m benchmarks.inference [--evaluations=3] [--data_dir=/tmp/vireid_jax_inference_data]

Embeds the synthetic SYSU-MM01 test split with `configs/agw.py:test`'s model (random weights)
`evaluations` times each way; prints the programs each evaluation compiled and its seconds.
"""

import os
import tempfile
import time

import jax
import jax.numpy as jnp
from absl import app, flags
from flax import nnx

from configs import agw
from vireid_jax import inference
from vireid_jax.data import datasets
from vireid_jax.models import build_model

_EVALUATIONS = flags.DEFINE_integer("evaluations", 3, "Evaluations each way.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir",
    os.path.join(tempfile.gettempdir(), "vireid_jax_inference_data"),
    "Where the synthetic dataset is built (reused).",
)


def main(_):
  cfg = agw.get_config("test")
  cfg.data.data_dir = _DATA_DIR.value
  source = datasets.sources(cfg.data)["test"]
  columns = datasets.columns(source)
  model = inference.split(build_model(cfg.model, 10))

  def fresh_jit(m):
    """A new jitted function for every evaluation, as before `inference.embedder`."""
    embed = jax.jit(
        lambda params, rest, images, modality: nnx.merge(m.graph, params, rest, copy=True).embed(images, modality),
        static_argnums=3,
    )
    return (
        lambda images, modality: embed(m.params, m.rest, jnp.asarray(images), modality),
        embed._cache_size,
    )  # pylint: disable=protected-access

  print(
      f"{len(columns['modality'])} test images, {cfg.data.augment.height}x{cfg.data.augment.width}, "
      f"{jax.device_count()} {jax.default_backend()} device(s)"
  )
  print(f"{'way':28s} {'evaluation':>10s} {'compiled':>8s} {'seconds':>8s}")
  for way in ("fresh jit per evaluation", "inference.embedder"):
    for i in range(_EVALUATIONS.value):
      start = time.perf_counter()
      if way == "inference.embedder":
        before = inference.compilations()
        inference.features(cfg, model, source, columns)
        compiled = inference.compilations() - before
      else:
        embed, size = fresh_jit(model)
        for modality in (0, 1):
          records = columns["modality"] == modality
          inference.extract_features(
              embed,
              source,
              records.nonzero()[0],
              modality,
              cfg.data,
              batch_size=cfg.eval.batch_size,
              flip=cfg.eval.flip,
          )
        compiled = size()
      print(f"{way:28s} {i + 1:10d} {compiled:8d} {time.perf_counter() - start:8.2f}", flush=True)


if __name__ == "__main__":
  app.run(main)
