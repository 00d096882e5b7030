"""EAT + CMKD (Gao et al., "Leaning Compact and Representative Features for Cross-Modality Person
Re-Identification", World Wide Web 2022), whose enumerate angular triplet extends Ye et al.'s
bi-directional exponential angular triplet (TIP 2021): losses on tuples of [N, D] features."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from vireid_jax.losses import common
from vireid_jax.losses.common import COSINE_EPS, cosine, f32, norm


def enumerate_angular_triplet(
    rgb_anchor: jax.Array,
    rgb_positive: jax.Array,
    rgb_negative: jax.Array,
    ir_anchor: jax.Array,
    ir_positive: jax.Array,
    ir_negative: jax.Array,
    variant: str = "paper",
    margin: float = 1.0,
) -> jax.Array:
  """Enumerate angular triplet loss (EAT eqs. 15-17). All inputs [N, D], tuple n aligned.

  `variant="paper"`: for each anchor a of each modality, with p the other modality's positive,
  n_x the other modality's negative and n_s its own modality's negative:
  exp([cos(a, n_x)]+ - [cos(a, p)]+ + margin) + exp([cos(a, n_s)]+ - [cos(a, p)]+ + margin),
  averaged over the N anchors; the visible and infrared terms summed. The equations write the
  margin as 1 (and Sec. 3.3 says so; Sec. 4.3 says 0.3).
  `variant="reference"` (the LCCRF code): per modality exp(mean_n [[cos(a, n_s)]+ - cos(a, p) + margin]+):
  the exponential of the batch-mean hinge, only the same-modality negative, and the positive
  cosine not clipped. float32 scalar.
  """
  common.require("variant", variant, common.VARIANTS)
  ra, rp, rn, ia, ip, i_n = f32(rgb_anchor, rgb_positive, rgb_negative, ir_anchor, ir_positive, ir_negative)
  total = jnp.zeros((), jnp.float32)
  for anchor, positive, cross_negative, same_negative in ((ra, ip, i_n, rn), (ia, rp, rn, i_n)):
    pos = cosine(anchor, positive)
    same_neg = jax.nn.relu(cosine(anchor, same_negative))
    if variant == "paper":
      pos = jax.nn.relu(pos)
      cross_neg = jax.nn.relu(cosine(anchor, cross_negative))
      total += jnp.mean(jnp.exp(cross_neg - pos + margin) + jnp.exp(same_neg - pos + margin))
    else:
      total += jnp.exp(jnp.mean(jax.nn.relu(same_neg - pos + margin)))
  return total


def angular_compactness(local_descriptors: jax.Array) -> jax.Array:
  """EAT eq. 18: mean over samples b and spatial positions r of exp(cos(f_br, mean_r f_br)).

  The equation takes a cosine between elements of one descriptor, which is undefined for scalars;
  we read f_r as the r-th spatial local descriptor of the final feature map and f̄ as their mean,
  and average (not sum) over samples and positions: a sum would outweigh every other term by
  orders of magnitude. local_descriptors [B, R, C] (the final feature map's positions). float32 scalar.
  """
  (x,) = f32(local_descriptors)
  mean = jnp.mean(x, axis=1)  # [B, C]
  dots = jnp.einsum("brc,bc->br", x, mean)
  norms = norm(x, floor=COSINE_EPS) * norm(mean, floor=COSINE_EPS)[:, None]
  return jnp.mean(jnp.exp(dots / norms))


def cross_modality_distillation(
    rgb_anchor: jax.Array, ir_positive: jax.Array, ir_anchor: jax.Array, rgb_positive: jax.Array, reduction: str = "sum"
) -> jax.Array:
  """CMKD (EAT eq. 5): squared L2 distances between the stage-1 features of the visible anchor and
  the infrared positive, and of the infrared anchor and the visible positive, summed.

  `reduction="sum"` (eq. 5): (1/N) sum_n ||V_a - V_p||^2, the squared distance over every element
  of a sample's features, averaged over the N tuples. `"mean"` (the LCCRF code's MSELoss): the
  mean over every element instead, i.e. eq. 5 divided by the elements per sample.
  Inputs [N, ...] (feature maps or vectors). float32 scalar.
  """
  common.require("reduction", reduction, common.REDUCTIONS)
  ra, ip, ia, rp = f32(rgb_anchor, ir_positive, ir_anchor, rgb_positive)
  total = jnp.mean((ra - ip) ** 2) + jnp.mean((ia - rp) ** 2)
  return total * (ra[0].size if reduction == "sum" else 1)
