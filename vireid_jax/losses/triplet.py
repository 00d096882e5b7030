"""Triplet-family losses on Euclidean distances (features [B, D], labels and modality [B])."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from vireid_jax.losses import common
from vireid_jax.losses.common import euclidean, f32, group_mean, masked_max, masked_min, norm, per_group_weight, same


def batch_hard_triplet(features: jax.Array, labels: jax.Array, margin: float = 0.3) -> jax.Array:
  """Batch-hard triplet (Hermans et al., 2017; HcTri eq. 3).

  Per anchor: [max over positives (same label, not itself) of d - min over negatives of d +
  margin]_+; mean over anchors. float32 scalar.
  """
  (features,) = f32(features)
  d = euclidean(features, features)
  pos = same(labels) & ~jnp.eye(len(labels), dtype=bool)
  return jnp.mean(jax.nn.relu(masked_max(d, pos) - masked_min(d, ~same(labels)) + margin))


def cross_modality_triplet(
    features: jax.Array, labels: jax.Array, modality: jax.Array, margin: float = 0.3
) -> jax.Array:
  """DANet eq. 2: batch-hard triplet whose positives and negatives come from the other modality.

  Per anchor i: [max_{y_j = y_i, m_j != m_i} d_ij - min_{y_k != y_i, m_k != m_i} d_ik + margin]_+,
  mean over anchors. float32 scalar.
  """
  (features,) = f32(features)
  d = euclidean(features, features)
  cross = ~same(modality)
  return jnp.mean(jax.nn.relu(masked_max(d, same(labels) & cross) - masked_min(d, ~same(labels) & cross) + margin))


def weighted_regularized_triplet(features: jax.Array, labels: jax.Array, variant: str = "paper") -> jax.Array:
  """Weighted regularisation triplet (AGW, Ye et al., TPAMI 2021, eqs. 8-9; MSO eqs. 8-9).

  Per anchor i: log(1 + exp(sum_j w+_ij d_ij - sum_k w-_ik d_ik)) with w+ = softmax(d) over the
  positives and w- = softmax(-d) over the negatives; mean over anchors. No margin.
  `variant="paper"`: positives exclude the anchor itself, exact softmax over each set.
  `variant="reference"`: the AGW code: positives include the anchor (d = 1e-6), the softmax
  maximum is taken over the zero-padded row (so 0 for the negatives' -d) and its denominator
  has + 1e-6. float32 scalar.
  """
  common.require("variant", variant, common.VARIANTS)
  (features,) = f32(features)
  d = euclidean(features, features)
  pos = same(labels)
  neg = ~pos
  if variant == "paper":
    pos = pos & ~jnp.eye(len(labels), dtype=bool)
    w_pos = jax.nn.softmax(jnp.where(pos, d, -jnp.inf), axis=1)
    w_neg = jax.nn.softmax(jnp.where(neg, -d, -jnp.inf), axis=1)
  else:
    w_pos, w_neg = _padded_softmax(d, pos), _padded_softmax(-d, neg)
  gap = jnp.sum(jnp.where(pos, w_pos * d, 0.0), 1) - jnp.sum(jnp.where(neg, w_neg * d, 0.0), 1)
  return jnp.mean(jax.nn.softplus(gap))


def adp_triplet(
    features: jax.Array, labels: jax.Array, alpha: float = 1.0, gamma: float = 1.0, square: bool = False
) -> jax.Array:
  """CAJ's adaptive weighted triplet (Ye et al., ICCV 2021; the released code's `TripletLoss_ADP`,
  mangye16/Cross-Modal-Re-ID-baseline `ICCV21_CAJ/loss.py`): the AGW code's weighted triplet with
  the softmax weights sharpened by `alpha` and the gap scaled by `gamma`.

  Per anchor i, over the batch (positives include the anchor, d = 1e-6, as in the code):
    p_i = sum_j softmax_pos(alpha d)_ij d_ij,   n_i = sum_k softmax_neg(-alpha d)_ik d_ik,
  `square=False`: log(1 + exp(gamma (p_i - n_i)));
  `square=True` ("enhanced squared difference"): s_i = min(gamma (p_i - n_i)^2, 88) and
    log(1 + exp(s_i)) where p_i > n_i, else log(1 + exp(-s_i));
  mean over anchors. The softmax is the code's (`_padded_softmax`). float32 scalar.
  """
  (features,) = f32(features)
  d = euclidean(features, features)
  pos = same(labels)
  neg = ~pos
  furthest = jnp.sum(jnp.where(pos, _padded_softmax(alpha * d, pos) * d, 0.0), 1)
  closest = jnp.sum(jnp.where(neg, _padded_softmax(-alpha * d, neg) * d, 0.0), 1)
  if not square:
    return jnp.mean(jax.nn.softplus(gamma * (furthest - closest)))
  squared = jnp.minimum(gamma * (furthest - closest) ** 2, 88.0)
  return jnp.mean(jax.nn.softplus(jnp.where(furthest > closest, squared, -squared)))


def _padded_softmax(x: jax.Array, mask: jax.Array) -> jax.Array:
  """The AGW code's softmax_weights: max over x * mask (zeros included), + 1e-6 in the sum."""
  m = mask.astype(jnp.float32)
  xm = x * m
  e = jnp.exp(xm - jnp.max(xm, 1, keepdims=True)) * m
  return e / (jnp.sum(e, 1, keepdims=True) + 1e-6)


def hetero_center_triplet(
    features: jax.Array, labels: jax.Array, modality: jax.Array, margin: float = 0.3, reduction: str = "mean"
) -> jax.Array:
  """Hetero-centre triplet (HcTri, Liu et al., IEEE TMM 2021, arXiv 2008.06223, eq. 5).

  Centres c_i^m = mean of identity i's features in modality m. For each of the 2P centres:
  [||c_i^m - c_i^(other m)|| - min_{j != i, n} ||c_i^m - c_j^n|| + margin]_+.
  `reduction="mean"` averages over the 2P centres (the official code; the paper's lambda was
  tuned with it), `"sum"` sums them as eq. 5 is written. float32 scalar.
  """
  common.require("reduction", reduction, common.REDUCTIONS)
  (features,) = f32(features)
  group = same(labels) & same(modality)
  centres = group_mean(features, group)  # row i: the centre of sample i's (identity, modality)
  other = group_mean(features, same(labels) & ~same(modality))
  d_pos = norm(centres - other)
  d_neg = masked_min(euclidean(centres, centres), ~same(labels))
  per_centre = jax.nn.relu(d_pos - d_neg + margin)
  weight = per_group_weight(group)  # each centre counted once
  total = jnp.sum(weight * per_centre)
  return total / jnp.sum(weight) if reduction == "mean" else total
