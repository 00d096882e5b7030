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


class Scripted:
  """A stand-in for np.random.Generator that returns the given draws in order, recording the
  bounds each draw was asked for (a hand-worked example fixes every random choice)."""

  def __init__(self, *draws):
    self.draws, self.asked = list(draws), []

  def uniform(self, low=0.0, high=1.0):
    self.asked.append(("uniform", low, high))
    return self.draws.pop(0)

  def integers(self, low, high=None):
    self.asked.append(("integers", low, high))
    return self.draws.pop(0)


def normalised(h=10, w=8):
  """A float image whose three channels differ everywhere (0.x, 1.x, 2.x)."""
  base = np.arange(h * w, dtype=np.float32).reshape(h, w) / (h * w)
  return np.stack([base, base + 1, base + 2], -1)


def test_channel_erase_hand_worked():
  x = normalised()
  # applied (0.3 <= 0.5); area 0.2 x 80 = 16 px at aspect 1 -> 4 x 4; top 2, left 3
  rng = Scripted(0.3, 0.2, 1.0, 2, 3)
  out = transforms.channel_erase(x, rng, prob=0.5)
  expected = x.copy()
  expected[2:6, 3:7] = [0.4914, 0.4822, 0.4465]
  np.testing.assert_array_equal(out, expected)
  # CAJ's bounds: area in [0.02, 0.4], aspect in [0.3, 1/0.3], top in 0..10-4, left in 0..8-4
  assert rng.asked == [("uniform", 0.0, 1.0), ("uniform", 0.02, 0.4), ("uniform", 0.3, 1 / 0.3),
                       ("integers", 0, 7), ("integers", 0, 5)]  # fmt: skip
  # not applied (0.7 > 0.5): unchanged, nothing else drawn
  assert transforms.channel_erase(x, Scripted(0.7), prob=0.5) is x
  # a first draw that does not fit (area 0.4 x 80 = 32 px at aspect 3.3: h = round(sqrt(105.6)) = 10, not
  # < 10), then one that does (area 0.0125 x 80 = 1 px at aspect 1), at top 9, left 7
  out = transforms.channel_erase(x, Scripted(0.0, 0.4, 3.3, 0.0125, 1.0, 9, 7), prob=0.5)
  expected = x.copy()
  expected[9, 7] = [0.4914, 0.4822, 0.4465]
  np.testing.assert_array_equal(out, expected)


def test_channel_exchange_hand_worked_and_its_probabilities():
  x = normalised()
  rng = Scripted(1)
  np.testing.assert_array_equal(transforms.channel_exchange(x, rng), np.repeat(x[..., 1:2], 3, -1))
  assert rng.asked == [("integers", 3, None)]  # one of channels 0, 1, 2
  rng = np.random.default_rng(0)
  counts = np.zeros(3)
  for _ in range(3000):
    out = transforms.channel_exchange(x, rng)
    counts[int(out[0, 0, 0])] += 1  # channel c holds c + something in [0, 1)
    assert (out == out[..., :1]).all()
  assert np.abs(counts / 3000 - 1 / 3).max() < 4 * np.sqrt(2 / 9 / 3000)  # four standard deviations


def test_adaptive_gray_hand_worked_and_its_probabilities():
  x = normalised()
  np.testing.assert_array_equal(transforms.adaptive_gray(x, Scripted(2), prob=0.5), np.repeat(x[..., 2:3], 3, -1))
  gray = 0.2989 * x[..., 0] + 0.5870 * x[..., 1] + 0.1140 * x[..., 2]
  np.testing.assert_allclose(
      transforms.adaptive_gray(x, Scripted(3, 0.5), prob=0.5), np.stack([gray] * 3, -1), rtol=1e-6
  )
  assert transforms.adaptive_gray(x, Scripted(3, 0.6), prob=0.5) is x  # 0.6 > 0.5: unchanged
  rng = np.random.default_rng(1)
  outcomes = {"0": 0, "1": 0, "2": 0, "gray": 0, "same": 0}
  n = 4000
  for _ in range(n):
    out = transforms.adaptive_gray(x, rng, prob=0.5)
    if out is x:
      outcomes["same"] += 1
    elif np.allclose(out[..., 0], gray):
      outcomes["gray"] += 1
    else:
      outcomes[str(int(out[0, 0, 0]))] += 1
  expected = {"0": 1 / 4, "1": 1 / 4, "2": 1 / 4, "gray": 1 / 8, "same": 1 / 8}
  for k, p in expected.items():
    assert abs(outcomes[k] / n - p) < 4 * np.sqrt(p * (1 - p) / n), (k, outcomes)


def test_channel_erase_probability_and_area():
  x = normalised(64, 32)
  rng = np.random.default_rng(2)
  n, erased = 2000, 0
  for _ in range(n):
    out = transforms.channel_erase(x, rng, prob=0.5)
    changed = np.flatnonzero((out != x).any(-1).reshape(-1))
    if len(changed):
      erased += 1
      assert 0.02 * 0.8 <= len(changed) / x[..., 0].size <= 0.4 * 1.2
  assert abs(erased / n - 0.5) < 4 * np.sqrt(0.25 / n)
