"""Builds SYSU-MM01 from dummy_data/ (a tiny tree from the synthetic writer) and checks it against the files."""

import os
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from data_builders.common import LayoutError
from data_builders.sysu_mm01.sysu_mm01_dataset_builder import SysuMm01
from vireid_jax.data import datasets

DUMMY = os.path.join(os.path.dirname(__file__), "dummy_data")


def build(manual_dir, data_dir, config="default"):
  b = SysuMm01(config=config, data_dir=str(data_dir), file_format="array_record")
  b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
  return {k: datasets.columns(v) for k, v in b.as_data_source(decoders={"image": tfds.decode.SkipDecoding()}).items()}


def files_of(ids):
  """(camera, identity, name) of every jpg of `ids`, from a directory walk."""
  out = []
  for c in range(1, 7):
    for i in ids:
      folder = os.path.join(DUMMY, f"cam{c}", f"{i:04d}")
      if os.path.isdir(folder):
        out += [(c, i, n) for n in os.listdir(folder)]
  return sorted(out)


def ids(name):
  return [int(t) for t in pathlib.Path(os.path.join(DUMMY, "exp", name)).read_text().split(",")]


@pytest.mark.parametrize(
    "config,id_files", [("default", ["train_id.txt", "val_id.txt"]), ("train_only", ["train_id.txt"])]
)
def test_splits_match_files(tmp_path, config, id_files):
  cols = build(DUMMY, tmp_path, config)
  expected = {"train": sorted(i for f in id_files for i in ids(f)), "test": ids("test_id.txt")}
  for split, split_ids in expected.items():
    c = cols[split]
    got = sorted((int(cam), int(i), p.split("/")[-1]) for cam, i, p in zip(c["camera"], c["identity"], c["path"]))
    assert got == files_of(split_ids)
    # Paths are camN/PPPP/NNNN.jpg and agree with the identity and camera columns.
    for cam, i, p in zip(c["camera"], c["identity"], c["path"]):
      assert p.startswith(f"cam{cam}/{i:04d}/") and p.endswith(".jpg")
    np.testing.assert_array_equal(c["modality"], np.isin(c["camera"], [3, 6]).astype(np.int32))
    # Labels: index of the identity among the split's sorted identities.
    np.testing.assert_array_equal(c["label"], np.searchsorted(split_ids, c["identity"]))


def copy_dummy(tmp_path):
  root = tmp_path / "SYSU-MM01"
  shutil.copytree(DUMMY, root)
  return root


def test_error_parent_folder(tmp_path):
  copy_dummy(tmp_path)
  with pytest.raises(LayoutError, match="parent folder.*SYSU-MM01"):
    build(tmp_path, tmp_path / "out")


def test_error_missing_manual_dir(tmp_path):
  with pytest.raises(Exception, match="manual"):
    build(tmp_path / "nowhere", tmp_path / "out")


def test_error_missing_split_file(tmp_path):
  root = copy_dummy(tmp_path)
  os.remove(root / "exp" / "val_id.txt")
  with pytest.raises(LayoutError, match="exp/val_id.txt"):
    build(root, tmp_path / "out")


def test_error_corrupt_image(tmp_path):
  root = copy_dummy(tmp_path)
  test_id = ids("test_id.txt")[0]
  victim = (
      sorted((root / "cam3").glob(f"{test_id:04d}/*.jpg"))[0]
      if (root / "cam3" / f"{test_id:04d}").exists()
      else sorted(root.glob(f"cam*/{test_id:04d}/*.jpg"))[0]
  )
  victim.write_bytes(b"not a jpeg")
  with pytest.raises(LayoutError, match=f"{victim}: not a readable image"):
    build(root, tmp_path / "out")


def test_error_training_identity_without_infrared(tmp_path):
  root = copy_dummy(tmp_path)
  identity = ids("train_id.txt")[0]
  for c in (3, 6):
    shutil.rmtree(root / f"cam{c}" / f"{identity:04d}", ignore_errors=True)
  with pytest.raises(LayoutError, match=f"train identity {identity} has no infrared image"):
    build(root, tmp_path / "out")
