"""Default blocks shared by every method config; a method config overrides what its paper sets."""

from __future__ import annotations

import ml_collections


def data_config(**overrides) -> ml_collections.ConfigDict:
  """Dataset, sampler and augmentation (AGW code family defaults at 288x144)."""
  cfg = ml_collections.ConfigDict(dict(
      dataset="sysu_mm01",        # "sysu_mm01" | "regdb"
      manual_dir="",              # the raw folder; empty = the synthetic dataset
      data_dir="~/tensorflow_datasets",
      builder_config="default",   # SYSU: "default" (train + val ids) | "train_only"
      trial=1,                    # RegDB split 1..10
      sampler="pk",               # "pk" | "tuple" (EAT)
      p=8, k=4,                   # identities per batch, images per identity and modality
      tuples=8,                   # EAT: anchor pairs per batch
      workers=2,                  # Grain worker processes (0 = in the main process)
      augment=dict(height=288, width=144, pad=10, flip=True, channel_aug_prob=0.0, erasing_prob=0.5,
                   erasing_area=(0.02, 0.4), erasing_aspect=(0.3, 3.33)),
  ))
  cfg.update(overrides)
  return cfg


def model_config(**overrides) -> ml_collections.ConfigDict:
  """Two-stream ResNet-50 (AGW: split s1, non-local, GeM, BNNeck)."""
  cfg = ml_collections.ConfigDict(dict(
      width=64, blocks=(3, 4, 6, 3), last_stride=1,
      split=1,                                      # stages 0..split-1 modality-specific
      non_local=((2, 2), (2, 3), (3, 3), (3, 4), (3, 5)),  # (stage, block) pairs, AGW's positions
      non_local_inner="half",                       # "half" (paper: C/2) or an int (AGW code: 1)
      non_local_kind="dot",                         # "dot" (AGW) | "gaussian"
      position_attention=False,                     # DPAN: PAM after the modality-specific stages
      pooling="gem", gem_p=3.0, gem_learnable=True, gem_eps=1e-6,
      parts=0, part_dim=256,                        # HcTri: strips and per-part dimension
      modality_classifiers=False,                   # DANet
      centers=False,                                # CMDC: learned class centres
      test_feature="bn",                            # "bn" | "pooled" | "parts"
      dtype="float32",                              # compute dtype; parameters stay float32
      seed=0,
      pretrained="",                                # ImageNet ResNet-50 (.npz/.safetensors/.pth)
  ))
  cfg.update(overrides)
  return cfg


def eval_config(**overrides) -> ml_collections.ConfigDict:
  """Evaluation protocol (see vireid_jax.evaluate)."""
  cfg = ml_collections.ConfigDict(dict(
      protocol="sysu", modes=["all", "indoor"], shots=[1], trials=10, sampling="seeded",
      rand_perm_cam="", distance="euclidean", normalize=False, flip=False, rerank=False, max_rank=20,
      batch_size=64,
  ))
  cfg.update(overrides)
  return cfg
