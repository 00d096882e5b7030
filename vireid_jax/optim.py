"""Optimisers (optax) as the reference code family configures them.

SGD (momentum, Nesterov) or Adam with PyTorch-style coupled weight decay (wd * param added to the
gradient, on every parameter); per-group learning rates: the backbone at `backbone_lr_mult` times
the base rate, new layers (every head of `model.heads`: BNNeck, classifiers, part heads, centres)
at the base rate; a warm-up, then step decay, in epochs or steps; optional global-norm clipping.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

# optimizer.name -> (learning rate, the optimizer block) -> the optax optimiser of one parameter group.
OPTIMIZERS = {
    "sgd": lambda lr, cfg: optax.sgd(lr, momentum=cfg.momentum, nesterov=cfg.nesterov),
    "adam": lambda lr, cfg: optax.adam(lr, b1=cfg.b1, b2=cfg.b2),
}
UNITS = ("epoch", "step")
WARMUPS = ("linear", "staircase")


def check(cfg: Any) -> list[str]:
  """Problems with the `optimizer` block, each naming the field (empty if none)."""
  problems = []
  if cfg.name not in OPTIMIZERS:
    problems.append(f"optimizer.name: expected one of {tuple(OPTIMIZERS)}, got {cfg.name!r}.")
  for field in ("lr", "decay_factor", "warmup_start"):
    if not cfg[field] > 0:
      problems.append(f"optimizer.{field}: expected a positive number, got {cfg[field]!r}.")
  for field in ("backbone_lr_mult", "weight_decay", "warmup", "clip_norm"):
    if not cfg[field] >= 0:
      problems.append(f"optimizer.{field}: expected a number >= 0, got {cfg[field]!r}.")
  if not 0 <= cfg.momentum < 1:
    problems.append(f"optimizer.momentum: expected a number in [0, 1), got {cfg.momentum!r}.")
  for field, allowed in (("unit", UNITS), ("warmup_shape", WARMUPS)):
    if cfg[field] not in allowed:
      problems.append(f"optimizer.{field}: expected one of {allowed}, got {cfg[field]!r}.")
  decay = list(cfg.decay_at)
  if decay != sorted(decay) or any(e <= 0 for e in decay):
    problems.append(f"optimizer.decay_at: expected increasing positive {cfg.unit}s, got {tuple(decay)!r}.")
  return problems


def schedule(cfg: Any, steps_per_epoch: int) -> optax.Schedule:
  """lr(step) = lr x warm-up factor x `decay_factor` ** (number of `decay_at` points passed).

  `unit` ("epoch" | "step") measures `warmup` and `decay_at`. The warm-up factor rises from
  `warmup_start` to 1 over `warmup` units: "linear" every step (the EAT code's
  WarmupMultiStepLR), "staircase" once per unit, holding each unit's rate for the whole unit and
  reaching 1 in the last warm-up unit (lr (e + 1) / 10 in epoch e < 10: AGW's
  adjust_learning_rate, HcTri eq. 10).
  """
  per_unit = steps_per_epoch if cfg.unit == "epoch" else 1
  decay = optax.piecewise_constant_schedule(cfg.lr, {int(at * per_unit): cfg.decay_factor for at in cfg.decay_at})
  warmup = int(cfg.warmup * per_unit)
  if not warmup:
    return decay

  def lr(step):
    if cfg.warmup_shape == "linear":
      progress = step / warmup
    else:
      progress = jnp.floor(step / per_unit) / max(cfg.warmup - 1, 1)
    rising = cfg.warmup_start + (1.0 - cfg.warmup_start) * jnp.minimum(progress, 1.0)
    return decay(step) * jnp.where(step < warmup, rising, 1.0)

  return lr


def param_groups(params: Any) -> Any:
  """ "new" for every parameter of the model's heads (`model.heads`), "backbone" for the rest."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: "new" if getattr(path[0], "key", None) == "heads" else "backbone", params
  )


def make(cfg: Any, params: Any, steps_per_epoch: int) -> optax.GradientTransformation:
  lr = schedule(cfg, steps_per_epoch)

  def group(mult: float) -> optax.GradientTransformation:
    opt = OPTIMIZERS[cfg.name](lambda step: lr(step) * mult, cfg)
    return optax.chain(optax.add_decayed_weights(cfg.weight_decay), opt)

  tx = optax.multi_transform({"backbone": group(cfg.backbone_lr_mult), "new": group(1.0)}, param_groups(params))
  return optax.chain(optax.clip_by_global_norm(cfg.clip_norm), tx) if cfg.clip_norm else tx
