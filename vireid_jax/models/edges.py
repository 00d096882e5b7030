"""Edge maps and the frozen VGG-16 feature net of MSO's perceptual edge features (PEF) loss.

MSO (Gao et al., ACM MM 2021, Sec. 3.2, eqs. 2-3): the stem's feature map should carry the
image's edges. The edge map is the sum of the absolute responses of Sobel operators in four
directions (0, 45, 90, 135 degrees) on the grayscale image at the stem's resolution, repeated to
the stem's channels; VGG-16 blocks 2-5 (which take a 64-channel map) compare the two.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

SOBEL = np.stack([
    [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],  # 0 degrees (vertical edges)
    [[0, 1, 2], [-1, 0, 1], [-2, -1, 0]],  # 45 degrees
    [[1, 2, 1], [0, 0, 0], [-1, -2, -1]],  # 90 degrees (horizontal edges)
    [[2, 1, 0], [1, 0, -1], [0, -1, -2]],  # 135 degrees
]).astype(np.float32)
GRAY = np.array([0.299, 0.587, 0.114], np.float32)


def edge_maps(images: jax.Array, height: int, width: int, channels: int) -> jax.Array:
  """uint8 [B, H, W, 3] -> float32 [B, height, width, channels] edge maps.

  The grayscale image (in [0, 1]) is area-resized to (height, width) -- the stem's output
  resolution -- then filtered with the four Sobel kernels (zero padding); the absolute
  responses are summed and repeated over `channels`.
  """
  gray = (images.astype(jnp.float32) / 255.0) @ GRAY
  gray = jax.image.resize(gray, (gray.shape[0], height, width), "linear", antialias=True)[..., None]
  kernels = jnp.asarray(SOBEL.transpose(1, 2, 0)[:, :, None, :])  # HWIO, 4 outputs
  responses = jax.lax.conv_general_dilated(gray, kernels, (1, 1), ((1, 1), (1, 1)),
                                           dimension_numbers=("NHWC", "HWIO", "NHWC"))
  edges = jnp.abs(responses).sum(axis=-1, keepdims=True)
  return jnp.broadcast_to(edges, edges.shape[:-1] + (channels,))


VGG_BLOCKS = ((64, 128, 128), (128, 256, 256, 256), (256, 512, 512, 512), (512, 512, 512, 512))
# torchvision vgg16.features indices of the convs of blocks 2..5 (block 1 is conv 0, 2).
VGG_TORCH_INDICES = ((5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28))


class VGGFeatures(nnx.Module):
  """VGG-16 blocks 2-5 (Simonyan and Zisserman, ICLR 2015) on a 64-channel map.

  Each block: 3x3 convs with ReLU, then 2x2 max-pool before the next block. Returns the four
  blocks' outputs (before their pool). Frozen: the PEF loss stops gradients to its parameters
  and the optimiser never updates them. `in_channels` other than 64 (tiny test models) changes
  the first conv, which ImageNet weights then cannot fill.
  """

  def __init__(self, *, in_channels: int = 64, rngs: nnx.Rngs, dtype=jnp.float32):
    blocks = ((in_channels,) + VGG_BLOCKS[0][1:],) + VGG_BLOCKS[1:]
    self.blocks = nnx.List([
        nnx.List([nnx.Conv(cin, cout, (3, 3), padding=((1, 1), (1, 1)), dtype=dtype, rngs=rngs)
                  for cin, cout in zip(channels[:-1], channels[1:])])
        for channels in blocks])

  def __call__(self, x: jax.Array) -> list[jax.Array]:
    outputs = []
    for i, block in enumerate(self.blocks):
      if i:
        x = nnx.max_pool(x, (2, 2), strides=(2, 2))
      for conv in block:
        x = nnx.relu(conv(x))
      outputs.append(x)
    return outputs
