"""ResNet-50 pieces (He et al., CVPR 2016) in the torchvision layout, NHWC, Flax NNX.

Stride on the 3x3 conv (torchvision's "ResNet v1.5"), explicit symmetric padding for the 7x7
conv and the max-pool (not "SAME"), BatchNorm with PyTorch's numerics (`batch_norm.BatchNorm`),
so torchvision weights give torchvision's numbers. Stage 0 is the stem (conv1, bn1, ReLU, max-pool); stages
1..4 are layer1..layer4; the last stage's stride is configurable (1 for every method here).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
from flax import nnx

from vireid_jax.models.batch_norm import BatchNorm
from vireid_jax.models.conv import Conv

EXPANSION = 4
KAIMING = nnx.initializers.variance_scaling(2.0, "fan_out", "normal")  # torchvision's conv init


def conv(cin: int, cout: int, kernel: int, stride: int, rngs: nnx.Rngs) -> Conv:
  return Conv(cin, cout, kernel, stride=stride, padding=kernel // 2, kernel_init=KAIMING, rngs=rngs)


def batch_norm(features: int, rngs: nnx.Rngs, zero_scale: bool = False) -> BatchNorm:
  return BatchNorm(features, rngs=rngs, scale_init=nnx.initializers.zeros if zero_scale else nnx.initializers.ones)


class Stem(nnx.Module):
  """Stage 0: 7x7/2 conv, BN, ReLU, 3x3/2 max-pool; [B, H, W, 3] -> [B, H/4, W/4, width]."""

  def __init__(self, width: int, *, rngs: nnx.Rngs):
    self.conv1 = conv(3, width, 7, 2, rngs)
    self.bn1 = batch_norm(width, rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    x = nnx.relu(self.bn1(self.conv1(x)))
    return nnx.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))


class Bottleneck(nnx.Module):
  """1x1 -> 3x3 (stride) -> 1x1 (x4 channels), projection shortcut when the shape changes.

  `zero_residual`: the residual branch's last BatchNorm scale starts at 0, so the block starts as
  its shortcut (Goyal et al. 2017, sec. 5.1; torchvision's `zero_init_residual`)."""

  def __init__(self, cin: int, width: int, stride: int, *, zero_residual: bool = False, rngs: nnx.Rngs):
    self.conv1, self.bn1 = conv(cin, width, 1, 1, rngs), batch_norm(width, rngs)
    self.conv2, self.bn2 = conv(width, width, 3, stride, rngs), batch_norm(width, rngs)
    self.conv3 = conv(width, width * EXPANSION, 1, 1, rngs)
    self.bn3 = batch_norm(width * EXPANSION, rngs, zero_scale=zero_residual)
    if stride != 1 or cin != width * EXPANSION:
      self.downsample_conv = conv(cin, width * EXPANSION, 1, stride, rngs)
      self.downsample_bn = batch_norm(width * EXPANSION, rngs)
    else:
      self.downsample_conv = self.downsample_bn = None

  def __call__(self, x: jax.Array) -> jax.Array:
    y = nnx.relu(self.bn1(self.conv1(x)))
    y = nnx.relu(self.bn2(self.conv2(y)))
    y = self.bn3(self.conv3(y))
    shortcut = x if self.downsample_conv is None else self.downsample_bn(self.downsample_conv(x))
    return nnx.relu(y + shortcut)


def stage_blocks(
    cin: int, width: int, blocks: int, stride: int, rngs: nnx.Rngs, zero_residual: bool = False
) -> nnx.List:
  """One stage (layerN) as a list of bottlenecks; the first one carries the stride."""
  return nnx.List(
      [
          Bottleneck(
              cin if i == 0 else width * EXPANSION,
              width,
              stride if i == 0 else 1,
              zero_residual=zero_residual,
              rngs=rngs,
          )
          for i in range(blocks)
      ]
  )


def feature_map_size(size: int, last_stride: int) -> int:
  """Height (or width) of the final feature map for an input of `size` pixels: the stem's conv and
  max-pool, layer2 and layer3 halve it (rounding up), layer4 divides it by `last_stride`."""
  for stride in (2, 2, 2, 2, last_stride):
    size = (size - 1) // stride + 1
  return size


def stage_shapes(width: int, blocks: Sequence[int], last_stride: int) -> list[tuple[int, int, int, int]]:
  """(in channels, bottleneck width, blocks, stride) of stages 1..4."""
  shapes, cin = [], width
  for i, n in enumerate(blocks):
    w = width * 2**i
    shapes.append((cin, w, n, (1, 2, 2, last_stride)[i]))
    cin = w * EXPANSION
  return shapes
