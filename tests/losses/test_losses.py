import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tests.losses import brute_force as bf
from vireid_jax import losses


def batch(seed=0, p=4, d=8, spread=1.0):
  """P identities, 1-3 samples per identity and modality (unequal), shuffled order."""
  rng = np.random.default_rng(seed)
  labels, modality, feats = [], [], []
  for y in range(p):
    centre = rng.normal(size=d) * spread
    for m in (0, 1):
      for _ in range(rng.integers(1, 4)):
        labels.append(y)
        modality.append(m)
        feats.append(centre + rng.normal(size=d))
  perm = rng.permutation(len(labels))
  return (np.asarray(feats, np.float32)[perm], np.asarray(labels, np.int32)[perm], np.asarray(modality, np.int32)[perm])


def batch_with_pairs(seed=0, p=4, d=8):
  """Like `batch` but every identity has at least two samples (needed by in-identity positives)."""
  f, y, m = batch(seed, p, d)
  return np.concatenate([f, f + 0.1]), np.concatenate([y, y]), np.concatenate([m, m])


def tuples(seed=0, n=6, d=8):
  rng = np.random.default_rng(seed)
  return [rng.normal(size=(n, d)).astype(np.float32) for _ in range(6)]


# (name, jax fn(f, y, m), brute force fn(f, y, m)) on `batch_with_pairs` data.
BATCH_LOSSES = [
    ("batch_hard", lambda f, y, m: losses.batch_hard_triplet(f, y, 0.3), lambda f, y, m: bf.batch_hard(f, y, 0.3)),
    (
        "cm_triplet",
        lambda f, y, m: losses.cross_modality_triplet(f, y, m, 0.3),
        lambda f, y, m: bf.cross_modality_triplet(f, y, m, 0.3),
    ),
    ("wrt_paper", lambda f, y, m: losses.weighted_regularized_triplet(f, y), lambda f, y, m: bf.wrt(f, y, "paper")),
    (
        "wrt_reference",
        lambda f, y, m: losses.weighted_regularized_triplet(f, y, variant="reference"),
        lambda f, y, m: bf.wrt(f, y, "reference"),
    ),
    (
        "adp_triplet",
        lambda f, y, m: losses.adp_triplet(f, y, alpha=2.0, gamma=0.5),
        lambda f, y, m: bf.adp_triplet(f, y, 2.0, 0.5, square=False),
    ),
    (
        "adp_triplet_square",
        lambda f, y, m: losses.adp_triplet(f, y, alpha=1.0, gamma=1.0, square=True),
        lambda f, y, m: bf.adp_triplet(f, y, 1.0, 1.0, square=True),
    ),
    (
        "hctri_mean",
        lambda f, y, m: losses.hetero_center_triplet(f, y, m, 0.3),
        lambda f, y, m: bf.hetero_center(f, y, m, 0.3, "mean"),
    ),
    (
        "hctri_sum",
        lambda f, y, m: losses.hetero_center_triplet(f, y, m, 0.3, reduction="sum"),
        lambda f, y, m: bf.hetero_center(f, y, m, 0.3, "sum"),
    ),
    (
        "cm_center",
        lambda f, y, m: losses.cross_modality_center(f, y, m, 0.7),
        lambda f, y, m: bf.cross_modality_center(f, y, m, 0.7),
    ),
    (
        "dual_constraint_sum",
        lambda f, y, m: losses.cross_modality_dual_constraint(f, y, m, 0.3),
        lambda f, y, m: bf.dual_constraint(f, y, m, 0.3, "sum"),
    ),
    (
        "dual_constraint_mean",
        lambda f, y, m: losses.cross_modality_dual_constraint(f, y, m, 0.5, reduction="mean"),
        lambda f, y, m: bf.dual_constraint(f, y, m, 0.5, "mean"),
    ),
    (
        "contrastive_paper",
        lambda f, y, m: losses.cross_modality_contrastive_center(f, y, m),
        lambda f, y, m: bf.contrastive_center(f, y, m, "paper"),
    ),
    (
        "contrastive_reference",
        lambda f, y, m: losses.cross_modality_contrastive_center(f, y, m, variant="reference"),
        lambda f, y, m: bf.contrastive_center(f, y, m, "reference"),
    ),
]


