"""Inference apart from training: a trained model alone, its embedding, and what is done with it.

`restore` reads a checkpoint's `model` item only (parameters and BatchNorm statistics): it builds
no optimiser and no frozen loss network, and needs no loss term's code. `embedder` is the jitted
inference path, compiled once per process for a model and batch shape (a run's evaluations,
`--mode=eval`, `search` share it). `features` embeds a split with progress lines; `evaluate`
and `report` run the protocol and write its results; `evaluate_checkpoint` and `export_features`
are `main --mode=eval` and `--mode=export`.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from flax import nnx

from vireid_jax import checkpointing, errors, evaluate, imports, models, viz, writers
from vireid_jax.data import datasets, pipeline
from vireid_jax.evaluation import metrics
from vireid_jax.models import build_model, convert

PROGRESS_LINES = 10  # feature extraction logs its progress at every tenth of the images


@flax.struct.dataclass
class Model:
  """A model for inference: its graph in eval mode, its parameters and other variables."""

  graph: Any = flax.struct.field(pytree_node=False)
  params: Any
  rest: Any  # BatchNorm statistics and other non-parameter variables


def split(model: nnx.Module) -> Model:
  """The inference `Model` of a built (or `nnx.eval_shape`'d) module, switched to eval mode."""
  model.eval()
  graph, params, rest = nnx.split(model, nnx.Param, ...)
  return Model(graph, params, rest)


@functools.partial(jax.jit, static_argnums=(0, 4))
def _embed(graph: Any, params: Any, rest: Any, images: jax.Array, modality: int) -> jax.Array:
  return nnx.merge(graph, params, rest, copy=True).embed(images, modality)


def embedder(model: Model) -> Callable[[np.ndarray, int], jax.Array]:
  """The model's inference path: (uint8 [B, H, W, 3], modality 0/1) -> float32 [B, D]. One jitted
  function for the process: each graph, batch shape and modality compiles once."""
  return lambda images, modality: _embed(model.graph, model.params, model.rest, jnp.asarray(images), modality)


def compilations() -> int:
  """How many programs of the inference path this process has compiled (benchmarks count them)."""
  return _embed._cache_size()  # pylint: disable=protected-access


def extract_features(
    embed_fn: Callable[[np.ndarray, int], jax.Array],
    source: Any,
    records: Sequence[int],
    modality: int,
    data_cfg: Any,
    *,
    batch_size: int,
    flip: bool,
    normalize: bool = False,
    what: str = "images",
) -> np.ndarray:
  """Embeds `records` of one modality: [N] indices -> float32 [N, D], in order, logging the images
  done, images/s and the ETA at every tenth of them. With `flip` the feature is the mean of the
  image's and its mirror's, each L2-normalised first when `normalize` (the evaluation normalises
  again; CAJ's testa.py). Batches are padded to `batch_size`, so `embed_fn` compiles once."""
  out, done, logged, start = [], 0, 0, time.perf_counter()
  batches = pipeline.eval_batches(source, records, data_cfg, batch_size=batch_size)
  try:
    for batch in batches:
      feats = np.asarray(embed_fn(batch["image"], modality), np.float32)
      if flip:
        mirrored = np.asarray(embed_fn(batch["image"][:, :, ::-1], modality), np.float32)
        if normalize:
          feats, mirrored = metrics.l2_normalize(feats), metrics.l2_normalize(mirrored)
        feats = 0.5 * (feats + mirrored)
      out.append(feats[batch["mask"]])
      done += int(batch["mask"].sum())
      if done * PROGRESS_LINES // len(records) > logged:  # a new tenth reached
        rate = done / (time.perf_counter() - start)
        logging.info(
            "%s: %d/%d  %.1f img/s  ETA %s", what, done, len(records), rate, writers.hms((len(records) - done) / rate)
        )
        logged = done * PROGRESS_LINES // len(records)
  finally:
    batches.close()  # stops the workers and frees their shared memory, also on an error
  return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def features(config: Any, model: Model, source: Any, columns: dict[str, np.ndarray], what: str = "test") -> np.ndarray:
  """Features float32 [N, D] of every image of a split (in its order), each through its modality's stream."""
  embed = embedder(model)
  out = None
  for modality, name in enumerate(("visible", "infrared")):
    records = np.flatnonzero(columns["modality"] == modality)
    feats = extract_features(
        embed,
        source,
        records,
        modality,
        config.data,
        batch_size=config.eval.batch_size,
        flip=config.eval.flip,
        normalize=config.eval.normalize,
        what=f"features of the {what} split, {name}",
    )
    if out is None:
      out = np.zeros((len(columns["modality"]), feats.shape[1]), np.float32)
    out[records] = feats
  return out


def report(
    config: Any,
    features_: np.ndarray,
    source: Any,
    columns: dict[str, np.ndarray],
    workdir: str,
    step: int,
    writer: writers.MetricWriter | None,
) -> tuple[dict, dict]:
  """Every protocol mode on test features; logs the table and writes the scalars (to `writer`),
  the figures and the results JSON, per step and latest (process 0). Returns (results, scalars)."""
  results = evaluate.evaluate_features(features_, columns, config.eval)
  scalars = {
      f"eval/{mode}/{k}": v
      for mode, r in results["modes"].items()
      for k, v in r["mean"].items()
      if k.startswith(("rank", "mAP", "mINP"))
  }
  logging.info("step %d\n%s", step, evaluate.format_table(results))
  if writer is not None:
    writer.write_scalars(step, scalars)
  if jax.process_index() == 0:
    if config.eval.figures:
      load = functools.partial(pipeline.load_images, source, cfg=config.data)
      results["figures"] = viz.write_figures(features_, columns, load, config.eval, workdir, step)
    evaluate.write_json(results, os.path.join(workdir, f"results_step_{step}.json"))
    evaluate.write_json(results, os.path.join(workdir, "results.json"))
    if results.get("figures"):
      logging.info("Figures:\n  %s", "\n  ".join(results["figures"]))
  return results, scalars


def run_config(checkpoint: str) -> ml_collections.ConfigDict:
  """The config a checkpoint was trained with: `<workdir>/config.json` for `<workdir>/checkpoints/<step>`,
  with the modules its `imports` name imported."""
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(checkpoint))), "config.json")
  if not os.path.isfile(path):
    raise errors.UserError(f"{path} not found: --checkpoint must be <workdir>/checkpoints/<step> of a training run.")
  with open(path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  imports.load(config.imports)
  return config


def check(config: Any) -> None:
  """Raises one UserError listing every problem of the blocks inference reads: data, model, eval."""
  imports.load(config.imports)
  problems = datasets.check(config.data) + models.check(config) + evaluate.check(config)
  if problems:
    raise errors.problems_error("the config", problems)


def restore(config: Any, workdir: str, checkpoint: str | None = None) -> tuple[Model, int]:
  """(the model, its step) of `checkpoint` (a step directory, e.g. DIR/checkpoints/5200) or of the
  newest intact checkpoint in `workdir/checkpoints` (damaged ones are skipped with a warning), on
  the default device; where `workdir` has no checkpoints directory, the model of `model.init_from`
  (an authors' checkpoint) as step 0. Only the checkpoint's `model` item is read."""
  imports.load(config.imports)
  directory = os.path.dirname(os.path.abspath(checkpoint)) if checkpoint else os.path.join(workdir, "checkpoints")
  if checkpoint is None and config.model.init_from and not os.path.isdir(directory):
    return _authors_model(config), 0
  if not os.path.isdir(directory):
    raise errors.UserError(f"No checkpoints directory {directory}: train first or pass --checkpoint=DIR/<step>.")
  step = os.path.basename(os.path.normpath(checkpoint)) if checkpoint else None
  if step is not None and not step.isdigit():
    raise errors.UserError(f"--checkpoint={checkpoint}: expected a step directory <workdir>/checkpoints/<step>.")
  ckpt = checkpointing.Checkpointer(directory, keep=1 << 30, keep_best=0, best_metric="")
  try:
    steps = ckpt.steps() if step is None else [int(step)]
    if not steps or not set(steps) <= set(ckpt.steps()):
      what = f"step {step}" if checkpoint else "checkpoint"
      raise errors.UserError(f"No {what} in {directory}: train first or pass --checkpoint=DIR/<step>.")

    def abstract(meta):
      model = _abstract(config, meta["num_classes"])
      as_abstract = lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype)
      return {
          "model": {"params": jax.tree.map(as_abstract, model.params), "rest": jax.tree.map(as_abstract, model.rest)}
      }

    step, items, meta = ckpt.restore_newest(abstract, None, steps=steps, set_aside_damaged=False)
  finally:
    ckpt.close()
  return Model(_abstract(config, meta["num_classes"]).graph, items["model"]["params"], items["model"]["rest"]), step


