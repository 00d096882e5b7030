"""The views of a training batch: which sampled image each row holds, how it is augmented, and
the stream (modality) it goes through.

`data.views` names the rows of a training batch, each `<modality>[+<op>...]`: the sampler's
visible or infrared image of every item, the common training chain (`transforms.train_transform`)
and then the named ops, in order. The default `("visible", "infrared")` is the batch of every
method but CAJ; CAJ (Ye et al., ICCV 2021) trains on `("visible", "visible+channel_exchange",
"infrared+adaptive_gray")`: two views of each visible image, both through the visible stream.

The ops, and `augment.channel_erasing_prob` (CAJ's erasing, on every view before its ops), act on
the normalised float image, as CAJ's code applies them after ToTensor and Normalize. A batch that
uses any of them is normalised here, on the host, and travels as float32; otherwise its images
stay uint8 and the model normalises them on the device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vireid_jax.data import transforms

MODALITIES = {"visible": 0, "infrared": 1}
# op -> (normalised image, rng, augment config) -> normalised image
OPS: dict[str, Callable[[np.ndarray, np.random.Generator, Any], np.ndarray]] = {
    "channel_exchange": lambda image, rng, cfg: transforms.channel_exchange(image, rng),
    "adaptive_gray": lambda image, rng, cfg: transforms.adaptive_gray(image, rng, prob=cfg.adaptive_gray_prob),
}


def parse(view: str) -> tuple[int, tuple[str, ...]]:
  """ "visible+channel_exchange" -> (0, ("channel_exchange",)); assumes a view `check` accepts."""
  modality, *ops = view.split("+")
  return MODALITIES[modality], tuple(ops)


def modalities(views: Sequence[str]) -> tuple[int, ...]:
  """The stream of each view: 0 visible, 1 infrared."""
  return tuple(parse(v)[0] for v in views)


def normalized(cfg: Any) -> bool:
  """Whether the `data` config's batches are normalised on the host (float32), see the module doc."""
  return cfg.augment.channel_erasing_prob > 0 or any(parse(v)[1] for v in cfg.views)


def check(cfg: Any) -> list[str]:
  """Problems with `data.views` (and the augment fields its ops read), each naming the field."""
  views = tuple(cfg.views) if isinstance(cfg.views, (list, tuple)) else ()
  expected = f"'<modality>[+<op>...]' with a modality of {tuple(MODALITIES)} and ops of {tuple(OPS)}"
  if not views or not all(isinstance(v, str) for v in views):
    return [f"data.views: expected a non-empty tuple of views {expected}, got {cfg.views!r}."]
  problems = []
  for v in views:
    modality, *ops = v.split("+")
    if modality not in MODALITIES or any(op not in OPS for op in ops):
      problems.append(f"data.views: {v!r} is not a view; expected {expected}.")
  if problems:
    return problems
  if set(modalities(views)) != set(MODALITIES.values()):
    problems.append(f"data.views: cross-modality training needs a visible and an infrared view, got {views!r}.")
  if cfg.sampler == "tuple" and modalities(views) != (0, 1):
    problems.append(f"data.views: the EAT tuple sampler's terms read one visible and one infrared view, got {views!r}.")
  for field in ("channel_erasing_prob", "adaptive_gray_prob"):
    if not 0.0 <= cfg.augment[field] <= 1.0:
      problems.append(f"data.augment.{field}: expected a probability in [0, 1], got {cfg.augment[field]!r}.")
  return problems


def augment(image: np.ndarray, ops: Sequence[str], rng: np.random.Generator, cfg: Any, normalize: bool) -> np.ndarray:
  """A view's image after the common chain (uint8 [H, W, 3]) -> what the batch holds: the same
  uint8 image, or (`normalize`) the normalised float32 image after CAJ's erasing and `ops`."""
  if not normalize:
    return image
  image = transforms.normalize(image)
  image = transforms.channel_erase(
      image,
      rng,
      prob=cfg.channel_erasing_prob,
      area=tuple(cfg.channel_erasing_area),
      min_aspect=cfg.channel_erasing_min_aspect,
  )
  for op in ops:
    image = OPS[op](image, rng, cfg)
  return image
