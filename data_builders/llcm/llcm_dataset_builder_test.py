"""Builds LLCM from dummy_data/ (a tiny tree from the synthetic writer) and checks it against the lists and folders."""

import os
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from data_builders.common import LayoutError
from data_builders.llcm.llcm_dataset_builder import Llcm, camera_and_identity
from vireid_jax.data import datasets

DUMMY = os.path.join(os.path.dirname(__file__), "dummy_data")


def build(manual_dir, data_dir):
  b = Llcm(data_dir=str(data_dir), file_format="array_record")
  b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
  return {k: datasets.columns(v) for k, v in b.as_data_source(decoders={"image": tfds.decode.SkipDecoding()}).items()}


def listed(modality):
  lines = pathlib.Path(DUMMY, "idx", f"train_{modality}.txt").read_text().split("\n")
  return [(line.split()[0], int(line.split()[1])) for line in lines if line]


def listed_test_ids():
  return [int(t) for t in pathlib.Path(DUMMY, "idx", "test_id.txt").read_text().split(",")]


def test_splits_match_the_lists_and_folders(tmp_path):
  cols = build(DUMMY, tmp_path)
  train = cols["train"]
  expected = [(p, m) for m, name in enumerate(("vis", "nir")) for p, _ in listed(name)]
  assert sorted(zip(train["path"].tolist(), train["modality"].tolist())) == sorted(expected)
  labels = dict(listed("vis") + listed("nir"))
  np.testing.assert_array_equal(train["label"], [labels[p] for p in train["path"]])  # the lists' labels
  for p, cam, identity in zip(train["path"], train["camera"], train["identity"]):
    assert p.split("/")[1] == f"cam{cam}" and p.split("/")[2] == f"{identity:04d}"
  test, walked = cols["test"], []
  for top, modality in (("test_vis", 0), ("test_nir", 1)):
    for folder in sorted(pathlib.Path(DUMMY, top).glob("cam*/*")):
      walked += [(f"{top}/{folder.parent.name}/{folder.name}/{f.name}", modality) for f in folder.iterdir()]
  assert sorted(zip(test["path"].tolist(), test["modality"].tolist())) == sorted(walked)
  assert not any(p.startswith("test_nir/cam3/") for p in test["path"])
  np.testing.assert_array_equal(test["label"], np.searchsorted(sorted(listed_test_ids()), test["identity"]))
  np.testing.assert_array_equal(test["camera"], [int(p.split("/")[1][3:]) for p in test["path"]])
  assert set(test["identity"]) == set(listed_test_ids()) and not set(train["identity"]) & set(test["identity"])


def test_camera_and_identity_from_folders_or_file_names():
  assert camera_and_identity("train_vis/cam7/0123/x.jpg") == (7, 123)
  assert camera_and_identity("train_nir/0456_c03_s2_f10_nir.jpg") == (3, 456)
  assert camera_and_identity("train/person.jpg") == (None, None)


def copy_dummy(tmp_path):
  root = tmp_path / "LLCM"
  shutil.copytree(DUMMY, root)
  return root


def test_error_parent_folder(tmp_path):
  copy_dummy(tmp_path)
  with pytest.raises(LayoutError, match="parent folder.*LLCM"):
    build(tmp_path, tmp_path / "out")


def test_error_missing_list(tmp_path):
  root = copy_dummy(tmp_path)
  os.remove(root / "idx" / "train_nir.txt")
  with pytest.raises(LayoutError, match="idx/train_nir.txt"):
    build(root, tmp_path / "out")


def test_error_listed_file_missing(tmp_path):
  root = copy_dummy(tmp_path)
  first = listed("vis")[0][0]
  os.remove(root / first)
  with pytest.raises(LayoutError, match=f"train_vis.txt:1: .*{first} does not exist"):
    build(root, tmp_path / "out")


def test_error_a_path_that_names_no_camera(tmp_path):
  root = copy_dummy(tmp_path)
  first, label = listed("nir")[0]
  shutil.copy(root / first, root / "stray.jpg")
  lines = (root / "idx" / "train_nir.txt").read_text().split("\n")
  (root / "idx" / "train_nir.txt").write_text("\n".join([f"stray.jpg {label}"] + lines[1:]))
  with pytest.raises(LayoutError, match="train_nir.txt:1: stray.jpg names no camera and identity"):
    build(root, tmp_path / "out")


def test_error_unreadable_test_image(tmp_path):
  root = copy_dummy(tmp_path)
  victim = sorted(root.glob("test_nir/cam*/*/*.jpg"))[0]
  victim.write_bytes(b"not a jpeg")
  with pytest.raises(LayoutError, match=f"{victim}: not a readable image"):
    build(root, tmp_path / "out")
  assert not list((tmp_path / "out").glob("llcm/*/*.array_record*"))  # nothing half-built is kept


def test_error_training_identity_without_infrared(tmp_path):
  root = copy_dummy(tmp_path)
  dropped = listed("nir")[0][0].split("/")[2]
  lines = [l for l in (root / "idx" / "train_nir.txt").read_text().split("\n") if l]
  (root / "idx" / "train_nir.txt").write_text("\n".join(l for l in lines if l.split("/")[2] != dropped) + "\n")
  with pytest.raises(LayoutError, match=f"train identity {int(dropped)} has no infrared image"):
    build(root, tmp_path / "out")
