"""Classification losses: identity cross-entropy, DANet's modality mutual learning, CAJ's view KL."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from vireid_jax.losses.common import f32


def identity_loss(
    logits: jax.Array, labels: jax.Array, label_smoothing: float = 0.0, where: jax.Array | None = None
) -> jax.Array:
  """Softmax cross-entropy (HcTri eq. 8), optionally label-smoothed (Szegedy et al., 2016).

  Target q = 1 - (N - 1) / N * eps for the true class and eps / N for the others (N classes).
  logits [B, N], labels [B] -> mean over the batch (over the samples with `where` [B] True, if
  given), float32 scalar.
  """
  (logits,) = f32(logits)
  n = logits.shape[-1]
  targets = jax.nn.one_hot(labels, n) * (1.0 - label_smoothing) + label_smoothing / n
  per_sample = -jnp.sum(targets * jax.nn.log_softmax(logits), -1)
  if where is None:
    return jnp.mean(per_sample)
  w = where.astype(jnp.float32)
  return jnp.sum(w * per_sample) / jnp.maximum(jnp.sum(w), 1.0)


def modality_mutual_learning(visible_logits: jax.Array, infrared_logits: jax.Array, modality: jax.Array) -> jax.Array:
  """DANet (Liu et al., 2021) eq. 5: KL divergence between the modality-specific classifiers.

  For visible samples KL(C_r || C_v) = sum p_r log(p_r / p_v), for infrared samples
  KL(C_v || C_r); each averaged over its samples, the two summed. Both classifiers receive
  gradients (the equation has no stop-gradient). logits [B, N], modality [B] -> float32 scalar.
  """
  visible_logits, infrared_logits = f32(visible_logits, infrared_logits)
  log_v, log_r = jax.nn.log_softmax(visible_logits), jax.nn.log_softmax(infrared_logits)
  kl_r_v = jnp.sum(jnp.exp(log_r) * (log_r - log_v), -1)
  kl_v_r = jnp.sum(jnp.exp(log_v) * (log_v - log_r), -1)
  is_v = (modality == 0).astype(jnp.float32)
  is_r = 1.0 - is_v
  return jnp.sum(is_v * kl_r_v) / jnp.maximum(jnp.sum(is_v), 1.0) + jnp.sum(is_r * kl_v_r) / jnp.maximum(
      jnp.sum(is_r), 1.0
  )


def view_kl(student_logits: jax.Array, teacher_logits: jax.Array, temperature: float = 3.0) -> jax.Array:
  """CAJ's KL term (the released code's `KLDivLoss` in `train_ext.py`, weight `--kl`, 0 by
  default): the softened teacher distribution t = softmax(teacher / T) + 1e-7, held fixed (no
  gradient), against the student's log p = log_softmax(student / T):

    T^2 / B * sum_i sum_c t_ic (log t_ic - log p_ic).

  student_logits, teacher_logits [B, N] (row i of each the same item) -> float32 scalar.
  """
  student_logits, teacher_logits = f32(student_logits, teacher_logits)
  target = jax.lax.stop_gradient(jax.nn.softmax(teacher_logits / temperature) + 1e-7)
  log_p = jax.nn.log_softmax(student_logits / temperature)
  return temperature**2 * jnp.sum(target * (jnp.log(target) - log_p)) / student_logits.shape[0]
