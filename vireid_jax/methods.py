"""The one place that maps model outputs to loss terms and weights.

`config.loss.weights` names the terms a method uses and their weights; a term with weight 0 is
not computed, so ablations (EAT without CMKD, MSO without PEF, HcTri with batch-hard triplet)
are config fields. The train loop calls `total_loss` and knows nothing about methods.

Outputs come in the model's merged order (row i*2 + m = item i of modality m); `labels` and
`modality` are merged the same way. For the EAT tuple sampler item = tuple * 3 + role with roles
(anchor, positive, negative).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from vireid_jax import losses
from vireid_jax.models.edges import edge_maps

Batch = Mapping[str, jax.Array]


def _tuples(x: jax.Array) -> dict[str, jax.Array]:
  """[2 * 3N, ...] merged tuple features -> the six EAT roles, each [N, ...]."""
  t = x.reshape((-1, 3, 2) + x.shape[1:])
  return {f"{m}_{r}": t[:, i, j] for j, m in enumerate(("rgb", "ir")) for i, r in enumerate(("anchor", "positive", "negative"))}


def _part_identity(out, labels, modality, cfg, aux):
  """HcTri: the sum over parts of each part classifier's identity loss."""
  return sum(losses.identity_loss(logits, labels, cfg.label_smoothing) for logits in out["part_logits"])


def _part_hetero_center(out, labels, modality, cfg, aux):
  """HcTri code: the sum over parts of the hetero-centre triplet on each part feature."""
  parts = out["part_features"]
  return sum(losses.hetero_center_triplet(parts[:, i], labels, modality, cfg.margin, reduction=cfg.hc_reduction)
             for i in range(parts.shape[1]))


def _modality_identity(out, labels, modality, cfg, aux):
  """DANet: each modality-specific classifier learns from its own modality's samples."""
  return (losses.identity_loss(out["visible_logits"], labels, cfg.label_smoothing, where=modality == 0)
          + losses.identity_loss(out["infrared_logits"], labels, cfg.label_smoothing, where=modality == 1))


def _perceptual_edge(out, labels, modality, cfg, aux):
  stem = out["stage0"]
  edges = edge_maps(aux["images"], stem.shape[1], stem.shape[2], stem.shape[3])
  return losses.perceptual_edge_loss(stem, edges, aux["feature_net"])


def _angular_triplet(out, labels, modality, cfg, aux):
  t = _tuples(out[cfg.feature])
  return losses.enumerate_angular_triplet(t["rgb_anchor"], t["rgb_positive"], t["rgb_negative"], t["ir_anchor"],
                                          t["ir_positive"], t["ir_negative"], variant=cfg.eat_variant)


def _distillation(out, labels, modality, cfg, aux):
  t = _tuples(out["stage1"])
  return losses.cross_modality_distillation(t["rgb_anchor"], t["ir_positive"], t["ir_anchor"], t["rgb_positive"])


def _compactness(out, labels, modality, cfg, aux):
  fmap = out["feature_map"]
  return losses.angular_compactness(fmap.reshape(fmap.shape[0], -1, fmap.shape[-1]))


TERMS: dict[str, Callable[..., jax.Array]] = {
    "identity": lambda out, labels, modality, cfg, aux: losses.identity_loss(out["logits"], labels, cfg.label_smoothing),
    "part_identity": _part_identity,
    "modality_identity": _modality_identity,
    "mutual_learning": lambda out, labels, modality, cfg, aux: losses.modality_mutual_learning(
        out["visible_logits"], out["infrared_logits"], modality),
    "wrt": lambda out, labels, modality, cfg, aux: losses.weighted_regularized_triplet(
        out[cfg.feature], labels, variant=cfg.wrt_variant),
    "batch_hard": lambda out, labels, modality, cfg, aux: losses.batch_hard_triplet(out[cfg.feature], labels, cfg.margin),
    "hetero_center": lambda out, labels, modality, cfg, aux: losses.hetero_center_triplet(
        out[cfg.feature], labels, modality, cfg.margin, reduction=cfg.hc_reduction),
    "cross_modality_triplet": lambda out, labels, modality, cfg, aux: losses.cross_modality_triplet(
        out[cfg.feature], labels, modality, cfg.margin),
    "cross_modality_center": lambda out, labels, modality, cfg, aux: losses.cross_modality_center(
        out[cfg.feature], labels, modality, cfg.center_margin),
    "center": lambda out, labels, modality, cfg, aux: losses.center_loss(out[cfg.feature], labels, out["centers"]),
    "dual_constraint": lambda out, labels, modality, cfg, aux: losses.cross_modality_dual_constraint(
        out[cfg.feature], labels, modality, cfg.margin),
    "contrastive_center": lambda out, labels, modality, cfg, aux: losses.cross_modality_contrastive_center(
        out["bn"], labels, modality, variant=cfg.contrastive_variant),
    "part_hetero_center": _part_hetero_center,
    "perceptual_edge": _perceptual_edge,
    "angular_triplet": _angular_triplet,
    "distillation": _distillation,
    "compactness": _compactness,
}


def check(config: Any) -> list[str]:
  """Problems with the loss terms of a run config, each naming the field (empty if none)."""
  problems = []
  unknown = sorted(set(config.loss.weights) - set(TERMS))
  if unknown:
    problems.append(f"loss.weights: unknown terms {unknown}; known: {sorted(TERMS)}.")
  if config.loss.weights.get("perceptual_edge", 0.0) and config.model.require_pretrained and not config.model.vgg16:
    problems.append("model.vgg16: MSO's perceptual edge loss needs ImageNet VGG-16 weights "
                    "(--config.model.vgg16=vgg16.npz, made by python -m vireid_jax.models.convert).")
  return problems


def total_loss(cfg: Any, out: Mapping[str, jax.Array], labels: jax.Array, modality: jax.Array,
               aux: Mapping[str, Any]) -> tuple[jax.Array, dict[str, jax.Array]]:
  """(weighted sum, {term: unweighted value}) of the terms with non-zero weight in `cfg.weights`."""
  terms = {name: TERMS[name](out, labels, modality, cfg, aux) for name, w in cfg.weights.items() if w}
  total = sum((cfg.weights[name] * value for name, value in terms.items()), jnp.zeros((), jnp.float32))
  return total, terms
