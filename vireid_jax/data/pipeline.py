"""Grain input pipelines: sampled cross-modality training batches and ordered, padded eval batches.

A training batch is one Grain element built from its batch number (see `samplers`), so any
number of worker processes keeps batches whole and the iterator state is a position in a range.
Arrays in a training batch have a leading view axis (`data.views`, see `views`): `image`
[V, n, H, W, 3] and `label`, `identity`, `camera`, `modality` int32 [V, n]; by default V = 2, row
0 visible and row 1 infrared (for the tuple sampler n = 3N ordered (tuple, role)). Images are
uint8, normalised on the device (`transforms.normalize`), unless the views' augmentations act on
normalised images (then float32, normalised here). On several hosts each host loads its own slice
of the n axis; augmentation is seeded by the global position (view, item), so the global batch
does not depend on the number of hosts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import grain
import numpy as np

from vireid_jax import errors
from vireid_jax.data import samplers, transforms, views

Sampler = Callable[..., np.ndarray]
META = ("label", "identity", "camera", "modality")


# data.sampler -> the sampler of a config's `data` block and the images of one modality per batch.
SAMPLERS: dict[str, Callable[[Any], tuple[Sampler, int]]] = {
    "pk": lambda cfg: (
        functools.partial(samplers.pk_batch, p=cfg.p, k=cfg.k, replace=cfg.pk_replacement),
        cfg.p * cfg.k,
    ),
    "tuple": lambda cfg: (functools.partial(samplers.tuple_batch, n=cfg.tuples), 3 * cfg.tuples),
}
EPOCH_LENGTHS = ("ceil", "floor_plus_one")


def check(cfg: Any) -> list[str]:
  """Problems with the `data` block's sampling and loading fields, each naming the field."""
  problems = []
  if cfg.sampler not in SAMPLERS:
    problems.append(f"data.sampler: expected one of {tuple(SAMPLERS)}, got {cfg.sampler!r}.")
  for field in ("p", "k", "tuples"):
    if not (isinstance(cfg[field], int) and cfg[field] >= 1):
      problems.append(f"data.{field}: expected a positive integer, got {cfg[field]!r}.")
  if not (isinstance(cfg.workers, int) and cfg.workers >= 0):
    problems.append(f"data.workers: expected 0 (load in this process) or more, got {cfg.workers!r}.")
  if cfg.epoch_length not in EPOCH_LENGTHS:
    problems.append(f"data.epoch_length: expected one of {EPOCH_LENGTHS}, got {cfg.epoch_length!r}.")
  return problems + views.check(cfg)


def check_fits(index: samplers.ModalityIndex, cfg: Any) -> None:
  """Raises UserError where the training split cannot fill the configured sampler's batches."""
  classes = len(index.classes)
  if cfg.sampler == "pk" and cfg.p > classes:
    raise errors.UserError(
        f"data.p: {cfg.p} identities per batch, but the training split has only {classes} "
        "identities with images of both modalities."
    )
  if cfg.sampler == "tuple" and classes < 2:
    raise errors.UserError(
        "data.sampler: the tuple sampler needs at least two training identities (for "
        f"negatives); the training split has {classes} with images of both modalities."
    )


def make_sampler(cfg: Any) -> tuple[Sampler, int]:
  """The config's sampler (`data.sampler`, see `SAMPLERS`) and the images of one modality it puts in a batch."""
  return SAMPLERS[cfg.sampler](cfg)


def _host_slice(n: int, process_index: int, process_count: int) -> slice:
  if n % process_count:
    raise ValueError(f"{n} images per modality per batch do not split over {process_count} hosts.")
  share = n // process_count
  return slice(process_index * share, (process_index + 1) * share)


def _read(source: Any, records: np.ndarray) -> list[dict[str, Any]]:
  return source.__getitems__([int(r) for r in records.reshape(-1)])


