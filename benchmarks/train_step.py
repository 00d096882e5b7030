"""Train-step cost of every method vs the bare single-stream ResNet-50, in the same run; and the
AGW step against PyTorch.

  python -m benchmarks.train_step [--batch_per_modality=4] [--steps=3] [--methods=agw,eat,...]
  python -m benchmarks.train_step --vs_torch [--rounds=3] [--batch_per_modality=4]

For each method's paper config (full ResNet-50, random weights, a CPU-sized batch of
`batch_per_modality` images per view (CAJ's three views: 1.5x the images of a step), every method at 288x144 so that the per-image costs
compare, including DANet and EAT whose papers train at 384x128) and for a bare single-stream ResNet-50 forward+backward
(global average pool, a mean-square loss) on the same number of images: compile time, FLOPs per
image (XLA cost analysis), images/s and peak memory of the compiled step; then the ratio of each
method's time per image to the bare backbone's. The baseline includes the same optimiser update
(SGD with momentum, weight decay) so the ratio measures the methods' additions only.

`--vs_torch` (needs torch; says so and stops without it): the AGW training step (forward, backward,
SGD) on `batch_per_modality` + `batch_per_modality` images and inference on 32 images and on 1, all
at 288x144, ours (`configs/agw.py`; inference with its BatchNorms folded, as `vireid_jax.export`
serves it) against the same model in PyTorch (`benchmarks/torch_agw.py`, `eval()`, no_grad),
default and channels_last memory format. Each setting runs in its own process with the same
thread count, the processes alternate for `rounds` rounds, and the best time of each is kept;
prints times and ratios (PyTorch time / ours: above 1 means ours is faster).
"""

import functools
import importlib
import json
import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags
from flax import nnx

import configs
from configs import common
from vireid_jax import export, inference, train
from vireid_jax.data import views
from vireid_jax.models import build_model

_BATCH = flags.DEFINE_integer("batch_per_modality", 4, "Images per modality in a batch (CPU-sized).")
_STEPS = flags.DEFINE_integer("steps", 3, "Timed steps per method (after the compile).")
_METHODS = flags.DEFINE_list("methods", configs.methods(), "Methods to time.")
_VS_TORCH = flags.DEFINE_bool("vs_torch", False, "Time the AGW step and inference against PyTorch.")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "With --vs_torch: alternating rounds of one process per setting.")
SETTINGS = ("jax", "torch", "torch_channels_last")
_WORKER = flags.DEFINE_enum("worker", None, list(SETTINGS), "Internal: time one setting.")
HEIGHT, WIDTH, INFERENCE_BATCHES = 288, 144, (32, 1)


def measure(fn, *args):
  """(compile seconds, FLOPs, peak bytes, seconds per call) of jitted `fn` on `args`."""
  start = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  compile_s = time.perf_counter() - start
  cost = compiled.cost_analysis()
  memory = compiled.memory_analysis()
  peak = getattr(memory, "temp_size_in_bytes", 0) + getattr(memory, "argument_size_in_bytes", 0)
  seconds = _best(lambda: jax.block_until_ready(compiled(*args)), _STEPS.value)
  return compile_s, cost.get("flops", float("nan")), peak, seconds


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


