import dataclasses
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
from PIL import Image

from configs import common
from tests import runs
from vireid_jax.data import datasets, synthetic

SMALL = synthetic.SysuSpec(num_identities=10, num_train=5, num_val=2, images_per_camera=(2, 3), height=48, width=24)


@pytest.fixture(scope="module")
def sysu_tree(tmp_path_factory):
  root = tmp_path_factory.mktemp("sysu")
  synthetic.write_sysu(str(root), SMALL)
  return root


def test_sysu_is_deterministic(sysu_tree, tmp_path):
  synthetic.write_sysu(str(tmp_path), SMALL)
  for path in sorted(sysu_tree.rglob("*.jpg"))[:20]:
    assert (tmp_path / path.relative_to(sysu_tree)).read_bytes() == path.read_bytes()


def test_sysu_layout(sysu_tree):
  splits = {n: (sysu_tree / "exp" / f"{n}_id.txt").read_text() for n in ("train", "val", "test")}
  for text in splits.values():
    assert "\n" not in text.strip() and all(t.isdigit() for t in text.split(","))
  ids = [sorted(int(t) for t in text.split(",")) for text in splits.values()]
  assert [len(i) for i in ids] == [5, 2, 3]
  assert len(set().union(*map(set, ids))) == 10
  for path in sysu_tree.rglob("*.jpg"):
    cam, person, name = path.relative_to(sysu_tree).parts
    assert cam in {f"cam{c}" for c in range(1, 7)} and len(person) == 4 and len(name) == 8
    pixels = np.asarray(Image.open(path))
    assert pixels.shape == (48, 24, 3)
    if cam in ("cam3", "cam6"):  # infrared: three nearly equal channels (JPEG may perturb slightly)
      assert np.abs(pixels.astype(int) - pixels.mean(-1, keepdims=True)).max() <= 12


def test_sysu_rand_perm_cam_format(sysu_tree):
  cells = scipy.io.loadmat(sysu_tree / "exp" / "rand_perm_cam.mat")["rand_perm_cam"]
  assert cells.shape == (6, 1)
  for c in range(6):
    per_person = cells[c, 0]
    for p in range(per_person.shape[0]):
      folder = sysu_tree / f"cam{c + 1}" / f"{p + 1:04d}"
      n = len(list(folder.glob("*.jpg"))) if folder.exists() else 0
      perm = per_person[p, 0]
      assert perm.shape == (10, n)
      for row in perm:
        assert sorted(row.tolist()) == list(range(1, n + 1))


def test_every_identity_has_both_modalities(sysu_tree):
  for person in {p.name for p in sysu_tree.glob("cam*/*")}:
    cams = {int(c.parent.name[3:]) for c in sysu_tree.glob(f"cam*/{person}") if any(c.iterdir())}
    assert cams & {1, 2, 4, 5} and cams & {3, 6}


def test_more_test_identities_join_the_test_split_and_leave_the_rest_of_the_tree_as_it_was(sysu_tree, tmp_path):
  synthetic.write_sysu(str(tmp_path), dataclasses.replace(SMALL, more_test_identities=3))
  read = lambda root, name: [int(t) for t in (root / "exp" / f"{name}_id.txt").read_text().split(",")]
  for name in ("train", "val"):
    assert read(tmp_path, name) == read(sysu_tree, name)
  base = {p.relative_to(sysu_tree): p.read_bytes() for p in sysu_tree.rglob("*.jpg")}
  numbers = sorted({int(p.parent.name) for p in tmp_path.rglob("*.jpg")})
  more = [n for n in numbers if n > max(int(p.parts[1]) for p in base)]
  assert len(more) == 3 and read(tmp_path, "test") == read(sysu_tree, "test") + more
  assert {
      p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*.jpg") if int(p.parent.name) not in more
  } == base
  cells = scipy.io.loadmat(tmp_path / "exp" / "rand_perm_cam.mat")["rand_perm_cam"]
  for person in more:  # both modalities, and official trial permutations of their images
    cams = {int(c.parent.name[3:]) for c in tmp_path.glob(f"cam*/{person:04d}")}
    assert cams & {1, 2, 4, 5} and cams & {3, 6}
    for c in cams:
      assert cells[c - 1, 0][person - 1, 0].shape == (10, len(list(tmp_path.glob(f"cam{c}/{person:04d}/*.jpg"))))


def test_the_data_configs_more_test_identities_name_and_write_their_own_tree(tmp_path):
  config = common.data_config(synthetic_identities=10, synthetic_more_test_identities=3, require_manual_dir=False)
  assert datasets.synthetic_version(config) == f"v{synthetic.VERSION}_10_identities_3_more_test"
  root = pathlib.Path(datasets.synthetic_root(str(tmp_path), config))
  read = lambda name: (root / "exp" / f"{name}_id.txt").read_text().split(",")
  assert (len(read("train")), len(read("val")), len(read("test"))) == (6, 1, 3 + 3)
  assert datasets.check(common.data_config(synthetic_more_test_identities=-1, require_manual_dir=False)) == [
      "data.synthetic_more_test_identities: expected a number of people >= 0, got -1."
  ]