@pytest.mark.parametrize("name,fn,brute", BATCH_LOSSES, ids=[b[0] for b in BATCH_LOSSES])
@pytest.mark.parametrize("seed", range(3))
def test_batch_losses_match_the_equations(name, fn, brute, seed):
  f, y, m = batch_with_pairs(seed)
  got = jax.jit(fn)(f, y, m)
  assert got.dtype == jnp.float32 and got.shape == ()
  np.testing.assert_allclose(float(got), brute(f, y, m), rtol=1e-5, atol=1e-5)
  perm = np.random.default_rng(seed + 10).permutation(len(y))  # order of the batch is irrelevant
  np.testing.assert_allclose(float(fn(f[perm], y[perm], m[perm])), float(got), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,fn,brute", BATCH_LOSSES, ids=[b[0] for b in BATCH_LOSSES])
def test_batch_losses_gradients_finite_with_duplicates_and_zero_distances(name, fn, brute):
  f, y, m = batch_with_pairs(1)
  f = f.copy()
  f[y == 0] = f[y == 0][0]  # identity 0: every sample identical (zero distances, zero radius)
  grads = jax.jit(jax.grad(fn))(jnp.asarray(f), y, m)
  assert bool(jnp.isfinite(grads).all())
  collapsed = jax.jit(jax.grad(fn))(jnp.zeros_like(f), y, m)  # every distance 0
  assert bool(jnp.isfinite(collapsed).all())


@pytest.mark.parametrize("name,fn,brute", BATCH_LOSSES, ids=[b[0] for b in BATCH_LOSSES])
def test_bfloat16_inputs_give_float32(name, fn, brute):
  f, y, m = batch_with_pairs(2)
  got = fn(jnp.asarray(f, jnp.bfloat16), y, m)
  assert got.dtype == jnp.float32
  np.testing.assert_allclose(
      float(got), brute(np.asarray(jnp.asarray(f, jnp.bfloat16), np.float32), y, m), rtol=1e-3, atol=1e-3
  )


def test_separated_centres_give_zero_hinged_losses():
  f, y, m = batch_with_pairs(3)
  far = f * 0.01 + np.eye(8, dtype=np.float32)[y] * 100.0  # identities 100 apart, each tight
  for loss in (
      losses.batch_hard_triplet(far, y),
      losses.cross_modality_triplet(far, y, m),
      losses.hetero_center_triplet(far, y, m),
      losses.cross_modality_dual_constraint(far, y, m),
  ):
    assert float(loss) == 0.0
  # Cross-modality centre: only the pull term is left, the mean distance to the other modality's centre.
  np.testing.assert_allclose(
      float(losses.cross_modality_center(far, y, m)), bf.cross_modality_center(far, y, m, 0.7), atol=1e-5
  )


def test_contrastive_center_hand_worked():
  # Two identities, identical modalities (d_intra = 0), unit features e1 and e2: d_inter = sqrt(2).
  f = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], np.float32)
  y, m = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
  np.testing.assert_allclose(
      float(losses.cross_modality_contrastive_center(f, y, m)), np.log1p(np.exp(-np.sqrt(2))), rtol=1e-6
  )


def test_identity_loss():
  rng = np.random.default_rng(0)
  logits, labels = rng.normal(size=(6, 5)).astype(np.float32), rng.integers(0, 5, 6)
  for eps in (0.0, 0.1):
    np.testing.assert_allclose(
        float(jax.jit(losses.identity_loss, static_argnums=2)(logits, labels, eps)),
        bf.identity_loss(logits, labels, eps),
        rtol=1e-5,
    )
  # Hand-worked: uniform logits over 4 classes give log 4 whatever the smoothing.
  assert float(losses.identity_loss(np.zeros((2, 4)), np.array([1, 3]), 0.1)) == pytest.approx(np.log(4), rel=1e-6)
  assert losses.identity_loss(jnp.zeros((2, 4), jnp.bfloat16), np.array([1, 3])).dtype == jnp.float32
  where = np.array([True, False, True, True, False, False])
  np.testing.assert_allclose(
      float(losses.identity_loss(logits, labels, 0.1, where=where)),
      bf.identity_loss(logits[where], labels[where], 0.1),
      rtol=1e-5,
  )


