"""train_and_evaluate(config, workdir): the training loop, identical for every method.

Data -> sharded global batch -> one jitted `train_step(state, batch)` -> metrics at intervals
(the only host-device syncs), evaluation at `train.eval_every` and at the end, Orbax checkpoints
with the Grain iterator, restore-if-exists on start.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from flax import nnx

from vireid_jax import checkpointing, evaluate, methods, optim, sharding, viz, writers
from vireid_jax.data import datasets, pipeline, samplers
from vireid_jax.models import build_model, convert, edges, merge_modalities


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  rest: Any  # batch statistics and other non-parameter variables of the model
  opt_state: Any
  frozen: Any  # the PEF feature net (never optimised); {} when unused
  first_bad_step: jax.Array  # -1, or the first step at which a loss term was not finite
  bad_terms: jax.Array  # bool [terms]: which terms were not finite at that step


@flax.struct.dataclass
class Program:
  """The static half of a run: graph definitions, optimiser, loss config."""

  train_graph: Any = flax.struct.field(pytree_node=False)
  eval_graph: Any = flax.struct.field(pytree_node=False)
  feature_graph: Any = flax.struct.field(pytree_node=False)
  tx: Any = flax.struct.field(pytree_node=False)
  loss: Any = flax.struct.field(pytree_node=False)
  terms: tuple[str, ...] = flax.struct.field(pytree_node=False)


def create(config: Any, num_classes: int, steps_per_epoch: int) -> tuple[Program, TrainState]:
  """Model (with ImageNet weights when configured), optimiser and the initial state."""
  methods.check(config.loss)
  model = build_model(config.model, num_classes)
  if config.model.pretrained:
    convert.load_resnet50(model, convert.load_state_dict(os.path.expanduser(config.model.pretrained)))
  elif config.model.require_pretrained:
    raise ValueError("model.pretrained: this config reproduces a paper and needs ImageNet ResNet-50 weights "
                     "(--config.model.pretrained=resnet50.npz, made by python -m vireid_jax.models.convert); "
                     "set model.require_pretrained=False to train from scratch on purpose.")
  feature_graph, frozen = None, {}
  if config.loss.weights.get("perceptual_edge", 0.0):
    net = edges.VGGFeatures(in_channels=config.model.width, rngs=nnx.Rngs(config.model.seed))
    if config.model.vgg16:
      convert.load_vgg16(net, convert.load_state_dict(os.path.expanduser(config.model.vgg16)))
    elif config.model.require_pretrained:
      raise ValueError("model.vgg16: MSO's perceptual edge loss needs ImageNet VGG-16 weights (.npz).")
    feature_graph, frozen = nnx.split(net)
  model.eval()
  eval_graph = nnx.split(model)[0]
  model.train()
  train_graph, params, rest = nnx.split(model, nnx.Param, ...)
  tx = optim.make(config.optimizer, params, steps_per_epoch)
  terms = tuple(sorted(k for k, w in config.loss.weights.items() if w))
  state = TrainState(step=jnp.zeros((), jnp.int32), params=params, rest=rest, opt_state=tx.init(params),
                     frozen=frozen, first_bad_step=jnp.full((), -1, jnp.int32), bad_terms=jnp.zeros(len(terms), bool))
  return Program(train_graph, eval_graph, feature_graph, tx, config.loss, terms), state


def train_step(program: Program, state: TrainState, batch: dict[str, jax.Array]) -> tuple[TrainState, dict]:
  """One optimisation step on a batch of [2, n, ...] arrays (visible row, infrared row)."""
  labels, modality = merge_modalities(batch["label"]), merge_modalities(batch["modality"])
  feature_net = nnx.merge(program.feature_graph, state.frozen, copy=True) if program.feature_graph else None

  def loss_fn(params):
    model = nnx.merge(program.train_graph, params, state.rest, copy=True)
    out = model(batch["image"])
    aux = {"images": merge_modalities(batch["image"]), "feature_net": feature_net}
    total, terms = methods.total_loss(program.loss, out, labels, modality, aux)
    return total, (terms, nnx.state(model, nnx.Not(nnx.Param)))

  (total, (terms, rest)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = program.tx.update(grads, state.opt_state, state.params)
  bad = ~jnp.isfinite(jnp.stack([terms[name] for name in program.terms]))
  first = (state.first_bad_step < 0) & bad.any()
  new_state = state.replace(
      step=state.step + 1, params=optax.apply_updates(state.params, updates), rest=rest, opt_state=opt_state,
      first_bad_step=jnp.where(first, state.step, state.first_bad_step),
      bad_terms=jnp.where(first, bad, state.bad_terms))
  metrics = {"loss/total": total, **{f"loss/{k}": v for k, v in terms.items()},
             "grad_norm": optax.tree.norm(grads)}
  return new_state, metrics


def embedder(program: Program, state: TrainState) -> Callable[[np.ndarray, int], jax.Array]:
  """The jitted inference path of `state`: (uint8 [B, H, W, 3], modality 0/1) -> [B, D]."""
  embed = jax.jit(lambda params, rest, images, modality: nnx.merge(program.eval_graph, params, rest, copy=True)
                  .embed(images, modality), static_argnums=3)
  return lambda images, modality: embed(state.params, state.rest, images, modality)


def split_features(config: Any, program: Program, state: TrainState, source: Any,
                   columns: dict[str, np.ndarray]) -> np.ndarray:
  """Features float32 [N, D] of every image of a split (in its order), each through its modality's stream."""
  embed = embedder(program, state)
  features = None
  for modality in (0, 1):
    records = np.flatnonzero(columns["modality"] == modality)
    feats = evaluate.extract_features(embed, source, records, modality, config.data,
                                      batch_size=config.eval.batch_size, flip=config.eval.flip)
    if features is None:
      features = np.zeros((len(columns["modality"]), feats.shape[1]), np.float32)
    features[records] = feats
  return features


