"""Centre-based losses (features [B, D], labels and modality [B]); centres are batch means
unless learned (`center_loss`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from vireid_jax.losses import common
from vireid_jax.losses.common import euclidean, f32, group_mean, masked_max, masked_min, norm, per_group_weight, same


def center_loss(features: jax.Array, labels: jax.Array, centers: jax.Array) -> jax.Array:
  """Centre loss with learned centres (Wen et al., 2016; CMDC eq. 3).

  1/2 ||x_i - c_{y_i}||^2, mean over the batch. features [B, D], centers [N, D]. float32 scalar.
  """
  features, centers = f32(features, centers)
  return 0.5 * jnp.mean(jnp.sum((features - centers[labels]) ** 2, -1))


def cross_modality_center(
    features: jax.Array, labels: jax.Array, modality: jax.Array, margin: float = 0.7
) -> jax.Array:
  """DANet eq. 3: pull each sample to its identity's centre in the other modality, push that
  centre from the other identities' samples of the sample's own modality.

  Per sample i with c = centre of identity y_i in the other modality:
  ||f_i - c|| + [margin - min_{y_k != y_i, m_k = m_i} ||c - f_k||]_+; mean over samples.
  float32 scalar.
  """
  (features,) = f32(features)
  c = group_mean(features, same(labels) & ~same(modality))  # [B, D]
  pull = norm(features - c)
  push = jax.nn.relu(margin - masked_min(euclidean(c, features), ~same(labels) & same(modality)))
  return jnp.mean(pull + push)


def cross_modality_dual_constraint(
    features: jax.Array, labels: jax.Array, modality: jax.Array, margin: float = 0.3, reduction: str = "sum"
) -> jax.Array:
  """DPAN + CMDC eq. 4: each (identity, modality) centre C_i's radius must stay `margin` below
  its distance to the nearest centre of another identity (either modality).

  Per centre: [max_{p in P_i} ||p - C_i|| - min_{j: other identity} ||C_i - C_j|| + margin]_+;
  `reduction="sum"` over the centres of the batch (eq. 4's sum over classes) or `"mean"`. The
  paper writes no hinge, which leaves the loss unbounded below (it would reward pushing centres
  apart without end); the hinge [.]_+ is our choice.
  float32 scalar.
  """
  common.require("reduction", reduction, common.REDUCTIONS)
  (features,) = f32(features)
  group = same(labels) & same(modality)
  centres = group_mean(features, group)
  radius = masked_max(jnp.broadcast_to(norm(features - centres)[None, :], group.shape), group)
  nearest = masked_min(euclidean(centres, centres), ~same(labels))
  weight = per_group_weight(group)  # each centre counted once
  total = jnp.sum(weight * jax.nn.relu(radius - nearest + margin))
  return total / jnp.sum(weight) if reduction == "mean" else total


def cross_modality_contrastive_center(
    features: jax.Array, labels: jax.Array, modality: jax.Array, variant: str = "paper"
) -> jax.Array:
  """MSO (Gao et al., ACM MM 2021) eqs. 4-5: cross-modality contrastive-centre loss.

  c_k^v, c_k^r: centres of identity k's L2-normalised features per modality; c_k their mean;
  d_intra = ||c_k^v - c_k^r||, d_inter = min_{j != k} ||c_k - c_j||;
  loss = mean over identities of log(1 + exp(d_intra - d_inter)) (softplus, overflow-safe).
  `variant="reference"` skips the L2 normalisation, as the public code does. float32 scalar.
  """
  common.require("variant", variant, common.VARIANTS)
  (features,) = f32(features)
  if variant == "paper":
    features = features / norm(features)[:, None]
  ids = same(labels)
  visible = group_mean(features, ids & (modality == 0)[None, :])
  infrared = group_mean(features, ids & (modality == 1)[None, :])
  centre = 0.5 * (visible + infrared)
  d_intra = norm(visible - infrared)
  d_inter = masked_min(euclidean(centre, centre), ~ids)
  weight = per_group_weight(ids)  # each identity counted once
  return jnp.sum(weight * jax.nn.softplus(d_intra - d_inter)) / jnp.sum(weight)
