"""Helpers shared by the loss families: float32 casts, safe distances, masked group statistics.

Groups (an identity, or an identity in one modality) are handled with [B, B] masks, never by
slicing the batch, so every loss is independent of the order of samples and of how many samples
each group has.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

VARIANTS = ("paper", "reference")  # `variant`: the paper's equation, or the authors' released code
REDUCTIONS = ("mean", "sum")  # `reduction` over samples, where a paper and its code differ
EPS = 1e-12  # squared-distance floor: sqrt stays differentiable at 0 (as the reference code's clamp)
COSINE_EPS = 1e-16  # squared-norm floor of cosines: max(||x||, 1e-8), PyTorch's cosine eps


def choice_problem(name: str, value: object, allowed: tuple[str, ...]) -> str | None:
  """The one message for a setting outside its choices (the losses raise it; `objective.check`
  reports it under the config field), or None."""
  return None if value in allowed else f"{name}: expected one of {allowed}, got {value!r}."


def require(name: str, value: object, allowed: tuple[str, ...]) -> None:
  problem = choice_problem(name, value, allowed)
  if problem:
    raise ValueError(problem)


def f32(*arrays: jax.Array) -> tuple[jax.Array, ...]:
  return tuple(jnp.asarray(a, jnp.float32) for a in arrays)


def euclidean(x: jax.Array, y: jax.Array) -> jax.Array:
  """[N, D], [M, D] -> [N, M] sqrt(max(||x - y||^2, 1e-12))."""
  sq = jnp.sum(x * x, 1)[:, None] + jnp.sum(y * y, 1)[None, :] - 2.0 * x @ y.T
  return jnp.sqrt(jnp.maximum(sq, EPS))


def norm(x: jax.Array, axis: int = -1, floor: float = EPS) -> jax.Array:
  """sqrt(max(||x||^2, floor)) along `axis`: finite gradient at x = 0."""
  return jnp.sqrt(jnp.maximum(jnp.sum(x * x, axis), floor))


def same(a: jax.Array) -> jax.Array:
  """[B] -> [B, B] bool, a_i == a_j."""
  return a[:, None] == a[None, :]


def group_mean(features: jax.Array, mask: jax.Array) -> jax.Array:
  """Row i: mean of the features j with mask[i, j] (each row's group must be non-empty)."""
  weights = mask.astype(jnp.float32)
  return weights @ features / jnp.sum(weights, 1, keepdims=True)


def per_group_weight(mask: jax.Array) -> jax.Array:
  """[B] 1 / (size of each sample's group): summing a per-sample value of the group's with it
  counts every group once."""
  return 1.0 / jnp.sum(mask.astype(jnp.float32), 1)


def masked_max(x: jax.Array, mask: jax.Array) -> jax.Array:
  return jnp.max(jnp.where(mask, x, -jnp.inf), axis=-1)


def masked_min(x: jax.Array, mask: jax.Array) -> jax.Array:
  return jnp.min(jnp.where(mask, x, jnp.inf), axis=-1)


def cosine(a: jax.Array, b: jax.Array) -> jax.Array:
  """Row-wise cosine similarity of [N, D] pairs."""
  return jnp.sum(a * b, -1) / (norm(a, floor=COSINE_EPS) * norm(b, floor=COSINE_EPS))
