"""Optimisers (optax) as the reference code family configures them.

SGD (momentum, Nesterov) or Adam with PyTorch-style coupled weight decay (wd * param added to the
gradient, on every parameter); per-group learning rates: the backbone at `backbone_lr_mult` times
the base rate, new layers (BNNeck, classifiers, part heads, centres) at the base rate; linear
warm-up then step decay, per epoch; optional global-norm clipping.
"""

from __future__ import annotations

from typing import Any

import jax
import optax

from vireid_jax import errors

NEW_LAYERS = ("bnneck", "classifier", "parts", "modality_classifiers", "centers")
OPTIMIZERS = ("sgd", "adam")


def check(cfg: Any) -> list[str]:
  """Problems with the `optimizer` block, each naming the field (empty if none)."""
  problems = []
  if cfg.name not in OPTIMIZERS:
    problems.append(f"optimizer.name: expected one of {OPTIMIZERS}, got {cfg.name!r}.")
  for field in ("lr", "decay_factor", "warmup_start"):
    if not cfg[field] > 0:
      problems.append(f"optimizer.{field}: expected a positive number, got {cfg[field]!r}.")
  for field in ("backbone_lr_mult", "weight_decay", "warmup_epochs", "clip_norm"):
    if not cfg[field] >= 0:
      problems.append(f"optimizer.{field}: expected a number >= 0, got {cfg[field]!r}.")
  if not 0 <= cfg.momentum < 1:
    problems.append(f"optimizer.momentum: expected a number in [0, 1), got {cfg.momentum!r}.")
  decay = list(cfg.decay_epochs)
  if decay != sorted(decay) or any(e <= 0 for e in decay):
    problems.append(f"optimizer.decay_epochs: expected increasing positive epochs, got {tuple(decay)!r}.")
  return problems


def schedule(cfg: Any, steps_per_epoch: int) -> optax.Schedule:
  """lr(step): linear warm-up from `warmup_start` x lr over `warmup_epochs`, then lr times
  `decay_factor` ** (number of `decay_epochs` passed), the AGW code's adjust_learning_rate."""
  boundaries = {int(e * steps_per_epoch): cfg.decay_factor for e in cfg.decay_epochs}
  warmup = int(cfg.warmup_epochs * steps_per_epoch)
  decay = optax.piecewise_constant_schedule(cfg.lr, {b - warmup: f for b, f in boundaries.items() if b > warmup})
  if not warmup:
    return decay
  return optax.join_schedules([optax.linear_schedule(cfg.lr * cfg.warmup_start, cfg.lr, warmup), decay], [warmup])


def param_groups(params: Any) -> Any:
  """"new" for parameters of the heads, "backbone" for the rest (by top-level module name)."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: "new" if getattr(path[0], "key", None) in NEW_LAYERS else "backbone", params)


def make(cfg: Any, params: Any, steps_per_epoch: int) -> optax.GradientTransformation:
  lr = schedule(cfg, steps_per_epoch)

  def group(mult: float) -> optax.GradientTransformation:
    scaled = lambda step: lr(step) * mult
    if cfg.name == "sgd":
      opt = optax.sgd(scaled, momentum=cfg.momentum, nesterov=cfg.nesterov)
    elif cfg.name == "adam":
      opt = optax.adam(scaled, b1=cfg.b1, b2=cfg.b2)
    else:
      raise errors.UserError(f"optimizer.name: expected one of {OPTIMIZERS}, got {cfg.name!r}.")
    return optax.chain(optax.add_decayed_weights(cfg.weight_decay), opt)

  tx = optax.multi_transform({"backbone": group(cfg.backbone_lr_mult), "new": group(1.0)}, param_groups(params))
  return optax.chain(optax.clip_by_global_norm(cfg.clip_norm), tx) if cfg.clip_norm else tx
