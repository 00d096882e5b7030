"""SYSU-MM01 (Wu et al., ICCV 2017) from its original folder layout."""

from __future__ import annotations

import dataclasses
import os

import tensorflow_datasets as tfds

from data_builders import common

VISIBLE_CAMERAS = (1, 2, 4, 5)
INFRARED_CAMERAS = (3, 6)
CAMERAS = (1, 2, 3, 4, 5, 6)
SPLIT_FILES = ("train_id.txt", "val_id.txt", "test_id.txt")


@dataclasses.dataclass
class SysuConfig(tfds.core.BuilderConfig):
  train_files: tuple[str, ...] = ("train_id.txt", "val_id.txt")


class SysuMm01(tfds.core.GeneratorBasedBuilder):
  """SYSU-MM01: 6 cameras (1, 2, 4, 5 visible; 3, 6 infrared), 491 identities."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [
      SysuConfig(name="default", description="train = train + val identities (every published result)."),
      SysuConfig(
          name="train_only", description="train = the 296 train identities only.", train_files=("train_id.txt",)
      ),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  SYSU-MM01 is licensed: request it from the authors (https://github.com/wuancong/SYSU-MM01) and
  unpack it. Point manual_dir at the folder that holds cam1 ... cam6 and exp/ (train_id.txt,
  val_id.txt, test_id.txt; exp/rand_perm_cam.mat is used by the official evaluation).
  """

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=common.features(),
        homepage="https://github.com/wuancong/SYSU-MM01",
        description="Visible (cameras 1, 2, 4, 5) and infrared (3, 6) person images.",
    )

  @staticmethod
  def manual_entries(config_name: str) -> list[str]:
    """The entries of the raw folder that every builder config reads."""
    del config_name  # every config reads the same folder
    return [f"cam{c}" for c in CAMERAS] + [os.path.join("exp", f) for f in SPLIT_FILES]

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = common.manual_dir(dl_manager, self.manual_entries(self.builder_config.name), "sysu_mm01")
    train_ids = sorted(
        {i for f in self.builder_config.train_files for i in common.read_id_file(os.path.join(root, "exp", f))}
    )
    test_ids = common.read_id_file(os.path.join(root, "exp", "test_id.txt"))
    return {
        "train": self._generate_examples(root, train_ids, "train"),
        "test": self._generate_examples(root, test_ids, "test"),
    }

  def _generate_examples(self, root: str, identities: list[int], split: str):
    """Yields every image of `identities`; label = index of the identity in sorted order."""
    modalities_of: dict[int, set[int]] = {}
    examples = []
    for label, identity in enumerate(identities):
      for camera in CAMERAS:
        folder = os.path.join(root, f"cam{camera}", f"{identity:04d}")
        if not os.path.isdir(folder):
          continue
        modality = common.INFRARED if camera in INFRARED_CAMERAS else common.VISIBLE
        for name in sorted(os.listdir(folder)):
          if not name.lower().endswith(".jpg"):
            continue
          path = os.path.join(folder, name)
          common.check_image(path)
          modalities_of.setdefault(identity, set()).add(modality)
          relative = f"cam{camera}/{identity:04d}/{name}"
          examples.append(
              (
                  relative,
                  {
                      "image": path,
                      "label": label,
                      "identity": identity,
                      "camera": camera,
                      "modality": modality,
                      "path": relative,
                  },
              )
          )
    where = os.path.join(root, "exp")
    absent = sorted(set(identities) - set(modalities_of))
    if absent:
      raise common.LayoutError(f"{where}: {split} identities {absent[:10]} have no image in any cam*/NNNN folder.")
    if split == "train":
      common.require_both_modalities(split, modalities_of, where)
    yield from examples
