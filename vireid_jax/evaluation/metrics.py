"""Ranking metrics (CMC, mAP, mINP), distances and k-reciprocal re-ranking, vectorised in NumPy.

Conventions (the official SYSU-MM01 code and the AGW code family):
- `distmat` [Q, G] is smaller-is-closer; ties break by gallery order (stable sort).
- `protocol="sysu"`: a query from camera 3 never sees gallery images from camera 2; CMC counts
  distinct identities in rank order (rank k = the true identity is among the first k distinct
  identities); mAP and mINP are per image over the remaining gallery.
- `protocol="regdb"`: no camera rule; CMC per image.
- Queries with no true match in their (filtered) gallery are skipped and counted.
- mINP (Ye et al., TPAMI 2021): mean over queries of #true matches / (rank of the last one).
"""

from __future__ import annotations

from typing import Any

import numpy as np

PROTOCOLS = ("sysu", "regdb")
DISTANCES = ("euclidean", "sqeuclidean", "cosine")
_CHUNK_BYTES = 1 << 28  # per-chunk working set of the [queries, gallery] arrays


def _removed(query_cams: np.ndarray, gallery_cams: np.ndarray, protocol: str) -> np.ndarray:
  """[Q, G] True where the protocol hides a gallery image from a query."""
  if protocol == "sysu":
    return (query_cams[:, None] == 3) & (gallery_cams[None, :] == 2)
  return np.zeros((len(query_cams), len(gallery_cams)), bool)


