"""SYSU-MM01 and LLCM evaluation speed: our vectorised metrics vs a per-query NumPy loop, in the same run.

  python -m benchmarks.evaluation [--big_gallery=100000]

1. The full single-shot all-search protocol (3,803 infrared queries, 301-image galleries, 10
   trials) on random 2048-d features, with a test split of the real test set's shape (from the
   official rand_perm_cam.mat and test_id.mat in tests/data/sysu_mm01_split; run from the
   repository root). Both sides share feature selection and the distance matrix; the baseline
   scores it with a straightforward loop over queries, as the public VI-ReID code does. Prints
   both times and the ratio.
2. LLCM infrared-to-visible, 10 trials, on a test split of LLCM's size as we lay it out (351
   identities, each seen by 4 of the 9 cameras per modality, 5 images per folder: 7,020 images a
   modality, 1,404-image sampled galleries; infrared cameras without cam3), the same way.
3. One 3,803 x `big_gallery` ranking with its time and peak memory.
"""

import os
import resource
import time

import numpy as np
from absl import app, flags

from configs import common
from tests.evaluation import official_split
from vireid_jax import evaluate
from vireid_jax.evaluation import metrics, protocols

_BIG = flags.DEFINE_integer("big_gallery", 100_000, "Gallery size of the large run.")


def per_query_loop(distmat, q_ids, g_ids, q_cams, g_cams, max_rank=20, protocol="sysu"):
  """The straightforward version: one query at a time (distinct-identity CMC, mAP, mINP)."""
  indices = np.argsort(distmat, axis=1, kind="stable")
  cmc_all, aps, inps = [], [], []
  for i in range(len(q_ids)):
    order = indices[i]
    if protocol == "sysu":
      keep = ~((q_cams[i] == 3) & (g_cams[order] == 2))
    else:  # llcm: not the query's own identity in the camera of its number
      keep = ~((g_ids[order] == q_ids[i]) & (g_cams[order] == q_cams[i]))
    ranked = g_ids[order][keep]
    _, first = np.unique(ranked, return_index=True)
    distinct = ranked[np.sort(first)]
    match = (ranked == q_ids[i]).astype(np.int32)
    if not match.any():
      continue
    cmc_all.append(np.cumsum(distinct == q_ids[i])[:max_rank])
    hits = np.cumsum(match)
    inps.append(hits[np.flatnonzero(match)[-1]] / (np.flatnonzero(match)[-1] + 1.0))
    aps.append((hits / np.arange(1, len(match) + 1) * match).sum() / match.sum())
  return np.mean(cmc_all, axis=0), np.mean(aps), np.mean(inps)


def best_of(repeats, fn):
  """(result, fastest time of `repeats` runs): the usual guard against a noisy machine."""
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    result = fn()
    times.append(time.perf_counter() - start)
  return result, min(times)


def llcm_shaped_split(rng, identities=351, cameras=4, images=5):
  """Test-split columns of LLCM's size (see the module docstring)."""
  rows = []
  for identity in range(1, identities + 1):
    for modality, allowed in ((0, range(1, 10)), (1, (1, 2, 4, 5, 6, 7, 8, 9))):
      for camera in rng.choice(list(allowed), cameras, replace=False):
        rows += [
            (identity, int(camera), modality, f"{modality}/{camera}/{identity:04d}/{k}.jpg") for k in range(images)
        ]
  identity, camera, modality, path = zip(*rows)
  return {
      "identity": np.asarray(identity),
      "camera": np.asarray(camera),
      "modality": np.asarray(modality),
      "path": path,
  }


def compare(trials, split, features, protocol):
  """(queries, gallery, our seconds, the loop's seconds) for `trials`, after checking equal numbers."""
  args = [
      (metrics.distances(features[q], features[g]), split["identity"][q], split["identity"][g])
      + (split["camera"][q], split["camera"][g])
      for q, g in trials
  ]
  ours, t_ours = best_of(3, lambda: [metrics.ranking_metrics(*a, protocol=protocol) for a in args])
  loop, t_loop = best_of(3, lambda: [per_query_loop(*a, protocol=protocol) for a in args])
  for o, (cmc, m_ap, m_inp) in zip(ours, loop):  # same numbers, or the timing means nothing
    np.testing.assert_allclose(o["cmc"], cmc, atol=1e-9)
    np.testing.assert_allclose([o["mAP"], o["mINP"]], [m_ap, m_inp], atol=1e-9)
  return len(trials[0][0]), len(trials[0][1]), t_ours, t_loop


def main(_):
  split, _ = official_split.real_shape_split()
  rng = np.random.default_rng(0)
  features = rng.normal(size=(len(split["identity"]), 2048)).astype(np.float32)
  trials = list(protocols.sysu_trials(split, mode="all", shots=1, trials=10))
  _, _, t_ours, t_loop = compare(trials, split, features, "sysu")

  cfg = common.eval_config(modes=["all"], shots=[1])
  start = time.perf_counter()
  evaluate.evaluate_features(features, split, cfg)
  t_full = time.perf_counter() - start

  q, g = trials[0][0], trials[0][1]
  print(
      f"SYSU-MM01 single-shot all-search: {len(q)} queries x {len(g)} gallery, 10 trials, 2048-d "
      f"(best of 3, {os.cpu_count()} CPUs)"
  )
  print(f"{'per-query loop (metrics)':34s} {t_loop:8.3f} s  1.00")
  print(f"{'ranking_metrics (metrics)':34s} {t_ours:8.3f} s  {t_loop / t_ours:.1f}x")
  print(f"{'evaluate_features (whole protocol)':34s} {t_full:8.3f} s  (selection + distances + metrics)")

  llcm = llcm_shaped_split(rng)
  llcm_features = rng.normal(size=(len(llcm["identity"]), 2048)).astype(np.float32)
  llcm_trials = list(protocols.llcm_trials(llcm, direction="infrared_to_visible", trials=10))
  n_q, n_g, t_llcm, t_llcm_loop = compare(llcm_trials, llcm, llcm_features, "llcm")
  print(f"LLCM-sized infrared_to_visible: {n_q} queries x {n_g} gallery, 10 trials, 2048-d (best of 3)")
  print(f"{'per-query loop (metrics)':34s} {t_llcm_loop:8.3f} s  1.00")
  print(f"{'ranking_metrics (metrics)':34s} {t_llcm:8.3f} s  {t_llcm_loop / t_llcm:.1f}x")

  n = _BIG.value
  gallery = rng.normal(size=(n, 2048)).astype(np.float32)
  g_ids, g_cams = rng.integers(1, 534, n), rng.choice([1, 2, 4, 5], n)
  g_ids[: len(g)] = split["identity"][g]
  rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  start = time.perf_counter()
  d = metrics.distances(features[q], gallery)
  t_dist = time.perf_counter() - start
  out = metrics.ranking_metrics(d, split["identity"][q], g_ids, split["camera"][q], g_cams, protocol="sysu")
  t_big = time.perf_counter() - start
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  print(
      f"{len(q)} x {n} gallery: {t_big:.1f} s ({t_dist:.1f} s distances), peak RSS {peak / 2**20:.2f} GiB "
      f"(+{(peak - rss_before) / 2**20:.2f} GiB; the distance matrix alone is {d.nbytes / 2**30:.2f} GiB), "
      f"rank-1 {100 * out['cmc'][0]:.2f}%"
  )


if __name__ == "__main__":
  app.run(main)
