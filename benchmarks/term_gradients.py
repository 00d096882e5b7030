"""What each loss term contributes to training: its value and the norm of its gradient on the
backbone, on the heads and on each head, at intervals of a training run from random weights.

  python -m benchmarks.term_gradients --config=configs/hctri.py:synthetic [--steps=200] [--every=50] [--record=NAME]
  python -m benchmarks.term_gradients --config=configs/hctri.py --config.data.augment.height=96 \
      --config.data.augment.width=48 --config.data.augment.pad=4 --config.data.k=2 \
      --config.data.require_manual_dir=False --config.model.require_pretrained=False --steps=300

A term whose gradient on the backbone is orders of magnitude below another's hardly shapes the
features (with Adam, whose step follows the sum of the gradients, not its scale); a term that
stays at its chance value (an identity loss at ln C per classifier) is not learning. Trains with
the config's own optimiser and batches (`config.seed`); prints one line per interval and, at
the end, the JSON of every interval.
"""

import functools
import json
import math
import os
import sys

import jax
import jax.numpy as jnp
from absl import app, flags
from flax import nnx
from ml_collections import config_flags

from vireid_jax import objective, optim, train
from vireid_jax.data import pipeline
from vireid_jax.models import merge_modalities

_CONFIG = config_flags.DEFINE_config_file("config", None, "A run config, e.g. configs/hctri.py:synthetic.")
_STEPS = flags.DEFINE_integer("steps", 200, "Training steps.")
_EVERY = flags.DEFINE_integer("every", 50, "Measure at step 0 and every this many steps.")
_RECORD = flags.DEFINE_string(
    "record",
    None,
    "Also store the rows under this name in " "benchmarks/results/term_gradients.json (the README's figures).",
)
flags.mark_flags_as_required(["config"])


def norm(tree) -> jax.Array:
  return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree)))


def term_gradients(program: train.Program, state: train.TrainState, batch) -> dict[str, jax.Array]:
  """{term/value, term/backbone, term/heads, term/heads.<name>} on one batch."""
  labels, modality = merge_modalities(batch["label"]), merge_modalities(batch["modality"])
  images = merge_modalities(batch["image"])
  frozen = {name: nnx.merge(graph, state.frozen[name], copy=True) for name, graph in program.frozen_graphs.items()}
  groups = optim.param_groups(state.params)
  out = {}
  for name in program.terms:
    settings = program.loss.terms[name]

    def loss(params, name=name, settings=settings):
      outputs = nnx.merge(program.train_graph, params, state.rest, copy=True)(batch["image"], program.views)
      inputs = objective.Inputs(outputs, labels, modality, images, frozen.get(name), program.views)
      return settings.weight * objective.TERMS[name].fn(inputs, settings)

    value, grads = jax.value_and_grad(loss)(state.params)
    out[f"{name}/value"] = value
    for group in ("backbone", "new"):
      out[f"{name}/{'heads' if group == 'new' else group}"] = norm(
          [g for g, k in zip(jax.tree.leaves(grads), jax.tree.leaves(groups)) if k == group]
      )
    for head, head_grads in grads["heads"].items():
      out[f"{name}/heads.{head}"] = norm(head_grads)
  return out


def main(argv):
  del argv
  cfg = _CONFIG.value
  data = train.load_data(cfg)
  program, state = train.create(cfg, data.num_classes, data.steps_per_epoch)
  batches = iter(
      pipeline.train_dataset(
          data.sources["train"], data.train_cols, cfg.data, num_batches=_STEPS.value + 1, seed=cfg.seed
      )
  )
  step = jax.jit(functools.partial(train.train_step, program), donate_argnums=0)
  measure = jax.jit(functools.partial(term_gradients, program))
  print(
      f"{cfg.method}: {data.num_classes} classes, chance identity loss ln C = {math.log(data.num_classes):.3f} "
      "per classifier",
      flush=True,
  )
  rows = []
  for i in range(_STEPS.value + 1):
    batch = next(batches)
    if i % _EVERY.value == 0 or i == _STEPS.value:
      rows.append({"step": i, **{k: round(float(v), 5) for k, v in measure(state, batch).items()}})
      print(" ".join(f"{k}={v:.4g}" if k != "step" else f"step {v}" for k, v in rows[-1].items()), flush=True)
    if i < _STEPS.value:
      state, _ = step(state, batch)
  print(json.dumps(rows))
  if _RECORD.value:
    path = os.path.join(os.path.dirname(__file__), "results", "term_gradients.json")
    record = {}
    if os.path.exists(path):
      with open(path) as f:
        record = json.load(f)
    record[_RECORD.value] = {"flags": " ".join(a for a in sys.argv[1:] if not a.startswith("--record")), "rows": rows}
    with open(path, "w") as f:
      json.dump(record, f, indent=1, sort_keys=True)


if __name__ == "__main__":
  app.run(main)
