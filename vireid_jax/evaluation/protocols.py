"""Query/gallery selection of the SYSU-MM01, RegDB and LLCM evaluation protocols.

`test_split` is a mapping of equal-length arrays `path` (relative, `camN/PPPP/NNNN.jpg` for
SYSU-MM01), `identity`, `camera`, `modality`, in any order (e.g. `datasets.columns` of the TFDS
test split). Every function returns indices into those arrays, so the features of the whole test
split are extracted once and every trial and mode indexes into them.

SYSU-MM01 (Wu et al., ICCV 2017): queries are all infrared test images (cameras 3 and 6) in both
modes; the gallery of a trial takes `shots` visible images per identity and camera, cameras
1, 2, 4, 5 (all-search) or 1, 2 (indoor-search). Two sampling conventions:
- `seeded` replays the AGW code family: `random.seed(trial)`, identities in sorted order, cameras
  in order, `random.choice` over the sorted file list of (identity, camera) for one shot
  (`random.sample` of `shots` files, or all if fewer, for multi-shot).
- `official` reads the dataset's `exp/rand_perm_cam.mat`: row `trial` of the permutation of
  (camera, identity), first `shots` entries, 1-based into that folder's sorted file names.
The camera-3/camera-2 rule is applied by `metrics.ranking_metrics(protocol="sysu")`.

RegDB (Nguyen et al., 2017): one trial's test files; `visible_to_thermal` queries visible images
against the thermal gallery, `thermal_to_visible` the reverse.

LLCM (Zhang & Wang, CVPR 2023), as ZYK100/LLCM `DEEN/data_manager.py` and `DEEN/test.py` compute
it: ten trials; trial t seeds `random.seed(t)` and, for each test identity in sorted order and
each camera in order, one `random.choice` over the sorted files of that folder forms the sampled
set; the other modality's test images, all of them, are the other side. Directions:
- `infrared_to_visible` (the code's default `test_mode = [1, 2]`): infrared queries against the
  sampled visible gallery.
- `visible_to_infrared`: visible queries against the sampled infrared gallery (the direction as
  the CVPR paper's table names it).
- `visible_to_infrared_as_released`: what `test.py` with `test_mode = [2, 1]` computes, which
  transposes the distance matrix: the sampled infrared images are the probes, against every
  visible test image (the LLCM README's updated table).
The same-identity, same-camera-number rule is applied by `metrics.ranking_metrics(protocol="llcm")`.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import scipy.io

from vireid_jax import errors

GALLERY_CAMERAS = {"all": (1, 2, 4, 5), "indoor": (1, 2)}
QUERY_CAMERAS = (3, 6)
SAMPLINGS = ("seeded", "official")
REGDB_DIRECTIONS = ("visible_to_thermal", "thermal_to_visible")
LLCM_DIRECTIONS = ("infrared_to_visible", "visible_to_infrared", "visible_to_infrared_as_released")
DATASET_PROTOCOLS = {"sysu_mm01": "sysu", "regdb": "regdb", "llcm": "llcm"}  # data.dataset -> its protocol
REGDB_VISIBLE, REGDB_THERMAL = 1, 2
VISIBLE, INFRARED = 0, 1


def _groups(
    test_split: Mapping[str, Any], cameras: tuple[int, ...], modality: int | None = None
) -> dict[tuple[int, int], np.ndarray]:
  """(identity, camera) -> indices of its images (of `modality`, if given) ordered by file name."""
  identity = np.asarray(test_split["identity"])
  camera = np.asarray(test_split["camera"])
  chosen = np.ones(len(identity), bool) if modality is None else np.asarray(test_split["modality"]) == modality
  names = np.asarray([os.path.basename(str(p)) for p in test_split["path"]])
  groups: dict[tuple[int, int], np.ndarray] = {}
  for c in cameras:
    for i in np.unique(identity[chosen & (camera == c)]):
      members = np.flatnonzero(chosen & (identity == i) & (camera == c))
      groups[int(i), c] = members[np.argsort(names[members], kind="stable")]
  return groups


def _in_order(groups: dict[tuple[int, int], np.ndarray]) -> np.ndarray:
  """Every image of `groups`: identities sorted, cameras in order, files sorted."""
  return np.concatenate([groups[key] for key in sorted(groups)]) if groups else np.zeros(0, np.int64)


def _seeded_choice(groups: dict[tuple[int, int], np.ndarray], trial: int, shots: int = 1) -> np.ndarray:
  """`random.seed(trial)`, then per identity (sorted) and camera (in order) one `random.choice`
  over its sorted files (`random.sample` of `shots`, or all if fewer, for several)."""
  rng, chosen = random.Random(trial), []
  for key in sorted(groups):
    files = list(groups[key])
    chosen += [rng.choice(files)] if shots == 1 else rng.sample(files, min(shots, len(files)))
  return np.asarray(chosen, np.int64)


def load_rand_perm_cam(rand_perm_cam: str | os.PathLike | np.ndarray) -> np.ndarray:
  """The (6, 1) cell array of `exp/rand_perm_cam.mat`, from a path or as already loaded."""
  if isinstance(rand_perm_cam, np.ndarray):
    cells = rand_perm_cam
  else:
    try:
      cells = scipy.io.loadmat(os.fspath(rand_perm_cam))["rand_perm_cam"]
    except Exception as e:  # pylint: disable=broad-except  # a damaged .mat fails in many ways inside scipy
      raise errors.UserError(
          f"{rand_perm_cam}: expected SYSU-MM01's exp/rand_perm_cam.mat with a " f"'rand_perm_cam' 6 x 1 cell ({e})."
      ) from e
  if cells.shape != (6, 1):
    raise errors.UserError(f"rand_perm_cam: expected a 6 x 1 cell (one per camera), got shape {cells.shape}.")
  return cells


def sysu_queries(test_split: Mapping[str, Any]) -> np.ndarray:
  """Indices of every infrared test image (cameras 3 and 6), by identity, camera and file name."""
  return _in_order(_groups(test_split, QUERY_CAMERAS))


def sysu_trials(
    test_split: Mapping[str, Any],
    *,
    mode: str = "all",
    shots: int = 1,
    trials: int = 10,
    sampling: str = "seeded",
    rand_perm_cam: Any = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """Yields (query_indices, gallery_indices) for trials 0..trials-1 of the SYSU-MM01 protocol."""
  if mode not in GALLERY_CAMERAS:
    raise ValueError(f"mode: expected 'all' or 'indoor', got {mode!r}.")
  if sampling not in SAMPLINGS:
    raise ValueError(f"sampling: expected one of {SAMPLINGS}, got {sampling!r}.")
  if shots < 1:
    raise ValueError(f"shots: expected 1 (single-shot) or more (multi-shot), got {shots}.")
  cameras = GALLERY_CAMERAS[mode]
  groups = _groups(test_split, cameras)
  queries = sysu_queries(test_split)
  if sampling == "official":
    if rand_perm_cam is None:
      raise ValueError("sampling='official' needs rand_perm_cam (the dataset's exp/rand_perm_cam.mat).")
    cells = load_rand_perm_cam(rand_perm_cam)
    if trials > 10:
      raise ValueError(f"rand_perm_cam holds 10 trials; asked for {trials}.")
  for trial in range(trials):
    if sampling == "seeded":
      yield queries, _seeded_choice(groups, trial, shots)
    else:
      gallery = []
      for i, c in sorted(groups):
        perm = _permutation(cells, c, i, len(groups[i, c]))
        gallery += list(groups[i, c][perm[trial, :shots].astype(np.int64) - 1])
      yield queries, np.asarray(gallery, np.int64)


def _permutation(cells: np.ndarray, camera: int, identity: int, count: int) -> np.ndarray:
  per_person = cells[camera - 1, 0]
  if identity > per_person.shape[0]:
    raise ValueError(
        f"rand_perm_cam: camera {camera} lists {per_person.shape[0]} persons; "
        f"identity {identity} is not among them."
    )
  perm = np.asarray(per_person[identity - 1, 0])
  if perm.ndim != 2 or perm.shape[1] != count:
    raise ValueError(
        f"rand_perm_cam: camera {camera}, identity {identity:04d} permutes "
        f"{perm.shape[-1] if perm.ndim == 2 else 0} images but the test split has {count}."
    )
  return perm


def regdb_trial(test_split: Mapping[str, Any], *, direction: str) -> tuple[np.ndarray, np.ndarray]:
  """(query_indices, gallery_indices) of one RegDB trial's test files in `direction`."""
  if direction not in REGDB_DIRECTIONS:
    raise ValueError(f"direction: expected one of {REGDB_DIRECTIONS}, got {direction!r}.")
  camera = np.asarray(test_split["camera"])
  visible, thermal = np.flatnonzero(camera == REGDB_VISIBLE), np.flatnonzero(camera == REGDB_THERMAL)
  return (visible, thermal) if direction == "visible_to_thermal" else (thermal, visible)


def llcm_trials(
    test_split: Mapping[str, Any], *, direction: str, trials: int = 10
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """Yields (query_indices, gallery_indices) for trials 0..trials-1 of the LLCM protocol in `direction`."""
  if direction not in LLCM_DIRECTIONS:
    raise ValueError(f"direction: expected one of {LLCM_DIRECTIONS}, got {direction!r}.")
  cameras = tuple(sorted({int(c) for c in np.asarray(test_split["camera"])}))
  sampled = INFRARED if direction.startswith("visible_to_infrared") else VISIBLE
  groups, everything = _groups(test_split, cameras, sampled), _in_order(_groups(test_split, cameras, 1 - sampled))
  for trial in range(trials):
    chosen = _seeded_choice(groups, trial)
    yield (chosen, everything) if direction == "visible_to_infrared_as_released" else (everything, chosen)