def test_view_kl():
  rng = np.random.default_rng(4)
  student, teacher = rng.normal(size=(2, 6, 5)).astype(np.float32) * 3
  got = jax.jit(losses.view_kl, static_argnums=2)(student, teacher, 3.0)
  np.testing.assert_allclose(float(got), bf.view_kl(student, teacher, 3.0), rtol=1e-5)
  np.testing.assert_allclose(float(losses.view_kl(student, teacher, 1.0)), bf.view_kl(student, teacher, 1.0), rtol=1e-5)
  assert float(losses.view_kl(teacher, teacher)) == pytest.approx(0.0, abs=1e-5)  # the same predictions
  assert not jnp.any(jax.grad(losses.view_kl, argnums=1)(student, teacher))  # the teacher is held fixed
  assert jnp.abs(jax.grad(losses.view_kl)(student, teacher)).sum() > 0


def test_modality_mutual_learning():
  rng = np.random.default_rng(1)
  zv, zr = rng.normal(size=(7, 5)).astype(np.float32), rng.normal(size=(7, 5)).astype(np.float32)
  m = np.array([0, 1, 1, 0, 0, 1, 0])
  got = jax.jit(losses.modality_mutual_learning)(zv, zr, m)
  np.testing.assert_allclose(float(got), bf.modality_mutual_learning(zv, zr, m), rtol=1e-5)
  assert float(losses.modality_mutual_learning(zv, zv, m)) == pytest.approx(0.0, abs=1e-6)  # same predictions
  perm = rng.permutation(7)
  np.testing.assert_allclose(float(losses.modality_mutual_learning(zv[perm], zr[perm], m[perm])), float(got), rtol=1e-6)
  assert bool(jnp.isfinite(jax.grad(losses.modality_mutual_learning)(zv, zr, m)).all())


def test_center_loss():
  f, y, _ = batch(4)
  c = np.random.default_rng(4).normal(size=(4, 8)).astype(np.float32)
  np.testing.assert_allclose(float(jax.jit(losses.center_loss)(f, y, c)), bf.center_loss(f, y, c), rtol=1e-5)
  g = jax.grad(losses.center_loss, argnums=(0, 2))(f, y, c)
  assert all(bool(jnp.isfinite(x).all()) for x in g)
  assert float(losses.center_loss(c[y], y, c)) == 0.0


@pytest.mark.parametrize("variant", ["paper", "reference"])
def test_enumerate_angular_triplet(variant):
  for seed in range(3):
    t = tuples(seed)
    got = jax.jit(lambda *a: losses.enumerate_angular_triplet(*a, variant=variant))(*t)
    np.testing.assert_allclose(float(got), bf.enumerate_angular(*t, variant), rtol=1e-5)
    np.testing.assert_allclose(
        float(losses.enumerate_angular_triplet(*t, variant=variant, margin=0.3)),
        bf.enumerate_angular(*t, variant, margin=0.3),
        rtol=1e-5,
    )
    perm = np.random.default_rng(seed).permutation(6)  # tuples may come in any order
    np.testing.assert_allclose(
        float(losses.enumerate_angular_triplet(*[x[perm] for x in t], variant=variant)), float(got), rtol=1e-6
    )
  zero = [np.zeros_like(x) for x in t]  # zero features (e.g. dead ReLUs): finite gradients
  grads = jax.grad(lambda *a: losses.enumerate_angular_triplet(*a, variant=variant), argnums=tuple(range(6)))(*zero)
  assert all(bool(jnp.isfinite(g).all()) for g in grads)
  same = [t[0]] * 6  # zero angles everywhere: finite gradients
  grads = jax.grad(lambda *a: losses.enumerate_angular_triplet(*a, variant=variant), argnums=tuple(range(6)))(*same)
  assert all(bool(jnp.isfinite(g).all()) for g in grads)
  assert (
      losses.enumerate_angular_triplet(*[jnp.asarray(x, jnp.bfloat16) for x in t], variant=variant).dtype == jnp.float32
  )


