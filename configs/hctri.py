r"""HcTri: hetero-centre triplet loss with part features (Zhu et al., Neurocomputing 2020).

  python -m vireid_jax.main --config=configs/hctri.py --workdir=/tmp/hctri \
      --config.model.pretrained=resnet50.npz
  python -m vireid_jax.main --config=configs/hctri.py:regdb --config.data.trial=1 ...
  python -m vireid_jax.main --config=configs/hctri.py:synthetic --workdir=/tmp/hctri_cpu   # CPU

Expected (paper, Table 4/5): SYSU-MM01 all-search single-shot rank-1 61.68, mAP 57.51;
RegDB visible-to-thermal rank-1 91.05, mAP 83.28. About 4 h on one modern GPU (60 epochs).
`:synthetic` trains a tiny-width model on the synthetic data in a few minutes on 2 CPU cores.

Hyper-parameters from the paper's implementation details: 288x144 images, P=8 identities x K=4
images per modality, SGD (lr 0.1 new layers, 0.01 backbone, Nesterov momentum 0.9, wd 5e-4),
warm-up 10 epochs, x0.1 at epochs 20 and 50; 6 part strips with GeM and 1x1 conv to 256 each;
identity loss per part plus the hetero-centre triplet on the concatenated parts (margin 0.3,
weight 1, mean over the 2P centres as the official code reduces it); test feature: the
concatenated parts. Split: the paper's Table I study; s1 here (their released default).
Ablation: `--config.loss.weights.hetero_center=0 --config.loss.weights.batch_hard=1`.
"""

from configs import common


def get_config(arg: str | None = None):
  loss = common.loss_config(part_identity=1.0, hetero_center=1.0, batch_hard=0.0)
  loss.feature = "parts"
  cfg = common.base_config("hctri", loss)
  cfg.model.update(parts=6, part_dim=256, non_local=(), test_feature="parts")
  return common.apply_arg(cfg, arg)
