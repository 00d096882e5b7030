import io

import ml_collections
import numpy as np
import pytest
from PIL import Image

from vireid_jax.data import transforms


def image(h=20, w=10, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_decode_grayscale_bmp_to_three_channels():
  gray = image()[..., 0]
  buf = io.BytesIO()
  Image.fromarray(gray).save(buf, format="BMP")
  out = transforms.decode(buf.getvalue())
  assert out.shape == (20, 10, 3)
  for c in range(3):
    np.testing.assert_array_equal(out[..., c], gray)


def test_decode_error_names_the_file():
  with pytest.raises(ValueError, match="cam3/0001/0002.jpg: cannot decode"):
    transforms.decode(b"junk", "cam3/0001/0002.jpg")


def test_pad_crop_is_a_window_of_the_padded_image():
  x = image()
  for seed in range(10):
    out = transforms.pad_crop(x, 3, np.random.default_rng(seed))
    padded = np.pad(x, ((3, 3), (3, 3), (0, 0)))
    assert out.shape == x.shape
    assert any(np.array_equal(out, padded[t : t + 20, l : l + 10]) for t in range(7) for l in range(7))


def test_channel_augment_options():
  x = image()
  seen = set()
  for seed in range(40):
    out = transforms.channel_augment(x, np.random.default_rng(seed))
    assert (out == out[..., :1]).all()
    for c in range(3):
      if np.array_equal(out[..., 0], x[..., c]):
        seen.add(c)
    gray = np.round(x.astype(float) @ [0.299, 0.587, 0.114])
    if np.abs(out[..., 0] - gray).max() <= 1:
      seen.add("gray")
  assert seen == {0, 1, 2, "gray"}


def test_normalize_matches_imagenet_formula():
  x = image()
  expected = (x / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
  np.testing.assert_allclose(transforms.normalize(x), expected, rtol=1e-5, atol=1e-5)


def test_random_erase_area_and_aspect():
  x = np.full((64, 32, 3), 255, np.uint8)
  for seed in range(20):
    out = transforms.random_erase(x, np.random.default_rng(seed), area=(0.1, 0.3), aspect=(0.5, 2.0))
    rows, cols = np.nonzero(out[..., 0] != 255)
    np.testing.assert_array_equal(out[rows, cols], np.broadcast_to([124, 116, 104], (len(rows), 3)))
    assert np.abs(transforms.normalize(out[rows, cols])).max() < 0.01  # the fill normalises to ~0
    h, w = np.ptp(rows) + 1, np.ptp(cols) + 1
    assert h * w == len(rows)  # one rectangle
    assert 0.1 * 64 * 32 * 0.8 <= h * w <= 0.3 * 64 * 32 * 1.2
    assert 0.5 * 0.7 <= h / w <= 2.0 * 1.4


def test_train_transform_shape_and_determinism():
  cfg = ml_collections.ConfigDict(
      dict(
          height=64,
          width=32,
          interpolation="bilinear",
          pad=10,
          flip=True,
          channel_aug_prob=0.5,
          erasing_prob=0.5,
          erasing_area=(0.02, 0.4),
          erasing_aspect=(0.3, 3.33),
      )
  )
  x = image(100, 41)
  a = transforms.train_transform(x, 0, np.random.default_rng(3), cfg)
  b = transforms.train_transform(x, 0, np.random.default_rng(3), cfg)
  assert a.shape == (64, 32, 3) and a.dtype == np.uint8
  np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(transforms.eval_transform(x, cfg), transforms.resize(x, 64, 32))


def test_normalize_runs_under_jax():
  import jax.numpy as jnp

  x = image()
  out = transforms.normalize(jnp.asarray(x), jnp.bfloat16)
  assert out.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(out, np.float32), transforms.normalize(x), atol=0.02)


def test_resize_filters_are_pil_s():
  from PIL import Image

  x = image(100, 41)
  for name, pil in (("bilinear", Image.BILINEAR), ("lanczos", Image.LANCZOS)):
    np.testing.assert_array_equal(
        transforms.resize(x, 64, 32, name), np.asarray(Image.fromarray(x).resize((32, 64), pil))
    )
  assert not np.array_equal(transforms.resize(x, 64, 32, "lanczos"), transforms.resize(x, 64, 32))
