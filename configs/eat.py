r"""EAT + CMKD (Gao, Shao, Wu, Yang, Yu, "Leaning Compact and Representative Features for
Cross-Modality Person Re-Identification", World Wide Web 2022; code IVIPLab/LCCRF): enumerate
angular triplet loss with the angular compactness term and cross-modality knowledge distillation,
tuple sampler.

  python -m vireid_jax.main --config=configs/eat.py --workdir=/tmp/eat --config.model.pretrained=resnet50.npz
  python -m vireid_jax.main --config=configs/eat.py:regdb --config.data.trial=1 ...
  python -m vireid_jax.main --config=configs/eat.py:synthetic --workdir=/tmp/eat_cpu

Expected (authors' README): SYSU-MM01 mAP 43.09, RegDB mAP 79.92 (rank-1 not stated there).
About 3 h on one modern GPU. The released LCCRF code: Adam, lr 3.5e-4, label smoothing 0.1,
margin 1 for the angular loss, MSE distillation on stage-1 features with weight 1; 8 tuples per
batch here (the paper's batch is silent on CPU-sized values). Ablations:
`--config.loss.weights.distillation=0` (EAT without CMKD), `--config.loss.weights.compactness=0`,
`--config.loss.eat_variant=reference` (the LCCRF code's loss).
"""

from configs import common


def get_config(arg: str | None = None):
  loss = common.loss_config(identity=1.0, angular_triplet=1.0, compactness=0.1, distillation=1.0)
  loss.update(feature="bn", label_smoothing=0.1)
  cfg = common.base_config("eat", loss)
  cfg.data.sampler = "tuple"
  cfg.model.non_local = ()
  cfg.optimizer.update(name="adam", lr=3.5e-4, backbone_lr_mult=1.0, warmup_epochs=0, weight_decay=5e-4)
  return common.apply_arg(cfg, arg)
