"""Train-step cost of every method vs the bare single-stream ResNet-50, in the same run.

  python -m benchmarks.train_step [--batch_per_modality=4] [--steps=3] [--methods=agw,eat,...]

For each method's paper config (288x144, full ResNet-50, random weights, a CPU-sized batch of
`batch_per_modality` images per modality) and for a bare single-stream ResNet-50 forward+backward
(global average pool, a mean-square loss) on the same number of images: compile time, FLOPs per
image (XLA cost analysis), images/s and peak memory of the compiled step; then the ratio of each
method's time per image to the bare backbone's. The baseline includes the same optimiser update
(SGD with momentum, weight decay) so the ratio measures the methods' additions only.
"""

import functools
import importlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags
from flax import nnx

from configs import common
from vireid_jax import train
from vireid_jax.models import build_model

_BATCH = flags.DEFINE_integer("batch_per_modality", 4, "Images per modality in a batch (CPU-sized).")
_STEPS = flags.DEFINE_integer("steps", 3, "Timed steps per method (after the compile).")
_METHODS = flags.DEFINE_list("methods", ["agw", "eat", "mso", "hctri", "danet", "cmdc"], "Methods to time.")


def measure(fn, *args):
  """(compile seconds, FLOPs, peak bytes, seconds per call) of jitted `fn` on `args`."""
  start = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  compile_s = time.perf_counter() - start
  cost = compiled.cost_analysis()
  memory = compiled.memory_analysis()
  peak = getattr(memory, "temp_size_in_bytes", 0) + getattr(memory, "argument_size_in_bytes", 0)
  jax.block_until_ready(compiled(*args))
  times = []
  for _ in range(_STEPS.value):
    t = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    times.append(time.perf_counter() - t)
  return compile_s, cost.get("flops", float("nan")), peak, min(times)


def bare_backbone(images: int):
  cfg = common.model_config(split=0, non_local=(), require_pretrained=False, pooling="avg")
  model = build_model(cfg, 10)
  graph, params, rest = nnx.split(model, nnx.Param, ...)
  x = jnp.zeros((images, 288, 144, 3), jnp.uint8)
  tx = optax.chain(optax.add_decayed_weights(5e-4), optax.sgd(0.01, momentum=0.9, nesterov=True))

  def step(params, rest, opt_state, x):
    def loss(params):
      return jnp.mean(nnx.merge(graph, params, rest, copy=True)(x, 0)["pooled"] ** 2)
    updates, opt_state = tx.update(jax.grad(loss)(params), opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  return step, (params, rest, tx.init(params), x)


def method_step(name: str, per_modality: int):
  cfg = importlib.import_module(f"configs.{name}").get_config("sysu")
  cfg.model.require_pretrained = False
  n = per_modality
  if cfg.data.sampler == "tuple":
    n = 3 * max(1, per_modality // 3)
    cfg.data.tuples = n // 3
  program, state = train.create(cfg, 395, steps_per_epoch=100)
  labels = np.repeat(np.arange(n // 2 if cfg.data.sampler == "pk" else n), 2)[:n] if cfg.data.sampler == "pk" \
      else np.stack([np.arange(n // 3), np.arange(n // 3), np.arange(n // 3) + 100], 1).reshape(-1)
  batch = {"image": jnp.zeros((2, n, 288, 144, 3), jnp.uint8),
           "label": jnp.asarray(np.stack([labels, labels]), jnp.int32),
           "modality": jnp.asarray(np.stack([np.zeros(n), np.ones(n)]), jnp.int32)}
  return functools.partial(train.train_step, program), (state, batch), 2 * n


def main(_):
  images = 2 * _BATCH.value
  step, args = bare_backbone(images)
  c, flops, peak, seconds = measure(step, *args)
  base = seconds / images
  print(f"{'step':22s} {'images':>6s} {'compile s':>9s} {'GFLOP/img':>9s} {'img/s':>7s} {'peak GiB':>8s} "
        f"{'time/img ratio':>14s}")
  print(f"{'bare ResNet-50':22s} {images:6d} {c:9.1f} {flops / images / 1e9:9.2f} {images / seconds:7.2f} "
        f"{peak / 2**30:8.2f} {1.0:14.2f}")
  for name in _METHODS.value:
    step, args, n = method_step(name, _BATCH.value)
    c, flops, peak, seconds = measure(step, *args)
    print(f"{name:22s} {n:6d} {c:9.1f} {flops / n / 1e9:9.2f} {n / seconds:7.2f} {peak / 2**30:8.2f} "
          f"{seconds / n / base:14.2f}")


if __name__ == "__main__":
  app.run(main)
