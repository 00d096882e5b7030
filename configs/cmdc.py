r"""DPAN + CMDC: position attention in the modality-specific stage and the cross-modality
dual-constraint loss (centre + boundary), with a learned-centre centre loss.

  python -m vireid_jax.main --config=configs/cmdc.py --workdir=/tmp/cmdc --config.model.pretrained=resnet50.npz
  python -m vireid_jax.main --config=configs/cmdc.py:synthetic --workdir=/tmp/cmdc_cpu

Expected: the paper's SYSU-MM01 all-search table (not verified here; check before quoting).
AGW's schedule and batch; split s1 with the position attention module after the stem; CMDC
margin 0.3 with the hinge the design page decides; centre-loss weight 5e-4 (the usual weight of
Wen et al.'s centre loss; the paper is silent).
"""

from configs import common


def get_config(arg: str | None = None):
  loss = common.loss_config(identity=1.0, wrt=1.0, dual_constraint=1.0, center=5e-4)
  cfg = common.base_config("cmdc", loss)
  cfg.model.update(position_attention=True, centers=True, non_local=())
  return common.apply_arg(cfg, arg)