def _check_finite(program: Program, state: TrainState) -> None:
  first = int(state.first_bad_step)
  if first >= 0:
    names = [n for n, b in zip(program.terms, np.asarray(state.bad_terms)) if b]
    raise FloatingPointError(f"Non-finite loss at step {first + 1} in term(s) {', '.join(names)}; "
                             "stopped without writing a checkpoint with it.")


def _report(config: Any, features: np.ndarray, data: "Data", workdir: str, step: int,
            writer: writers.MetricWriter | None) -> tuple[dict, dict]:
  """Every protocol mode on test features; logs the table and writes the scalars (to `writer`),
  the figures and the results JSON, per step and latest (process 0). Returns (results, scalars)."""
  results = evaluate.evaluate_features(features, data.test_cols, config.eval)
  scalars = {f"eval/{mode}/{k}": v for mode, r in results["modes"].items() for k, v in r["mean"].items()
             if k.startswith(("rank", "mAP", "mINP"))}
  logging.info("step %d\n%s", step, evaluate.format_table(results))
  if writer is not None:
    writer.write_scalars(step, scalars)
  if jax.process_index() == 0:
    if config.eval.figures:
      load = functools.partial(pipeline.load_images, data.sources["test"], cfg=config.data)
      results["figures"] = viz.write_figures(features, data.test_cols, load, config.eval, workdir, step)
    evaluate.write_json(results, os.path.join(workdir, f"results_step_{step}.json"))
    evaluate.write_json(results, os.path.join(workdir, "results.json"))
    if results.get("figures"):
      logging.info("Figures:\n  %s", "\n  ".join(results["figures"]))
  return results, scalars


class Data(NamedTuple):
  sources: dict[str, Any]
  train_cols: dict[str, np.ndarray]
  test_cols: dict[str, np.ndarray]
  num_classes: int
  per_modality: int  # images of one modality in a training batch
  steps_per_epoch: int


def load_data(config: Any) -> Data:
  """The dataset's sources and columns, and the sizes the model and schedule derive from them."""
  sources = datasets.sources(config.data)
  train_cols, test_cols = datasets.columns(sources["train"]), datasets.columns(sources["test"])
  index = samplers.ModalityIndex.from_columns(train_cols["label"], train_cols["modality"])
  per_modality = pipeline.make_sampler(config.data)[1]
  return Data(sources, train_cols, test_cols, int(train_cols["label"].max()) + 1, per_modality,
              samplers.batches_per_epoch(index, per_modality))


