"""train_and_evaluate(config, workdir): the training loop, identical for every method.

Data -> sharded global batch -> one jitted `train_step(state, batch)` -> metrics at intervals
(the only host-device syncs), evaluation (`inference`) at `train.eval_every` and at the end,
Orbax checkpoints with the Grain iterator, restore-if-exists on start. Also what a run starts
from: the config check, the weights it names, the data's sizes, the initial state.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from typing import Any, NamedTuple

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from flax import nnx
from jax.experimental import multihost_utils

from vireid_jax import (
    checkpointing,
    errors,
    evaluate,
    imports,
    inference,
    models,
    objective,
    optim,
    preemption,
    sharding,
    writers,
)
from vireid_jax.data import datasets, pipeline, samplers, views
from vireid_jax.models import build_model, convert, merge_modalities


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  rest: Any  # batch statistics and other non-parameter variables of the model
  opt_state: Any
  frozen: Any  # {term name: state of the frozen network it evaluates} (never optimised)
  first_bad_step: jax.Array  # -1, or the first step at which a loss term was not finite
  bad_terms: jax.Array  # bool [terms]: which terms were not finite at that step


@flax.struct.dataclass
class Program:
  """The static half of a run: graph definitions, optimiser, loss config."""

  train_graph: Any = flax.struct.field(pytree_node=False)
  eval_graph: Any = flax.struct.field(pytree_node=False)
  frozen_graphs: Any = flax.struct.field(pytree_node=False)  # {term name: graph of its frozen network}
  tx: Any = flax.struct.field(pytree_node=False)
  loss: Any = flax.struct.field(pytree_node=False)
  terms: tuple[str, ...] = flax.struct.field(pytree_node=False)
  views: tuple[int, ...] = flax.struct.field(pytree_node=False)  # the stream of each view of a batch


def _check_train(cfg: Any) -> list[str]:
  problems = []
  if not (cfg.steps >= 1 or (cfg.steps == 0 and cfg.epochs >= 1)):
    problems.append(
        f"train.epochs / train.steps: expected epochs >= 1 or steps >= 1 (steps overrides epochs), got "
        f"epochs={cfg.epochs!r}, steps={cfg.steps!r}."
    )
  for field in ("log_every", "checkpoint_every", "keep_checkpoints"):
    if not (isinstance(cfg[field], int) and cfg[field] >= 1):
      problems.append(f"train.{field}: expected a positive integer, got {cfg[field]!r}.")
  if not (isinstance(cfg.checkpoint_minutes, (int, float)) and cfg.checkpoint_minutes >= 0):
    problems.append(f"train.checkpoint_minutes: expected minutes >= 0 (0: off), got {cfg.checkpoint_minutes!r}.")
  for field in ("eval_every", "keep_best"):
    if not (isinstance(cfg[field], int) and cfg[field] >= 0):
      problems.append(f"train.{field}: expected 0 (off) or a positive integer, got {cfg[field]!r}.")
  return problems


def _check_combinations(config: Any, eval_valid: bool) -> list[str]:
  """Problems that involve fields of several blocks, or the weights a run starts from
  (`eval_valid`: the eval block has no problems of its own)."""
  problems = []
  if config.model.require_pretrained and not (config.model.pretrained or config.model.init_from):
    problems.append(
        "model.pretrained: this config reproduces a paper and needs ImageNet ResNet-50 weights "
        "(--config.model.pretrained=resnet50.npz, made by python -m vireid_jax.models.convert); set "
        "model.require_pretrained=False to train from scratch on purpose."
    )
  if config.train.keep_best and eval_valid:
    names = evaluate.metric_names(config.eval)
    if evaluate.reported(config.eval, config.train.best_metric) not in names:
      plain = [n.removesuffix(evaluate.suffix(config.eval)) for n in names]
      problems.append(
          f"train.best_metric: expected one of the metrics this eval config reports, without its "
          f"options' suffix ({', '.join(plain[:6])}, ...), got {config.train.best_metric!r}."
      )
  return problems


def check(config: Any) -> None:
  """Raises one UserError listing every problem of `config`: field values, the dataset folder and
  required weights, and combinations of fields. Cheap: runs before any slow work."""
  imports.load(config.imports)
  eval_problems = evaluate.check(config)
  problems = (
      datasets.check(config.data)
      + pipeline.check(config.data)
      + models.check(config)
      + optim.check(config.optimizer)
      + eval_problems
      + objective.check(config)
      + _check_train(config.train)
      + _check_combinations(config, eval_valid=not eval_problems)
  )
  if problems:
    raise errors.problems_error("the config", problems)


class Weights(NamedTuple):
  """What a run starts from besides random initialisation, read before any slow work."""

  resnet50: dict[str, np.ndarray] | None  # the ImageNet ResNet-50 state dict of `model.pretrained`
  frozen: dict[str, nnx.Module]  # {term name: its frozen network}, e.g. MSO's VGG-16
  init_from: dict[str, np.ndarray] | None = None  # a trained model's state dict (`model.init_from`)


def load_weights(config: Any) -> Weights:
  """Reads and checks every weights file the config names (naming the file on any problem):
  `model.pretrained` (ImageNet ResNet-50), `model.init_from` (a trained model of the authors' code,
  checked against the model the config builds) and the frozen networks of the loss terms."""
  resnet50 = init_from = None
  if config.model.pretrained:
    resnet50 = convert.load_state_dict(config.model.pretrained)
    convert.check(
        resnet50,
        convert.resnet50_shapes(config.model.width, tuple(config.model.blocks)),
        "torchvision ResNet-50",
        f"model.pretrained: {config.model.pretrained}",
    )
  if config.model.init_from:
    init_from = convert.load_state_dict(config.model.init_from)
    abstract = nnx.eval_shape(lambda: build_model(config.model, convert.num_classes(init_from) or 1))
    convert.check_two_stream(abstract, init_from, f"model.init_from: {config.model.init_from}")
  return Weights(resnet50, objective.frozen_networks(config), init_from)


def create(
    config: Any, num_classes: int, steps_per_epoch: int, weights: Weights | None = None
) -> tuple[Program, TrainState]:
  """Model, optimiser and the initial state, starting from `weights` (default: `load_weights(config)`,
  the files that `model.pretrained`, `model.init_from` and the loss terms name)."""
  weights = load_weights(config) if weights is None else weights
  model = build_model(config.model, num_classes)
  if weights.init_from is not None:
    convert.load_two_stream(model, weights.init_from, f"model.init_from: {config.model.init_from}")
  elif weights.resnet50 is not None:
    convert.load_resnet50(model, weights.resnet50)
  frozen = {name: nnx.split(net) for name, net in weights.frozen.items()}
  eval_graph = inference.split(model).graph
  model.train()
  train_graph, params, rest = nnx.split(model, nnx.Param, ...)
  tx = optim.make(config.optimizer, params, steps_per_epoch)
  terms = tuple(objective.active(config.loss))
  state = TrainState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      rest=rest,
      opt_state=tx.init(params),
      frozen={name: s for name, (_, s) in frozen.items()},
      first_bad_step=jnp.full((), -1, jnp.int32),
      bad_terms=jnp.zeros(len(terms), bool),
  )
  program = Program(
      train_graph,
      eval_graph,
      {name: g for name, (g, _) in frozen.items()},
      tx,
      config.loss,
      terms,
      views.modalities(config.data.views),
  )
  return program, state


def gradients(program: Program, state: TrainState, batch: dict[str, jax.Array]) -> tuple[jax.Array, dict, Any, Any]:
  """(total loss, {term: loss}, the updated non-parameter state (BatchNorm statistics), gradients
  of the total with respect to `state.params`) on a batch of [V, n, ...] arrays (see `data.views`)."""
  labels, modality = merge_modalities(batch["label"]), merge_modalities(batch["modality"])
  frozen = {name: nnx.merge(graph, state.frozen[name], copy=True) for name, graph in program.frozen_graphs.items()}

  def loss_fn(params):
    model = nnx.merge(program.train_graph, params, state.rest, copy=True)
    out = model(batch["image"], program.views)
    images = merge_modalities(batch["image"])
    total, terms = objective.total_loss(program.loss, out, labels, modality, images, frozen, program.views)
    return total, (terms, nnx.state(model, nnx.Not(nnx.Param)))

  (total, (terms, rest)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  return total, terms, rest, grads


def train_step(program: Program, state: TrainState, batch: dict[str, jax.Array]) -> tuple[TrainState, dict]:
  """One optimisation step on a batch of [V, n, ...] arrays (one row per view, see `data.views`)."""
  total, terms, rest, grads = gradients(program, state, batch)
  updates, opt_state = program.tx.update(grads, state.opt_state, state.params)
  bad = ~jnp.isfinite(jnp.stack([terms[name] for name in program.terms]))
  first = (state.first_bad_step < 0) & bad.any()
  new_state = state.replace(
      step=state.step + 1,
      params=optax.apply_updates(state.params, updates),
      rest=rest,
      opt_state=opt_state,
      first_bad_step=jnp.where(first, state.step, state.first_bad_step),
      bad_terms=jnp.where(first, bad, state.bad_terms),
  )
  metrics = {"loss/total": total, **{f"loss/{k}": v for k, v in terms.items()}, "grad_norm": optax.tree.norm(grads)}
  return new_state, metrics


def checkpoint_items(state: TrainState) -> dict[str, dict[str, Any]]:
  """The checkpoint items of a state: `model` (what inference restores) and `train` (the rest)."""
  fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
  model = {name: fields.pop(name) for name in ("params", "rest")}
  return {"model": model, "train": fields}


def from_checkpoint_items(items: dict[str, dict[str, Any]]) -> TrainState:
  return TrainState(**items["model"], **items["train"])


def inference_model(program: Program, state: TrainState) -> inference.Model:
  """The state's model for `inference` (the same arrays, the eval-mode graph)."""
  return inference.Model(program.eval_graph, state.params, state.rest)


