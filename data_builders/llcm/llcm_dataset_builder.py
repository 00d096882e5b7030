"""LLCM (Zhang & Wang, CVPR 2023) from its original folder layout and idx lists.

The layout, as the authors' loaders read it (ZYK100/LLCM, `DEEN/data_loader.py` and
`DEEN/data_manager.py`):
  idx/train_vis.txt, idx/train_nir.txt   `<relative path> <label>` per line (713 identities)
  idx/test_id.txt                        one comma-separated line of identity numbers (351)
  test_vis/cam1..cam9/<id:04d>/*.jpg     visible test images
  test_nir/cam{1,2,4..9}/<id:04d>/*.jpg  infrared test images (no cam3 as distributed)
Camera c's visible and infrared sensors share the number c (the protocol's matching rule uses it).

The authors' code leaves the training folders' naming open (it reads only what the lists name).
For each listed file the builder takes the camera from a `cam<N>` folder in its path, else from a
`_c<N>` field of its file name, and the identity from a four-digit folder in its path, else from
the file name's leading digits; a line where either is missing is an error that names it. The
list's labels must give each identity one label.
"""

from __future__ import annotations

import os
import re

import tensorflow_datasets as tfds

from data_builders import common

CAMERAS = tuple(range(1, 10))
TRAIN_LISTS = {
    common.VISIBLE: os.path.join("idx", "train_vis.txt"),
    common.INFRARED: os.path.join("idx", "train_nir.txt"),
}
TEST_FOLDERS = {common.VISIBLE: "test_vis", common.INFRARED: "test_nir"}
TEST_IDS = os.path.join("idx", "test_id.txt")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_CAMERA_FOLDER = re.compile(r"^cam(\d+)$")
_CAMERA_FIELD = re.compile(r"_c(\d+)(?=[_.])")
_IDENTITY_FOLDER = re.compile(r"^\d{4}$")
_LEADING_DIGITS = re.compile(r"^(\d+)")


def camera_and_identity(relative: str) -> tuple[int | None, int | None]:
  """(camera, identity) that a listed training path names (None where it names none)."""
  *folders, name = relative.replace("\\", "/").split("/")
  camera = next((int(m.group(1)) for f in folders if (m := _CAMERA_FOLDER.match(f))), None)
  if camera is None and (m := _CAMERA_FIELD.search(name)):
    camera = int(m.group(1))
  identity = next((int(f) for f in reversed(folders) if _IDENTITY_FOLDER.match(f)), None)
  if identity is None and (m := _LEADING_DIGITS.match(name)):
    identity = int(m.group(1))
  return camera, identity


class Llcm(tfds.core.GeneratorBasedBuilder):
  """LLCM: 46,767 images of 1,064 identities from 9 visible/infrared cameras, many in low light."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="default", description="The released lists and test tree.")]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  LLCM is licensed: send the signed dataset release agreement
  (https://github.com/ZYK100/LLCM, "LLCM Dataset Agreement") to its authors, who send the
  download link. Point manual_dir at the folder that holds idx/ (train_vis.txt, train_nir.txt,
  test_id.txt), test_vis/ and test_nir/, and the training folders the lists name.
  """

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=common.features(),
        homepage="https://github.com/ZYK100/LLCM",
        description="Visible and infrared person images of 9 cameras (camera c: both sensors numbered c).",
    )

  @staticmethod
  def manual_entries(config_name: str) -> list[str]:
    """The entries of the raw folder that the builder reads."""
    del config_name  # one config
    return [*TRAIN_LISTS.values(), TEST_IDS, *TEST_FOLDERS.values()]

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = common.manual_dir(dl_manager, self.manual_entries(self.builder_config.name), "llcm")
    return {split: self._generate_examples(root, split) for split in ("train", "test")}

  def _generate_examples(self, root: str, split: str):
    yield from (self._train_examples if split == "train" else self._test_examples)(root)

  def _train_examples(self, root: str):
    """The listed images; label = index of the identity in sorted order."""
    rows, label_of = [], {}
    for modality, listed in TRAIN_LISTS.items():
      path = os.path.join(root, listed)
      for number, (relative, file_label) in enumerate(common.read_idx(path, root), start=1):
        camera, identity = camera_and_identity(relative)
        if camera is None or identity is None:
          missing = " and ".join(w for w, v in (("camera", camera), ("identity", identity)) if v is None)
          raise common.LayoutError(
              f"{path}:{number}: {relative} names no {missing}; expected a path such as "
              "train_vis/cam<N>/<id:04d>/<file>.jpg, or a file name <id>_c<N>_... ."
          )
        if label_of.setdefault(identity, file_label) != file_label:
          raise common.LayoutError(
              f"{path}:{number}: identity {identity} has labels {label_of[identity]} and {file_label}."
          )
        rows.append((relative, identity, camera, modality))
    by_label: dict[int, int] = {}
    for identity, label in sorted(label_of.items()):
      if by_label.setdefault(label, identity) != identity:
        raise common.LayoutError(
            f"{os.path.join(root, 'idx')}: label {label} is given to identities {by_label[label]} and {identity}."
        )
    modalities_of: dict[int, set[int]] = {}
    for _, identity, _, modality in rows:
      modalities_of.setdefault(identity, set()).add(modality)
    common.require_both_modalities("train", modalities_of, os.path.join(root, "idx"))
    contiguous = {identity: i for i, identity in enumerate(sorted(modalities_of))}
    for relative, identity, camera, modality in rows:
      yield relative, self._example(root, relative, contiguous[identity], identity, camera, modality)

  def _test_examples(self, root: str):
    """Every image of the listed test identities, in the order the released code reads them
    (identities sorted, cameras in order, files sorted); label = index of the identity."""
    identities = common.read_id_file(os.path.join(root, TEST_IDS))
    seen = set()
    for label, identity in enumerate(identities):
      for modality, top in TEST_FOLDERS.items():
        for camera in CAMERAS:
          folder = os.path.join(top, f"cam{camera}", f"{identity:04d}")
          if not os.path.isdir(os.path.join(root, folder)):
            continue
          for name in sorted(os.listdir(os.path.join(root, folder))):
            if name.lower().endswith(IMAGE_SUFFIXES):
              seen.add(identity)
              relative = f"{folder}/{name}"
              yield relative, self._example(root, relative, label, identity, camera, modality)
    absent = sorted(set(identities) - seen)
    if absent:
      raise common.LayoutError(
          f"{os.path.join(root, TEST_IDS)}: test identities {absent[:10]} have no image in "
          "test_vis/cam*/NNNN or test_nir/cam*/NNNN."
      )

  @staticmethod
  def _example(root: str, relative: str, label: int, identity: int, camera: int, modality: int) -> dict:
    path = os.path.join(root, relative)
    common.check_image(path)
    return {
        "image": path,
        "label": label,
        "identity": identity,
        "camera": camera,
        "modality": modality,
        "path": relative,
    }
