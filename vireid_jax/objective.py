"""The training objective: loss terms as declared units, and their weighted sum.

A term is a function of one batch's model outputs and the term's own settings, registered under a
name with what it needs: its settings and their defaults, the model outputs it reads, the data
sampler its batch layout assumes, a frozen network it builds. A run config lists the terms it
uses under `config.loss.terms.<name>`: `weight` plus that term's settings (the defaults, updated
by the config), so `--config.loss.terms.hetero_center.margin=0.5` changes one term and a weight
of 0 switches a term off (ablations are weights). `check(config)` validates every term against
the model and data config before anything is traced and names the field and the expected value;
`total_loss` is the weighted sum. The trainer knows nothing about any term.

Adding a term, here (the library's terms) or in a user's own module:

  objective.TERMS.register("my_term", objective.Term(fn=my_term_fn, settings=dict(margin=0.3)))

and a config with `loss.terms.my_term = objective.settings("my_term", weight=1.0)`.

Outputs come in the model's merged order (row i*V + v = item i of view v of `data.views`; by
default V = 2 with view m the modality m); `labels` and `modality` are merged the same way. For
the EAT tuple sampler (two views) item = tuple * 3 + role with roles (anchor, positive, negative).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from vireid_jax import losses, models
from vireid_jax.data import views
from vireid_jax.models import convert
from vireid_jax.models.edges import VGGFeatures, edge_maps
from vireid_jax.registry import Registry


class Inputs(NamedTuple):
  """What a term sees of one training batch, every array in the merged order."""

  out: Mapping[str, jax.Array]  # the model's outputs (see `models.outputs`)
  labels: jax.Array  # int32 [B] training classes
  modality: jax.Array  # int32 [B] 0 visible, 1 infrared
  images: jax.Array  # [B, H, W, 3] as the model received them (uint8, or normalised: data.views)
  frozen: nnx.Module | None  # the term's frozen network (from its `init`), else None
  views: tuple[int, ...] = (0, 1)  # the stream of each view; row i*V + v is item i of view v


@dataclasses.dataclass(frozen=True)
class Term:
  """A loss term and what it needs.

  fn:       (inputs, settings) -> float32 scalar; `settings` is the term's config block.
  settings: its own settings and their defaults (besides `weight`). A `feature` setting names
            the model output the term reads, which must be of kind `feature_kind`.
  choices:  the allowed values of enumerated settings.
  outputs:  further model outputs it reads (e.g. "centers", "part_logits").
  sampler:  the batch layout it needs ("pk": every identity in both modalities; "tuple": EAT
            tuples), or None for any.
  init:     (settings, model config, pretrained) -> a frozen network the term evaluates (never
            optimised), kept by the trainer under the term's name; with pretrained=False only its
            structure matters (its state comes from a checkpoint).
  check:    (settings, run config) -> further problems, each naming its field.
  shrink:   the settings that the CPU-sized `:test` and `:synthetic` variants change.
  """

  fn: Callable[[Inputs, Any], jax.Array]
  settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  choices: Mapping[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)
  feature_kind: str = "vector"
  outputs: tuple[str, ...] = ()
  sampler: str | None = None
  init: Callable[[Any, Any, bool], nnx.Module] | None = None
  check: Callable[[Any, Any], list[str]] | None = None
  shrink: Mapping[str, Any] = dataclasses.field(default_factory=dict)


TERMS: Registry[Term] = Registry("loss term", lambda term: term.settings)


def settings(name: str, weight: float = 1.0, **overrides: Any) -> ml_collections.ConfigDict:
  """The config block `loss.terms.<name>`: `weight` and the term's settings (defaults, then `overrides`)."""
  block = TERMS.settings(name, **overrides)
  block.weight = float(weight)
  return block


def active(loss_cfg: Any) -> list[str]:
  """The names of the terms with a non-zero weight, sorted."""
  return sorted(name for name, s in loss_cfg.terms.items() if s.weight)