def train_and_evaluate(config: Any, workdir: str) -> dict[str, Any]:
  """Trains `config` in `workdir` (continuing from its latest checkpoint), evaluates, returns results."""
  mesh = sharding.make_mesh()
  data = load_data(config)
  sources, train_cols, test_cols = data.sources, data.train_cols, data.test_cols
  per_modality, steps_per_epoch, num_classes = data.per_modality, data.steps_per_epoch, data.num_classes
  total_steps = config.train.steps or config.train.epochs * steps_per_epoch

  program, state = create(config, num_classes, steps_per_epoch)
  state = jax.device_put(state, sharding.param_shardings(state, mesh, config.train.fsdp))
  if jax.process_index() == 0:  # what `search` and `--mode=eval` rebuild the model from
    evaluate.write_json(json.loads(config.to_json()), os.path.join(workdir, "config.json"))
  dataset = pipeline.train_dataset(sources["train"], train_cols, config.data, num_batches=total_steps,
                                   seed=config.seed, process_index=jax.process_index(),
                                   process_count=jax.process_count())
  iterator = iter(dataset)
  ckpt = checkpointing.Checkpointer(os.path.join(workdir, "checkpoints"), keep=config.train.keep_checkpoints,
                                    keep_best=config.train.keep_best, best_metric=config.train.best_metric)
  elapsed = 0.0
  start_step = ckpt.latest_step() or 0
  if start_step:
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
    state, meta = ckpt.restore(start_step, abstract, iterator)
    elapsed = meta["elapsed_seconds"]
    logging.info("Resumed from step %d in %s", start_step, workdir)

  step_fn = jax.jit(functools.partial(train_step, program), donate_argnums=0)
  batch_sharding = sharding.batch_sharding(mesh)
  writer = writers.MetricWriter(workdir)
  images_per_step = 2 * per_modality
  learning_rate = optim.schedule(config.optimizer, steps_per_epoch)
  logging.info("Training %s: %d steps (%d per epoch), %d classes, %d devices", config.method, total_steps,
               steps_per_epoch, num_classes, jax.device_count())
  results: dict[str, Any] = {}
  window, window_start, window_steps = None, time.perf_counter(), 0
  for step in range(start_step, total_steps):
    batch = sharding.global_batch(next(iterator), batch_sharding)
    state, metrics = step_fn(state, batch)
    window = metrics if window is None else jax.tree.map(jnp.add, window, metrics)
    window_steps += 1
    done = step + 1
    if done % config.train.log_every == 0 or done == total_steps:
      _check_finite(program, state)  # syncs once per interval
      seconds = time.perf_counter() - window_start
      elapsed += seconds
      rate = window_steps / seconds
      scalars = {k: float(v) / window_steps for k, v in window.items()}
      scalars.update({"lr": float(learning_rate(step)), "steps_per_second": rate,
                      "images_per_second": rate * images_per_step})
      writer.write_scalars(done, scalars)
      eta = (total_steps - done) / rate
      logging.info("step %d/%d  loss %.4f  %.2f steps/s  %.1f img/s  elapsed %s  ETA %s", done, total_steps,
                   scalars["loss/total"], rate, rate * images_per_step, _hms(elapsed), _hms(eta))
      window, window_start, window_steps = None, time.perf_counter(), 0
    evaluate_now = done == total_steps or (config.train.eval_every and done % config.train.eval_every == 0)
    meta = {"elapsed_seconds": elapsed, "num_classes": num_classes}
    if evaluate_now:
      _check_finite(program, state)
      eval_start = time.perf_counter()
      features = split_features(config, program, state, sources["test"], test_cols)
      results, eval_scalars = _report(config, features, data, workdir, done, writer)
      ckpt.save(done, state, iterator, meta, metrics=eval_scalars)
      window_start += time.perf_counter() - eval_start  # throughput and ETA count training steps only
    elif done % config.train.checkpoint_every == 0:
      _check_finite(program, state)
      ckpt.save(done, state, iterator, meta)
  if not results and start_step >= total_steps:  # already finished: evaluate the final state
    features = split_features(config, program, state, sources["test"], test_cols)
    results, _ = _report(config, features, data, workdir, total_steps, None)
  ckpt.close()
  writer.close()
  return results


def _hms(seconds: float) -> str:
  seconds = int(seconds) if math.isfinite(seconds) else 0
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def restore(config: Any, workdir: str, checkpoint: str | None = None) -> tuple[Program, TrainState, int]:
  """The trained state of `checkpoint` (a step directory, e.g. DIR/checkpoints/5200) or of the
  latest checkpoint in `workdir/checkpoints`, on the default device, for inference."""
  directory = os.path.dirname(os.path.abspath(checkpoint)) if checkpoint else os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"No checkpoints directory {directory}: train first or pass --checkpoint=DIR/<step>.")
  ckpt = checkpointing.Checkpointer(directory, keep=1 << 30, keep_best=0, best_metric="")
  step = int(os.path.basename(os.path.normpath(checkpoint))) if checkpoint else ckpt.latest_step()
  if step is None or step not in ckpt.manager.all_steps():
    ckpt.close()
    what = f"step {step}" if checkpoint else "checkpoint"
    raise FileNotFoundError(f"No {what} in {directory}: train first or pass --checkpoint=DIR/<step>.")
  config = config.copy_and_resolve_references()
  with config.unlocked():
    config.model.update(require_pretrained=False, pretrained="", vgg16="")  # the checkpoint holds the weights
  program, state = create(config, ckpt.meta(step)["num_classes"], steps_per_epoch=1)
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)
  state, _ = ckpt.restore(step, abstract, None)
  ckpt.close()
  return program, state, step


def evaluate_checkpoint(config: Any, workdir: str, checkpoint: str | None = None) -> dict[str, Any]:
  """Evaluates a checkpoint (see `restore`) without training; results and figures go to
  `workdir` like a training run's."""
  program, state, step = restore(config, workdir, checkpoint)
  data = load_data(config)
  features = split_features(config, program, state, data.sources["test"], data.test_cols)
  return _report(config, features, data, workdir, step, None)[0]


def export_features(config: Any, workdir: str, checkpoint: str | None = None, split: str = "test") -> str:
  """Writes `workdir/features_<split>_step<step>.npz`: `features` float32 [N, D] and the split's
  `label`, `identity`, `camera`, `modality` and `path` columns, in the split's order. Returns the path."""
  program, state, step = restore(config, workdir, checkpoint)
  data = load_data(config)
  if split not in data.sources:
    raise ValueError(f"--split: expected one of {sorted(data.sources)}, got {split!r}.")
  columns = datasets.columns(data.sources[split])
  features = split_features(config, program, state, data.sources[split], columns)
  path = os.path.join(workdir, f"features_{split}_step{step}.npz")
  tmp = path + ".tmp.npz"
  np.savez(tmp, features=features, **columns)
  os.replace(tmp, path)
  return path