def load_train_batch(
    batch: int,
    *,
    source: Any,
    index: samplers.ModalityIndex,
    sampler: Sampler,
    seed: int,
    parsed_views: tuple[tuple[int, tuple[str, ...]], ...],
    normalize: bool,
    augment: Any,
    host: slice,
) -> dict[str, np.ndarray]:
  """Samples, reads, decodes and augments training batch number `batch` (this host's slice): each
  view (`views.parse`: its modality and ops; `normalize`: `views.normalized`) from its modality's
  sampled records."""
  records = sampler(index, batch, seed=seed)
  n = records.shape[1]
  items = np.arange(n)[host]
  rows = [_read(source, records[m, host]) for m in (samplers.VISIBLE, samplers.INFRARED)]
  images, meta = [], []
  for v, (modality, ops) in enumerate(parsed_views):
    for r, i in zip(rows[modality], items):
      rng = np.random.default_rng([seed, batch, v * n + int(i)])
      image = transforms.train_transform(transforms.decode(r["image"], r["path"]), modality, rng, augment)
      images.append(views.augment(image, ops, rng, augment, normalize))
    meta += rows[modality]
  shape = (len(parsed_views), len(items))
  out = {"image": np.stack(images).reshape(shape + images[0].shape)}
  out.update({k: np.asarray([r[k] for r in meta], np.int32).reshape(shape) for k in META})
  return out


def train_dataset(
    source: Any,
    columns: dict[str, np.ndarray],
    cfg: Any,
    *,
    num_batches: int,
    seed: int,
    process_index: int = 0,
    process_count: int = 1,
) -> grain.IterDataset:
  """Batches 0..num_batches-1 of the configured sampler over a training split.

  `cfg` is the `data` config: `sampler`, `p`/`k` or `tuples`, `views`, `workers`, and `augment`
  (`height`, `width`, `pad`, `flip`, `channel_aug_prob`, `erasing_*`, and the views' fields).
  """
  sampler, n = make_sampler(cfg)
  index = samplers.ModalityIndex.from_columns(columns["label"], columns["modality"])
  load = functools.partial(
      load_train_batch,
      source=source,
      index=index,
      sampler=sampler,
      seed=seed,
      parsed_views=tuple(views.parse(v) for v in cfg.views),
      normalize=views.normalized(cfg),
      augment=cfg.augment,
      host=_host_slice(n, process_index, process_count),
  )
  return _with_workers(grain.MapDataset.range(num_batches).map(load).to_iter_dataset(), cfg.workers)


def _with_workers(ds: grain.IterDataset, workers: int) -> grain.IterDataset:
  """Loads elements in `workers` processes (0: in this one). Workers hand batches over in shared
  memory, which Grain frees when the array that views it is collected; each batch is copied out
  at once, so no array the run still holds (a device buffer, a traceback) keeps a segment that
  nothing frees once the process exits."""
  if not workers:
    return ds
  return ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers)).map(
      lambda batch: {k: np.array(v) for k, v in batch.items()}
  )


def _eval_images(rows: Sequence[dict[str, Any]], augment: Any) -> np.ndarray:
  return np.stack([transforms.eval_transform(transforms.decode(r["image"], r["path"]), augment) for r in rows])


def load_images(source: Any, records: Sequence[int], cfg: Any) -> np.ndarray:
  """The eval-transformed images (as the model sees them) of `records`: uint8 [n, H, W, 3]."""
  return _eval_images(_read(source, np.asarray(records)), cfg.augment)


def load_eval_batch(
    batch: int, *, source: Any, records: np.ndarray, batch_size: int, augment: Any
) -> dict[str, np.ndarray]:
  """Batch number `batch` of `records` in order; the last one padded, `mask` False on padding."""
  chosen = records[batch * batch_size : (batch + 1) * batch_size]
  valid = len(chosen)
  rows = _read(source, chosen)
  images = _eval_images(rows, augment)
  pad = batch_size - valid
  out = {
      "image": np.pad(images, ((0, pad), (0, 0), (0, 0), (0, 0))),
      "mask": np.arange(batch_size) < valid,
      "record": np.pad(chosen, (0, pad), constant_values=-1).astype(np.int32),
  }
  out.update({k: np.pad(np.asarray([r[k] for r in rows], np.int32), (0, pad), constant_values=-1) for k in META})
  return out


def eval_batches(source: Any, records: Sequence[int], cfg: Any, *, batch_size: int) -> grain.DatasetIterator:
  """Ordered batches over `records` (indices into `source`), each of exactly `batch_size`; `close()`
  it when done (its worker processes hold shared memory)."""
  records = np.asarray(records, np.int64)
  load = functools.partial(load_eval_batch, source=source, records=records, batch_size=batch_size, augment=cfg.augment)
  ds = grain.MapDataset.range(math.ceil(len(records) / batch_size)).map(load).to_iter_dataset()
  return iter(_with_workers(ds, cfg.workers))
