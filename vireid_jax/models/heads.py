"""Pooling, and the heads on the backbone's pooled feature and final NHWC feature map: BNNeck,
classifiers, part strips, learned centres. Heads are registered by name (`HEADS`); a model config
lists the heads it builds under `model.heads.<name>` with their settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from vireid_jax.models import resnet
from vireid_jax.models.batch_norm import BatchNorm
from vireid_jax.registry import Registry


def gem(x: jax.Array, p: jax.Array | float, eps: float) -> jax.Array:
  """Generalised mean pooling (Radenovic et al., TPAMI 2019): (mean_hw clamp(x, eps)^p + 1e-12)^(1/p).

  [B, H, W, C] -> [B, C], computed in float32. The 1e-12 inside the root (as the AGW and HcTri
  code write it) keeps the gradient finite where a channel is all zero at large p (p = 10 makes
  eps^p underflow to 0).
  """
  x = jnp.maximum(x.astype(jnp.float32), eps)
  return (jnp.mean(x**p, axis=(1, 2)) + 1e-12) ** (1.0 / p)


class GeM(nnx.Module):
  """GeM with a fixed or learnable exponent p (the released AGW, HcTri, EAT, MSO code: p = 3, fixed)."""

  def __init__(self, p: float = 3.0, *, learnable: bool = True, eps: float = 1e-6):
    self.p = nnx.Param(jnp.asarray(p, jnp.float32)) if learnable else p
    self.eps = eps

  def __call__(self, x: jax.Array) -> jax.Array:
    p = self.p[...] if isinstance(self.p, nnx.Param) else self.p
    return gem(x, p, self.eps)


def average_pool(x: jax.Array) -> jax.Array:
  return jnp.mean(x.astype(jnp.float32), axis=(1, 2))


def classifier(features: int, classes: int, rngs: nnx.Rngs, bias: bool = False) -> nnx.Linear:
  """Linear classifier, weights ~ N(0, 0.001^2) as in the BNNeck/AGW code (bias-free by default)."""
  return nnx.Linear(features, classes, use_bias=bias, kernel_init=nnx.initializers.normal(0.001), rngs=rngs)


def strips(x: jax.Array, parts: int) -> jax.Array:
  """[B, H, W, C] -> [B, parts, H / parts, W, C]: horizontal stripes, top to bottom."""
  b, h, w, c = x.shape
  return x.reshape(b, parts, h // parts, w, c)


class Head(nnx.Module):
  """A head: built from its settings (`model.heads.<name>`), the backbone's final channels and the
  number of classes; called with the outputs computed before it, returns its own.

  Class attributes declare it: SETTINGS (its settings and their defaults), SHRINK (the settings
  that the CPU-sized `:test` and `:synthetic` variants change), INPUTS (the outputs it reads) and
  OUTPUTS (what it returns: name -> kind, "vector" for [B, D] features). Every
  parameter of a head is trained as a new layer (the optimiser's "new" group, at the base learning
  rate), whatever its name.
  """

  SETTINGS: dict[str, Any] = {}
  SHRINK: dict[str, Any] = {}
  INPUTS: tuple[str, ...] = ()
  OUTPUTS: dict[str, str] = {}

  @classmethod
  def check(cls, settings: Any, field: str, config: Any) -> list[str]:
    """Problems with the head's `settings` (the config block `field`) in the run `config`, each
    naming the field."""
    del settings, field, config
    return []


HEADS: Registry[type[Head]] = Registry("head", lambda head: head.SETTINGS)  # heads run in this order


def register(name: str) -> Callable[[type[Head]], type[Head]]:
  """Class decorator: makes a Head available as `model.heads.<name>` (a new name)."""
  return lambda cls: HEADS.register(name, cls)


@register("bnneck")
class BNNeck(Head):
  """BatchNorm on the pooled feature with its bias frozen at 0 (Luo et al., CVPRW 2019).

  The bias is not a parameter at all, so no optimiser can move it. pooled [B, D] -> bn [B, D] float32.
  """

  INPUTS = ("pooled",)
  OUTPUTS = {"bn": "vector"}

  def __init__(self, settings: Any, channels: int, num_classes: int, *, rngs: nnx.Rngs):
    del settings, num_classes
    self.bn = BatchNorm(channels, use_bias=False, rngs=rngs)

  def __call__(self, out: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    return {"bn": self.bn(out["pooled"].astype(jnp.float32))}


@register("classifier")
class Classifier(Head):
  """The identity classifier on the BNNeck feature: bn [B, D] -> logits [B, classes]."""

  SETTINGS = {"bias": False}
  INPUTS = ("bn",)
  OUTPUTS = {"logits": "logits"}

  def __init__(self, settings: Any, channels: int, num_classes: int, *, rngs: nnx.Rngs):
    self.fc = classifier(channels, num_classes, rngs, settings.bias)

  def __call__(self, out: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    return {"logits": self.fc(out["bn"])}


@register("parts")
class PartHead(Head):
  """HcTri (Liu et al., IEEE TMM 2021, Sec. III-B): `strips` horizontal strips, GeM (exponent
  `gem_p`) per strip, per-part 1x1 conv (with a bias if `conv_bias`, as the code) -> BN -> ReLU to
  `dim`, per-part classifiers (with a bias if `bias`).

  feature_map [B, H, W, C] -> part_features [B, p, dim] float32, part_logits [p, B, classes],
  parts [B, p * dim] (the concatenation).
  """

  SETTINGS = {"strips": 6, "dim": 256, "gem_p": 3.0, "gem_eps": 1e-6, "conv_bias": False, "bias": False}
  SHRINK = {"dim": 16}  # six strips stay: 96 px images give a 6-row map
  INPUTS = ("feature_map",)
  OUTPUTS = {"part_features": "part_vectors", "part_logits": "part_logits", "parts": "vector"}

  @classmethod
  def check(cls, settings: Any, field: str, config: Any) -> list[str]:
    problems = [
        f"{field}.{key}: expected a positive integer, got {settings[key]!r}."
        for key in ("strips", "dim")
        if not (isinstance(settings[key], int) and settings[key] >= 1)
    ]
    height = config.data.augment.height
    if not problems and isinstance(height, int) and height >= 1:
      rows = resnet.feature_map_size(height, config.model.last_stride)
      if rows % settings.strips:
        problems.append(
            f"data.augment.height: {height} px gives a feature map of {rows} rows, which does not split "
            f"into {field}.strips={settings.strips} strips; choose a height that does (288 -> 18 rows "
            "with last stride 1)."
        )
    return problems

  def __init__(self, settings: Any, channels: int, num_classes: int, *, rngs: nnx.Rngs):
    self.strips, self.gem_p, self.eps = settings.strips, settings.gem_p, settings.gem_eps
    self.reduce = nnx.List(
        [nnx.Linear(channels, settings.dim, use_bias=settings.conv_bias, rngs=rngs) for _ in range(self.strips)]
    )
    self.bn = nnx.List([BatchNorm(settings.dim, rngs=rngs) for _ in range(self.strips)])
    self.classifiers = nnx.List(
        [classifier(settings.dim, num_classes, rngs, settings.bias) for _ in range(self.strips)]
    )

  def __call__(self, out: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    pooled = jax.vmap(lambda s: gem(s, self.gem_p, self.eps), in_axes=1, out_axes=1)(
        strips(out["feature_map"], self.strips)
    )
    feats = jnp.stack(
        [
            nnx.relu(bn(fc(pooled[:, i])))  # a 1x1 conv on a pooled strip is a linear map
            for i, (fc, bn) in enumerate(zip(self.reduce, self.bn))
        ],
        axis=1,
    )
    logits = jnp.stack([cls(feats[:, i]) for i, cls in enumerate(self.classifiers)])
    return {"part_features": feats, "part_logits": logits, "parts": feats.reshape(feats.shape[0], -1)}


@register("modality_classifiers")
class ModalityClassifiers(Head):
  """DANet: a visible and an infrared identity classifier on the BNNeck feature (bias-free).
  bn [B, D] -> visible_logits, infrared_logits [B, classes]."""

  INPUTS = ("bn",)
  OUTPUTS = {"visible_logits": "logits", "infrared_logits": "logits"}

  def __init__(self, settings: Any, channels: int, num_classes: int, *, rngs: nnx.Rngs):
    del settings
    self.visible = classifier(channels, num_classes, rngs)
    self.infrared = classifier(channels, num_classes, rngs)

  def __call__(self, out: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    return {"visible_logits": self.visible(out["bn"]), "infrared_logits": self.infrared(out["bn"])}


@register("centers")
class Centers(Head):
  """Learned class centres for the `center` term (Wen et al., ECCV 2016): centers [classes, D] ~ N(0, 1)."""

  OUTPUTS = {"centers": "centers"}

  def __init__(self, settings: Any, channels: int, num_classes: int, *, rngs: nnx.Rngs):
    del settings
    self.centers = nnx.Param(jax.random.normal(rngs.params(), (num_classes, channels)))

  def __call__(self, out: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    del out
    return {"centers": self.centers[...]}
