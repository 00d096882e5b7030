"""2-D convolution on NHWC maps, with 1x1 kernels computed as matrix products."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class Conv(nnx.Module):
  """A square 2-D convolution, symmetric zero padding, optional bias. kernel [k, k, in, out] (HWIO).

  A 1x1 kernel (most of a bottleneck ResNet's FLOPs, the attention blocks' projections) runs as a
  matrix product over the channel axis, strided by subsampling the map first: the same numbers as
  the convolution, but XLA lowers the dot and its gradients to plain matrix products, where on CPU
  it lowers a 1x1 convolution's weight gradient to a convolution over the whole activation (about
  4x slower). Other kernels are `lax.conv_general_dilated`. [B, H, W, in] -> [B, H', W', out] in
  the input's dtype (parameters stay float32).
  """

  def __init__(
      self,
      cin: int,
      cout: int,
      kernel: int,
      *,
      stride: int = 1,
      padding: int = 0,
      use_bias: bool = False,
      kernel_init: nnx.Initializer = nnx.initializers.lecun_normal(),
      rngs: nnx.Rngs,
  ):
    self.kernel = nnx.Param(kernel_init(rngs.params(), (kernel, kernel, cin, cout), jnp.float32))
    self.bias = nnx.Param(jnp.zeros((cout,), jnp.float32)) if use_bias else None
    self.stride, self.padding = stride, padding

  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.kernel[...].astype(x.dtype)
    if kernel.shape[:2] == (1, 1) and self.padding == 0:
      y = jnp.dot(x[:, :: self.stride, :: self.stride] if self.stride > 1 else x, kernel[0, 0])
    else:
      pad = ((self.padding, self.padding),) * 2
      y = jax.lax.conv_general_dilated(
          x, kernel, (self.stride, self.stride), pad, dimension_numbers=("NHWC", "HWIO", "NHWC")
      )
    return y if self.bias is None else y + self.bias[...].astype(y.dtype)
