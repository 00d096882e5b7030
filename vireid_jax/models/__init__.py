"""Models: `build_model(config.model, num_classes)` and the pieces it wires together."""

from typing import Any

from flax import nnx

from vireid_jax.models.heads import HEADS
from vireid_jax.models.two_stream import TwoStreamReID, check, merge_modalities, outputs, provider_hint


def build_model(cfg: Any, num_classes: int) -> TwoStreamReID:
  """The two-stream ReID model of `cfg` (the config's `model` block), random initialisation. The
  entry points run `check(config)` first, which names every bad field."""
  return TwoStreamReID(cfg, num_classes, rngs=nnx.Rngs(params=cfg.seed))


__all__ = ["build_model", "check", "HEADS", "merge_modalities", "outputs", "provider_hint", "TwoStreamReID"]