def _abstract(config: Any, num_classes: int) -> Model:
  """The config's inference model as shapes only (`nnx.eval_shape`): its graph and array structure."""
  return split(nnx.eval_shape(lambda: build_model(config.model, num_classes)))


def _authors_model(config: Any) -> Model:
  state = convert.load_state_dict(config.model.init_from)
  model = build_model(config.model, convert.num_classes(state) or 1)
  convert.load_two_stream(model, state, f"model.init_from: {config.model.init_from}")
  return split(model)


def evaluate_checkpoint(config: Any, workdir: str, checkpoint: str | None = None) -> dict[str, Any]:
  """Evaluates a checkpoint (see `restore`) without training; results and figures go to
  `workdir` like a training run's."""
  check(config)
  model, step = restore(config, workdir, checkpoint)
  sources = datasets.sources(config.data)
  columns = datasets.columns(sources["test"])
  return report(
      config, features(config, model, sources["test"], columns), sources["test"], columns, workdir, step, None
  )[0]


def export_features(config: Any, workdir: str, checkpoint: str | None = None, split_name: str = "test") -> str:
  """Writes `workdir/features_<split>_step<step>.npz`: `features` float32 [N, D] and the split's
  `label`, `identity`, `camera`, `modality` and `path` columns, in the split's order. Returns the path."""
  check(config)
  model, step = restore(config, workdir, checkpoint)
  sources = datasets.sources(config.data)
  if split_name not in sources:
    raise errors.UserError(f"--split: expected one of {sorted(sources)}, got {split_name!r}.")
  columns = datasets.columns(sources[split_name])
  feats = features(config, model, sources[split_name], columns, what=split_name)
  path = os.path.join(workdir, f"features_{split_name}_step{step}.npz")
  tmp = path + ".tmp.npz"
  np.savez(tmp, features=feats, **columns)
  os.replace(tmp, path)
  return path
