r"""MSO (Gao et al., "MSO: Multi-Feature Space Joint Optimization Network for RGB-Infrared Person
Re-Identification", ACM MM 2021): perceptual edge features loss on the stem (Sobel + frozen VGG-16)
and the cross-modality contrastive-centre loss, on top of AGW.

  python -m vireid_jax.main --config=configs/mso.py --workdir=/tmp/mso \
      --config.model.pretrained=resnet50.npz --config.model.vgg16=vgg16.npz
  python -m vireid_jax.main --config=configs/mso.py:synthetic --workdir=/tmp/mso_cpu

Expected (paper, Table 1): SYSU-MM01 all-search rank-1 58.70, mAP 56.42; RegDB visible-to-thermal
rank-1 73.60, mAP 66.91 (as we read the paper; check before quoting). AGW's schedule and batch;
PEF and CMCC weights 1 (the paper's lambda; not verified against released code). Ablation:
`--config.loss.weights.perceptual_edge=0` (MSO without PEF).
"""

from configs import common


def get_config(arg: str | None = None):
  loss = common.loss_config(identity=1.0, wrt=1.0, perceptual_edge=1.0, contrastive_center=1.0)
  cfg = common.base_config("mso", loss)
  cfg.eval.distance = "cosine"
  return common.apply_arg(cfg, arg)