def check(config: Any) -> list[str]:
  """Problems with `config.loss.terms` against the model and data config, each naming the field."""
  terms = config.loss.terms
  unknown = sorted(set(terms) - set(TERMS))
  if unknown:
    return [f"loss.terms: unknown terms {unknown}; registered: {sorted(TERMS)}."]
  problems = []
  outputs = models.outputs(config.model)
  for name, s in terms.items():
    term, field = TERMS[name], f"loss.terms.{name}"
    if not (isinstance(s.get("weight"), (int, float)) and s.weight >= 0):
      problems.append(f"{field}.weight: expected a number >= 0, got {s.get('weight')!r}.")
      continue
    block = TERMS.check_block(name, s, field, extra=("weight",))
    if block:
      problems += block
      continue
    if not s.weight:
      continue
    for key, allowed in term.choices.items():
      problem = losses.common.choice_problem(key, s[key], allowed)
      if problem:
        problems.append(f"{field}.{problem}")
    if "feature" in term.settings:
      kind = [o for o, k in outputs.items() if k == term.feature_kind]
      if outputs.get(s.feature) != term.feature_kind:
        problems.append(
            f"{field}.feature: expected one of this model's {term.feature_kind} outputs {kind}, " f"got {s.feature!r}."
        )
    for needed in term.outputs:
      if needed not in outputs:
        problems.append(f"{field} reads the model output {needed!r}: {models.provider_hint(needed)}.")
    if term.sampler and config.data.sampler != term.sampler:
      problems.append(f"{field} needs data.sampler={term.sampler!r} (its batch layout), got {config.data.sampler!r}.")
    if term.check:
      problems += term.check(s, config)
  if not active(config.loss):
    problems.append("loss.terms: every term has weight 0; the objective would be constant.")
  return problems


def frozen_networks(config: Any, pretrained: bool = True) -> dict[str, nnx.Module]:
  """{term name: frozen network} for the active terms that build one (with their weights files
  read, unless `pretrained` is False)."""
  return {
      name: TERMS[name].init(config.loss.terms[name], config.model, pretrained)
      for name in active(config.loss)
      if TERMS[name].init
  }


