"""ranking_metrics against a brute-force per-query implementation written from the definitions."""

import numpy as np
import pytest

from vireid_jax.evaluation import metrics


def seen(i, j, qids, gids, qcams, gcams, protocol):
  """Whether query i sees gallery image j: SYSU hides camera 2 from camera 3, LLCM the query's
  own identity in the camera of its number."""
  if protocol == "sysu":
    return not (qcams[i] == 3 and gcams[j] == 2)
  if protocol == "llcm":
    return not (qids[i] == gids[j] and qcams[i] == gcams[j])
  return True


def brute_force(distmat, qids, gids, qcams, gcams, protocol, max_rank=20):
  cmc, aps, inps = np.zeros(max_rank), [], []
  for i in range(len(qids)):
    kept = [j for j in range(len(gids)) if seen(i, j, qids, gids, qcams, gcams, protocol)]
    ranked = sorted(kept, key=lambda j: (distmat[i, j], j))  # ties: gallery order
    good = [r for r, j in enumerate(ranked) if gids[j] == qids[i]]
    if not good:
      continue
    precisions = [(n + 1) / (r + 1) for n, r in enumerate(good)]
    aps.append(sum(precisions) / len(good))
    inps.append(len(good) / (good[-1] + 1))
    if protocol in ("sysu", "llcm"):
      distinct = []
      for j in ranked:
        if gids[j] not in distinct:
          distinct.append(gids[j])
      first = distinct.index(qids[i])
    else:
      first = good[0]
    for k in range(max_rank):
      cmc[k] += first <= k
  n = len(aps)
  return cmc / n, float(np.mean(aps)), float(np.mean(inps)), len(qids) - n


def check(distmat, qids, gids, qcams, gcams, protocol, max_rank=20):
  got = metrics.ranking_metrics(distmat, qids, gids, qcams, gcams, protocol=protocol, max_rank=max_rank)
  cmc, m_ap, m_inp, skipped = brute_force(distmat, qids, gids, qcams, gcams, protocol, max_rank)
  np.testing.assert_allclose(got["cmc"], cmc, atol=1e-12)
  assert got["mAP"] == pytest.approx(m_ap, abs=1e-12)
  assert got["mINP"] == pytest.approx(m_inp, abs=1e-12)
  assert got["num_skipped_queries"] == skipped
  return got


@pytest.mark.parametrize("count_max", [32, 1])  # matches ranked by counting, or by sorting the rows
@pytest.mark.parametrize("protocol", ["sysu", "regdb", "llcm"])
@pytest.mark.parametrize("seed", range(4))
def test_random(protocol, seed, count_max, monkeypatch):
  monkeypatch.setattr(metrics, "_COUNT_MAX", count_max)
  rng = np.random.default_rng(seed)
  q, g = 40, 60
  qids, gids = rng.integers(0, 12, q), rng.integers(0, 10, g)  # some query ids absent from the gallery
  if protocol == "llcm":  # one camera numbering for both modalities
    qcams, gcams = rng.choice([1, 2, 4], q), rng.choice([1, 2, 3, 4], g)
  else:
    qcams, gcams = rng.choice([3, 6], q), rng.choice([1, 2, 4, 5], g)
  distmat = rng.integers(0, 8, (q, g)).astype(float)  # many ties
  got = check(distmat, qids, gids, qcams, gcams, protocol)
  assert got["num_skipped_queries"] > 0


def test_hand_worked_sysu_camera_rule_and_dedup():
  # Gallery: id 7 (cam 2), id 5 (cam 1), id 5 (cam 4), id 9 (cam 1), id 7 (cam 5); query id 7.
  gids = np.array([7, 5, 5, 9, 7])
  gcams = np.array([2, 1, 4, 1, 5])
  distmat = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])
  # Camera 6 query sees everything: the true id is first. Ranks of true matches: 1 and 5.
  out = metrics.ranking_metrics(distmat, [7], gids, [6], gcams, protocol="sysu", max_rank=4)
  np.testing.assert_allclose(out["cmc"], [1, 1, 1, 1])
  assert out["mAP"] == pytest.approx((1 / 1 + 2 / 5) / 2)
  assert out["mINP"] == pytest.approx(2 / 5)
  # Camera 3 query: the cam-2 image is hidden; ranking 5, 5, 9, 7 -> distinct ids 5, 9, 7.
  out = metrics.ranking_metrics(distmat, [7], gids, [3], gcams, protocol="sysu", max_rank=4)
  np.testing.assert_allclose(out["cmc"], [0, 0, 1, 1])
  assert out["mAP"] == pytest.approx(1 / 4) and out["mINP"] == pytest.approx(1 / 4)
  # RegDB counts per image: the true match is the 4th image.
  out = metrics.ranking_metrics(distmat[:, 1:], [7], gids[1:], [2], gcams[1:], protocol="regdb", max_rank=4)
  np.testing.assert_allclose(out["cmc"], [0, 0, 0, 1])


