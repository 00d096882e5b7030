"""Default blocks shared by every method config; a method config overrides what its paper sets."""

from __future__ import annotations

import ml_collections


def data_config(**overrides) -> ml_collections.ConfigDict:
  """Dataset, sampler and augmentation (AGW code family defaults at 288x144)."""
  cfg = ml_collections.ConfigDict(dict(
      dataset="sysu_mm01",        # "sysu_mm01" | "regdb"
      manual_dir="",              # the raw folder; empty = the synthetic dataset
      require_manual_dir=True,    # paper configs refuse to train on the synthetic stand-in
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
      require_pretrained=True,                      # paper configs refuse to start without it
      vgg16="",                                     # ImageNet VGG-16 for MSO's PEF loss
  ))
  cfg.update(overrides)
  return cfg


def eval_config(**overrides) -> ml_collections.ConfigDict:
  """Evaluation protocol (see vireid_jax.evaluate)."""
  cfg = ml_collections.ConfigDict(dict(
      protocol="sysu", modes=["all", "indoor"], shots=[1], trials=10, sampling="seeded",
      rand_perm_cam="", distance="euclidean", normalize=False, flip=False, rerank=False, max_rank=20,
      batch_size=64,
      figures=True,               # ranked lists, embedding and curves under workdir/figures/
  ))
  cfg.update(overrides)
  return cfg


def loss_config(**weights) -> ml_collections.ConfigDict:
  """Loss terms (see vireid_jax.methods.TERMS) with their weights, and their hyper-parameters."""
  return ml_collections.ConfigDict(dict(
      weights=weights,
      feature="pooled",              # the feature metric losses use: "pooled" | "bn" | "parts"
      label_smoothing=0.0,
      margin=0.3,                    # triplet / hetero-centre / dual-constraint margin
      center_margin=0.7,             # DANet cross-modality centre loss
      hc_reduction="mean",           # HcTri: "mean" over the 2P centres (code) | "sum" (eq. 5)
      wrt_variant="paper", eat_variant="paper", contrastive_variant="paper",
  ))


def optimizer_config(**overrides) -> ml_collections.ConfigDict:
  """AGW code family: SGD 0.1 (new layers) / 0.01 (backbone), Nesterov, wd 5e-4, warm-up 10
  epochs from 0.1x, x0.1 at epoch 20 and again at 50."""
  cfg = ml_collections.ConfigDict(dict(
      name="sgd", lr=0.1, backbone_lr_mult=0.1, momentum=0.9, nesterov=True, b1=0.9, b2=0.999,
      weight_decay=5e-4, warmup_epochs=10, warmup_start=0.1, decay_epochs=(20, 50), decay_factor=0.1,
      clip_norm=0.0,
  ))
  cfg.update(overrides)
  return cfg


def train_config(**overrides) -> ml_collections.ConfigDict:
  cfg = ml_collections.ConfigDict(dict(
      epochs=60, steps=0,            # steps > 0 overrides epochs
      log_every=50, eval_every=0, checkpoint_every=500,
      keep_checkpoints=2, keep_best=1, best_metric="eval/all_single/mAP",
      fsdp=False,
  ))
  cfg.update(overrides)
  return cfg


def base_config(method: str, loss: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      method=method, seed=0, data=data_config(), model=model_config(), loss=loss,
      optimizer=optimizer_config(), train=train_config(), eval=eval_config(),
  ))


def apply_arg(cfg: ml_collections.ConfigDict, arg: str | None) -> ml_collections.ConfigDict:
  """The `:arg` variants every method config accepts: sysu (default), regdb, synthetic, test."""
  arg = arg or "sysu"
  if arg == "sysu":
    return cfg
  if arg == "regdb":
    cfg.data.dataset = "regdb"
    cfg.eval.update(protocol="regdb", modes=["visible_to_thermal", "thermal_to_visible"], trials=1)
    cfg.train.best_metric = "eval/visible_to_thermal/mAP"
    return cfg
  if arg in ("synthetic", "test"):
    # The method's structure on CPU: tiny widths, small images, random initialisation.
    cfg.data.update(manual_dir="", require_manual_dir=False, p=4, k=2, tuples=4, workers=0)
    cfg.data.augment.update(height=96, width=48, pad=4)  # 6 rows at stride 16: six part strips
    cfg.model.update(width=8, blocks=(1, 1, 1, 1), require_pretrained=False,
                     non_local=tuple((stage, 0) for stage, _ in sorted(set(cfg.model.non_local))),
                     part_dim=16)
    cfg.optimizer.update(warmup_epochs=1, decay_epochs=(6, 9))
    cfg.train.update(epochs=10, log_every=20, checkpoint_every=100, eval_every=0)
    cfg.eval.update(trials=2, batch_size=32)
    if arg == "synthetic":
      # From random weights on CPU (measured on hctri:synthetic, 20 epochs, ~2 min on 2 cores:
      # all-search mAP 26.9 vs 8.5 untrained and 7.4 for random features): width 16, 8 x 4
      # batches, Adam, grayscale/channel augmentation of visible images, no random erasing (too
      # coarse at 96x48); SGD 0.1 collapses HcTri's part features from random weights.
      cfg.data.update(p=8, k=4, tuples=8)
      cfg.data.augment.update(channel_aug_prob=0.5, erasing_prob=0.0)
      cfg.model.width = 16
      cfg.optimizer.update(name="adam", lr=1e-3, backbone_lr_mult=1.0, decay_epochs=(15, 19))
      cfg.train.update(epochs=20, log_every=50, checkpoint_every=200, eval_every=130)
    if arg == "test":
      cfg.train.update(steps=3, log_every=1, checkpoint_every=2)
      cfg.eval.update(trials=1, modes=cfg.eval.modes[:1])
    return cfg
  raise ValueError(f"config arg: expected sysu, regdb, synthetic or test, got {arg!r}.")
