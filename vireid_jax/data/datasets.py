"""Builds (once) and opens the TFDS datasets; the synthetic tree stands in when no data is given.

`config` below is the `data` block of a run config (an `ml_collections.ConfigDict`) with fields
`dataset` ("sysu_mm01" | "regdb" | "llcm"), `manual_dir` (the raw folder; empty = synthetic),
`require_manual_dir` (paper configs: refuse the synthetic stand-in), `synthetic_identities` (the
size of the synthetic SYSU-MM01 tree; LLCM's and RegDB's have one size), `synthetic_more_test_identities`
(people added to that tree's test split only), `data_dir` (where TFDS writes its ArrayRecord files),
`builder_config` (SYSU: "default" | "train_only"; LLCM: "default") and `trial` (RegDB: 1..10).

  python -m vireid_jax.data.datasets --data_dir=/tmp/vireid_data   # builds and describes each
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
import tensorflow_datasets as tfds
import orbax.checkpoint as ocp

from data_builders import common
from data_builders.llcm.llcm_dataset_builder import Llcm
from data_builders.regdb.regdb_dataset_builder import NUM_TRIALS, Regdb
from data_builders.sysu_mm01.sysu_mm01_dataset_builder import SysuMm01
from vireid_jax.data import synthetic, transforms

BUILDERS = {"sysu_mm01": SysuMm01, "regdb": Regdb, "llcm": Llcm}
FOLDERS = {"sysu_mm01": "SYSU-MM01", "regdb": "RegDB", "llcm": "LLCM"}
COLUMNS = ("label", "identity", "camera", "modality", "path")


def builder_config_name(config: Any) -> str:
  return f"trial_{config.trial}" if config.dataset == "regdb" else config.builder_config


def check(config: Any) -> list[str]:
  """Problems with the `data` block, each naming the field (empty if none): values, and the raw
  folder's existence and layout, so that a wrong path fails before anything is built."""
  if config.dataset not in BUILDERS:
    return [f"data.dataset: expected one of {sorted(BUILDERS)}, got {config.dataset!r}."]
  problems = []
  if config.dataset == "regdb" and config.trial not in range(1, NUM_TRIALS + 1):
    problems.append(f"data.trial: expected a RegDB trial 1..{NUM_TRIALS}, got {config.trial!r}.")
  names = [c.name for c in BUILDERS[config.dataset].BUILDER_CONFIGS]
  if config.dataset != "regdb" and config.builder_config not in names:
    problems.append(f"data.builder_config: expected one of {names}, got {config.builder_config!r}.")
  if config.manual_dir and not problems:
    try:
      common.check_layout(
          os.path.expanduser(config.manual_dir),
          BUILDERS[config.dataset].manual_entries(builder_config_name(config)),
          config.dataset,
      )
    except common.LayoutError as e:
      problems.append(f"data.manual_dir: {e}")
  elif not config.manual_dir and config.require_manual_dir:
    problems.append(
        f"data.manual_dir: this config reproduces a paper on {FOLDERS[config.dataset]} and needs the "
        f"dataset's folder (--config.data.manual_dir=/path/to/{FOLDERS[config.dataset]}); without it the "
        "synthetic stand-in would be trained instead. To train on the synthetic data on purpose, use the "
        "config's :synthetic variant (e.g. configs/agw.py:synthetic) or set data.require_manual_dir=False."
    )
  if not (isinstance(config.synthetic_identities, int) and config.synthetic_identities >= 10):
    problems.append(f"data.synthetic_identities: expected at least 10 identities, got {config.synthetic_identities!r}.")
  more = config.synthetic_more_test_identities
  if not (isinstance(more, int) and more >= 0):
    problems.append(f"data.synthetic_more_test_identities: expected a number of people >= 0, got {more!r}.")
  augment = config.augment
  if augment.interpolation not in transforms.INTERPOLATIONS:
    problems.append(
        f"data.augment.interpolation: expected one of {sorted(transforms.INTERPOLATIONS)}, got "
        f"{augment.interpolation!r}."
    )
  for field in ("height", "width"):
    if not (isinstance(augment[field], int) and augment[field] >= 16):
      problems.append(f"data.augment.{field}: expected an image size of at least 16 pixels, got {augment[field]!r}.")
  for field in ("channel_aug_prob", "erasing_prob"):
    if not 0.0 <= augment[field] <= 1.0:
      problems.append(f"data.augment.{field}: expected a probability in [0, 1], got {augment[field]!r}.")
  return problems


def synthetic_version(config: Any) -> str:
  """Names the synthetic data of the `data` config: the renderer's version, and a SYSU-MM01 size
  other than the default (with the people added to its test split)."""
  name = f"v{synthetic.VERSION}"
  if config.dataset != "sysu_mm01":
    return name
  if config.synthetic_identities != synthetic.SysuSpec.num_identities:
    name += f"_{config.synthetic_identities}_identities"
  if config.synthetic_more_test_identities:
    name += f"_{config.synthetic_more_test_identities}_more_test"
  return name