def total_loss(
    loss_cfg: Any,
    out: Mapping[str, jax.Array],
    labels: jax.Array,
    modality: jax.Array,
    images: jax.Array,
    frozen: Mapping[str, nnx.Module],
    views: tuple[int, ...] = (0, 1),
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """(weighted sum, {term: unweighted value}) over the active terms of `loss_cfg.terms`."""
  values = {
      name: TERMS[name].fn(Inputs(out, labels, modality, images, frozen.get(name), views), loss_cfg.terms[name])
      for name in active(loss_cfg)
  }
  total = sum((loss_cfg.terms[name].weight * v for name, v in values.items()), jnp.zeros((), jnp.float32))
  return total, values


# The built-in terms of the six methods.


def _tuples(x: jax.Array) -> dict[str, jax.Array]:
  """[2 * 3N, ...] merged tuple features -> the six EAT roles, each [N, ...]."""
  t = x.reshape((-1, 3, 2) + x.shape[1:])
  return {
      f"{m}_{r}": t[:, i, j]
      for j, m in enumerate(("rgb", "ir"))
      for i, r in enumerate(("anchor", "positive", "negative"))
  }


def _rows(b: Inputs, s: Any) -> np.ndarray:
  """The batch rows a term uses: the EAT anchors with `anchors_only` (rows (item, modality) with
  item = tuple * 3 + role, role 0 the anchor), else every row. A static index: B is static."""
  rows = np.arange(b.labels.shape[0])
  return rows[(rows // 2) % 3 == 0] if s.anchors_only else rows


def _check_anchors(name: str) -> Callable[[Any, Any], list[str]]:
  """The check of a term with an `anchors_only` setting: the anchors are the tuple sampler's."""

  def check(s: Any, config: Any) -> list[str]:
    if s.anchors_only and config.data.sampler != "tuple":
      return [
          f"loss.terms.{name}.anchors_only: the anchors are the EAT tuple sampler's; needs "
          f"data.sampler='tuple', got {config.data.sampler!r}."
      ]
    return []

  return check


def _identity(b: Inputs, s: Any) -> jax.Array:
  rows = _rows(b, s)
  return losses.identity_loss(b.out["logits"][rows], b.labels[rows], s.label_smoothing)


def _wrt(b: Inputs, s: Any) -> jax.Array:
  f = b.out[s.feature].astype(jnp.float32)
  if s.normalize:
    f = f / losses.common.norm(f)[:, None]
  return losses.weighted_regularized_triplet(f, b.labels, variant=s.variant)


def _part_hetero_center(b: Inputs, s: Any) -> jax.Array:
  parts = b.out["part_features"]
  return sum(
      losses.hetero_center_triplet(parts[:, i], b.labels, b.modality, s.margin, reduction=s.reduction)
      for i in range(parts.shape[1])
  )


def _angular_triplet(b: Inputs, s: Any) -> jax.Array:
  t = _tuples(b.out[s.feature])
  return losses.enumerate_angular_triplet(
      t["rgb_anchor"],
      t["rgb_positive"],
      t["rgb_negative"],
      t["ir_anchor"],
      t["ir_positive"],
      t["ir_negative"],
      variant=s.variant,
      margin=s.margin,
  )


def _distillation(b: Inputs, s: Any) -> jax.Array:
  t = _tuples(b.out[s.feature])
  return losses.cross_modality_distillation(
      t["rgb_anchor"], t["ir_positive"], t["ir_anchor"], t["rgb_positive"], reduction=s.reduction
  )


def _compactness(b: Inputs, s: Any) -> jax.Array:
  fmap = b.out[s.feature][_rows(b, s)]
  return losses.angular_compactness(fmap.reshape(fmap.shape[0], -1, fmap.shape[-1]))


def _view_rows(b: Inputs, view: int) -> np.ndarray:
  """The batch rows of view `view` (rows i*V + view), in item order. A static index."""
  return np.arange(b.labels.shape[0])[view % len(b.views) :: len(b.views)]


def _modality_rows(b: Inputs, modality: int) -> np.ndarray:
  """The batch rows whose view goes through stream `modality`. A static index."""
  rows = np.arange(b.labels.shape[0])
  return rows[np.asarray(b.views)[rows % len(b.views)] == modality]


def _perceptual_edge(b: Inputs, s: Any) -> jax.Array:
  """MSO eq. 2: the visible images' PEF loss plus the infrared images'."""
  stem = b.out["stage0"]
  edges = edge_maps(b.images, stem.shape[1], stem.shape[2], stem.shape[3])
  rows = [_modality_rows(b, m) for m in (0, 1)]
  return sum(losses.perceptual_edge_loss(stem[r], edges[r], b.frozen) for r in rows)


def _view_kl(b: Inputs, s: Any) -> jax.Array:
  """CAJ's KL term between the logits of two views of the same items (`views`: student, teacher)."""
  student, teacher = (b.out["logits"][_view_rows(b, v)] for v in s.views)
  return losses.view_kl(student, teacher, s.temperature)


def _check_view_kl(s: Any, config: Any) -> list[str]:
  count = len(config.data.views)
  if not (len(s.views) == 2 and all(isinstance(v, int) and -count <= v < count for v in s.views)):
    return [
        f"loss.terms.view_kl.views: expected (student, teacher) indices into data.views ({count} views), "
        f"got {tuple(s.views)!r}."
    ]
  return []


def _vgg16(s: Any, model_cfg: Any, pretrained: bool) -> nnx.Module:
  """MSO's frozen VGG-16 blocks 2-5 on the stem's channels, with ImageNet weights when given."""
  net = VGGFeatures(in_channels=model_cfg.width, width=s.vgg_width, blocks=s.vgg_blocks, rngs=nnx.Rngs(model_cfg.seed))
  if pretrained and s.vgg16:
    convert.load_vgg16(net, convert.load_state_dict(s.vgg16), f"loss.terms.perceptual_edge.vgg16: {s.vgg16}")
  return net


def _check_perceptual_edge(s: Any, config: Any) -> list[str]:
  field = "loss.terms.perceptual_edge"
  if views.normalized(config.data):
    return [
        f"{field}: the edge maps are computed from the uint8 images; data.views and "
        "data.augment.channel_erasing_prob ask for images normalised on the host."
    ]
  stem = [-(-config.data.augment[side] // 4) for side in ("height", "width")]  # the stem's stride is 4
  if not (isinstance(s.vgg_blocks, int) and 1 <= s.vgg_blocks <= 4) or min(stem) < 2**s.vgg_blocks:
    return [
        f"{field}.vgg_blocks: expected 1..4 VGG blocks, each halving the stem's {stem[0]}x{stem[1]} map "
        f"(at least 2^blocks on each side), got {s.vgg_blocks!r}."
    ]
  if s.vgg16 and (s.vgg_width != 1.0 or config.model.width != 64):
    return [
        f"{field}.vgg16: ImageNet VGG-16 weights fit vgg_width=1.0 on a width-64 stem only, got vgg_width="
        f"{s.vgg_width} and model.width={config.model.width}."
    ]
  if config.model.require_pretrained and not s.vgg16:
    return [
        f"{field}.vgg16: MSO's perceptual edge loss needs ImageNet VGG-16 weights "
        "(--config.loss.terms.perceptual_edge.vgg16=vgg16.npz, made by python -m vireid_jax.models.convert)."
    ]
  return []


TERMS.register(
    "identity",
    Term(
        _identity,
        settings=dict(label_smoothing=0.0, anchors_only=False),
        outputs=("logits",),
        check=_check_anchors("identity"),
    ),
)
TERMS.register(
    "part_identity",
    Term(  # HcTri: the sum over parts of each part classifier's identity loss
        lambda b, s: sum(losses.identity_loss(logits, b.labels, s.label_smoothing) for logits in b.out["part_logits"]),
        settings=dict(label_smoothing=0.0),
        outputs=("part_logits",),
    ),
)
TERMS.register(
    "modality_identity",
    Term(  # DANet eq. 4: each modality's classifier on its own samples
        lambda b, s: (
            losses.identity_loss(b.out["visible_logits"], b.labels, s.label_smoothing, where=b.modality == 0)
            + losses.identity_loss(b.out["infrared_logits"], b.labels, s.label_smoothing, where=b.modality == 1)
        ),
        settings=dict(label_smoothing=0.0),
        outputs=("visible_logits", "infrared_logits"),
    ),
)
TERMS.register(
    "mutual_learning",
    Term(
        lambda b, s: losses.modality_mutual_learning(b.out["visible_logits"], b.out["infrared_logits"], b.modality),
        outputs=("visible_logits", "infrared_logits"),
    ),
)
TERMS.register(
    "wrt",
    Term(  # `normalize`: on L2-normalised features (MSO Sec. 3.4; AGW code's normalize_feature)
        _wrt,
        settings=dict(feature="pooled", variant="paper", normalize=False),
        choices=dict(variant=losses.common.VARIANTS),
    ),
)
TERMS.register(
    "adp_triplet",
    Term(  # CAJ: TripletLoss_ADP (--alpha, --gamma, --square)
        lambda b, s: losses.adp_triplet(b.out[s.feature], b.labels, s.alpha, s.gamma, s.square),
        settings=dict(feature="pooled", alpha=1.0, gamma=1.0, square=True),
    ),
)
TERMS.register(
    "view_kl",
    Term(  # CAJ train_ext.py: KLDivLoss(view 0's logits, the infrared view's), weight --kl
        _view_kl,
        settings=dict(views=(0, -1), temperature=3.0),
        outputs=("logits",),
        check=_check_view_kl,
    ),
)
TERMS.register(
    "batch_hard",
    Term(
        lambda b, s: losses.batch_hard_triplet(b.out[s.feature], b.labels, s.margin),
        settings=dict(feature="pooled", margin=0.3),
    ),
)
TERMS.register(
    "hetero_center",
    Term(
        lambda b, s: losses.hetero_center_triplet(
            b.out[s.feature], b.labels, b.modality, s.margin, reduction=s.reduction
        ),
        settings=dict(feature="pooled", margin=0.3, reduction="mean"),
        choices=dict(reduction=losses.common.REDUCTIONS),
        sampler="pk",
    ),
)
TERMS.register(
    "part_hetero_center",
    Term(  # HcTri code: the hetero-centre triplet on each part feature, summed
        _part_hetero_center,
        settings=dict(margin=0.3, reduction="mean"),
        choices=dict(reduction=losses.common.REDUCTIONS),
        outputs=("part_features",),
        sampler="pk",
    ),
)
TERMS.register(
    "cross_modality_triplet",
    Term(
        lambda b, s: losses.cross_modality_triplet(b.out[s.feature], b.labels, b.modality, s.margin),
        settings=dict(feature="pooled", margin=0.3),
    ),
)
TERMS.register(
    "cross_modality_center",
    Term(
        lambda b, s: losses.cross_modality_center(b.out[s.feature], b.labels, b.modality, s.margin),
        settings=dict(feature="pooled", margin=0.7),
        sampler="pk",
    ),
)
TERMS.register(
    "center",
    Term(
        lambda b, s: losses.center_loss(b.out[s.feature], b.labels, b.out["centers"]),
        settings=dict(feature="pooled"),
        outputs=("centers",),
    ),
)
TERMS.register(
    "dual_constraint",
    Term(
        lambda b, s: losses.cross_modality_dual_constraint(
            b.out[s.feature], b.labels, b.modality, s.margin, reduction=s.reduction
        ),
        settings=dict(feature="pooled", margin=0.3, reduction="sum"),
        choices=dict(reduction=losses.common.REDUCTIONS),
        sampler="pk",
    ),
)
TERMS.register(
    "contrastive_center",
    Term(
        lambda b, s: losses.cross_modality_contrastive_center(
            b.out[s.feature], b.labels, b.modality, variant=s.variant
        ),
        settings=dict(feature="bn", variant="paper"),
        choices=dict(variant=losses.common.VARIANTS),
        sampler="pk",
    ),
)
TERMS.register(
    "perceptual_edge",
    Term(  # MSO: on the stem's output, whose channels the VGG takes
        _perceptual_edge,
        settings=dict(vgg16="", vgg_width=1.0, vgg_blocks=4),
        outputs=("stage0",),
        init=_vgg16,
        check=_check_perceptual_edge,
        shrink=dict(vgg_width=0.125, vgg_blocks=3, vgg16=""),
    ),
)  # 1/8 of VGG's channels, 3 blocks
# on the 24x12 stem of 96x48 images
TERMS.register(
    "angular_triplet",
    Term(
        _angular_triplet,
        settings=dict(feature="bn", variant="paper", margin=1.0),
        choices=dict(variant=losses.common.VARIANTS),
        sampler="tuple",
    ),
)
TERMS.register(
    "distillation",
    Term(
        _distillation,
        settings=dict(feature="stage1", reduction="sum"),
        choices=dict(reduction=losses.common.REDUCTIONS),
        feature_kind="map",
        sampler="tuple",
    ),
)
TERMS.register(
    "compactness",
    Term(
        _compactness,
        settings=dict(feature="feature_map", anchors_only=False),
        feature_kind="map",
        check=_check_anchors("compactness"),
    ),
)
