"""MSO's perceptual edge features (PEF) loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from vireid_jax.losses.common import f32


def perceptual_edge_loss(stem_features: jax.Array, edge_maps: jax.Array, feature_net: nnx.Module) -> jax.Array:
  """MSO (Gao et al., ACM MM 2021) eqs. 2-3: sum over the feature net's blocks of the mean
  squared difference between its outputs on the stem features and on the edge maps.

  stem_features, edge_maps [B, h, w, C] (the images of one modality: MSO sums the loss per modality);
  `feature_net(x) -> list of block outputs` (e.g. `models.edges.VGGFeatures`). The net is frozen:
  its parameters pass through stop_gradient, and so do the edge maps, so gradients reach only the
  stem. float32 scalar.
  """
  graph, state = nnx.split(feature_net)
  net = nnx.merge(graph, jax.lax.stop_gradient(state))
  stem_features, edge_maps = f32(stem_features, jax.lax.stop_gradient(edge_maps))
  return sum(jnp.mean((a - b) ** 2) for a, b in zip(net(stem_features), net(edge_maps)))