def method_step(name: str, per_modality: int, cfg=None):
  cfg = cfg or importlib.import_module(f"configs.{name}").get_config("sysu")
  cfg.model.require_pretrained = False
  n = per_modality
  if cfg.data.sampler == "tuple":
    n = 3 * max(1, per_modality // 3)
    cfg.data.tuples = n // 3
  program, state = train.create(cfg, 395, steps_per_epoch=100)
  labels = (
      np.repeat(np.arange(n // 2 if cfg.data.sampler == "pk" else n), 2)[:n]
      if cfg.data.sampler == "pk"
      else np.stack([np.arange(n // 3), np.arange(n // 3), np.arange(n // 3) + 100], 1).reshape(-1)
  )
  streams = views.modalities(cfg.data.views)  # CAJ: three views, two of them visible
  dtype = jnp.float32 if views.normalized(cfg.data) else jnp.uint8
  batch = {
      "image": jnp.zeros((len(streams), n, 288, 144, 3), dtype),
      "label": jnp.asarray(np.stack([labels] * len(streams)), jnp.int32),
      "modality": jnp.asarray(np.repeat(np.asarray(streams)[:, None], n, 1), jnp.int32),
  }
  return functools.partial(train.train_step, program), (state, batch), len(streams) * n


def _best(fn, steps: int) -> float:
  fn()  # warm-up (and compilation)
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return min(times)


def _time_jax(n: int) -> dict[str, float]:
  """Our AGW train step (n + n images) and the folded inference path (`vireid_jax.export`'s, at
  INFERENCE_BATCHES images), seconds per call."""
  cfg = importlib.import_module("configs.agw").get_config("sysu")  # method_step drops its weights requirement
  step, (state, batch), _ = method_step("agw", n, cfg)
  step = jax.jit(step, donate_argnums=0)
  holder = {"state": state}

  def train_once():
    holder["state"], metrics = step(holder["state"], batch)
    jax.block_until_ready(metrics)

  train_s = _best(train_once, _STEPS.value)
  model = export.fold_batch_norms(train.inference_model(*train.create(cfg, 395, steps_per_epoch=100)))
  embed = inference.embedder(model)
  times = {"train_s": train_s}
  for batch in INFERENCE_BATCHES:
    images = jnp.zeros((batch, HEIGHT, WIDTH, 3), jnp.uint8)
    times[f"infer{batch}_s"] = _best(lambda: jax.block_until_ready(embed(images, 0)), _STEPS.value)
  return times


def _time_torch(n: int, channels_last: bool) -> dict[str, float]:
  import torch  # pylint: disable=g-import-not-at-top
  from benchmarks import torch_agw  # pylint: disable=g-import-not-at-top

  torch.manual_seed(0)
  model, step = torch_agw.training_step(395, channels_last)
  fmt = torch.channels_last if channels_last else torch.contiguous_format
  visible, infrared = (torch.rand(n, 3, HEIGHT, WIDTH).contiguous(memory_format=fmt) for _ in range(2))
  labels = torch.arange(n) // 2
  train_s = _best(lambda: step(visible, infrared, labels), _STEPS.value)
  model.eval()
  times = {"train_s": train_s}
  for batch in INFERENCE_BATCHES:
    images = torch.rand(batch, 3, HEIGHT, WIDTH).contiguous(memory_format=fmt)
    with torch.no_grad():
      times[f"infer{batch}_s"] = _best(lambda: model(images), _STEPS.value)
  return times


def vs_torch() -> None:
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    print("--vs_torch needs torch (pip install -e '.[torch]'); it is not installed, so nothing was timed.")
    return
  threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))
  env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": os.getcwd()}
  best: dict[str, dict[str, float]] = {}
  for round_ in range(_ROUNDS.value):
    for setting in SETTINGS:
      out = subprocess.run(
          [
              sys.executable,
              "-m",
              "benchmarks.train_step",
              f"--worker={setting}",
              f"--batch_per_modality={_BATCH.value}",
              f"--steps={_STEPS.value}",
          ],
          env=env,
          capture_output=True,
          text=True,
          check=True,
      )
      times = json.loads(out.stdout.strip().splitlines()[-1])
      best[setting] = {k: min(v, best.get(setting, {}).get(k, float("inf"))) for k, v in times.items()}
      print(
          f"round {round_ + 1}: {setting:20s} train {times['train_s']:.3f} s/step  inference "
          + "  ".join(f"{times[f'infer{b}_s']:.3f} s/{b} images" for b in INFERENCE_BATCHES),
          flush=True,
      )
  n = 2 * _BATCH.value
  print(
      f"\nAGW at {HEIGHT}x{WIDTH}, {threads} threads, torch {torch.__version__}, jax {jax.__version__}; best of "
      f"{_ROUNDS.value} alternating rounds x {_STEPS.value} steps"
  )
  print(
      f"{'':22s} {'train img/s':>12s} {'ratio':>6s}"
      + "".join(f" {f'inference {b} img/s':>18s} {'ratio':>6s}" for b in INFERENCE_BATCHES)
  )
  for setting in SETTINGS:
    t, ours = best[setting], best["jax"]
    print(
        f"{setting:22s} {n / t['train_s']:12.2f} {t['train_s'] / ours['train_s']:6.2f}"
        + "".join(
            f" {b / t[f'infer{b}_s']:18.2f} {t[f'infer{b}_s'] / ours[f'infer{b}_s']:6.2f}" for b in INFERENCE_BATCHES
        )
    )
  print("ratio: this setting's time / ours (above 1: ours is faster)")


def main(_):
  if _WORKER.value:
    n = _BATCH.value
    times = _time_jax(n) if _WORKER.value == "jax" else _time_torch(n, _WORKER.value == "torch_channels_last")
    print(json.dumps(times))
    return
  if _VS_TORCH.value:
    vs_torch()
    return
  images = 2 * _BATCH.value
  step, args = bare_backbone(images)
  c, flops, peak, seconds = measure(step, *args)
  base = seconds / images
  print(
      f"{'step':22s} {'images':>6s} {'compile s':>9s} {'GFLOP/img':>9s} {'img/s':>7s} {'peak GiB':>8s} "
      f"{'time/img ratio':>14s}"
  )
  print(
      f"{'bare ResNet-50':22s} {images:6d} {c:9.1f} {flops / images / 1e9:9.2f} {images / seconds:7.2f} "
      f"{peak / 2**30:8.2f} {1.0:14.2f}"
  )
  for name in _METHODS.value:
    step, args, n = method_step(name, _BATCH.value)
    c, flops, peak, seconds = measure(step, *args)
    print(
        f"{name:22s} {n:6d} {c:9.1f} {flops / n / 1e9:9.2f} {n / seconds:7.2f} {peak / 2**30:8.2f} "
        f"{seconds / n / base:14.2f}"
    )


if __name__ == "__main__":
  app.run(main)
