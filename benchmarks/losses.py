"""Each loss (jitted value and gradient) relative to a plain matrix multiply of the same size.

  python -m benchmarks.losses

Features are 64 x 2048 (P = 8 identities x K = 4 per modality), 64 x 1536 for the part-based
hetero-centre triplet, tuples of 64 x 2048 for EAT, 64 x 162 x 2048 local descriptors for the
compactness term (an 18 x 9 map). The baseline, measured in the same run, is `f @ f.T` on the same
features (jitted). The perceptual edge loss runs VGG-16 blocks 2-5 and is timed at batch 8 on a
72 x 36 x 64 stem map; its ratio is against the same 64 x 2048 matmul.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from vireid_jax import losses
from vireid_jax.models import edges


def best_time(fn, *args, repeats=20) -> float:
  jax.block_until_ready(fn(*args))  # compile
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return min(times)


def main():
  rng = np.random.default_rng(0)
  labels = jnp.asarray(np.repeat(np.arange(8), 8), jnp.int32)
  modality = jnp.asarray(np.tile(np.repeat([0, 1], 4), 8), jnp.int32)
  f = jnp.asarray(rng.normal(size=(64, 2048)), jnp.float32)
  parts = jnp.asarray(rng.normal(size=(64, 1536)), jnp.float32)
  t6 = [jnp.asarray(rng.normal(size=(64, 2048)), jnp.float32) for _ in range(6)]
  local = jnp.asarray(rng.normal(size=(64, 162, 2048)), jnp.float32)
  centers = jnp.asarray(rng.normal(size=(8, 2048)), jnp.float32)
  logits = jnp.asarray(rng.normal(size=(64, 395)), jnp.float32)

  cases = {
      "identity_loss": (lambda x: losses.identity_loss(x, labels, 0.1), logits),
      "batch_hard_triplet": (lambda x: losses.batch_hard_triplet(x, labels), f),
      "weighted_regularized_triplet": (lambda x: losses.weighted_regularized_triplet(x, labels), f),
      "hetero_center_triplet (2048)": (lambda x: losses.hetero_center_triplet(x, labels, modality), f),
      "hetero_center_triplet (1536 parts)": (lambda x: losses.hetero_center_triplet(x, labels, modality), parts),
      "cross_modality_triplet": (lambda x: losses.cross_modality_triplet(x, labels, modality), f),
      "cross_modality_center": (lambda x: losses.cross_modality_center(x, labels, modality), f),
      "cross_modality_contrastive_center": (lambda x: losses.cross_modality_contrastive_center(x, labels, modality), f),
      "cross_modality_dual_constraint": (lambda x: losses.cross_modality_dual_constraint(x, labels, modality), f),
      "center_loss": (lambda x: losses.center_loss(x, labels, centers), f),
      "modality_mutual_learning": (lambda x: losses.modality_mutual_learning(x, x[::-1], modality), logits),
      "enumerate_angular_triplet": (lambda x: losses.enumerate_angular_triplet(x, *t6[1:]), t6[0]),
      "cross_modality_distillation": (lambda x: losses.cross_modality_distillation(x, *t6[1:4]), t6[0]),
      "angular_compactness (64x162x2048)": (losses.angular_compactness, local),
  }
  matmul = best_time(jax.jit(lambda x: x @ x.T), f)
  print(f"baseline: jitted f @ f.T, f 64 x 2048: {matmul * 1e6:.1f} us ({jax.devices()[0].platform})")
  print(f"{'loss':38s} {'value us':>10s} {'ratio':>7s} {'value+grad us':>14s} {'ratio':>7s}")
  for name, (fn, x) in cases.items():
    value = best_time(jax.jit(fn), x)
    grad = best_time(jax.jit(jax.value_and_grad(fn)), x)
    print(f"{name:38s} {value * 1e6:10.1f} {value / matmul:7.2f} {grad * 1e6:14.1f} {grad / matmul:7.2f}")

  net = edges.VGGFeatures(rngs=nnx.Rngs(0))
  graph, state = nnx.split(net)
  stem = jnp.asarray(rng.normal(size=(8, 72, 36, 64)), jnp.float32)
  edge = edges.edge_maps(jnp.zeros((8, 288, 144, 3), jnp.uint8), 72, 36, 64)
  pef = lambda x, s: losses.perceptual_edge_loss(x, edge, nnx.merge(graph, s))
  value = best_time(jax.jit(pef), stem, state, repeats=3)
  grad = best_time(jax.jit(jax.value_and_grad(pef)), stem, state, repeats=3)
  print(
      f"{'perceptual_edge_loss (batch 8, VGG)':38s} {value * 1e6:10.1f} {value / matmul:7.2f} "
      f"{grad * 1e6:14.1f} {grad / matmul:7.2f}"
  )


if __name__ == "__main__":
  main()
