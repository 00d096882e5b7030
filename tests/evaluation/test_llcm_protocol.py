"""The LLCM protocol against an independent port of the released loops (ZYK100/LLCM
`DEEN/data_manager.py` process_query_llcm / process_gallery_llcm, `DEEN/eval_metrics.py`
eval_llcm, `DEEN/test.py`'s two test modes), written per query from that code, on the synthetic
LLCM tree read from its folders: every trial, every direction, identical numbers."""

import os
import random

import numpy as np
import pytest

from configs import common
from tests.conftest import data_config
from vireid_jax import evaluate
from vireid_jax.data import datasets
from vireid_jax.evaluation import protocols

VISIBLE_FOLDERS = [f"test_vis/cam{c}" for c in range(1, 10)]
INFRARED_FOLDERS = [f"test_nir/cam{c}" for c in (1, 2, 4, 5, 6, 7, 8, 9)]


def listed_test_identities(root):
  with open(os.path.join(root, "idx", "test_id.txt")) as f:
    return ["%04d" % int(y) for y in f.read().splitlines()[0].split(",")]


def camera_and_identity(relative):
  """As the released code parses a path (here relative to the dataset root): `camN/PPPP`."""
  after = relative.split("cam")[1]
  return int(after[0]), int(after[2:6])


def released_query(root, mode):
  """process_query_llcm: every image of the test identities (sorted), cameras in order, files sorted."""
  files = []
  for identity in sorted(listed_test_identities(root)):
    for cam in VISIBLE_FOLDERS if mode == 1 else INFRARED_FOLDERS:
      folder = os.path.join(root, cam, identity)
      if os.path.isdir(folder):
        files.extend(sorted(f"{cam}/{identity}/{name}" for name in os.listdir(folder)))
  return files


def released_gallery(root, mode, trial):
  """process_gallery_llcm: random.seed(trial), one random.choice per identity and camera."""
  random.seed(trial)
  files = []
  for identity in sorted(listed_test_identities(root)):
    for cam in VISIBLE_FOLDERS if mode == 1 else INFRARED_FOLDERS:
      folder = os.path.join(root, cam, identity)
      if os.path.isdir(folder):
        files.append(random.choice(sorted(f"{cam}/{identity}/{name}" for name in os.listdir(folder))))
  return files


def released_eval(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=20):
  """eval_llcm, one query at a time."""
  indices = np.argsort(distmat, axis=1)
  pred_label = g_pids[indices]
  matches = (g_pids[indices] == q_pids[:, np.newaxis]).astype(np.int32)
  new_all_cmc, all_ap, all_inp, num_valid_q = [], [], [], 0.0
  for q_idx in range(len(q_pids)):
    order = indices[q_idx]
    keep = np.invert((g_pids[order] == q_pids[q_idx]) & (g_camids[order] == q_camids[q_idx]))
    new_cmc = pred_label[q_idx][keep]
    new_index = np.unique(new_cmc, return_index=True)[1]
    new_cmc = np.asarray([new_cmc[index] for index in sorted(new_index)])
    new_all_cmc.append((new_cmc == q_pids[q_idx]).astype(np.int32).cumsum()[:max_rank])
    orig_cmc = matches[q_idx][keep]
    if not np.any(orig_cmc):
      continue
    cmc = orig_cmc.cumsum()
    pos_max_idx = np.max(np.where(orig_cmc == 1))
    all_inp.append(cmc[pos_max_idx] / (pos_max_idx + 1.0))
    num_valid_q += 1.0
    tmp_cmc = np.asarray([x / (i + 1.0) for i, x in enumerate(orig_cmc.cumsum())]) * orig_cmc
    all_ap.append(tmp_cmc.sum() / orig_cmc.sum())
  return np.asarray(new_all_cmc).astype(np.float32).sum(0) / num_valid_q, np.mean(all_ap), np.mean(all_inp)


@pytest.fixture(scope="module")
def llcm(data_dir):
  """(raw root, test split columns, {relative path: feature}) of the synthetic LLCM tree. The
  features are 1-d: distinct integers for visible images, integers + 0.25 for infrared ones, so
  every query-gallery distance is exact in float32 and no two in a row are equal (tie order is
  not part of the protocol)."""
  cfg = data_config(data_dir, dataset="llcm")
  test = datasets.columns(datasets.sources(cfg)["test"])
  rng = np.random.default_rng(0)
  values = rng.permutation(len(test["path"])).astype(np.float64) + 0.25 * test["modality"]
  return datasets.synthetic_root(os.path.expanduser(cfg.data_dir), cfg), test, dict(zip(test["path"], values))


def released_numbers(root, feature, direction, trial):
  """rank-1/5/10/20, mAP, mINP (percent) as DEEN/test.py prints them for one trial."""
  sampled_mode, everything_mode = (2, 1) if direction.startswith("visible_to_infrared") else (1, 2)
  query, gallery = released_query(root, everything_mode), released_gallery(root, sampled_mode, trial)
  q_feat, g_feat = (np.asarray([[feature[p]] for p in files]) for files in (query, gallery))
  distmat = (q_feat - g_feat.T) ** 2
  (q_cams, q_ids), (g_cams, g_ids) = (np.asarray([camera_and_identity(p) for p in f]).T for f in (query, gallery))
  if direction == "visible_to_infrared_as_released":  # test.py's [2, 1]: the transposed matrix
    cmc, m_ap, m_inp = released_eval(distmat.T, g_ids, q_ids, g_cams, q_cams)
  else:
    cmc, m_ap, m_inp = released_eval(distmat, q_ids, g_ids, q_cams, g_cams)
  return [100 * cmc[0], 100 * cmc[4], 100 * cmc[9], 100 * cmc[19], 100 * m_ap, 100 * m_inp]


def test_every_trial_and_direction_is_the_released_code(llcm):
  root, test, feature = llcm
  cfg = common.eval_config(protocol="llcm", modes=list(protocols.LLCM_DIRECTIONS), distance="sqeuclidean")
  features = np.asarray([[feature[p]] for p in test["path"]], np.float32)
  results = evaluate.evaluate_features(features, test, cfg)
  table = evaluate.format_table(results).splitlines()[1:]
  assert len({len(line) for line in table}) == 1, table  # the longest direction's name keeps the columns aligned
  for direction in protocols.LLCM_DIRECTIONS:
    trials = results["modes"][direction]["trials"]
    assert len(trials) == 10
    for trial, row in enumerate(trials):
      theirs = released_numbers(root, feature, direction, trial)
      # The released CMC is summed in float32 (~1e-6 %); one query more or less moves it by 100 / Q > 0.1 %.
      np.testing.assert_allclose([row[f"rank{r}"] for r in (1, 5, 10, 20)], theirs[:4], rtol=0, atol=1e-4)
      np.testing.assert_allclose([row["mAP"], row["mINP"]], theirs[4:], rtol=0, atol=1e-9)


def test_directions_pick_the_released_sets(llcm):
  """Which images are queries and which the sampled gallery, by path, for the first trial."""
  root, test, _ = llcm
  paths = np.asarray(test["path"])
  for direction, (queries, gallery) in {
      "infrared_to_visible": (released_query(root, 2), released_gallery(root, 1, 0)),
      "visible_to_infrared": (released_query(root, 1), released_gallery(root, 2, 0)),
      "visible_to_infrared_as_released": (released_gallery(root, 2, 0), released_query(root, 1)),
  }.items():
    q, g = next(protocols.llcm_trials(test, direction=direction, trials=1))
    assert paths[q].tolist() == queries and paths[g].tolist() == gallery, direction
