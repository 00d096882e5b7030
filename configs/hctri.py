r"""HcTri: hetero-centre triplet loss with part features (Liu, Tan, Zhou, Zhu, "Parameters Sharing
Exploration and Hetero-Center Triplet Loss for Visible-Thermal Person Re-Identification", IEEE TMM
2021, arXiv 2008.06223).

  python -m vireid_jax.main --config=configs/hctri.py --workdir=/tmp/hctri \
      --config.model.pretrained=resnet50.npz
  python -m vireid_jax.regdb_trials --config=configs/hctri.py:regdb --workdir=/tmp/hctri_regdb ...
  python -m vireid_jax.main --config=configs/hctri.py:synthetic --workdir=/tmp/hctri_cpu   # CPU

Expected (authors' README): SYSU-MM01 all-search single-shot rank-1 ~61.68, mAP ~57.51, mINP
~39.54; RegDB visible-to-thermal rank-1 ~91.05, mAP ~83.28, mINP ~68.84. About 4 h on one modern
GPU (60 epochs). `:synthetic` (what `make demo` runs) trains a width-16 model on the synthetic
data in about 2.5 min on 2 CPU cores (all-search mAP ~27 against ~8 untrained), at s1 and
without the per-part term (see `get_config`).

Hyper-parameters from the released code (hijune6/Hetero-center-triplet-loss-for-VT-Re-ID,
train_mine.py defaults): 288x144 images, P=8 identities x K=4 images per modality, SGD (lr 0.1
new layers, 0.01 backbone, Nesterov momentum 0.9, wd 5e-4), warm-up 10 epochs from 0.1x, x0.1 at
epochs 20 and 50; split s2 (`share_net=2`: stem and stage 1 modality-specific); 6 part strips,
GeM then 1x1 conv to 256 each; loss = sum of the part identity losses (plain cross-entropy) +
hetero-centre triplet on the concatenated parts + 2 x the sum over parts of the hetero-centre
triplet on each part (`w_center=2`), margin 0.3, mean over the 2P centres; test feature: the
concatenated parts. The paper's split study: `--config.model.split=0..5`.
Ablation (batch-hard instead of hetero-centre): `--config.loss.weights.hetero_center=0
--config.loss.weights.part_hetero_center=0 --config.loss.weights.batch_hard=1`.
"""

from configs import common


def get_config(arg: str | None = None):
  loss = common.loss_config(part_identity=1.0, hetero_center=1.0, part_hetero_center=2.0, batch_hard=0.0)
  loss.feature = "parts"
  cfg = common.base_config("hctri", loss)
  cfg.model.update(split=2, parts=6, part_dim=256, non_local=(), test_feature="parts")
  cfg = common.apply_arg(cfg, arg)
  if arg == "synthetic":
    # From random weights at width 16 (measured, 20 epochs, all-search mAP): the per-part term
    # collapses the 16-d part features (13.5 with it, 23.0 without at s2) and s1 learns faster
    # than s2 (26.9 vs 23.0).
    cfg.model.split = 1
    cfg.loss.weights.part_hetero_center = 0.0
  return cfg
