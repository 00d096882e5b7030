"""Ranking metrics (CMC, mAP, mINP), distances and k-reciprocal re-ranking, vectorised in NumPy.

Conventions (the official SYSU-MM01 code and the AGW code family):
- `distmat` [Q, G] is smaller-is-closer, compared in float32; ties break by gallery order.
- `protocol="sysu"`: a query from camera 3 never sees gallery images from camera 2; CMC counts
  distinct identities in rank order (rank k = the true identity is among the first k distinct
  identities); mAP and mINP are per image over the remaining gallery.
- `protocol="llcm"`: a query never sees the gallery images of its own identity taken by the
  camera of its own number (camera c's visible and infrared sensors share c); CMC over distinct
  identities and mAP, mINP as for SYSU-MM01 (ZYK100/LLCM `eval_llcm`).
- `protocol="regdb"`: no camera rule; CMC per image.
- Queries with no true match in their (filtered) gallery are skipped and counted.
- mINP (Ye et al., TPAMI 2021): mean over queries of #true matches / (rank of the last one).
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import sys
from typing import Any

import numpy as np

PROTOCOLS = ("sysu", "regdb", "llcm")
DISTINCT_IDENTITY_CMC = ("sysu", "llcm")
DISTANCES = ("euclidean", "sqeuclidean", "cosine")
_CHUNK_BYTES = 1 << 28  # bound on one query block's working set (32 + matches bytes per query x gallery entry)
_COUNT_MAX = 32  # up to this many true matches per query, ranks are counted rather than sorted
_HIDDEN = np.uint64(0xFFFFFFFF) << np.uint64(32)  # high word of a hidden image's key


def _hidden(query_ids, gallery_ids, query_cams, gallery_cams, protocol: str) -> np.ndarray | None:
  """[Q, G] mask of the gallery images each query does not see under the protocol (None: all seen)."""
  if protocol == "sysu":
    return (query_cams == 3)[:, None] & (gallery_cams == 2)[None, :]
  if protocol == "llcm":
    return (query_ids[:, None] == gallery_ids[None, :]) & (query_cams[:, None] == gallery_cams[None, :])
  return None


def ranking_metrics(
    distmat: np.ndarray,
    query_ids: np.ndarray,
    gallery_ids: np.ndarray,
    query_cams: np.ndarray,
    gallery_cams: np.ndarray,
    *,
    protocol: str,
    max_rank: int = 20,
) -> dict[str, Any]:
  """CMC at ranks 1..max_rank, mAP and mINP of a distance matrix.

  Args:
    distmat: [Q, G] distances, smaller is closer (compared as float32).
    query_ids, gallery_ids: [Q], [G] identities.
    query_cams, gallery_cams: [Q], [G] cameras (SYSU 1..6; LLCM 1..9; RegDB 1 visible, 2 thermal).
    protocol: one of PROTOCOLS (see the module docstring).
    max_rank: length of the CMC curve.

  Returns:
    {"cmc": float64 [max_rank], "mAP": float, "mINP": float, "num_valid_queries": int,
     "num_skipped_queries": int}; cmc, mAP and mINP are fractions in [0, 1] averaged over the
    valid queries (those with at least one true match).
  """
  if protocol not in PROTOCOLS:
    raise ValueError(f"protocol: expected one of {PROTOCOLS}, got {protocol!r}.")
  distmat = np.asarray(distmat)
  q, g = distmat.shape
  query_ids, gallery_ids = np.asarray(query_ids, np.int32), np.asarray(gallery_ids, np.int32)
  query_cams, gallery_cams = np.asarray(query_cams), np.asarray(gallery_cams)
  if (len(query_ids), len(gallery_ids), len(query_cams), len(gallery_cams)) != (q, g, q, g):
    raise ValueError(
        f"distmat is {q} x {g} but ids/cams have lengths {len(query_ids)}, "
        f"{len(gallery_ids)}, {len(query_cams)}, {len(gallery_cams)}."
    )
  # Columns grouped by identity once (keys keep the original gallery index for tie-breaks), so
  # the best-ranked image of every identity is one reduceat over contiguous columns.
  by_id = np.argsort(gallery_ids, kind="stable")
  id_starts = np.unique(gallery_ids[by_id], return_index=True)[1]
  most = int(np.diff(np.append(id_starts, g)).max(initial=1))  # true matches of a query, at most

  # Query blocks bounded in memory, scored on all cores (NumPy releases the GIL in sort and ufuncs).
  workers = os.cpu_count() or 1
  block = max(1, min(_CHUNK_BYTES // ((32 + min(most, _COUNT_MAX)) * max(g, 1)), -(-q // workers)))
  score = functools.partial(
      _score_block,
      distmat=distmat,
      query_ids=query_ids,
      gallery_ids=gallery_ids,
      query_cams=query_cams,
      gallery_cams=gallery_cams,
      protocol=protocol,
      max_rank=max_rank,
      by_id=by_id,
      id_starts=id_starts,
  )
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    parts = list(pool.map(score, [slice(lo, min(q, lo + block)) for lo in range(0, q, block)]))
  cmc_sum = sum(p[0] for p in parts)
  ap, inp = np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])
  n = len(ap)
  return {
      "cmc": cmc_sum / max(n, 1),
      "mAP": float(ap.mean()) if n else 0.0,
      "mINP": float(inp.mean()) if n else 0.0,
      "num_valid_queries": n,
      "num_skipped_queries": q - n,
  }


def top_k(
    distmat: np.ndarray,
    query_ids: np.ndarray,
    gallery_ids: np.ndarray,
    query_cams: np.ndarray,
    gallery_cams: np.ndarray,
    *,
    protocol: str,
    k: int,
) -> np.ndarray:
  """The first `k` gallery columns of each query's ranking, as the metrics above rank them (ties
  by gallery order, the protocol's hidden images left out): [Q, G] -> int [Q, min(k, G)], -1
  where fewer than k images are visible."""
  if protocol not in PROTOCOLS:
    raise ValueError(f"protocol: expected one of {PROTOCOLS}, got {protocol!r}.")
  distmat = np.asarray(distmat)
  hidden = _hidden(*(np.asarray(a) for a in (query_ids, gallery_ids, query_cams, gallery_cams)), protocol)
  keys = _rank_keys(distmat, np.arange(distmat.shape[1]), hidden)
  first = np.ascontiguousarray(np.sort(keys, axis=1)[:, :k])
  return np.where(first < _HIDDEN, _low_words(first).astype(np.int64), -1)


def _score_block(
    rows_slice: slice,
    *,
    distmat,
    query_ids,
    gallery_ids,
    query_cams,
    gallery_cams,
    protocol,
    max_rank,
    by_id,
    id_starts,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """CMC hit counts [max_rank], AP [valid] and INP [valid] of one block of queries.

  Only the true matches' ranks matter, and a query's true matches are one contiguous run of the
  identity-grouped columns (see `_match_ranks`).
  """
  query_ids = query_ids[rows_slice]
  hidden = _hidden(query_ids, gallery_ids[by_id], query_cams[rows_slice], gallery_cams[by_id], protocol)
  keys = _rank_keys(distmat[rows_slice][:, by_id], by_id, hidden)
  ids = gallery_ids[by_id][id_starts]
  group = np.searchsorted(ids, query_ids)
  present = (group < len(ids)) & (ids[np.minimum(group, len(ids) - 1)] == query_ids)
  ends = np.append(id_starts[1:], keys.shape[1])
  start = np.where(present, id_starts[np.minimum(group, len(ids) - 1)], 0)
  size = np.where(present, ends[np.minimum(group, len(ids) - 1)] - start, 0)
  cols = start[:, None] + np.arange(max(int(size.max(initial=0)), 1))[None, :]
  true_keys = np.take_along_axis(keys, np.minimum(cols, keys.shape[1] - 1), axis=1)
  true_keys = np.sort(np.where(cols < (start + size)[:, None], true_keys, _HIDDEN), axis=1)  # hidden: no match
  is_match = true_keys < _HIDDEN
  num_rel = is_match.sum(axis=1)
  valid = num_rel > 0
  keys, true_keys, is_match, num_rel = keys[valid], true_keys[valid], is_match[valid], num_rel[valid]
  ranks = _match_ranks(keys, true_keys)
  nth = np.arange(1, true_keys.shape[1] + 1)[None, :]
  ap = np.where(is_match, nth / (ranks + 1), 0.0).sum(axis=1) / num_rel
  inp = num_rel / (np.take_along_axis(ranks, num_rel[:, None] - 1, axis=1)[:, 0] + 1)
  first_rank = ranks[:, 0]
  if protocol in DISTINCT_IDENTITY_CMC:
    # Identities ranked before the true one: those with an image that precedes the first true
    # match (columns are grouped by identity, so a running count gives each group's total).
    before = np.cumsum(keys < true_keys[:, :1], axis=1, dtype=np.int32)
    per_id = np.diff(before[:, ends - 1], axis=1, prepend=0)
    first_rank = (per_id > 0).sum(axis=1)
  cmc = (first_rank[:, None] < np.arange(1, max_rank + 1)[None, :]).sum(axis=0)
  return cmc, ap, inp


def _match_ranks(keys: np.ndarray, true_keys: np.ndarray) -> np.ndarray:
  """0-based ranks [q, m] of each row's true-match keys (ascending) among its `keys` [q, G]: the
  count of smaller keys. With a few matches per query (single- and multi-shot SYSU-MM01, RegDB)
  counting beats sorting every row; with many, the rows are sorted and searched."""
  if true_keys.shape[1] <= _COUNT_MAX:
    return np.stack([np.count_nonzero(keys < true_keys[:, j : j + 1], axis=1) for j in range(true_keys.shape[1])], 1)
  sorted_keys = np.sort(keys, axis=1)
  return np.stack([np.searchsorted(row, t) for row, t in zip(sorted_keys, true_keys)]).reshape(true_keys.shape)


def _rank_keys(distmat: np.ndarray, index: np.ndarray, hidden: np.ndarray | None) -> np.ndarray:
  """uint64 keys whose order is the ranking: float32 distance bits (made order-preserving) in the
  high word, the column's gallery `index` in the low word (so ties break by gallery order and one
  unstable sort of unique keys replaces a stable argsort); hidden images get the largest high word."""
  bits = np.ascontiguousarray(distmat, np.float32).view(np.int32)
  mono = bits >> 31  # negative floats: flip every bit; others: flip the sign bit
  mono |= np.int32(-(1 << 31))
  mono ^= bits
  if hidden is not None:
    mono[hidden] = -1  # hidden: the largest high word (all ones)
  keys = np.empty(distmat.shape, np.uint64)
  words = keys.view(np.uint32).reshape(distmat.shape + (2,))  # (low, high) words of each key
  high, low = (1, 0) if sys.byteorder == "little" else (0, 1)
  words[..., high] = mono.view(np.uint32)
  words[..., low] = index.astype(np.uint32)
  return keys


def _low_words(keys: np.ndarray) -> np.ndarray:
  """The low 32 bits of uint64 keys as a uint32 view (no copy)."""
  return keys.view(np.uint32)[..., 0 if sys.byteorder == "little" else 1 :: 2]


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
  return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def distances(query: np.ndarray, gallery: np.ndarray, metric: str = "euclidean") -> np.ndarray:
  """[Q, D], [G, D] -> [Q, G] float32 distances: Euclidean, squared Euclidean or cosine (1 - cos)."""
  if metric not in DISTANCES:
    raise ValueError(f"metric: expected one of {DISTANCES}, got {metric!r}.")
  query, gallery = np.asarray(query, np.float32), np.asarray(gallery, np.float32)
  if metric == "cosine":
    return 1.0 - l2_normalize(query) @ l2_normalize(gallery).T
  sq = (query**2).sum(1)[:, None] + (gallery**2).sum(1)[None, :] - 2.0 * query @ gallery.T
  sq = np.maximum(sq, 0.0)
  return sq if metric == "sqeuclidean" else np.sqrt(sq)


def k_reciprocal_rerank(
    query: np.ndarray, gallery: np.ndarray, k1: int = 20, k2: int = 6, lambda_value: float = 0.3
) -> np.ndarray:
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
  forward = rank[i, : k + 1]
  backward = rank[forward, : k + 1]
  return forward[np.any(backward == i, axis=1)]