def synthetic_root(data_dir: str, config: Any) -> str:
  """Writes the synthetic raw tree of the `data` config under `data_dir` once (atomically); returns it."""
  dataset = config.dataset
  root = os.path.join(os.path.expanduser(data_dir), f"synthetic_raw_{synthetic_version(config)}", dataset)
  if os.path.isdir(root):
    return root
  parent = os.path.dirname(root)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(dir=parent, prefix=f".{dataset}-")
  try:
    if dataset == "sysu_mm01":
      synthetic.write_sysu(
          staging, synthetic.sysu_spec(config.synthetic_identities, config.synthetic_more_test_identities)
      )
    elif dataset == "llcm":
      synthetic.write_llcm(staging)
    else:
      synthetic.write_regdb(staging)
    os.rename(staging, root)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return root


PREPARE_TIMEOUT_S = 3 * 3600


def builder(config: Any) -> tfds.core.DatasetBuilder:
  """Returns the prepared builder of `config` (prepares it on first use). On several processes
  process 0 prepares it first and the others follow, so processes that share `data_dir` never
  write the same files at once (the others find it prepared)."""
  if config.dataset not in BUILDERS:
    raise ValueError(f"data.dataset: expected one of {sorted(BUILDERS)}, got {config.dataset!r}.")
  if jax.process_count() == 1:
    return _prepared(config)
  if jax.process_index() == 0:
    _prepared(config)
  # The coordination service's barrier (a device collective would give up after seconds on CPU
  # hosts), as long as a first build of real data can take.
  ocp.multihost.sync_global_processes(
      "vireid_jax: dataset prepared by process 0", timeout=PREPARE_TIMEOUT_S, processes=set(range(jax.process_count()))
  )
  return _prepared(config)


@contextlib.contextmanager
def _exclusive(data_dir: str):
  """Holds `data_dir`'s lock file: runs started at once on one machine (two seeds, two users of a
  shared folder) prepare its data one after the other, and the later ones find it prepared. A
  folder this process cannot write to needs no lock: nothing can be prepared there."""
  try:
    os.makedirs(data_dir, exist_ok=True)
    lock = open(os.path.join(data_dir, ".vireid_jax_prepare.lock"), "a")
  except OSError:
    yield
    return
  with lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    yield


def _prepared(config: Any) -> tfds.core.DatasetBuilder:
  data_dir = os.path.expanduser(config.data_dir)
  manual_dir = os.path.expanduser(config.manual_dir)
  with _exclusive(data_dir):
    if not manual_dir:
      manual_dir = synthetic_root(data_dir, config)
      # Never mixed with files built from real data, by an older renderer or of another size.
      data_dir = os.path.join(data_dir, f"synthetic_{synthetic_version(config)}")
    b = BUILDERS[config.dataset](config=builder_config_name(config), data_dir=data_dir, file_format="array_record")
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  return b


def sources(config: Any) -> dict[str, Any]:
  """Random-access sources per split; `image` stays encoded (the pipeline decodes with PIL)."""
  return builder(config).as_data_source(decoders={"image": tfds.decode.SkipDecoding()})


def columns(source: Any) -> dict[str, np.ndarray]:
  """All metadata columns of a split as arrays (paths as str), in the source's order."""
  records = source.__getitems__(range(len(source))) if len(source) else []
  out = {k: np.asarray([r[k] for r in records], dtype=np.int32) for k in COLUMNS if k != "path"}
  out["path"] = np.asarray(
      [r["path"].decode() if isinstance(r["path"], bytes) else r["path"] for r in records], dtype=str
  )
  return out


def describe(cols: Mapping[str, np.ndarray]) -> str:
  """A readable table: identities, and images per camera and modality."""
  lines = [f"  identities {len(np.unique(cols['identity']))}, images {len(cols['identity'])}"]
  per_camera = collections.Counter(zip(cols["modality"].tolist(), cols["camera"].tolist()))
  for (modality, camera), n in sorted(per_camera.items()):
    kind = "visible" if modality == 0 else "infrared"
    ids = len(np.unique(cols["identity"][(cols["camera"] == camera) & (cols["modality"] == modality)]))
    lines.append(f"  camera {camera} ({kind:8s}) images {n:6d}  identities {ids:4d}")
  return "\n".join(lines)


def main() -> None:
  import argparse

  import ml_collections

  parser = argparse.ArgumentParser(description="Build the synthetic datasets and describe them.")
  parser.add_argument("--data_dir", default="~/tensorflow_datasets")
  args = parser.parse_args()
  for dataset in BUILDERS:
    config = ml_collections.ConfigDict(
        dict(
            dataset=dataset,
            manual_dir="",
            require_manual_dir=False,
            data_dir=args.data_dir,
            builder_config="default",
            trial=1,
            synthetic_identities=synthetic.SysuSpec.num_identities,
            synthetic_more_test_identities=0,
        )
    )
    for split, source in sources(config).items():
      print(f"{dataset} (synthetic) {split}:\n{describe(columns(source))}")


if __name__ == "__main__":
  main()
