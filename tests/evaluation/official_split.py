"""A test split with the real SYSU-MM01 test set's shape, from the official split files in
`tests/data/sysu_mm01_split/` (see its README): one row per image the files imply, no pixels."""

import os

import numpy as np
import scipy.io

from vireid_jax.evaluation import protocols

SPLIT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "sysu_mm01_split")
RAND_PERM_CAM = os.path.join(SPLIT_DIR, "rand_perm_cam.mat")


def real_shape_split(seed: int | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
  """(test split columns `path`, `identity`, `camera`, `modality`, the rand_perm_cam cells).

  Rows are ordered by camera, identity and file number, or shuffled with `seed` (the protocol
  must not depend on the order).
  """
  cells = protocols.load_rand_perm_cam(RAND_PERM_CAM)
  test_ids = scipy.io.loadmat(os.path.join(SPLIT_DIR, "test_id.mat"))["id"].ravel()
  rows = [
      (f"cam{c}/{i:04d}/{k:04d}.jpg", int(i), c)
      for c in range(1, 7)
      for i in test_ids
      if i <= cells[c - 1, 0].shape[0]
      for k in range(1, cells[c - 1, 0][i - 1, 0].shape[1] + 1)
  ]
  if seed is not None:
    rows = [rows[j] for j in np.random.default_rng(seed).permutation(len(rows))]
  split = {
      "path": np.array([r[0] for r in rows]),
      "identity": np.array([r[1] for r in rows]),
      "camera": np.array([r[2] for r in rows]),
  }
  split["modality"] = np.isin(split["camera"], protocols.QUERY_CAMERAS).astype(np.int32)
  return split, cells
