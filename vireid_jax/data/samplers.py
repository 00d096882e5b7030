"""Cross-modality batch samplers: which records form training batch number `b`.

Every sampler is a pure function of (seed, batch number), so a batch can be recomputed anywhere
(any worker, any host, after a restart) and the iterator state is one integer. A batch is an
int array of record indices with a leading modality axis: `[2, n]`, row 0 visible, row 1
infrared, which the pipeline shards over devices along axis 1 so that every device holds
both modalities.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

VISIBLE, INFRARED = 0, 1


@dataclasses.dataclass(frozen=True)
class ModalityIndex:
  """Record indices of each training class, per modality."""

  classes: np.ndarray  # [C] labels present in both modalities, sorted
  records: tuple[dict[int, np.ndarray], dict[int, np.ndarray]]  # per modality: label -> indices
  counts: tuple[int, int]  # images per modality

  @classmethod
  def from_columns(cls, labels: np.ndarray, modality: np.ndarray) -> ModalityIndex:
    labels, modality = np.asarray(labels), np.asarray(modality)
    records = tuple(
        {int(y): np.flatnonzero((labels == y) & (modality == m)) for y in np.unique(labels[modality == m])}
        for m in (VISIBLE, INFRARED)
    )
    both = sorted(set(records[VISIBLE]) & set(records[INFRARED]))
    if not both:
      raise ValueError("No training class has images of both modalities.")
    return cls(np.asarray(both), records, (int(np.sum(modality == VISIBLE)), int(np.sum(modality == INFRARED))))


def batches_per_epoch(index: ModalityIndex, images_per_modality: int, rule: str = "ceil") -> int:
  """Batches in an epoch: enough to show max(#visible, #infrared) images of one modality,
  rounded up ("ceil"), or N // n + 1 as the AGW and HcTri IdentitySampler counts them
  ("floor_plus_one": one more when n divides N)."""
  n = max(index.counts)
  return n // images_per_modality + 1 if rule == "floor_plus_one" else math.ceil(n / images_per_modality)


def _pick(rng: np.random.Generator, pool: np.ndarray, k: int, replace: bool) -> np.ndarray:
  """k records of `pool`: distinct when it has enough (unless `replace`), else with replacement."""
  return rng.choice(pool, size=k, replace=replace or len(pool) < k)


def pk_batch(index: ModalityIndex, batch: int, *, p: int, k: int, seed: int, replace: bool = False) -> np.ndarray:
  """P identities (distinct within the batch), K visible and K infrared images of each, drawn
  with replacement if `replace` (the AGW code's np.random.choice(pool, K)).

  Returns int64 [2, P*K]: row m holds modality m's images, identity-major (K per identity), in
  the same identity order in both rows.
  """
  rng = np.random.default_rng([seed, batch])
  identities = rng.choice(index.classes, size=p, replace=False)
  return np.stack(
      [
          np.concatenate([_pick(rng, index.records[m][int(y)], k, replace) for y in identities])
          for m in (VISIBLE, INFRARED)
      ]
  )


def tuple_batch(index: ModalityIndex, batch: int, *, n: int, seed: int) -> np.ndarray:
  """EAT tuples (EAT Sec. 4.3): N anchor pairs with a positive and a negative per modality.

  The N visible anchors are drawn from all visible training images ("N anchor sample pairs from
  the entire training set", so an identity is drawn in proportion to its images, as the LCCRF
  code does); for tuple i of identity y_i: that visible anchor and an infrared anchor of y_i, for
  each modality a positive of y_i that is not that modality's anchor image (the anchor itself only
  if y_i has a single image there), and a negative of another identity. Returns int64 [2, 3N]
  ordered (tuple, role) with roles (anchor, positive, negative): row 0 visible, row 1 infrared.
  """
  rng = np.random.default_rng([seed, batch])
  counts = np.array([len(index.records[VISIBLE][int(y)]) for y in index.classes])
  identities = index.classes[rng.choice(len(counts), size=n, p=counts / counts.sum())]
  out = np.empty((2, n, 3), np.int64)
  for i, y in enumerate(identities):
    for m in (VISIBLE, INFRARED):
      pool = index.records[m][int(y)]
      anchor, positive = rng.choice(pool, 2, replace=False) if len(pool) > 1 else (pool[0], pool[0])
      other = index.classes[rng.integers(len(index.classes) - 1)]
      other = other if other != y else index.classes[-1]
      out[m, i] = anchor, positive, rng.choice(index.records[m][int(other)])
  return out.reshape(2, 3 * n)