def _minutes_passed(since: float, minutes: float) -> bool:
  """Whether `train.checkpoint_minutes` have passed since the monotonic time `since` (0: never),
  as process 0's clock says on every process."""
  due = bool(minutes) and time.monotonic() - since >= 60.0 * minutes
  return bool(multihost_utils.broadcast_one_to_all(np.asarray(due))) if jax.process_count() > 1 else due


def _check_finite(program: Program, state: TrainState) -> None:
  first = int(state.first_bad_step)
  if first >= 0:
    names = [n for n, b in zip(program.terms, np.asarray(state.bad_terms)) if b]
    raise FloatingPointError(
        f"Non-finite loss at step {first + 1} in term(s) {', '.join(names)}; "
        "stopped without writing a checkpoint with it."
    )


class Data(NamedTuple):
  sources: dict[str, Any]
  train_cols: dict[str, np.ndarray]
  test_cols: dict[str, np.ndarray]
  num_classes: int
  per_modality: int  # images of one view in a training batch
  steps_per_epoch: int


def load_data(config: Any) -> Data:
  """The dataset's sources and columns, and the sizes the model and schedule derive from them."""
  sources = datasets.sources(config.data)
  train_cols, test_cols = datasets.columns(sources["train"]), datasets.columns(sources["test"])
  index = samplers.ModalityIndex.from_columns(train_cols["label"], train_cols["modality"])
  per_modality = pipeline.make_sampler(config.data)[1]
  pipeline.check_fits(index, config.data)
  evaluate.identity_groups(test_cols["identity"], config.eval)  # a bad grouping fails before training
  return Data(
      sources,
      train_cols,
      test_cols,
      int(train_cols["label"].max()) + 1,
      per_modality,
      samplers.batches_per_epoch(index, per_modality, config.data.epoch_length),
  )


