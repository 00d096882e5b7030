r"""DANet-style cross-modality learning: cross-modality triplet and centre losses, and
modality-specific classifiers with KL mutual learning (DANet eqs. 2, 3, 5).

  python -m vireid_jax.main --config=configs/danet.py --workdir=/tmp/danet --config.model.pretrained=resnet50.npz
  python -m vireid_jax.main --config=configs/danet.py:synthetic --workdir=/tmp/danet_cpu

Expected: the paper's SYSU-MM01 all-search table (not verified here; check before quoting).
AGW's schedule and batch; centre margin 0.7; all weights 1 (paper silent on released code).
"""

from configs import common


def get_config(arg: str | None = None):
  loss = common.loss_config(identity=1.0, cross_modality_triplet=1.0, cross_modality_center=1.0,
                            modality_identity=1.0, mutual_learning=1.0)
  cfg = common.base_config("danet", loss)
  cfg.model.update(modality_classifiers=True, non_local=())
  return common.apply_arg(cfg, arg)
