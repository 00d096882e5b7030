r"""Exports a trained model's embedding for serving, as `jax.export` artefacts.

  python -m vireid_jax.export --checkpoint=/tmp/run/checkpoints/5200 --out=/tmp/agw_export

Writes `OUT/visible.jax` and `OUT/infrared.jax` (serialised StableHLO of the embedding through
that modality's stream: uint8 [batch, H, W, 3] RGB images, already resized to the run's eval size,
-> float32 [batch, D] test features; any batch size) and `OUT/export.json` (what they expect and
where they come from: image size, modality numbers, feature dimension, step, source checkpoint,
the run config). The artefacts need `jax` alone; the parameters are constants inside them, and
each BatchNorm is folded into the convolution before it (the same function up to float32
rounding):

  from jax import export
  embed = export.deserialize(open("/tmp/agw_export/infrared.jax", "rb").read())
  features = embed.call(images)   # uint8 [B, H, W, 3] -> float32 [B, D]
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import jax
import jax.numpy as jnp
from absl import app, flags
from flax import nnx

from vireid_jax import checkpointing, compilation_cache, errors, inference
from vireid_jax.models import attention, batch_norm, conv, resnet

MODALITIES = {"visible": 0, "infrared": 1}
_FOLDS = {
    resnet.Stem: (("conv1", "bn1"),),  # (convolution, the BatchNorm right after it) of each block kind
    resnet.Bottleneck: (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"), ("downsample_conv", "downsample_bn")),
    attention.NonLocal: (("w", "w_bn"),),
}


class Identity(nnx.Module):
  """What a folded BatchNorm becomes."""

  def __call__(self, x: jax.Array) -> jax.Array:
    return x


def fold_batch_norms(model: inference.Model) -> inference.Model:
  """The same inference function with every BatchNorm that follows a convolution (the ResNet
  stems and bottlenecks, the non-local blocks' output projection) folded into it: kernel * s,
  bias (b - mean) * s + beta with s = gamma / sqrt(var + eps) per output channel, and the
  BatchNorm removed."""
  module = nnx.merge(model.graph, model.params, model.rest, copy=True)
  for _, block in nnx.iter_modules(module):
    for conv_name, bn_name in _FOLDS.get(type(block), ()):
      c, bn = getattr(block, conv_name), getattr(block, bn_name)
      if c is None:
        continue
      assert isinstance(c, conv.Conv) and isinstance(bn, batch_norm.BatchNorm)
      s = bn.scale[...] * jax.lax.rsqrt(bn.var[...] + bn.epsilon)
      bias = (jnp.zeros_like(s) if c.bias is None else c.bias[...]) - bn.mean[...]
      bias = bias * s + (0.0 if bn.bias is None else bn.bias[...])
      c.kernel = nnx.Param(c.kernel[...] * s)
      c.bias = nnx.data(nnx.Param(bias))  # a bias-free convolution gets one
      setattr(block, bn_name, Identity())
  return inference.split(module)


def export_embedding(model: inference.Model, height: int, width: int, modality: int) -> jax.export.Exported:
  """`model`'s embedding of one modality (its parameters as constants), batch-polymorphic:
  uint8 [b, height, width, 3] -> float32 [b, D]."""
  fn = jax.jit(lambda images: nnx.merge(model.graph, model.params, model.rest, copy=True).embed(images, modality))
  batch = jax.export.symbolic_shape("batch")
  return jax.export.export(fn)(jax.ShapeDtypeStruct((*batch, height, width, 3), jnp.uint8))


def export(config: Any, checkpoint: str, out: str) -> dict[str, Any]:
  """Writes the artefacts of `checkpoint` (a step directory of a run of `config`) into the folder
  `out` (a new folder, or an earlier export, replaced as a whole); returns what `export.json` says."""
  if os.path.exists(out) and not os.path.isfile(os.path.join(out, "export.json")):
    raise errors.UserError(f"--out={out} exists and is not an earlier export (no export.json): choose a new folder.")
  inference.check(config)
  model, step = inference.restore(config, "", checkpoint)
  folded = fold_batch_norms(model)
  height, width = config.data.augment.height, config.data.augment.width
  tmp = out.rstrip("/") + ".tmp"
  shutil.rmtree(tmp, ignore_errors=True)
  os.makedirs(tmp)
  for name, modality in MODALITIES.items():
    exported = export_embedding(folded, height, width, modality)
    with open(os.path.join(tmp, f"{name}.jax"), "wb") as f:
      f.write(exported.serialize())
  info = {
      "input": "uint8 [batch, height, width, 3] RGB, resized to height x width as in evaluation",
      "output": "float32 [batch, feature_dim]: model.test_feature",
      "height": height,
      "width": width,
      "modalities": {name: {"number": m, "file": f"{name}.jax"} for name, m in MODALITIES.items()},
      "feature_dim": int(exported.out_avals[0].shape[-1]),
      "test_feature": config.model.test_feature,
      "step": step,
      "checkpoint": os.path.abspath(checkpoint),
      "jax_version": jax.__version__,
      "config": json.loads(config.to_json()),
  }
  with open(os.path.join(tmp, "export.json"), "w") as f:
    json.dump(info, f, indent=1)
  if os.path.exists(out):
    shutil.rmtree(out)
  os.replace(tmp, out)
  return info


@errors.reports_user_errors
def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  checkpointing.quiet_orbax_logs()
  args = flags.FLAGS
  config = inference.run_config(args.checkpoint)
  compilation_cache.enable(config.train.compilation_cache)
  info = export(config, args.checkpoint, args.out)
  print(
      f"Exported step {info['step']} ({info['feature_dim']}-d {info['test_feature']} features of "
      f"{info['height']}x{info['width']} images) to {os.path.abspath(args.out)}: "
      + ", ".join(m["file"] for m in info["modalities"].values())
      + ", export.json"
  )


if __name__ == "__main__":  # flags defined here only, so importing the module defines none
  flags.DEFINE_string("checkpoint", None, "A step directory: <workdir>/checkpoints/<step>.", required=True)
  flags.DEFINE_string("out", None, "The folder to write (replaced if it exists).", required=True)
  app.run(main, flags_parser=errors.parse_flags)
