"""Compile every method's sharded training step (and its inference path) for a TPU topology on this
CPU host, without a TPU: what the chips will compute and hold, before renting them.

  pip install -e '.[tpu]'     # libtpu, the TPU compiler (an optional extra, never a library dependency)
  python -m benchmarks.accelerator_aot --topology=v5e:2x2 [--methods=agw,hctri] [--dtype=bfloat16] [--fsdp]

For each method's paper config at its paper batch (`data.p` x `data.k` x 2 images, or EAT's 6 x
tuples), split over the topology's chips along the data axis, in `--dtype`: the step is lowered
with abstract arrays sharded over a mesh of the topology's devices (`jax.experimental.topologies`)
and compiled by the TPU compiler. Prints, per chip: FLOPs (XLA cost analysis), the bytes of the
arguments (parameters, optimiser state, batch), outputs, temporaries and those aliased (the
donated state reused for the new one), whether the step fits the chip's memory, and the largest
per-chip batch that fits, extrapolated from this compile (temporaries grow with the batch; the
state does not; "–" where the compiler reports no temporaries). A full ResNet-50 step takes
minutes to compile on 2 CPU cores.
"""

import functools
import importlib
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from flax import nnx
from jax.experimental import topologies
from jax.sharding import NamedSharding, PartitionSpec as P

import configs
from vireid_jax import sharding, train
from vireid_jax.data import pipeline, views

_TOPOLOGY = flags.DEFINE_string("topology", "v5e:2x2", "A TPU topology, e.g. v2:2x2 (Colab), v5e:2x2, v4:2x2x1.")
_METHODS = flags.DEFINE_list("methods", configs.methods(), "Methods to compile.")
_DTYPE = flags.DEFINE_enum("dtype", "bfloat16", ["bfloat16", "float32"], "Compute dtype (model.dtype).")
_FSDP = flags.DEFINE_bool("fsdp", False, "Shard parameters and optimiser state over the chips (train.fsdp).")
_CLASSES = 395  # SYSU-MM01's training identities

# High-bandwidth memory per device (a TPU core on v2/v3, a chip from v4 on), bytes.
HBM = {
    "TPU v2": 8 << 30,
    "TPU v3": 16 << 30,
    "TPU v4": 32 << 30,
    "TPU v5 lite": 16 << 30,
    "TPU v5e": 16 << 30,
    "TPU v5": 95 << 30,
    "TPU v6 lite": 32 << 30,
    "TPU v6e": 32 << 30,
}


def abstract(tree, shardings):
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings)


def abstract_batch(cfg, batch_sharding=None):
  """(the abstract training batch of `cfg`'s sampler and views, as the pipeline yields it, placed
  by `batch_sharding`; its images per modality)."""
  per_modality = pipeline.make_sampler(cfg.data)[1]
  rows = (len(cfg.data.views), per_modality)
  dtype = jnp.float32 if views.normalized(cfg.data) else jnp.uint8
  image = (*rows, cfg.data.augment.height, cfg.data.augment.width, 3)
  spec = lambda shape, dtype: jax.ShapeDtypeStruct(shape, dtype, sharding=batch_sharding)
  return {"image": spec(image, dtype), "label": spec(rows, jnp.int32), "modality": spec(rows, jnp.int32)}, per_modality


def compile_step(cfg, mesh):
  """(compiled train step, compiled inference path, images per step) of `cfg` on `mesh`; the
  training state is donated, as the training loop donates it."""
  program, state = train.create(cfg, _CLASSES, steps_per_epoch=100)
  state = abstract(state, sharding.param_shardings(state, mesh, cfg.train.fsdp))
  batch, per_modality = abstract_batch(cfg, sharding.batch_sharding(mesh))
  height, width = cfg.data.augment.height, cfg.data.augment.width
  step = jax.jit(functools.partial(train.train_step, program), donate_argnums=0)
  compiled_step = step.lower(state, batch).compile()
  images = jax.ShapeDtypeStruct(
      (2 * per_modality, height, width, 3), jnp.uint8, sharding=NamedSharding(mesh, P(sharding.DATA))
  )
  embed = jax.jit(lambda params, rest, x: nnx.merge(program.eval_graph, params, rest, copy=True).embed(x, 0))
  compiled_embed = embed.lower(state.params, state.rest, images).compile()
  return compiled_step, compiled_embed, len(cfg.data.views) * per_modality


def memory(compiled) -> dict[str, int]:
  """Per-chip bytes of a compiled program: arguments, outputs, temporaries, aliased, and the total."""
  m = compiled.memory_analysis()
  out = {
      "args": m.argument_size_in_bytes,
      "out": m.output_size_in_bytes,
      "temp": m.temp_size_in_bytes,
      "alias": m.alias_size_in_bytes,
  }
  out["total"] = out["args"] + out["out"] + out["temp"] - out["alias"]
  return out


def report(name: str, compiled, per_chip: int, image_bytes: int, hbm: int) -> None:
  flops, m = compiled.cost_analysis().get("flops", float("nan")), memory(compiled)
  scaling = m["temp"] + per_chip * image_bytes  # the temporaries and the images grow with the batch
  largest = f"{int((hbm - (m['total'] - scaling)) // (scaling / per_chip)):8d}" if m["temp"] else "       –"
  gib = lambda b: f"{b / 2**30:6.2f}"
  print(
      f"{name:14s} {per_chip:5d} {flops / 1e12:8.3f} {gib(m['args'])} {gib(m['out'])} {gib(m['temp'])} "
      f"{gib(m['alias'])} {gib(m['total'])} {'yes' if m['total'] <= hbm else 'NO':>4s} {largest}",
      flush=True,
  )


def main(_):
  topology = topologies.get_topology_desc(topology_name=_TOPOLOGY.value, platform="tpu")
  devices = topology.devices
  mesh = jax.sharding.Mesh(np.array(devices), (sharding.DATA,), axis_types=(jax.sharding.AxisType.Auto,))
  kind = devices[0].device_kind
  hbm = next((v for k, v in HBM.items() if kind.startswith(k)), 16 << 30)
  print(
      f"{_TOPOLOGY.value}: {len(devices)} x {kind} ({hbm / 2**30:.0f} GiB each), {_DTYPE.value}, "
      f"{'FSDP' if _FSDP.value else 'replicated'} parameters; per chip:"
  )
  print(
      f"{'step':14s} {'batch':>5s} {'TFLOP':>8s} {'args':>6s} {'out':>6s} {'temp':>6s} {'alias':>6s} {'total':>6s} "
      f"{'fits':>4s} {'max batch':>8s}   (GiB)"
  )
  for method in _METHODS.value:
    cfg = importlib.import_module(f"configs.{method}").get_config("sysu")
    cfg.model.update(require_pretrained=False, dtype=_DTYPE.value)
    cfg.train.fsdp = _FSDP.value
    start = time.perf_counter()
    step, embed, images = compile_step(cfg, mesh)
    image_bytes = cfg.data.augment.height * cfg.data.augment.width * 3
    for name, compiled in ((f"{method} train", step), (f"{method} embed", embed)):
      report(name, compiled, images // len(devices), image_bytes, hbm)
    print(f"{'':14s} compiled in {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
  app.run(main)
