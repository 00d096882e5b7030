"""Batch normalisation with PyTorch's numerics, so that a model trained here and the reference
code's keep the same running statistics (Ioffe and Szegedy, ICML 2015)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class BatchNorm(nnx.Module):
  """BatchNorm over every axis but the last (NHWC maps or [B, C] vectors), as `torch.nn.BatchNorm`.

  Training (`use_running_average=False`, set by `model.train()`): normalises with the batch mean
  and the biased batch variance, both computed in float32 from centred values (E[(x - mean)^2],
  not E[x^2] - mean^2, which loses most digits in float32 when |mean| >> std and all of them in
  bfloat16), and updates the running statistics with PyTorch's momentum convention:
  running = (1 - momentum) running + momentum batch, the variance unbiased (n / (n - 1), n the
  values per channel). Inference: the running statistics. `scale` (gamma) and, unless
  `use_bias=False`, `bias` (beta) are parameters; `mean` and `var` are batch statistics. The output
  has the input's dtype.
  """

  def __init__(
      self,
      features: int,
      *,
      momentum: float = 0.1,
      epsilon: float = 1e-5,
      use_bias: bool = True,
      scale_init: nnx.Initializer = nnx.initializers.ones,
      rngs: nnx.Rngs,
  ):
    self.scale = nnx.Param(scale_init(rngs.params(), (features,), jnp.float32))
    self.bias = nnx.Param(jnp.zeros((features,), jnp.float32)) if use_bias else None
    self.mean = nnx.BatchStat(jnp.zeros((features,), jnp.float32))
    self.var = nnx.BatchStat(jnp.ones((features,), jnp.float32))
    self.momentum, self.epsilon = momentum, epsilon
    self.use_running_average = False

  def __call__(self, x: jax.Array) -> jax.Array:
    x32 = x.astype(jnp.float32)
    axes = tuple(range(x.ndim - 1))
    if self.use_running_average:
      mean, var = self.mean[...], self.var[...]
    else:
      mean = jnp.mean(x32, axis=axes)
      var = jnp.mean(jnp.square(x32 - mean), axis=axes)
      n = x.size // x.shape[-1]
      unbiased = var * (n / max(n - 1, 1))
      self.mean[...] = jax.lax.stop_gradient((1 - self.momentum) * self.mean[...] + self.momentum * mean)
      self.var[...] = jax.lax.stop_gradient((1 - self.momentum) * self.var[...] + self.momentum * unbiased)
    y = (x32 - mean) * (self.scale[...] * jax.lax.rsqrt(var + self.epsilon))
    if self.bias is not None:
      y = y + self.bias[...]
    return y.astype(x.dtype)
