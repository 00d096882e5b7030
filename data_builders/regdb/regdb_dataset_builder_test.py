"""Builds RegDB from dummy_data/ (a tiny tree from the synthetic writer) and checks it against the idx files."""

import os
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from data_builders.common import LayoutError
from data_builders.regdb.regdb_dataset_builder import Regdb
from vireid_jax.data import datasets

DUMMY = os.path.join(os.path.dirname(__file__), "dummy_data")


def build(manual_dir, data_dir, trial=1):
  b = Regdb(config=f"trial_{trial}", data_dir=str(data_dir), file_format="array_record")
  b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
  return {k: datasets.columns(v) for k, v in b.as_data_source(decoders={"image": tfds.decode.SkipDecoding()}).items()}


@pytest.mark.parametrize("trial", [1, 7])
def test_splits_match_idx_files(tmp_path, trial):
  cols = build(DUMMY, tmp_path, trial)
  for split in ("train", "test"):
    c = cols[split]
    expected = []
    for modality, name in enumerate(("visible", "thermal")):
      lines = pathlib.Path(os.path.join(DUMMY, "idx", f"{split}_{name}_{trial}.txt")).read_text().split("\n")
      expected += [(line.split()[0], modality) for line in lines if line]
    assert sorted(zip(c["path"].tolist(), c["modality"].tolist())) == sorted(expected)
    np.testing.assert_array_equal(c["camera"], c["modality"] + 1)
    np.testing.assert_array_equal(c["identity"], [int(p.split("/")[1]) for p in c["path"]])
    np.testing.assert_array_equal(c["label"], np.searchsorted(np.unique(c["identity"]), c["identity"]))
  assert not set(cols["train"]["identity"]) & set(cols["test"]["identity"])


def test_error_idx_line_names_missing_file(tmp_path):
  root = tmp_path / "RegDB"
  shutil.copytree(DUMMY, root)
  idx = root / "idx" / "train_thermal_1.txt"
  first = idx.read_text().split("\n")[0].split()[0]
  os.remove(root / first)
  with pytest.raises(LayoutError, match=f"train_thermal_1.txt:1: .*{first} does not exist"):
    build(root, tmp_path / "out")


def test_error_training_identity_without_thermal(tmp_path):
  root = tmp_path / "RegDB"
  shutil.copytree(DUMMY, root)
  idx = root / "idx" / "train_thermal_1.txt"
  lines = [l for l in idx.read_text().split("\n") if l]
  dropped = lines[0].split()[0].split("/")[1]
  idx.write_text("\n".join(l for l in lines if l.split()[0].split("/")[1] != dropped) + "\n")
  with pytest.raises(LayoutError, match=f"train identity {dropped} has no infrared image"):
    build(root, tmp_path / "out")


def test_error_missing_idx_file(tmp_path):
  root = tmp_path / "RegDB"
  shutil.copytree(DUMMY, root)
  os.remove(root / "idx" / "test_visible_1.txt")
  with pytest.raises(LayoutError, match="idx/test_visible_1.txt"):
    build(root, tmp_path / "out")
