"""Pooling, BNNeck, part strips and classifiers on the backbone's final NHWC feature map."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from vireid_jax.models.resnet import BN_MOMENTUM


def gem(x: jax.Array, p: jax.Array | float, eps: float) -> jax.Array:
  """Generalised mean pooling (Radenovic et al., TPAMI 2019): (mean_hw clamp(x, eps)^p)^(1/p).

  [B, H, W, C] -> [B, C], computed in float32.
  """
  x = jnp.maximum(x.astype(jnp.float32), eps)
  return jnp.mean(x ** p, axis=(1, 2)) ** (1.0 / p)


class GeM(nnx.Module):
  """GeM with a fixed or learnable exponent p (AGW: p = 3, learnable)."""

  def __init__(self, p: float = 3.0, *, learnable: bool = True, eps: float = 1e-6):
    self.p = nnx.Param(jnp.asarray(p, jnp.float32)) if learnable else p
    self.eps = eps

  def __call__(self, x: jax.Array) -> jax.Array:
    p = self.p[...] if isinstance(self.p, nnx.Param) else self.p
    return gem(x, p, self.eps)


def average_pool(x: jax.Array) -> jax.Array:
  return jnp.mean(x.astype(jnp.float32), axis=(1, 2))


class BNNeck(nnx.Module):
  """BatchNorm on the pooled feature with its bias frozen at 0 (Luo et al., CVPRW 2019).

  The bias is not a parameter at all, so no optimiser can move it. [B, D] -> [B, D] float32.
  """

  def __init__(self, features: int, *, rngs: nnx.Rngs):
    self.bn = nnx.BatchNorm(features, momentum=BN_MOMENTUM, epsilon=1e-5, use_bias=False, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.bn(x.astype(jnp.float32))


def classifier(features: int, classes: int, rngs: nnx.Rngs) -> nnx.Linear:
  """Bias-free linear classifier, weights ~ N(0, 0.001^2) as in the BNNeck/AGW code."""
  return nnx.Linear(features, classes, use_bias=False, kernel_init=nnx.initializers.normal(0.001), rngs=rngs)


def strips(x: jax.Array, parts: int) -> jax.Array:
  """[B, H, W, C] -> [B, parts, H / parts, W, C]: horizontal stripes, top to bottom."""
  b, h, w, c = x.shape
  if h % parts:
    raise ValueError(f"feature map height {h} does not split into {parts} strips; choose the image "
                     "height so that it does (e.g. 288 -> 18 rows with last stride 1).")
  return x.reshape(b, parts, h // parts, w, c)


class PartHead(nnx.Module):
  """HcTri (Liu et al., IEEE TMM 2021, arXiv 2008.06223, Sec. 3.1): p strips, GeM per strip, per-part
  1x1 conv -> BN -> ReLU to `dim`, per-part classifiers.

  [B, H, W, C] -> (part features [B, p, dim] float32, part logits [p, B, classes]).
  """

  def __init__(self, channels: int, parts: int, dim: int, classes: int, gem_p: float, eps: float, *,
               rngs: nnx.Rngs):
    self.parts, self.gem_p, self.eps = parts, gem_p, eps
    self.reduce = nnx.List([nnx.Linear(channels, dim, use_bias=False, rngs=rngs) for _ in range(parts)])
    self.bn = nnx.List([nnx.BatchNorm(dim, momentum=BN_MOMENTUM, epsilon=1e-5, rngs=rngs) for _ in range(parts)])
    self.classifiers = nnx.List([classifier(dim, classes, rngs) for _ in range(parts)])

  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    pooled = jax.vmap(lambda s: gem(s, self.gem_p, self.eps), in_axes=1, out_axes=1)(strips(x, self.parts))
    feats = jnp.stack([nnx.relu(bn(fc(pooled[:, i])))  # a 1x1 conv on a pooled strip is a linear map
                       for i, (fc, bn) in enumerate(zip(self.reduce, self.bn))], axis=1)
    logits = jnp.stack([cls(feats[:, i]) for i, cls in enumerate(self.classifiers)])
    return feats, logits