def train_and_evaluate(config: Any, workdir: str) -> dict[str, Any]:
  """Trains `config` in `workdir` (continuing from its newest intact checkpoint), evaluates, returns
  results. Bad input (config fields, the dataset folder, weights files) fails before any slow work."""
  check(config)
  weights = load_weights(config)
  mesh = sharding.make_mesh()
  data = load_data(config)
  sources, train_cols, test_cols = data.sources, data.train_cols, data.test_cols
  per_modality, steps_per_epoch, num_classes = data.per_modality, data.steps_per_epoch, data.num_classes
  total_steps = config.train.steps or config.train.epochs * steps_per_epoch

  program, state = create(config, num_classes, steps_per_epoch, weights)
  del weights
  state = jax.device_put(state, sharding.param_shardings(state, mesh, config.train.fsdp))
  dataset = pipeline.train_dataset(
      sources["train"],
      train_cols,
      config.data,
      num_batches=total_steps,
      seed=config.seed,
      process_index=jax.process_index(),
      process_count=jax.process_count(),
  )
  iterator = iter(dataset)
  ckpt = checkpointing.Checkpointer(
      os.path.join(workdir, "checkpoints"),
      keep=config.train.keep_checkpoints,
      keep_best=config.train.keep_best,
      best_metric=evaluate.reported(config.eval, config.train.best_metric),
  )
  writer = writers.MetricWriter(workdir)
  try:
    start_step, elapsed = 0, 0.0
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
    restored = ckpt.restore_newest(lambda meta: checkpoint_items(abstract), iterator, set_aside_damaged=True)
    if restored:
      start_step, items, meta = restored
      state = from_checkpoint_items(items)
      elapsed = meta["elapsed_seconds"]
      logging.info("Resumed from step %d in %s", start_step, workdir)
    if jax.process_index() == 0:  # what `search` and `--mode=eval` rebuild the model from
      evaluate.write_json(json.loads(config.to_json()), os.path.join(workdir, "config.json"))

    step_fn = jax.jit(functools.partial(train_step, program), donate_argnums=0)
    batch_sharding = sharding.batch_sharding(mesh)
    images_per_step = len(config.data.views) * per_modality
    learning_rate = optim.schedule(config.optimizer, steps_per_epoch)
    logging.info(
        "Training %s: %d steps (%d per epoch), %d classes, %d devices",
        config.method,
        total_steps,
        steps_per_epoch,
        num_classes,
        jax.device_count(),
    )
    results: dict[str, Any] = {}
    window, window_start, window_steps = None, time.perf_counter(), 0
    with preemption.Watch() as watch:
      last_save = time.monotonic()
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
          scalars.update(
              {"lr": float(learning_rate(step)), "steps_per_second": rate, "images_per_second": rate * images_per_step}
          )
          writer.write_scalars(done, scalars)
          eta = (total_steps - done) / rate
          logging.info(
              "step %d/%d  loss %.4f  %.2f steps/s  %.1f img/s  elapsed %s  ETA %s",
              done,
              total_steps,
              scalars["loss/total"],
              rate,
              rate * images_per_step,
              writers.hms(elapsed),
              writers.hms(eta),
          )
          window, window_start, window_steps = None, time.perf_counter(), 0
          save_now = _minutes_passed(last_save, config.train.checkpoint_minutes)
        else:
          save_now = False
        evaluate_now = done == total_steps or (config.train.eval_every and done % config.train.eval_every == 0)
        stop = done < total_steps and watch.requested(done)
        if evaluate_now or stop or save_now or done % config.train.checkpoint_every == 0:
          _check_finite(program, state)
          meta = {
              "elapsed_seconds": elapsed + (time.perf_counter() - window_start if window_steps else 0.0),
              "num_classes": num_classes,
          }
          eval_scalars = None
          if evaluate_now:
            eval_start = time.perf_counter()
            features = inference.features(config, inference_model(program, state), sources["test"], test_cols)
            results, eval_scalars = inference.report(
                config, features, sources["test"], test_cols, workdir, done, writer
            )
            window_start += time.perf_counter() - eval_start  # throughput and ETA count training steps only
          ckpt.save(done, checkpoint_items(state), iterator, meta, metrics=eval_scalars)
          last_save = time.monotonic()
        if stop:
          logging.warning("Writing the checkpoint of step %d before stopping.", done)
          ckpt.wait()
          logging.warning(
              "Stopped after step %d/%d (%s), saved as %s; the same command continues from it.",
              done,
              total_steps,
              preemption.signal_name(watch.signum),
              ckpt.step_dir(done),
          )
          raise preemption.Preempted(watch.signum, done)
    if not results and start_step >= total_steps:  # already finished: evaluate the final state
      features = inference.features(config, inference_model(program, state), sources["test"], test_cols)
      results, _ = inference.report(config, features, sources["test"], test_cols, workdir, total_steps, None)
  finally:  # also on an error or an interrupt: pending checkpoint writes finish, workers stop
    iterator.close()
    ckpt.close()
    writer.close()
  return results
