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

from vireid_jax.data.transforms import GRAY
from vireid_jax.models.conv import Conv

SOBEL = np.stack(
    [
        [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],  # 0 degrees (vertical edges)
        [[0, 1, 2], [-1, 0, 1], [-2, -1, 0]],  # 45 degrees
        [[1, 2, 1], [0, 0, 0], [-1, -2, -1]],  # 90 degrees (horizontal edges)
        [[2, 1, 0], [1, 0, -1], [0, -1, -2]],  # 135 degrees
    ]
).astype(np.float32)


def edge_maps(images: jax.Array, height: int, width: int, channels: int) -> jax.Array:
  """uint8 [B, H, W, 3] -> float32 [B, height, width, channels] edge maps.

  The grayscale image (in [0, 1]) is area-resized to (height, width) -- the stem's output
  resolution -- then filtered with the four Sobel kernels (zero padding); the absolute
  responses are summed and repeated over `channels`.
  """
  gray = (images.astype(jnp.float32) / 255.0) @ GRAY
  gray = jax.image.resize(gray, (gray.shape[0], height, width), "linear", antialias=True)[..., None]
  kernels = jnp.asarray(SOBEL.transpose(1, 2, 0)[:, :, None, :])  # HWIO, 4 outputs
  responses = jax.lax.conv_general_dilated(
      gray, kernels, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
  )
  edges = jnp.abs(responses).sum(axis=-1, keepdims=True)
  return jnp.broadcast_to(edges, edges.shape[:-1] + (channels,))


VGG_BLOCKS = ((64, 128, 128), (128, 256, 256, 256), (256, 512, 512, 512), (512, 512, 512, 512))
# torchvision vgg16.features indices of the convs of blocks 2..5 (block 1 is conv 0, 2).
VGG_TORCH_INDICES = ((5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28))


class VGGFeatures(nnx.Module):
  """VGG-16 blocks 2-5 (Simonyan and Zisserman, ICLR 2015) on a 64-channel map: MSO's phi_1..phi_4.

  Each block: 3x3 convs with ReLU, then its 2x2 max-pool (torchvision `features[5:10]`,
  `[10:17]`, `[17:24]`, `[24:31]`); returns the four blocks' outputs after their pools, as the
  MSO code compares them. Frozen: the PEF loss stops gradients to its parameters and the
  optimiser never updates them. `in_channels` other than 64 (tiny models) changes the first conv,
  `width` scales every block's channels and `blocks` keeps the first 1..4 blocks (CPU-sized
  synthetic runs: each block halves the map); ImageNet weights fill in_channels=64, width=1.
  """

  def __init__(self, *, in_channels: int = 64, width: float = 1.0, blocks: int = 4, rngs: nnx.Rngs):
    blocks = [[max(1, int(c * width)) for c in channels] for channels in VGG_BLOCKS[:blocks]]
    blocks[0][0] = in_channels
    for previous, block in zip(blocks, blocks[1:]):
      block[0] = previous[-1]
    self.blocks = nnx.List(
        [
            nnx.List(
                [
                    Conv(cin, cout, 3, padding=1, use_bias=True, rngs=rngs)
                    for cin, cout in zip(channels[:-1], channels[1:])
                ]
            )
            for channels in blocks
        ]
    )

  def __call__(self, x: jax.Array) -> list[jax.Array]:
    outputs = []
    for block in self.blocks:
      for conv in block:
        x = nnx.relu(conv(x))
      x = nnx.max_pool(x, (2, 2), strides=(2, 2))
      outputs.append(x)
    return outputs
