"""Pieces shared by the SYSU-MM01, RegDB and LLCM builders: the feature spec and input checks."""

from __future__ import annotations

import os

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from vireid_jax.errors import UserError

VISIBLE, INFRARED = 0, 1


class LayoutError(UserError):
  """The manual folder does not have the raw layout the builder expects."""


def features() -> tfds.features.FeaturesDict:
  """Every example: encoded image (decoded to 3 channels in the pipeline) and its metadata."""
  return tfds.features.FeaturesDict(
      {
          # Stored as the original file bytes (JPEG or BMP); no TensorFlow needed to write or read.
          "image": tfds.features.Image(shape=(None, None, 3)),
          "label": np.int32,
          "identity": np.int32,
          "camera": np.int32,
          "modality": np.int32,
          "path": tfds.features.Text(),
      }
  )


def check_image(path: str) -> None:
  """Raises LayoutError naming `path` unless it is a readable image."""
  try:
    with Image.open(path) as image:
      image.verify()
  except (OSError, SyntaxError) as e:
    raise LayoutError(f"{path}: not a readable image ({e}).") from e


def require_both_modalities(split: str, modalities_of: dict[int, set[int]], where: str) -> None:
  """Training needs every identity in both modalities; names the first that is not."""
  for identity, seen in sorted(modalities_of.items()):
    if seen != {VISIBLE, INFRARED}:
      missing = "infrared" if VISIBLE in seen else "visible"
      raise LayoutError(
          f"{where}: {split} identity {identity} has no {missing} image; every training identity "
          "needs images of both modalities for cross-modality batches."
      )


def check_layout(root: str, expected: list[str], dataset: str) -> None:
  """Raises LayoutError unless `root` is a folder holding the `expected` entries (relative paths);
  names what is missing and points at the right folder when `root` is its parent."""
  if not os.path.isdir(root):
    what = "is a file, not a folder" if os.path.exists(root) else "does not exist"
    raise LayoutError(
        f"{dataset}: manual_dir {root} {what}; expected the dataset's folder holding " f"{', '.join(expected[:3])} ..."
    )
  missing = [e for e in expected if not os.path.exists(os.path.join(root, e))]
  if missing:
    nested = [
        d
        for d in sorted(os.listdir(root))
        if os.path.isdir(os.path.join(root, d)) and all(os.path.exists(os.path.join(root, d, e)) for e in expected)
    ]
    hint = f" It looks like the parent folder: use {os.path.join(root, nested[0])}." if nested else ""
    raise LayoutError(
        f"{dataset}: manual_dir {root} is missing {', '.join(missing)} (expected the dataset's "
        f"original layout with {', '.join(expected)}).{hint}"
    )


def manual_dir(dl_manager, expected: list[str], dataset: str) -> str:
  """Returns the manual folder as a string after checking it holds the `expected` entries."""
  try:
    root = os.fspath(dl_manager.manual_dir)
  except AssertionError as e:  # TFDS asserts when no manual_dir is configured or it does not exist
    raise LayoutError(
        f"{dataset}: no manual_dir given, or it does not exist; see the builder's download " "instructions."
    ) from e
  check_layout(root, expected, dataset)
  return root


def read_idx(path: str, root: str) -> list[tuple[str, int]]:
  """Reads `<relative path> <label>` lines; each file must exist under `root`."""
  entries = []
  with open(path) as f:
    for number, line in enumerate(f, start=1):
      if not line.strip():
        continue
      parts = line.split()
      if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
        raise LayoutError(f"{path}:{number}: expected '<relative path> <label>', got {line.strip()!r}.")
      if not os.path.isfile(os.path.join(root, parts[0])):
        raise LayoutError(f"{path}:{number}: {os.path.join(root, parts[0])} does not exist.")
      entries.append((parts[0], int(parts[1])))
  return entries


def read_id_file(path: str) -> list[int]:
  """Reads an `exp/*_id.txt` file: one line of comma-separated identity numbers."""
  with open(path) as f:
    text = f.read().strip()
  try:
    return sorted(int(t) for t in text.split(",") if t.strip())
  except ValueError as e:
    raise LayoutError(f"{path}: expected one line of comma-separated identity numbers ({e}).") from e
