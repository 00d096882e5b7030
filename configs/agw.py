r"""AGW baseline (Ye et al., "Deep Learning for Person Re-identification: A Survey and Outlook",
TPAMI 2021): two-stream ResNet-50 (split s1), non-local blocks, GeM, BNNeck, ID + WRT loss.

  python -m vireid_jax.main --config=configs/agw.py --workdir=/tmp/agw --config.model.pretrained=resnet50.npz
  python -m vireid_jax.main --config=configs/agw.py:regdb --config.data.trial=1 ...
  python -m vireid_jax.main --config=configs/agw.py:synthetic --workdir=/tmp/agw_cpu      # CPU, minutes

Expected (paper, Table 11): SYSU-MM01 all-search rank-1 47.50, mAP 47.65, mINP 35.30; RegDB
visible-to-thermal rank-1 70.05, mAP 66.37, mINP 50.19. About 3 h on one modern GPU.

From the AGW code: 288x144, P=8 x K=4 per modality, SGD 0.1 / 0.01 backbone, Nesterov, wd 5e-4,
warm-up 10 epochs, x0.1 at 20 and 50, 60 epochs; non-local after blocks 2,3 of stage 2 and 3,4,5
of stage 3 (inner width C/2 as the paper says; `--config.model.non_local_inner=1` is the code);
GeM p=3 learnable; WRT on the pooled feature, ID loss on the BNNeck feature; test feature: BNNeck.
The AGW code ranks by inner product of BNNeck features; the nearest of our distances is cosine.
"""

from configs import common


def get_config(arg: str | None = None):
  cfg = common.base_config("agw", common.loss_config(identity=1.0, wrt=1.0))
  cfg.eval.distance = "cosine"
  return common.apply_arg(cfg, arg)
