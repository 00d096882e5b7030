import numpy as np
import pytest

from vireid_jax.data import datasets, pipeline, samplers, transforms
from tests.conftest import data_config


def test_columns_describe_both_modalities(sysu):
  _, _, cols = sysu
  text = datasets.describe(cols["train"])
  assert "camera 3 (infrared)" in text and "camera 1 (visible" in text


def test_train_batch_matches_sampler(sysu):
  cfg, src, cols = sysu
  ds = pipeline.train_dataset(src["train"], cols["train"], cfg, num_batches=3, seed=5)
  batch = next(iter(ds))
  assert batch["image"].shape == (2, 8, 64, 32, 3) and batch["image"].dtype == np.uint8
  index = samplers.ModalityIndex.from_columns(cols["train"]["label"], cols["train"]["modality"])
  records = samplers.pk_batch(index, 0, p=4, k=2, seed=5)
  for key in pipeline.META:
    np.testing.assert_array_equal(batch[key], cols["train"][key][records])


CAJ_VIEWS = ("visible", "visible+channel_exchange", "infrared+adaptive_gray")


def recomputed(src, cfg, seed, batch, view, modality, i, records):
  """Item i of view `view` of a batch, computed from the transforms directly (not the pipeline)."""
  record = int(records[modality, i])
  rng = np.random.default_rng([seed, batch, view * records.shape[1] + i])
  row = src[record]
  image = transforms.train_transform(transforms.decode(row["image"]), modality, rng, cfg.augment)
  return image, rng


@pytest.mark.parametrize("views", [("visible", "infrared"), CAJ_VIEWS])
def test_each_view_is_its_modalitys_sampled_image_through_its_chain(sysu, views):
  """Default views: row m holds modality m's sampled images, uint8, as before views existed; CAJ's:
  two views of each visible image and the infrared one, normalised, erased and channel-augmented."""
  cfg, src, cols = sysu
  cfg = cfg.copy_and_resolve_references()
  cfg.views = views
  cfg.augment.channel_erasing_prob = 0.5 if len(views) == 3 else 0.0
  batch = next(iter(pipeline.train_dataset(src["train"], cols["train"], cfg, num_batches=1, seed=3)))
  index = samplers.ModalityIndex.from_columns(cols["train"]["label"], cols["train"]["modality"])
  records = samplers.pk_batch(index, 0, p=4, k=2, seed=3)
  streams = [0, 0, 1] if len(views) == 3 else [0, 1]
  assert batch["image"].shape == (len(views), 8, 64, 32, 3)
  for key in pipeline.META:
    np.testing.assert_array_equal(batch[key], cols["train"][key][records[streams]])
  for v, modality in enumerate(streams):
    for i in range(8):
      image, rng = recomputed(src["train"], cfg, 3, 0, v, modality, i, records)
      if len(views) == 2:
        assert batch["image"].dtype == np.uint8
        np.testing.assert_array_equal(batch["image"][v, i], image)
        continue
      assert batch["image"].dtype == np.float32
      expected = transforms.channel_erase(transforms.normalize(image), rng, prob=0.5)
      if v == 1:
        expected = transforms.channel_exchange(expected, rng)
      if v == 2:
        expected = transforms.adaptive_gray(expected, rng, prob=0.5)
      np.testing.assert_array_equal(batch["image"][v, i], expected)
  if len(views) == 3:  # the exchanged view has one channel in all three; the first view keeps its colours
    assert (batch["image"][1] == batch["image"][1][..., :1]).all()
    assert not (batch["image"][0] == batch["image"][0][..., :1]).all()


def test_tuple_batches(sysu, data_dir):
  _, src, cols = sysu
  cfg = data_config(data_dir, sampler="tuple", tuples=3)
  batch = next(iter(pipeline.train_dataset(src["train"], cols["train"], cfg, num_batches=1, seed=0)))
  labels = batch["label"].reshape(2, 3, 3)
  assert (labels[:, :, 0] == labels[:, :, 1]).all() and (labels[:, :, 0] != labels[:, :, 2]).all()
  np.testing.assert_array_equal(batch["modality"], [[0] * 9, [1] * 9])


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_mid_epoch_gives_the_same_batches(sysu, data_dir, workers):
  _, src, cols = sysu
  cfg = data_config(data_dir, workers=workers)
  ds = pipeline.train_dataset(src["train"], cols["train"], cfg, num_batches=6, seed=1)
  it = iter(ds)
  next(it), next(it)
  state = it.get_state()
  rest = [b["image"] for b in it]
  resumed = iter(ds)
  resumed.set_state(state)
  again = [b["image"] for b in resumed]
  assert len(rest) == len(again) == 4
  for a, b in zip(rest, again):
    np.testing.assert_array_equal(a, b)


def test_hosts_split_the_global_batch(sysu):
  cfg, src, cols = sysu
  whole = next(iter(pipeline.train_dataset(src["train"], cols["train"], cfg, num_batches=1, seed=2)))
  parts = [
      next(
          iter(
              pipeline.train_dataset(
                  src["train"], cols["train"], cfg, num_batches=1, seed=2, process_index=h, process_count=2
              )
          )
      )
      for h in range(2)
  ]
  for key in ("image", "label", "camera"):
    np.testing.assert_array_equal(np.concatenate([p[key] for p in parts], axis=1), whole[key])
  with pytest.raises(ValueError, match="do not split over 3 hosts"):
    pipeline.train_dataset(src["train"], cols["train"], cfg, num_batches=1, seed=2, process_count=3)


def test_eval_batches_are_ordered_and_padded(sysu):
  cfg, src, cols = sysu
  records = np.flatnonzero(cols["test"]["modality"] == 1)
  batches = list(pipeline.eval_batches(src["test"], records, cfg, batch_size=16))
  assert len(batches) == int(np.ceil(len(records) / 16))
  assert all(b["image"].shape == (16, 64, 32, 3) for b in batches)
  mask = np.concatenate([b["mask"] for b in batches])
  got = np.concatenate([b["record"] for b in batches])[mask]
  np.testing.assert_array_equal(got, records)
  assert mask.sum() == len(records) and not mask[len(records) :].any()
  np.testing.assert_array_equal(
      np.concatenate([b["identity"] for b in batches])[mask], cols["test"]["identity"][records]
  )
