import numpy as np
import pytest

from configs import common
from vireid_jax import errors
from vireid_jax.data import pipeline, samplers


@pytest.fixture
def index():
  rng = np.random.default_rng(0)
  labels, modality = [], []
  for y in range(12):
    for m, n in ((0, rng.integers(1, 6)), (1, rng.integers(1, 6))):
      labels += [y] * n
      modality += [m] * n
  labels, modality = np.array(labels), np.array(modality)
  perm = rng.permutation(len(labels))  # records in arbitrary order
  return samplers.ModalityIndex.from_columns(labels[perm], modality[perm]), labels[perm], modality[perm]


def test_pk_batch(index):
  idx, labels, modality = index
  for b in range(20):
    recs = samplers.pk_batch(idx, b, p=4, k=3, seed=1)
    assert recs.shape == (2, 12)
    np.testing.assert_array_equal(modality[recs], [[0] * 12, [1] * 12])
    np.testing.assert_array_equal(labels[recs[0]], labels[recs[1]])  # same identity order
    ids = labels[recs[0]].reshape(4, 3)
    assert (ids == ids[:, :1]).all() and len(set(ids[:, 0])) == 4
    for row in recs:  # distinct images whenever the identity has enough of them
      for y, group in zip(ids[:, 0], row.reshape(4, 3)):
        assert (labels[group] == y).all()
        if np.sum((labels == y) & (modality == modality[group[0]])) >= 3:
          assert len(set(group)) == 3
  np.testing.assert_array_equal(
      samplers.pk_batch(idx, 5, p=4, k=3, seed=1), samplers.pk_batch(idx, 5, p=4, k=3, seed=1)
  )
  assert not np.array_equal(samplers.pk_batch(idx, 5, p=4, k=3, seed=1), samplers.pk_batch(idx, 6, p=4, k=3, seed=1))


def test_a_split_that_cannot_fill_the_batches_is_an_error_naming_the_field(index):
  """The one check of what the samplers need of the training split (`pipeline.check_fits`)."""
  cfg = common.data_config(p=13)
  with pytest.raises(errors.UserError, match="data.p: 13 identities per batch, but the training split has only 12"):
    pipeline.check_fits(index[0], cfg)
  cfg.p = 12
  pipeline.check_fits(index[0], cfg)
  one = samplers.ModalityIndex.from_columns(np.array([0, 0]), np.array([0, 1]))
  with pytest.raises(errors.UserError, match="tuple sampler needs at least two training identities"):
    pipeline.check_fits(one, common.data_config(sampler="tuple"))


def test_tuple_batch(index):
  idx, labels, modality = index
  for b in range(20):
    recs = samplers.tuple_batch(idx, b, n=5, seed=2).reshape(2, 5, 3)
    for m in (0, 1):
      anchor, positive, negative = recs[m].T
      assert (modality[recs[m]] == m).all()
      np.testing.assert_array_equal(labels[anchor], labels[positive])
      np.testing.assert_array_equal(labels[recs[0, :, 0]], labels[anchor])  # anchor pairs share identity
      assert (labels[negative] != labels[anchor]).all()
      single = np.array([np.sum((labels == y) & (modality == m)) == 1 for y in labels[anchor]])
      assert (anchor != positive)[~single].all()


def test_epoch_length(index):
  idx, _, modality = index
  n = max(np.sum(modality == 0), np.sum(modality == 1))
  assert samplers.batches_per_epoch(idx, 8) == int(np.ceil(n / 8))


def test_tuple_anchors_are_drawn_over_the_visible_images(index):
  """EAT Sec. 4.3: anchors come from the whole training set, so an identity with more visible
  images is an anchor more often (frequency proportional to its visible images)."""
  idx, labels, modality = index
  anchors = np.concatenate([samplers.tuple_batch(idx, b, n=5, seed=3).reshape(2, 5, 3)[0, :, 0] for b in range(3000)])
  drawn = np.bincount(labels[anchors], minlength=12) / len(anchors)
  visible = np.bincount(labels[modality == 0], minlength=12)
  np.testing.assert_allclose(drawn, visible / visible.sum(), atol=0.012)


def test_pk_with_replacement_and_the_code_s_epoch_length(index):
  idx, labels, modality = index
  repeats = sum(
      len(set(r)) < len(r)
      for b in range(200)
      for r in samplers.pk_batch(idx, b, p=3, k=4, seed=1, replace=True).reshape(2, 3, 4).reshape(-1, 4)
  )
  assert repeats > 0  # with replacement, an identity with >= 4 images still repeats some
  for b in range(50):  # without, an identity with >= K images never does
    recs = samplers.pk_batch(idx, b, p=3, k=2, seed=1).reshape(2, 3, 2)
    for m in (0, 1):
      for group in recs[m]:
        if np.sum((labels == labels[group[0]]) & (modality == m)) >= 2:
          assert len(set(group)) == 2
  n = max(np.sum(modality == 0), np.sum(modality == 1))
  assert samplers.batches_per_epoch(idx, n, "floor_plus_one") == 2 and samplers.batches_per_epoch(idx, n) == 1
