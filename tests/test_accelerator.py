"""The TPU path cannot rot unseen: a tiny config's sharded training step compiles for a TPU topology
on this CPU host (libtpu's compiler, no TPU), donating its state, and FSDP shrinks what each chip
holds. `python -m benchmarks.accelerator_aot` does the same for every method at paper size."""

import numpy as np
import pytest

from configs import agw

pytest.importorskip("libtpu", reason="libtpu is not installed (pip install -e '.[tpu]'): no TPU compiler to test")


@pytest.mark.slow
def test_tiny_sharded_step_compiles_for_a_tpu_topology(monkeypatch):
  import jax
  from jax.experimental import topologies

  from benchmarks import accelerator_aot

  monkeypatch.setenv("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")  # other test processes may hold libtpu's lock
  devices = topologies.get_topology_desc(topology_name="v5e:2x2", platform="tpu").devices
  mesh = jax.sharding.Mesh(np.array(devices), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
  measured = {}
  for fsdp in (False, True):
    cfg = agw.get_config("test")
    cfg.model.dtype, cfg.train.fsdp, cfg.data.p = "bfloat16", fsdp, 4  # 8 images per modality: 2 per chip
    step, embed, images = accelerator_aot.compile_step(cfg, mesh)
    assert images == 16 and step.cost_analysis()["flops"] > 0 and embed.cost_analysis()["flops"] > 0
    measured[fsdp] = accelerator_aot.memory(step)
    assert measured[fsdp]["alias"] > 0.9 * measured[fsdp]["out"]  # the new state reuses the donated one
  assert measured[True]["args"] < 0.6 * measured[False]["args"]  # parameters and optimiser state split 4 ways