def test_infrared_intensity_follows_colour_only_partly():
  """Across identities, colour predicts a garment's infrared intensity, but not exactly; pattern
  materials stay at least 0.2 apart so patterns survive in infrared."""
  people = [synthetic.sample_person(np.random.default_rng(i)) for i in range(400)]
  brightness = np.array([p.upper.mean() for p in people])
  heat = np.array([p.upper_heat for p in people])
  assert 0.4 < np.corrcoef(brightness, heat)[0, 1] < 0.95
  contrast = np.array([abs(p.upper_alt_heat - p.upper_heat) for p in people])
  assert contrast.min() >= 0.2 - 1e-9


def test_regdb_layout_and_alignment(tmp_path):
  spec = synthetic.RegdbSpec(num_identities=6, images_per_identity=4, height=48, width=24, trials=2)
  synthetic.write_regdb(str(tmp_path), spec)
  for trial in (1, 2):
    seen = {}
    for split in ("train", "test"):
      for modality in ("visible", "thermal"):
        lines = (tmp_path / "idx" / f"{split}_{modality}_{trial}.txt").read_text().split("\n")
        for line in filter(None, lines):
          path, label = line.split()
          assert (tmp_path / path).is_file() and path.startswith(modality.capitalize() + "/")
          seen.setdefault(split, set()).add(int(path.split("/")[1]))
    assert len(seen["train"]) == len(seen["test"]) == 3 and not seen["train"] & seen["test"]
  # Aligned pairs: the k-th visible and thermal image share the silhouette (same placement).
  visible = sorted((tmp_path / "Visible" / "1").glob("*.bmp"))
  thermal = sorted((tmp_path / "Thermal" / "1").glob("*.bmp"))
  assert len(visible) == len(thermal) == 4
  for v, t in zip(visible, thermal):
    assert v.name.replace("_v_", "_t_") == t.name
    tv = np.asarray(Image.open(t)).astype(float).mean(-1)
    assert tv.shape == (48, 24)


def test_llcm_layout(tmp_path):
  spec = synthetic.LlcmSpec(num_identities=12, num_train=8, height=32, width=16)
  counts = synthetic.write_llcm(str(tmp_path), spec)
  test_ids = [int(t) for t in (tmp_path / "idx" / "test_id.txt").read_text().split(",")]
  assert counts["train_ids"] == 8 and len(test_ids) == 4
  assert not (tmp_path / "test_nir" / "cam3").exists()  # as distributed
  labels = {}
  for modality in ("vis", "nir"):
    for line in (tmp_path / "idx" / f"train_{modality}.txt").read_text().split("\n"):
      if line:
        path, label = line.split()
        assert (tmp_path / path).is_file() and path.startswith(f"train_{modality}/cam")
        assert labels.setdefault(path.split("/")[2], int(label)) == int(label)  # one label per identity
  assert sorted(labels.values()) == sorted(set(labels.values())) and set(labels.values()) == set(range(8))
  for identity in test_ids:  # a query always keeps a true match after its own camera is removed
    for top in ("test_vis", "test_nir"):
      assert len(list(tmp_path.glob(f"{top}/cam*/{identity:04d}"))) >= 2


def test_the_datasets_command_builds_and_describes_each(data_dir):
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  done = subprocess.run(
      [sys.executable, "-m", "vireid_jax.data.datasets", f"--data_dir={data_dir}"],
      cwd=root,
      capture_output=True,
      text=True,
      timeout=600,
  )
  assert done.returncode == 0, done.stderr[-2000:]
  for dataset in ("sysu_mm01", "regdb", "llcm"):
    assert f"{dataset} (synthetic) test:" in done.stdout, done.stdout[-2000:]


def test_runs_started_at_once_prepare_the_data_one_after_the_other(tmp_path):
  """Two first runs on one empty `data_dir` (two seeds started together): without the lock both
  render and build the same trees and the second rename fails."""
  args = ["--data_dir", str(tmp_path / "tfds")]
  first, second = runs.run_modules([("vireid_jax.data.datasets", args, tmp_path)] * 2, parallel=2)
  for done in (first, second):
    assert done.returncode == 0, done.stderr[-2000:]
    assert "llcm (synthetic) test:" in done.stdout, done.stdout[-2000:]
  described = lambda out: [line for line in out.splitlines() if not line.startswith(("Downloading", "Dataset "))]
  assert described(first.stdout) == described(second.stdout)  # the same data, less TFDS's build messages


def test_a_built_data_dir_this_process_cannot_write_to_is_read_without_the_lock(sysu, monkeypatch):
  cfg, built, _ = sysu

  def refuse(path, *args, **kwargs):
    raise PermissionError(13, "Permission denied", path)

  monkeypatch.setattr(datasets.os, "makedirs", refuse)  # root ignores file modes: refuse as a read-only folder does
  assert len(datasets.sources(cfg)["test"]) == len(built["test"])