def test_ties_break_by_gallery_order():
  out = metrics.ranking_metrics(np.zeros((1, 3)), [1], [2, 1, 1], [1], [2, 2, 2], protocol="regdb", max_rank=3)
  np.testing.assert_allclose(out["cmc"], [0, 1, 1])
  assert out["mAP"] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_query_without_match_is_skipped_and_counted():
  out = metrics.ranking_metrics(np.array([[0.0, 1.0], [1.0, 0.0]]), [1, 3], [1, 2], [6, 6], [1, 1], protocol="sysu")
  assert out["num_skipped_queries"] == 1 and out["num_valid_queries"] == 1 and out["mAP"] == 1.0


@pytest.mark.parametrize("protocol", ["sysu", "regdb", "llcm"])
def test_top_k_is_the_brute_force_ranking(protocol):
  rng = np.random.default_rng(3)
  distmat = rng.integers(0, 5, (20, 12)).astype(np.float32)  # many ties
  qids, gids = rng.integers(0, 4, 20), rng.integers(0, 4, 12)
  qcams, gcams = rng.choice([3, 6], 20), rng.choice([1, 2, 3, 6], 12)
  got = metrics.top_k(distmat, qids, gids, qcams, gcams, protocol=protocol, k=10)
  for i in range(20):
    kept = [j for j in range(12) if seen(i, j, qids, gids, qcams, gcams, protocol)]
    ranked = sorted(kept, key=lambda j: (distmat[i, j], j))[:10]
    assert got[i].tolist() == ranked + [-1] * (10 - len(ranked))


def test_chunking_gives_the_same_result(monkeypatch):
  rng = np.random.default_rng(9)
  args = (
      rng.random((50, 30)),
      rng.integers(0, 6, 50),
      rng.integers(0, 6, 30),
      rng.choice([3, 6], 50),
      rng.choice([1, 2, 4, 5], 30),
  )
  whole = metrics.ranking_metrics(*args, protocol="sysu")
  monkeypatch.setattr(metrics, "_CHUNK_BYTES", 1)
  chunked = metrics.ranking_metrics(*args, protocol="sysu")
  np.testing.assert_allclose(chunked["cmc"], whole["cmc"])
  assert chunked["mAP"] == pytest.approx(whole["mAP"]) and chunked["mINP"] == pytest.approx(whole["mINP"])


def test_distances():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(5, 8)), rng.normal(size=(7, 8))
  brute = np.array([[np.linalg.norm(x - y) for y in b] for x in a])
  np.testing.assert_allclose(metrics.distances(a, b, "euclidean"), brute, rtol=1e-5)
  np.testing.assert_allclose(metrics.distances(a, b, "sqeuclidean"), brute**2, rtol=1e-4)
  cos = np.array([[x @ y / np.linalg.norm(x) / np.linalg.norm(y) for y in b] for x in a])
  np.testing.assert_allclose(metrics.distances(a, b, "cosine"), 1 - cos, atol=1e-6)
  with pytest.raises(ValueError, match="metric"):
    metrics.distances(a, b, "manhattan")


def rerank_brute_force(q, g, k1, k2, lam):
  """Zhong et al. 2017 eqs. 6-14 written with sets and loops."""
  x = np.concatenate([q, g]).astype(np.float64)
  n, nq = len(x), len(q)
  d = np.array([[((a - b) ** 2).sum() for b in x] for a in x])
  d = d / d.max(axis=1, keepdims=True)
  order = [sorted(range(n), key=lambda j: (d[i, j], j)) for i in range(n)]

  def recip(i, k):
    return {j for j in order[i][: k + 1] if i in order[j][: k + 1]}

  v = np.zeros((n, n))
  for i in range(n):
    r = recip(i, k1)
    r_star = set(r)
    for c in r:
      sub = recip(c, int(round(k1 / 2)))
      if len(sub & r) > 2 / 3 * len(sub):
        r_star |= sub
    idx = sorted(r_star)
    w = np.exp(-d[i, idx])
    v[i, idx] = w / w.sum()
  v = np.array([v[order[i][:k2]].mean(axis=0) for i in range(n)])
  out = np.zeros((nq, n - nq))
  for i in range(nq):
    for j in range(nq, n):
      mins = np.minimum(v[i], v[j]).sum()
      maxs = np.maximum(v[i], v[j]).sum()
      out[i, j - nq] = (1 - lam) * (1 - mins / maxs) + lam * d[i, j]
  return out


def test_k_reciprocal_rerank_matches_the_equations():
  rng = np.random.default_rng(1)
  centres = rng.normal(size=(4, 6)) * 3
  q = centres[rng.integers(0, 4, 6)] + rng.normal(size=(6, 6))
  g = centres[rng.integers(0, 4, 14)] + rng.normal(size=(14, 6))
  got = metrics.k_reciprocal_rerank(q, g, k1=5, k2=3, lambda_value=0.3)
  np.testing.assert_allclose(got, rerank_brute_force(q, g, 5, 3, 0.3), atol=1e-4)
