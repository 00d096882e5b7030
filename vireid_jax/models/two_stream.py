"""Two-stream ResNet-50 for VI-ReID: modality-specific stages 0..s-1, shared stages s..4.

The split s0..s5 follows HcTri (Liu et al., IEEE TMM 2021, arXiv 2008.06223, Table I): s0 is one shared
network, s1 (AGW's default) gives each modality its own stem, s5 two separate networks.

Inputs are uint8 images (normalised here, on the device) or images the input pipeline has
normalised already (float; see `vireid_jax.data.views`):
- training layout `[V, n, H, W, 3]` with a static stream per view (`modality`, default (0, 1):
  row 0 visible, row 1 infrared; the pipeline's batches): the views of each stream run through
  its modality-specific stages together (one BatchNorm batch per stream), then the views are
  merged to `[V n, ...]` ordered (item, view) by `merge_modalities` (device-local under data
  sharding) for the shared stages; every output is in that merged order;
- one modality `[B, H, W, 3]` with a static `modality` (evaluation).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from vireid_jax.data.transforms import normalize
from vireid_jax.models import heads
from vireid_jax.models.attention import NonLocal, PositionAttention
from vireid_jax.models.resnet import EXPANSION, Stem, stage_blocks, stage_shapes

NUM_STAGES = 5  # stem + layer1..layer4
DTYPES = ("float32", "bfloat16", "float16")
# What the backbone returns before any head: name -> kind ("vector" = [B, D] feature, "map" = NHWC).
BACKBONE_OUTPUTS = {"stage0": "map", "stage1": "map", "feature_map": "map", "pooled": "vector", "modality": "index"}


def outputs(cfg: Any) -> dict[str, str]:
  """Every output of the model that `cfg` builds: name -> kind."""
  out = dict(BACKBONE_OUTPUTS)
  for name in heads.HEADS:
    if name in cfg.heads:
      out.update(heads.HEADS[name].OUTPUTS)
  return out


def provider_hint(output: str) -> str:
  """How a config gets the model output `output`: the registered head that provides it, if any."""
  name = next((n for n, head in heads.HEADS.items() if output in head.OUTPUTS), None)
  return f"add model.heads.{name}" if name else "no backbone stage or registered head provides it"


def _check_heads(config: Any) -> list[str]:
  cfg = config.model
  unknown = sorted(set(cfg.heads) - set(heads.HEADS))
  if unknown:
    return [f"model.heads: unknown heads {unknown}; registered: {sorted(heads.HEADS)}."]
  problems, available = [], dict(BACKBONE_OUTPUTS)
  for name, head in heads.HEADS.items():
    if name not in cfg.heads:
      continue
    settings, field = cfg.heads[name], f"model.heads.{name}"
    problems += heads.HEADS.check_block(name, settings, field) or head.check(settings, field, config)
    for needed in head.INPUTS:
      if needed not in available:
        problems.append(f"model.heads.{name} reads {needed!r}: {provider_hint(needed)}.")
    available.update(head.OUTPUTS)
  vectors = [o for o, kind in available.items() if kind == "vector"]
  if cfg.test_feature not in vectors:
    problems.append(
        f"model.test_feature: expected one of this model's [B, D] features {vectors}, got {cfg.test_feature!r}."
    )
  return problems


def check(config: Any) -> list[str]:
  """Problems with the run config's `model` block (its heads also against the data they see),
  each naming the field (empty if none). `build_model` assumes a config without problems."""
  cfg, problems = config.model, []
  if not (isinstance(cfg.width, int) and cfg.width >= 1):
    problems.append(f"model.width: expected a positive integer (64 for ResNet-50), got {cfg.width!r}.")
  blocks = tuple(cfg.blocks)
  if len(blocks) != 4 or not all(isinstance(b, int) and b >= 1 for b in blocks):
    problems.append(f"model.blocks: expected 4 positive block counts ((3, 4, 6, 3) for ResNet-50), got {blocks!r}.")
  elif any(not (1 <= stage <= 4 and 0 <= block < blocks[stage - 1]) for stage, block in cfg.non_local):
    problems.append(
        f"model.non_local: expected (stage 1..4, block index within model.blocks) pairs, got "
        f"{tuple(map(tuple, cfg.non_local))!r} with blocks {blocks}."
    )
  elif len({tuple(pair) for pair in cfg.non_local}) < len(cfg.non_local):
    problems.append(
        f"model.non_local: a (stage, block) pair appears twice in {tuple(map(tuple, cfg.non_local))!r}; "
        "a block is followed by at most one non-local block."
    )
  if cfg.last_stride not in (1, 2):
    problems.append(f"model.last_stride: expected 1 or 2, got {cfg.last_stride!r}.")
  if cfg.split not in range(NUM_STAGES + 1):
    problems.append(f"model.split: expected 0..5 (stages 0..split-1 modality-specific), got {cfg.split!r}.")
  elif cfg.position_attention and cfg.split == 0:
    problems.append(
        "model.position_attention: the module follows the modality-specific stages; it needs " "model.split >= 1."
    )
  if cfg.equal_streams and cfg.split == 0:
    problems.append("model.equal_streams: model.split=0 has no modality-specific streams; expected split >= 1.")
  if not (cfg.non_local_inner == "half" or str(cfg.non_local_inner).isdigit() and int(cfg.non_local_inner) >= 1):
    problems.append(
        f"model.non_local_inner: expected 'half' or a positive number of channels, got " f"{cfg.non_local_inner!r}."
    )
  if not (isinstance(cfg.attention_reduction, int) and cfg.attention_reduction >= 1):
    problems.append(f"model.attention_reduction: expected a positive integer, got {cfg.attention_reduction!r}.")
  if cfg.non_local_kind not in ("dot", "gaussian"):
    problems.append(f"model.non_local_kind: expected 'dot' or 'gaussian', got {cfg.non_local_kind!r}.")
  if cfg.pooling not in ("gem", "avg"):
    problems.append(f"model.pooling: expected 'gem' or 'avg', got {cfg.pooling!r}.")
  if cfg.dtype not in DTYPES:
    problems.append(f"model.dtype: expected one of {DTYPES}, got {cfg.dtype!r}.")
  return problems + _check_heads(config)


def merge_modalities(x: jax.Array) -> jax.Array:
  """[V, n, ...] -> [V n, ...] with row i*V + v holding item i of view v."""
  return jnp.swapaxes(x, 0, 1).reshape((-1,) + x.shape[2:])


class Stage(nnx.Module):
  """One of layer1..layer4, with non-local blocks after the listed block indices."""

  def __init__(
      self,
      cin: int,
      width: int,
      blocks: int,
      stride: int,
      non_local_after: tuple[int, ...],
      non_local_inner: int | str,
      non_local_kind: str,
      *,
      zero_residual: bool,
      rngs: nnx.Rngs,
  ):
    self.blocks = stage_blocks(cin, width, blocks, stride, rngs, zero_residual)
    channels = width * EXPANSION
    inner = channels // 2 if non_local_inner == "half" else int(non_local_inner)
    self.non_local_after = tuple(non_local_after)
    self.non_local = nnx.List([NonLocal(channels, inner, kind=non_local_kind, rngs=rngs) for _ in self.non_local_after])

  def __call__(self, x: jax.Array) -> jax.Array:
    for i, block in enumerate(self.blocks):
      x = block(x)
      if i in self.non_local_after:
        x = self.non_local[self.non_local_after.index(i)](x)
    return x


class TwoStreamReID(nnx.Module):
  """Backbone + heads; `__call__` returns a dict of every feature a loss or the evaluator needs.

  Outputs (B images; C the final channels; D = C):
    stage0 [B, H/4, W/4, width], stage1 [B, H/4, W/4, 4 width]: after stages 0 and 1;
    feature_map [B, h, w, C]; pooled [B, D] (GeM or average);
    modality [B] int32 (the modality of each output row);
    and the outputs of the heads in `model.heads` (see `heads.HEADS`), e.g. bn [B, D] (BNNeck),
    logits [B, K], part_features [B, p, d], part_logits [p, B, K], parts [B, p*d],
    visible_logits, infrared_logits [B, K], centers [K, D].
  """

  def __init__(self, cfg: Any, num_classes: int, *, rngs: nnx.Rngs):
    split = cfg.split
    shapes = stage_shapes(cfg.width, cfg.blocks, cfg.last_stride)
    non_local = {stage: tuple(b for s, b in cfg.non_local if s == stage) for stage in range(1, NUM_STAGES)}

    def make(stage: int) -> nnx.Module:
      if stage == 0:
        return Stem(cfg.width, rngs=rngs)
      return Stage(
          *shapes[stage - 1],
          non_local[stage],
          cfg.non_local_inner,
          cfg.non_local_kind,
          zero_residual=cfg.zero_init_residual,
          rngs=rngs,
      )

    self.split = split
    self.specific = nnx.List([nnx.List([make(i) for i in range(split)]) for _ in range(2)])
    self.shared = nnx.List([make(i) for i in range(split, NUM_STAGES)])
    if cfg.position_attention:
      channels = cfg.width if split == 1 else shapes[split - 2][1] * EXPANSION
      self.attention = nnx.List(
          [PositionAttention(channels, reduction=cfg.attention_reduction, rngs=rngs) for _ in range(2)]
      )
    else:
      self.attention = None
    if cfg.equal_streams:  # what one pretrained backbone loaded into both streams gives
      for streams in (s for s in (self.specific, self.attention) if s is not None):
        nnx.update(streams[1], jax.tree.map(jnp.copy, nnx.state(streams[0])))  # copies: donated apart

    dim = shapes[-1][1] * EXPANSION
    self.pool = heads.GeM(cfg.gem_p, learnable=cfg.gem_learnable, eps=cfg.gem_eps) if cfg.pooling == "gem" else None
    self.head_order = tuple(name for name in heads.HEADS if name in cfg.heads)
    self.heads = nnx.Dict(
        {name: heads.HEADS[name](cfg.heads[name], dim, num_classes, rngs=rngs) for name in self.head_order}
    )
    self.test_feature = cfg.test_feature
    self.dtype = jnp.dtype(cfg.dtype)  # compute dtype: the images are normalised to it, every layer follows

  def _specific(self, x: jax.Array, modality: int, taps: dict[str, list]) -> jax.Array:
    for i, stage in enumerate(self.specific[modality]):
      x = stage(x)
      if i < 2:
        taps[f"stage{i}"].append(x)
    if self.attention is not None:
      x = self.attention[modality](x)
    return x

  def _views(self, x: jax.Array, views: tuple[int, ...], taps: dict[str, list]) -> jax.Array:
    """[V, n, ...] -> [V n, ...] merged: each stream's views through its specific stages at once."""
    per_view = {name: [None] * len(views) for name in ("x", *taps)}
    for m in (0, 1):
      chosen = [v for v, stream in enumerate(views) if stream == m]
      if chosen:
        own: dict[str, list] = {k: [] for k in taps}
        own["x"] = [self._specific(jnp.concatenate([x[v] for v in chosen]), m, own)]  # static slices
        for name, tapped in own.items():
          if tapped:  # [len(chosen) n, ...] -> one [n, ...] per view
            for v, part in zip(chosen, tapped[0].reshape((len(chosen), -1) + tapped[0].shape[1:])):
              per_view[name][v] = part
    for k in taps:
      if per_view[k][0] is not None:
        taps[k].append(merge_modalities(jnp.stack(per_view[k])))
    return merge_modalities(jnp.stack(per_view["x"]))

  def __call__(self, images: jax.Array, modality: int | tuple[int, ...] | None = None) -> dict[str, jax.Array]:
    floating = jnp.issubdtype(images.dtype, jnp.floating)
    x = images.astype(self.dtype) if floating else normalize(images, self.dtype)
    taps: dict[str, list] = {"stage0": [], "stage1": []}
    if x.ndim == 5:
      views = (0, 1) if modality is None else tuple(modality)
      if len(views) != x.shape[0] or not set(views) <= {0, 1}:
        raise ValueError(f"training images [V, n, H, W, 3] need one stream (0 or 1) per view; got {x.shape}, {views}.")
      x = self._views(x, views, taps)
      modalities = jnp.tile(jnp.asarray(views, jnp.int32), images.shape[1])
    else:
      if modality not in (0, 1):
        raise ValueError(f"a single-modality batch needs modality 0 or 1, got {modality!r}.")
      x = self._specific(x, modality, taps)
      modalities = jnp.full((images.shape[0],), modality, jnp.int32)
    for i, stage in enumerate(self.shared, start=self.split):
      x = stage(x)
      if i < 2:
        taps[f"stage{i}"].append(x)
    out = {k: v[0] for k, v in taps.items()}
    pooled = self.pool(x) if self.pool is not None else heads.average_pool(x)
    out.update(feature_map=x, pooled=pooled, modality=modalities)
    for name in self.head_order:
      out.update(self.heads[name](out))
    return out

  def embed(self, images: jax.Array, modality: int) -> jax.Array:
    """The test-time embedding chosen by `model.test_feature`: [B, H, W, 3] uint8 -> [B, D]."""
    return self(images, modality)[self.test_feature].astype(jnp.float32)
