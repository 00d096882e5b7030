"""BatchNorm as PyTorch computes it, checked against float64 NumPy on inputs whose mean dwarfs their spread."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from vireid_jax.models.batch_norm import BatchNorm


def numpy_bn(x, scale, bias, running_mean, running_var, momentum=0.1, eps=1e-5):
  """torch.nn.BatchNorm2d in training mode, float64: (output, new running mean, new running var)."""
  x = np.asarray(x, np.float64).reshape(-1, x.shape[-1])
  mean, var = x.mean(0), x.var(0)  # the biased variance normalises
  n = x.shape[0]
  out = (x - mean) / np.sqrt(var + eps) * scale + bias
  return (
      out,
      (1 - momentum) * running_mean + momentum * mean,
      (1 - momentum) * running_var + momentum * var * n / (n - 1),
  )


@pytest.mark.parametrize("dtype,mean,std", [(jnp.float32, 1e4, 1.0), (jnp.bfloat16, 64.0, 2.0)])
def test_training_statistics_match_float64_when_the_mean_dwarfs_the_spread(dtype, mean, std):
  rng = np.random.default_rng(0)
  x = (rng.normal(size=(4, 5, 3, 6)) * std + mean).astype(np.float32)
  x = np.asarray(jnp.asarray(x, dtype).astype(jnp.float32))  # the values the layer actually sees
  bn = BatchNorm(6, rngs=nnx.Rngs(0))
  scale, bias = rng.uniform(0.5, 2.0, 6).astype(np.float32), rng.normal(size=6).astype(np.float32)
  bn.scale[...], bn.bias[...] = scale, bias
  bn.mean[...], bn.var[...] = np.full(6, 0.5, np.float32), np.full(6, 2.0, np.float32)
  out = bn(jnp.asarray(x, dtype))
  assert out.dtype == dtype
  expected, mean, var = numpy_bn(x, scale, bias, 0.5, 2.0)
  np.testing.assert_allclose(np.asarray(bn.mean[...]), mean, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(bn.var[...]), var, rtol=1e-5)  # unbiased: n / (n - 1) = 60 / 59
  tolerance = 5e-2 if dtype == jnp.bfloat16 else 2e-3  # float32: the mean itself is rounded at 1e4 (ulp 1e-3)
  np.testing.assert_allclose(np.asarray(out, np.float64).reshape(expected.shape), expected, atol=tolerance * 4)
  if dtype == jnp.float32:  # E[x^2] - E[x]^2 in float32 (Flax's fast variance) loses the spread here
    fast = np.mean(np.square(x), axis=(0, 1, 2)) - np.square(np.mean(x, axis=(0, 1, 2)))
    assert np.abs(fast - x.astype(np.float64).reshape(-1, 6).var(0)).max() > 0.5


def test_inference_uses_the_running_statistics_and_changes_nothing():
  bn = BatchNorm(3, use_bias=False, rngs=nnx.Rngs(0))
  bn.mean[...], bn.var[...] = np.array([1.0, 2.0, 3.0], np.float32), np.array([4.0, 1.0, 0.25], np.float32)
  bn.use_running_average = True
  x = np.arange(6, dtype=np.float32).reshape(2, 3)
  np.testing.assert_allclose(
      np.asarray(bn(jnp.asarray(x))), (x - [1, 2, 3]) / np.sqrt(np.array([4, 1, 0.25]) + 1e-5), rtol=1e-6
  )
  np.testing.assert_array_equal(np.asarray(bn.mean[...]), [1, 2, 3])
  assert bn.bias is None


def test_gradients_flow_to_the_input_and_parameters_not_the_statistics():
  bn = BatchNorm(4, rngs=nnx.Rngs(0))
  graph, params, stats = nnx.split(bn, nnx.Param, ...)
  x = jnp.asarray(np.random.default_rng(1).normal(size=(8, 4)), jnp.float32)

  def loss(params, x):
    return jnp.sum(nnx.merge(graph, params, stats, copy=True)(x) ** 3)

  gp, gx = jax.grad(loss, argnums=(0, 1))(params, x)
  assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves((gp, gx)))
  assert float(jnp.abs(gx).max()) > 0
