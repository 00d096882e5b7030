"""Every loss of the methods as a pure, jittable function returning a float32 scalar."""

from vireid_jax.losses.angular import angular_compactness, cross_modality_distillation, enumerate_angular_triplet
from vireid_jax.losses.center import (
    center_loss,
    cross_modality_center,
    cross_modality_contrastive_center,
    cross_modality_dual_constraint,
)
from vireid_jax.losses.identity import identity_loss, modality_mutual_learning, view_kl
from vireid_jax.losses.perceptual import perceptual_edge_loss
from vireid_jax.losses.triplet import (
    adp_triplet,
    batch_hard_triplet,
    cross_modality_triplet,
    hetero_center_triplet,
    weighted_regularized_triplet,
)

__all__ = [
    "adp_triplet",
    "angular_compactness",
    "batch_hard_triplet",
    "center_loss",
    "cross_modality_center",
    "cross_modality_contrastive_center",
    "cross_modality_distillation",
    "cross_modality_dual_constraint",
    "cross_modality_triplet",
    "enumerate_angular_triplet",
    "hetero_center_triplet",
    "identity_loss",
    "modality_mutual_learning",
    "perceptual_edge_loss",
    "view_kl",
    "weighted_regularized_triplet",
]
