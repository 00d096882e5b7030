"""Per-example image transforms in NumPy (uint8 HWC in and out), seeded by the caller.

The training chain follows the AGW code family: resize, zero-pad + random crop, horizontal flip,
random erasing; visible images may first get channel augmentation (`channel_augment`: one
channel copied to all three, or grayscale, equally likely).

Images stay uint8 through the input pipeline (4x less to move between worker processes and to
the devices); `normalize` (ImageNet mean and std) runs on the device as the model's first op.
Random erasing therefore fills with the ImageNet mean colour, which normalises to ~0, the fill
the reference code writes after normalisation.

CAJ's channel augmentations (Ye, Ruan, Du, Shou, ICCV 2021; the released code, mangye16/
Cross-Modal-Re-ID-baseline `ICCV21_CAJ/`) act on the normalised float image, after ToTensor and
Normalize: `channel_erase`, `channel_exchange`, `adaptive_gray` take and return float32
[H, W, 3] in normalised units (`vireid_jax.data.views` applies them).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from vireid_jax import errors

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
MEAN_COLOUR = np.round(IMAGENET_MEAN * 255.0).astype(np.uint8)
GRAY = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601 luma weights (PIL's "L" conversion)


def decode(encoded: bytes, where: str = "image") -> np.ndarray:
  """Decodes JPEG/BMP/PNG bytes to uint8 [H, W, 3] (infrared and grayscale become 3 channels)."""
  try:
    with Image.open(io.BytesIO(encoded)) as image:
      return np.asarray(image.convert("RGB"))
  except OSError as e:
    raise errors.UserError(f"{where}: cannot decode image ({e}); expected a JPEG, PNG or BMP file.") from e


INTERPOLATIONS = {"bilinear": Image.BILINEAR, "lanczos": Image.LANCZOS}


def resize(image: np.ndarray, height: int, width: int, interpolation: str = "bilinear") -> np.ndarray:
  """Resize of uint8 [h, w, 3] to [height, width, 3] with PIL: "bilinear" (torchvision's Resize
  default) or "lanczos" (PIL's ANTIALIAS, as the AGW and HcTri code pre-resize)."""
  if image.shape[:2] == (height, width):
    return image
  return np.asarray(Image.fromarray(image).resize((width, height), INTERPOLATIONS[interpolation]))


def pad_crop(image: np.ndarray, pad: int, rng: np.random.Generator) -> np.ndarray:
  """Zero-pads `pad` pixels on every side, then crops back to the original size at random."""
  if pad <= 0:
    return image
  h, w = image.shape[:2]
  padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
  top, left = rng.integers(0, 2 * pad + 1, size=2)
  return padded[top : top + h, left : left + w]


def _channel_copied(image: np.ndarray, channel: int) -> np.ndarray:
  return np.repeat(image[..., channel : channel + 1], 3, axis=-1)


def channel_augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """One of: channel 0, 1 or 2 copied to all channels, or the grayscale image, equally likely."""
  choice = int(rng.integers(4))
  if choice < 3:
    return _channel_copied(image, choice)
  gray = image.astype(np.float32) @ GRAY
  return np.repeat((gray + 0.5).astype(np.uint8)[..., None], 3, axis=-1)


def normalize(images, dtype=np.float32):
  """uint8 [..., 3] -> `dtype` with ImageNet mean and std; NumPy or JAX arrays (runs on device)."""
  return ((images.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).astype(dtype)


def _erase_rectangle(
    image: np.ndarray,
    rng: np.random.Generator,
    area: tuple[float, float],
    draw_ratio: Callable[[np.random.Generator], float],
    fill: np.ndarray,
    attempts: int,
    min_side: int,
) -> np.ndarray:
  """One rectangle of area uniform in `area` x H W and aspect h / w from `draw_ratio`, set to
  `fill`; up to `attempts` draws for sides in [min_side, H) x [min_side, W)."""
  h, w = image.shape[:2]
  for _ in range(attempts):
    target = rng.uniform(*area) * h * w
    ratio = draw_ratio(rng)
    eh, ew = int(round(math.sqrt(target * ratio))), int(round(math.sqrt(target / ratio)))
    if min_side <= eh < h and min_side <= ew < w:
      top, left = rng.integers(0, h - eh + 1), rng.integers(0, w - ew + 1)
      image = image.copy()
      image[top : top + eh, left : left + ew] = fill
      return image
  return image


def random_erase(
    image: np.ndarray,
    rng: np.random.Generator,
    *,
    area: tuple[float, float],
    aspect: tuple[float, float],
    attempts: int = 100,
) -> np.ndarray:
  """Zhong et al., AAAI 2020: one rectangle of random area and log-uniform aspect set to the mean colour."""
  log_aspect = (math.log(aspect[0]), math.log(aspect[1]))
  return _erase_rectangle(
      image, rng, area, lambda r: math.exp(r.uniform(*log_aspect)), MEAN_COLOUR, attempts, min_side=1
  )


CIFAR_MEAN = (0.4914, 0.4822, 0.4465)  # CAJ's erasing fill, written into the normalised image
CAJ_GRAY = np.array([0.2989, 0.5870, 0.1140], np.float32)  # ChannelAdapGray's weights


def channel_erase(
    image: np.ndarray,
    rng: np.random.Generator,
    *,
    prob: float,
    area: tuple[float, float] = (0.02, 0.4),
    min_aspect: float = 0.3,
    fill: tuple[float, float, float] = CIFAR_MEAN,
    attempts: int = 100,
) -> np.ndarray:
  """CAJ's `ChannelRandomErasing` on a normalised image: with probability `prob`, one rectangle
  of area uniform in `area` x H W and aspect (h / w) uniform in [min_aspect, 1 / min_aspect] set to
  `fill` (per channel, in normalised units); up to `attempts` draws for one that fits inside."""
  if rng.uniform() > prob:
    return image
  draw_ratio = lambda r: r.uniform(min_aspect, 1.0 / min_aspect)
  return _erase_rectangle(image, rng, area, draw_ratio, np.asarray(fill, image.dtype), attempts, min_side=0)


def channel_exchange(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """CAJ's `ChannelExchange(gray=2)` (the exchanged view): channel 0, 1 or 2 of the normalised
  image copied to all three, each with probability 1/3."""
  return _channel_copied(image, int(rng.integers(3)))


def adaptive_gray(image: np.ndarray, rng: np.random.Generator, *, prob: float) -> np.ndarray:
  """CAJ's `ChannelAdapGray`: channel 0, 1 or 2 copied to all three (1/4 each); otherwise, with
  probability `prob`, the weighted sum 0.2989 c0 + 0.5870 c1 + 0.1140 c2 of the normalised
  channels in all three (1/4 prob), else the image unchanged."""
  choice = int(rng.integers(4))
  if choice < 3:
    return _channel_copied(image, choice)
  if rng.uniform() > prob:
    return image
  return np.repeat((image @ CAJ_GRAY)[..., None], 3, axis=-1).astype(image.dtype)


def train_transform(image: np.ndarray, modality: int, rng: np.random.Generator, cfg: Any) -> np.ndarray:
  """The training chain on uint8 [h, w, 3]; returns uint8 [cfg.height, cfg.width, 3]."""
  image = resize(image, cfg.height, cfg.width, cfg.interpolation)
  if modality == 0 and rng.uniform() < cfg.channel_aug_prob:
    image = channel_augment(image, rng)
  image = pad_crop(image, cfg.pad, rng)
  if cfg.flip and rng.uniform() < 0.5:
    image = image[:, ::-1]
  if rng.uniform() < cfg.erasing_prob:
    image = random_erase(image, rng, area=tuple(cfg.erasing_area), aspect=tuple(cfg.erasing_aspect))
  return np.ascontiguousarray(image)


def eval_transform(image: np.ndarray, cfg: Any) -> np.ndarray:
  """Resize only."""
  return resize(image, cfg.height, cfg.width, cfg.interpolation)
