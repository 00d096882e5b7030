"""The rewritten convolution: forward and gradients equal to the plain convolution it replaces."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from vireid_jax.models.conv import Conv


def plain(x, kernel, bias, stride, padding):
  y = jax.lax.conv_general_dilated(
      x, kernel.astype(x.dtype), (stride, stride), ((padding, padding),) * 2, dimension_numbers=("NHWC", "HWIO", "NHWC")
  )
  return y if bias is None else y + bias.astype(y.dtype)


@pytest.mark.parametrize(
    "kernel,stride,padding,use_bias", [(1, 1, 0, False), (1, 2, 0, True), (3, 2, 1, False), (7, 2, 3, False)]
)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_forward_and_gradients_equal_the_plain_convolution(kernel, stride, padding, use_bias, dtype):
  conv = Conv(6, 5, kernel, stride=stride, padding=padding, use_bias=use_bias, rngs=nnx.Rngs(0))
  if use_bias:
    conv.bias[...] = jnp.arange(5.0)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 9, 7, 6)), dtype)
  graph, params = nnx.split(conv)
  bias = params["bias"][...] if use_bias else None

  def ours(params, x):
    return jnp.sum(jnp.sin(nnx.merge(graph, params)(x).astype(jnp.float32)))

  def reference(params, x):
    return jnp.sum(
        jnp.sin(
            plain(x, params["kernel"][...], params["bias"][...] if use_bias else None, stride, padding).astype(
                jnp.float32
            )
        )
    )

  y = nnx.merge(graph, params)(x)
  expected = plain(x, params["kernel"][...], bias, stride, padding)
  assert y.shape == expected.shape and y.dtype == dtype
  tolerance = 1e-5 if dtype == jnp.float32 else 5e-2
  np.testing.assert_allclose(
      np.asarray(y, np.float32), np.asarray(expected, np.float32), rtol=tolerance, atol=tolerance
  )
  (gp, gx), (rp, rx) = jax.grad(ours, argnums=(0, 1))(params, x), jax.grad(reference, argnums=(0, 1))(params, x)
  for a, b in zip(jax.tree.leaves((gp, gx)), jax.tree.leaves((rp, rx))):
    np.testing.assert_allclose(
        np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=tolerance * 10, atol=tolerance * 10
    )
