"""Builds (once) and opens the TFDS datasets; the synthetic tree stands in when no data is given.

`config` below is the `data` block of a run config (an `ml_collections.ConfigDict`) with fields
`dataset` ("sysu_mm01" | "regdb"), `manual_dir` (the raw folder; empty = synthetic), `data_dir`
(where TFDS writes its ArrayRecord files), `builder_config` (SYSU: "default" | "train_only") and
`trial` (RegDB: 1..10).

  python -m vireid_jax.data.datasets --data_dir=/tmp/vireid_data   # builds and describes both
"""

from __future__ import annotations

import collections
import os
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from data_builders.regdb.regdb_dataset_builder import Regdb
from data_builders.sysu_mm01.sysu_mm01_dataset_builder import SysuMm01
from vireid_jax.data import synthetic

BUILDERS = {"sysu_mm01": SysuMm01, "regdb": Regdb}
COLUMNS = ("label", "identity", "camera", "modality", "path")


def synthetic_root(data_dir: str, dataset: str) -> str:
  """Writes the synthetic raw tree for `dataset` under `data_dir` once (atomically); returns it."""
  root = os.path.join(os.path.expanduser(data_dir), f"synthetic_raw_v{synthetic.VERSION}", dataset)
  if os.path.isdir(root):
    return root
  parent = os.path.dirname(root)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(dir=parent, prefix=f".{dataset}-")
  try:
    if dataset == "sysu_mm01":
      synthetic.write_sysu(staging)
    else:
      synthetic.write_regdb(staging)
    os.rename(staging, root)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return root


def builder(config: Any) -> tfds.core.DatasetBuilder:
  """Returns the prepared builder of `config` (prepares it on first use)."""
  if config.dataset not in BUILDERS:
    raise ValueError(f"data.dataset: expected one of {sorted(BUILDERS)}, got {config.dataset!r}.")
  data_dir = os.path.expanduser(config.data_dir)
  manual_dir = config.manual_dir
  if not manual_dir:
    manual_dir = synthetic_root(data_dir, config.dataset)
    # Never mixed with files built from real data or by an older renderer.
    data_dir = os.path.join(data_dir, f"synthetic_v{synthetic.VERSION}")
  name = f"trial_{config.trial}" if config.dataset == "regdb" else config.builder_config
  b = BUILDERS[config.dataset](config=name, data_dir=data_dir, file_format="array_record")
  b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  return b


def sources(config: Any) -> dict[str, Any]:
  """Random-access sources per split; `image` stays encoded (the pipeline decodes with PIL)."""
  return builder(config).as_data_source(decoders={"image": tfds.decode.SkipDecoding()})


def columns(source: Any) -> dict[str, np.ndarray]:
  """All metadata columns of a split as arrays (paths as str), in the source's order."""
  records = source.__getitems__(range(len(source))) if len(source) else []
  out = {k: np.asarray([r[k] for r in records], dtype=np.int32) for k in COLUMNS if k != "path"}
  out["path"] = np.asarray([r["path"].decode() if isinstance(r["path"], bytes) else r["path"]
                            for r in records], dtype=str)
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
    config = ml_collections.ConfigDict(dict(dataset=dataset, manual_dir="", data_dir=args.data_dir,
                                            builder_config="default", trial=1))
    for split, source in sources(config).items():
      print(f"{dataset} (synthetic) {split}:\n{describe(columns(source))}")


if __name__ == "__main__":
  main()