def ranking_metrics(distmat: np.ndarray, query_ids: np.ndarray, gallery_ids: np.ndarray,
                    query_cams: np.ndarray, gallery_cams: np.ndarray, *, protocol: str,
                    max_rank: int = 20) -> dict[str, Any]:
  """CMC at ranks 1..max_rank, mAP and mINP of a distance matrix.

  Args:
    distmat: [Q, G] distances, smaller is closer.
    query_ids, gallery_ids: [Q], [G] identities.
    query_cams, gallery_cams: [Q], [G] cameras (SYSU 1..6; RegDB 1 visible, 2 thermal).
    protocol: "sysu" or "regdb" (see the module docstring).
    max_rank: length of the CMC curve.

  Returns:
    {"cmc": float64 [max_rank], "mAP": float, "mINP": float, "num_valid_queries": int,
     "num_skipped_queries": int}; cmc, mAP and mINP are fractions in [0, 1] averaged over the
    valid queries (those with at least one true match).
  """
  if protocol not in PROTOCOLS:
    raise ValueError(f"protocol: expected one of {PROTOCOLS}, got {protocol!r}.")
  distmat = np.asarray(distmat, np.float64)
  q, g = distmat.shape
  query_ids, gallery_ids = np.asarray(query_ids), np.asarray(gallery_ids)
  query_cams, gallery_cams = np.asarray(query_cams), np.asarray(gallery_cams)
  if (len(query_ids), len(gallery_ids), len(query_cams), len(gallery_cams)) != (q, g, q, g):
    raise ValueError(f"distmat is {q} x {g} but ids/cams have lengths {len(query_ids)}, "
                     f"{len(gallery_ids)}, {len(query_cams)}, {len(gallery_cams)}.")
  # Gallery grouped by identity once, for the distinct-identity CMC.
  by_id = np.argsort(gallery_ids, kind="stable")
  unique_ids, starts = np.unique(gallery_ids[by_id], return_index=True)

  cmc_sum = np.zeros(max_rank)
  ap, inp = [], []
  chunk = max(1, _CHUNK_BYTES // (8 * max(g, 1) * 4))
  for lo in range(0, q, chunk):
    hi = min(q, lo + chunk)
    removed = _removed(query_cams[lo:hi], gallery_cams, protocol)
    d = np.where(removed, np.inf, distmat[lo:hi])  # hidden images sort last, kept order unchanged
    order = np.argsort(d, axis=1, kind="stable")
    match = (query_ids[lo:hi, None] == gallery_ids[None, :]) & ~removed
    sorted_match = np.take_along_axis(match, order, axis=1)
    num_rel = sorted_match.sum(axis=1)
    valid = num_rel > 0
    sorted_match, num_rel, order_v = sorted_match[valid], num_rel[valid], order[valid]
    positions = np.arange(1, g + 1)
    hits = np.cumsum(sorted_match, axis=1)
    ap.append((sorted_match * hits / positions).sum(axis=1) / num_rel)
    last = g - np.argmax(sorted_match[:, ::-1], axis=1)  # 1-based rank of the last true match
    inp.append(num_rel / last)
    if protocol == "sysu":
      # Rank of each gallery image, then the first rank of each identity (hidden images: g).
      rank = np.empty_like(order_v)
      np.put_along_axis(rank, order_v, np.arange(g)[None, :], axis=1)
      rank = np.where(removed[valid], g, rank)
      first = np.minimum.reduceat(rank[:, by_id], starts, axis=1)  # [q, U]
      true_col = np.searchsorted(unique_ids, query_ids[lo:hi][valid])
      true_first = np.take_along_axis(first, true_col[:, None], axis=1)
      first_hit = (first < true_first).sum(axis=1)  # distinct identities ranked before the true one
    else:
      first_hit = np.argmax(sorted_match, axis=1)
    cmc_sum += (first_hit[:, None] < np.arange(1, max_rank + 1)[None, :]).sum(axis=0)
  ap, inp = np.concatenate(ap), np.concatenate(inp)
  n = len(ap)
  return {"cmc": cmc_sum / max(n, 1), "mAP": float(ap.mean()) if n else 0.0,
          "mINP": float(inp.mean()) if n else 0.0, "num_valid_queries": n, "num_skipped_queries": q - n}


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
  return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def distances(query: np.ndarray, gallery: np.ndarray, metric: str = "euclidean") -> np.ndarray:
  """[Q, D], [G, D] -> [Q, G] float32 distances: Euclidean, squared Euclidean or cosine (1 - cos)."""
  if metric not in DISTANCES:
    raise ValueError(f"metric: expected one of {DISTANCES}, got {metric!r}.")
  query, gallery = np.asarray(query, np.float32), np.asarray(gallery, np.float32)
  if metric == "cosine":
    return 1.0 - l2_normalize(query) @ l2_normalize(gallery).T
  sq = ((query ** 2).sum(1)[:, None] + (gallery ** 2).sum(1)[None, :] - 2.0 * query @ gallery.T)
  sq = np.maximum(sq, 0.0)
  return sq if metric == "sqeuclidean" else np.sqrt(sq)


def k_reciprocal_rerank(query: np.ndarray, gallery: np.ndarray, k1: int = 20, k2: int = 6,
                        lambda_value: float = 0.3) -> np.ndarray:
  """Zhong et al., "Re-ranking Person Re-identification with k-reciprocal Encoding", CVPR 2017.

  The final distance (eq. 14) is (1 - lambda) * Jaccard distance of the k-reciprocal feature
  vectors (eqs. 7-12, local query expansion over k2 neighbours) + lambda * original distance.
  Distances are squared Euclidean over query and gallery features together, each row divided
  by its maximum, as in the authors' code. Returns [Q, G] float32.
  """
  feats = np.concatenate([query, gallery]).astype(np.float32)
  nq, n = len(query), len(query) + len(gallery)
  original = distances(feats, feats, "sqeuclidean")
  original = original / np.maximum(original.max(axis=1, keepdims=True), 1e-12)
  rank = np.argsort(original, axis=1, kind="stable")
  weights = np.zeros((n, n), np.float32)
  for i in range(n):
    expansion = _k_reciprocal(rank, i, k1)
    for candidate in expansion:  # eq. 10: add neighbours that share most of their set
      sub = _k_reciprocal(rank, candidate, int(round(k1 / 2)))
      if len(np.intersect1d(sub, expansion)) > 2.0 / 3.0 * len(sub):
        expansion = np.union1d(expansion, sub)
    w = np.exp(-original[i, expansion])  # eq. 8: Gaussian kernel weights
    weights[i, expansion] = w / w.sum()
  if k2 > 1:  # eq. 11: local query expansion
    weights = np.stack([weights[rank[i, :k2]].mean(axis=0) for i in range(n)])
  # eq. 12: Jaccard distance through sum of element-wise minima.
  jaccard = np.empty((nq, n - nq), np.float32)
  for i in range(nq):
    mins = np.minimum(weights[i][None, :], weights[nq:]).sum(axis=1)
    jaccard[i] = 1.0 - mins / (2.0 - mins)
  return ((1.0 - lambda_value) * jaccard + lambda_value * original[:nq, nq:]).astype(np.float32)


def _k_reciprocal(rank: np.ndarray, i: int, k: int) -> np.ndarray:
  """R(i, k) (eq. 6): the k-nearest neighbours of i that also have i among their k nearest."""
  forward = rank[i, :k + 1]
  backward = rank[forward, :k + 1]
  return forward[np.any(backward == i, axis=1)]