def test_angular_compactness():
  x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype(np.float32)
  np.testing.assert_allclose(float(jax.jit(losses.angular_compactness)(x)), bf.compactness(x), rtol=1e-5)
  assert float(jax.jit(losses.angular_compactness)(np.ones((3, 5, 4)))) == pytest.approx(np.e, rel=1e-6)  # aligned
  grad = jax.jit(jax.grad(losses.angular_compactness))  # one program for both (op by op: dozens)
  assert bool(jnp.isfinite(grad(jnp.ones((3, 5, 4)))).all())
  post_relu = np.maximum(x, 0)
  post_relu[0, 1] = 0  # a position whose descriptor is exactly zero (common after ReLU)
  assert bool(jnp.isfinite(grad(post_relu)).all())


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_cross_modality_distillation(reduction):
  rng = np.random.default_rng(1)
  ra, ip, ia, rp = (rng.normal(size=(5, 3, 2, 4)).astype(np.float32) for _ in range(4))  # feature maps
  got = jax.jit(lambda *a: losses.cross_modality_distillation(*a, reduction=reduction))(ra, ip, ia, rp)
  np.testing.assert_allclose(float(got), bf.distillation(ra, ip, ia, rp, reduction), rtol=1e-5)
  assert float(losses.cross_modality_distillation(ra, ra, ia, ia, reduction=reduction)) == 0.0
  # Hand-worked: one tuple of 2-element features differing by (1, 1) and (0, 2): sum 2 + 4, mean 1 + 2.
  one = np.zeros((1, 2), np.float32)
  value = losses.cross_modality_distillation(one, one + 1, one, one + [[0, 2]], reduction=reduction)
  assert float(value) == (6.0 if reduction == "sum" else 3.0)


class TinyNet(nnx.Module):
  """A two-"block" feature net whose outputs NumPy can recompute."""

  def __init__(self):
    self.a = nnx.Linear(3, 4, rngs=nnx.Rngs(0))
    self.b = nnx.Linear(4, 2, rngs=nnx.Rngs(1))

  def __call__(self, x):
    h = nnx.relu(self.a(x))
    return [h, self.b(h)]


def test_perceptual_edge_loss():
  rng = np.random.default_rng(0)
  stem, edges = rng.normal(size=(2, 4, 2, 3)).astype(np.float32), rng.normal(size=(2, 4, 2, 3)).astype(np.float32)
  net = TinyNet()
  wa, ba = np.asarray(net.a.kernel[...]), np.asarray(net.a.bias[...])
  wb, bb = np.asarray(net.b.kernel[...]), np.asarray(net.b.bias[...])

  def np_net(x):
    h = np.maximum(x @ wa + ba, 0)
    return [h, h @ wb + bb]

  expected = sum(np.mean((a - b) ** 2) for a, b in zip(np_net(stem), np_net(edges)))
  np.testing.assert_allclose(float(losses.perceptual_edge_loss(stem, edges, net)), expected, rtol=1e-5)
  graph, state = nnx.split(net)
  net_grads = jax.grad(lambda s: losses.perceptual_edge_loss(stem, edges, nnx.merge(graph, s)))(state)
  assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(net_grads))  # frozen net
  stem_grad = jax.jit(jax.grad(lambda x: losses.perceptual_edge_loss(x, edges, nnx.merge(graph, state))))(stem)
  assert float(jnp.abs(stem_grad).max()) > 0  # the stem learns
  assert losses.perceptual_edge_loss(jnp.asarray(stem, jnp.bfloat16), edges, net).dtype == jnp.float32
