import os
import random

import numpy as np
import pytest

from configs import common
from tests.evaluation import official_split
from vireid_jax.data import datasets
from vireid_jax.evaluation import protocols


@pytest.fixture(scope="module")
def real_shape():
  """A test split with the real SYSU-MM01 test set's shape, in shuffled order, and its rand_perm_cam."""
  return official_split.real_shape_split(seed=0)


@pytest.mark.parametrize("sampling", ["seeded", "official"])
@pytest.mark.parametrize("mode,size", [("all", 301), ("indoor", 112)])
def test_real_shape_gallery_sizes(real_shape, sampling, mode, size):
  split, cells = real_shape
  trials = list(protocols.sysu_trials(split, mode=mode, shots=1, trials=10, sampling=sampling, rand_perm_cam=cells))
  assert len(trials) == 10
  for q, g in trials:
    assert len(q) == 3803 and len(g) == size
    assert set(split["camera"][q]) == {3, 6}
    assert set(split["camera"][g]) <= set(protocols.GALLERY_CAMERAS[mode])
    pairs = list(zip(split["identity"][g], split["camera"][g]))
    assert len(set(pairs)) == len(pairs)  # one image per identity and camera
  assert not np.array_equal(trials[0][1], trials[1][1])


def test_official_takes_row_trial_of_the_permutation(real_shape):
  split, cells = real_shape
  for trial, (_, g) in enumerate(
      protocols.sysu_trials(split, mode="all", shots=10, trials=3, sampling="official", rand_perm_cam=cells)
  ):
    expected = []
    for i in sorted(set(split["identity"])):
      for c in (1, 2, 4, 5):
        perm = cells[c - 1, 0][i - 1, 0] if i <= cells[c - 1, 0].shape[0] else np.zeros((10, 0))
        expected += [f"cam{c}/{i:04d}/{k:04d}.jpg" for k in perm[trial, :10]]
    assert split["path"][g].tolist() == expected


def agw_gallery(split, mode, trial):
  """The AGW code family's process_gallery_sysu, replayed over the paths of `split`."""
  random.seed(trial)
  files = []
  for pid in sorted({f"{i:04d}" for i in split["identity"]}):
    for cam in ["cam1", "cam2", "cam4", "cam5"] if mode == "all" else ["cam1", "cam2"]:
      new_files = sorted(p for p in split["path"] if p.startswith(f"{cam}/{pid}/"))
      if new_files:
        files.append(random.choice(new_files))
  return files


@pytest.mark.parametrize("mode", ["all", "indoor"])
def test_seeded_replays_the_agw_sampling(real_shape, mode):
  split, _ = real_shape
  for trial, (_, g) in enumerate(protocols.sysu_trials(split, mode=mode, trials=3, sampling="seeded")):
    assert split["path"][g].tolist() == agw_gallery(split, mode, trial)


def test_synthetic_tree_both_samplings(sysu, data_dir):
  _, _, cols = sysu
  test = cols["test"]
  mat = os.path.join(datasets.synthetic_root(str(data_dir), common.data_config()), "exp", "rand_perm_cam.mat")
  for sampling in ("seeded", "official"):
    for q, g in protocols.sysu_trials(test, mode="all", shots=1, trials=10, sampling=sampling, rand_perm_cam=mat):
      assert len(q) == int(np.sum(test["modality"] == 1))
      expected = len({(i, c) for i, c in zip(test["identity"], test["camera"]) if c in (1, 2, 4, 5)})
      assert len(g) == expected
      assert (test["modality"][g] == 0).all()


def test_official_errors(real_shape):
  split, cells = real_shape
  with pytest.raises(ValueError, match="needs rand_perm_cam"):
    next(protocols.sysu_trials(split, sampling="official"))
  keep = ~(
      (split["camera"] == 1) & (split["path"] == f"cam1/{split['identity'][split['camera'] == 1][0]:04d}/0001.jpg")
  )
  short = {k: v[keep] for k, v in split.items()}
  with pytest.raises(ValueError, match=r"camera 1, identity \d{4} permutes \d+ images but the test split has"):
    next(protocols.sysu_trials(short, sampling="official", rand_perm_cam=cells))
  with pytest.raises(ValueError, match="mode"):
    next(protocols.sysu_trials(split, mode="outdoor"))


def test_regdb_directions():
  split = {
      "camera": np.array([1, 2, 2, 1, 2]),
      "identity": np.arange(5),
      "modality": np.array([0, 1, 1, 0, 1]),
      "path": np.array(["a"] * 5),
  }
  q, g = protocols.regdb_trial(split, direction="visible_to_thermal")
  np.testing.assert_array_equal(q, [0, 3])
  np.testing.assert_array_equal(g, [1, 2, 4])
  q2, g2 = protocols.regdb_trial(split, direction="thermal_to_visible")
  np.testing.assert_array_equal(q2, g)
  np.testing.assert_array_equal(g2, q)
