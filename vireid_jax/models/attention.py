"""Spatial attention blocks on NHWC feature maps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from vireid_jax.models.conv import Conv
from vireid_jax.models.resnet import batch_norm


def _conv1x1(cin: int, cout: int, rngs: nnx.Rngs) -> Conv:
  return Conv(cin, cout, 1, use_bias=True, rngs=rngs)


class NonLocal(nnx.Module):
  """Non-local block (Wang et al., CVPR 2018) as AGW uses it (Ye et al., TPAMI 2021, Sec. 4.1).

  z = W(y) + x, y_i = sum_j f(x_i, x_j) g(x_j) over the H*W positions, with the dot-product
  affinity f = theta(x_i)^T phi(x_j) / N (`kind="dot"`, AGW) or its softmax over j
  (`kind="gaussian"`, embedded Gaussian). theta, phi, g are 1x1 convs to `inner` channels; W is
  a 1x1 conv + BN whose scale starts at 0, so the block is the identity at initialisation.
  AGW's code computes its inner width as `reduc_ratio // reduc_ratio`, i.e. 1 channel; the
  paper's C/2 is the default here and `inner=1` reproduces the code.
  """

  def __init__(self, channels: int, inner: int, *, kind: str = "dot", rngs: nnx.Rngs):
    if kind not in ("dot", "gaussian"):
      raise ValueError(f"non_local kind: expected 'dot' or 'gaussian', got {kind!r}.")
    self.kind = kind
    self.theta, self.phi, self.g = (_conv1x1(channels, inner, rngs) for _ in range(3))
    self.w = _conv1x1(inner, channels, rngs)
    self.w_bn = batch_norm(channels, rngs, zero_scale=True)

  def __call__(self, x: jax.Array) -> jax.Array:
    b, h, w, c = x.shape
    theta = self.theta(x).reshape(b, h * w, -1)
    phi = self.phi(x).reshape(b, h * w, -1)
    g = self.g(x).reshape(b, h * w, -1)
    affinity = jnp.einsum("bic,bjc->bij", theta, phi)
    affinity = jax.nn.softmax(affinity, axis=-1) if self.kind == "gaussian" else affinity / (h * w)
    y = jnp.einsum("bij,bjc->bic", affinity, g).reshape(b, h, w, -1)
    return self.w_bn(self.w(y)) + x


class PositionAttention(nnx.Module):
  """Position attention module (Fu et al., DANet, CVPR 2019), as DPAN + CMDC inserts it.

  Query and key 1x1 convs to C / `reduction` (8 in Fu et al.; DPAN's text writes C), value 1x1
  conv to C; attention = softmax over positions of query_i . key_j; out_i = sum_j attention_ij
  value_j; returns gamma * out + x with the learned scalar gamma initialised to 0 (identity at
  initialisation). [B, H, W, C] -> same.
  """

  def __init__(self, channels: int, *, reduction: int = 8, rngs: nnx.Rngs):
    self.query = _conv1x1(channels, max(channels // reduction, 1), rngs)
    self.key = _conv1x1(channels, max(channels // reduction, 1), rngs)
    self.value = _conv1x1(channels, channels, rngs)
    self.gamma = nnx.Param(jnp.zeros((), jnp.float32))

  def __call__(self, x: jax.Array) -> jax.Array:
    b, h, w, c = x.shape
    q = self.query(x).reshape(b, h * w, -1)
    k = self.key(x).reshape(b, h * w, -1)
    v = self.value(x).reshape(b, h * w, c)
    attention = jax.nn.softmax(jnp.einsum("bic,bjc->bij", q, k), axis=-1)
    out = jnp.einsum("bij,bjc->bic", attention, v).reshape(b, h, w, c)
    return (self.gamma[...] * out + x).astype(x.dtype)
