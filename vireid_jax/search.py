r"""Ranks a folder of images against one query image with a trained checkpoint.

  python -m vireid_jax.search --checkpoint=/tmp/run/checkpoints/5200 --query=night.jpg \
      --gallery=/data/day_photos --topk=10

Prints the ranked gallery files with their distances and writes the ranked-list picture (default
`search_<query name>.png`). The model is rebuilt from the run's `config.json` (written by
training next to `checkpoints/`); images of any size are resized as in evaluation. The query goes
through the infrared stream and the gallery through the visible stream unless
`--query_modality` / `--gallery_modality` say otherwise. Distances follow the run's `eval` config.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from absl import app, flags

from vireid_jax import checkpointing, compilation_cache, errors, inference, viz
from vireid_jax.data import pipeline
from vireid_jax.evaluation import metrics

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
MODALITIES = {"visible": 0, "infrared": 1}


class FolderSource:
  """Image files as a random-access source shaped like the TFDS splits (unlabelled)."""

  def __init__(self, paths: Sequence[str], modality: int):
    self.paths, self.modality = list(paths), modality

  def __len__(self) -> int:
    return len(self.paths)

  def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
    return [self._record(self.paths[i]) for i in indices]

  def _record(self, path: str) -> dict[str, Any]:
    try:
      with open(path, "rb") as f:
        image = f.read()
    except OSError as e:
      raise errors.UserError(f"{path}: cannot read image ({e.strerror}).") from e
    return {"image": image, "path": path, "label": -1, "identity": -1, "camera": 0, "modality": self.modality}


def gallery_files(directory: str) -> list[str]:
  """Every image file under `directory` (recursively), sorted."""
  if not os.path.isdir(directory):
    raise errors.UserError(f"--gallery: {directory} is not a directory.")
  paths = sorted(
      os.path.join(root, name)
      for root, _, names in os.walk(directory)
      for name in names
      if name.lower().endswith(IMAGE_EXTENSIONS)
  )
  if not paths:
    raise errors.UserError(f"--gallery: no {'/'.join(IMAGE_EXTENSIONS)} files under {directory}.")
  return paths


def search(
    config: Any,
    checkpoint: str,
    query: str,
    gallery: Sequence[str],
    *,
    query_modality: int = 1,
    gallery_modality: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
  """Distances float32 [G] from the query image to every gallery image, and the ranking int [G]
  (closest first, ties by gallery order)."""
  model, _ = inference.restore(config, "", checkpoint)
  embed = inference.embedder(model)

  def features(paths, modality, what):
    return inference.extract_features(
        embed,
        FolderSource(paths, modality),
        np.arange(len(paths)),
        modality,
        config.data,
        batch_size=config.eval.batch_size,
        flip=config.eval.flip,
        normalize=config.eval.normalize,
        what=what,
    )

  q, g = features([query], query_modality, "query"), features(gallery, gallery_modality, "gallery")
  if config.eval.normalize:
    q, g = metrics.l2_normalize(q), metrics.l2_normalize(g)
  dist = metrics.distances(q, g, config.eval.distance)[0]
  return dist, np.argsort(dist, kind="stable")


@errors.reports_user_errors
def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  checkpointing.quiet_orbax_logs()
  args = flags.FLAGS
  if not os.path.isfile(args.query):
    raise errors.UserError(f"--query: {args.query} is not a file.")
  config = inference.run_config(args.checkpoint)
  compilation_cache.enable(config.train.compilation_cache)
  gallery = gallery_files(args.gallery)
  dist, order = search(
      config,
      args.checkpoint,
      args.query,
      gallery,
      query_modality=MODALITIES[args.query_modality],
      gallery_modality=MODALITIES[args.gallery_modality],
  )
  top = order[: args.topk]
  print(f"{'rank':>4s} {'distance':>10s}  path")
  for rank, i in enumerate(top, 1):
    print(f"{rank:4d} {dist[i]:10.4f}  {gallery[i]}")
  images = pipeline.load_images(
      FolderSource([args.query] + [gallery[i] for i in top], 0), range(len(top) + 1), config.data
  )
  out = args.out or f"search_{os.path.splitext(os.path.basename(args.query))[0]}.png"
  viz.ranked_lists(
      out,
      images[:1],
      images[None, 1:],
      dist[top][None],
      titles=[os.path.basename(args.query)],
      suptitle=f"{len(gallery)} gallery images from {args.gallery}",
  )
  print(f"Picture: {out}")


if __name__ == "__main__":  # flags defined here only, so importing the module defines none
  flags.DEFINE_string("checkpoint", None, "A step directory: <workdir>/checkpoints/<step>.", required=True)
  flags.DEFINE_string("query", None, "The query image.", required=True)
  flags.DEFINE_string("gallery", None, "A folder of gallery images (searched recursively).", required=True)
  flags.DEFINE_integer("topk", 10, "How many gallery images to list and draw.")
  flags.DEFINE_enum("query_modality", "infrared", list(MODALITIES), "The query's stream.")
  flags.DEFINE_enum("gallery_modality", "visible", list(MODALITIES), "The gallery's stream.")
  flags.DEFINE_string("out", None, "Ranked-list picture (default: search_<query name>.png).")
  app.run(main, flags_parser=errors.parse_flags)
