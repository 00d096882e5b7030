"""RegDB (Nguyen et al., Sensors 2017) from its original folder layout and idx split files."""

from __future__ import annotations

import dataclasses
import os

import tensorflow_datasets as tfds

from data_builders import common

VISIBLE_CAMERA, THERMAL_CAMERA = 1, 2
NUM_TRIALS = 10


@dataclasses.dataclass
class RegdbConfig(tfds.core.BuilderConfig):
  trial: int = 1


class Regdb(tfds.core.GeneratorBasedBuilder):
  """RegDB: 412 identities, 10 visible and 10 thermal images each; 10 random half/half trials."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [
      RegdbConfig(name=f"trial_{t}", description=f"Split files of trial {t}.", trial=t)
      for t in range(1, NUM_TRIALS + 1)
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  RegDB is licensed: request it from the Dongguk University authors
  (http://dm.dgu.edu/link.html). Point manual_dir at the folder that holds Visible/, Thermal/ and
  idx/ (train_visible_{1..10}.txt, train_thermal_{1..10}.txt, test_visible_{1..10}.txt,
  test_thermal_{1..10}.txt, as distributed with the AGW code).
  """

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=common.features(),
        homepage="http://dm.dgu.edu/link.html",
        description="Aligned visible (camera 1) and thermal (camera 2) person images.",
    )

  @staticmethod
  def idx_file(split: str, modality: str, trial: int) -> str:
    return os.path.join("idx", f"{split}_{modality}_{trial}.txt")

  @classmethod
  def manual_entries(cls, config_name: str) -> list[str]:
    """The entries of the raw folder that builder config `trial_<t>` reads."""
    trial = int(config_name.rsplit("_", 1)[-1])
    return ["Visible", "Thermal"] + [
        cls.idx_file(s, m, trial) for s in ("train", "test") for m in ("visible", "thermal")
    ]

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    trial = self.builder_config.trial
    root = common.manual_dir(dl_manager, self.manual_entries(self.builder_config.name), "regdb")
    return {
        split: self._generate_examples(
            root,
            os.path.join(root, self.idx_file(split, "visible", trial)),
            os.path.join(root, self.idx_file(split, "thermal", trial)),
            split,
        )
        for split in ("train", "test")
    }

  def _generate_examples(self, root: str, visible_idx: str, thermal_idx: str, split: str):
    """Yields both modalities' images; identity from the folder, label contiguous over the split."""
    rows = []
    label_of: dict[int, int] = {}
    for idx_file, modality, camera in (
        (visible_idx, common.VISIBLE, VISIBLE_CAMERA),
        (thermal_idx, common.INFRARED, THERMAL_CAMERA),
    ):
      for relative, file_label in common.read_idx(idx_file, root):
        folder = relative.split("/")
        if len(folder) < 3 or not folder[1].isdigit():
          raise common.LayoutError(f"{idx_file}: {relative} is not of the form Visible|Thermal/<id>/<file>.")
        identity = int(folder[1])
        if label_of.setdefault(identity, file_label) != file_label:
          raise common.LayoutError(f"{idx_file}: identity {identity} has labels {label_of[identity]} and {file_label}.")
        rows.append((relative, identity, camera, modality))
    modalities_of: dict[int, set[int]] = {}
    for _, identity, _, modality in rows:
      modalities_of.setdefault(identity, set()).add(modality)
    if split == "train":
      common.require_both_modalities(split, modalities_of, os.path.dirname(visible_idx))
    contiguous = {identity: i for i, identity in enumerate(sorted(modalities_of))}
    for relative, identity, camera, modality in rows:
      path = os.path.join(root, relative)
      common.check_image(path)
      yield relative, {
          "image": path,
          "label": contiguous[identity],
          "identity": identity,
          "camera": camera,
          "modality": modality,
          "path": relative,
      }
