r"""MSO: Gao, Liang, Jin, Gu, Liu, Li, Lang, "MSO: Multi-Feature Space Joint Optimization Network for
RGB-Infrared Person Re-Identification", ACM MM 2021. The two-stream AGW model (Sec. 3.1) with the
perceptual edge features loss on the stem (PEF: Sobel edge maps through a frozen ImageNet VGG-16,
eqs. 2-3) and the cross-modality contrastive-centre loss (CMCC, eqs. 4-5); total loss eq. 10:
L_pef + L_id + L_wrt + L_cmcc.

  python -m vireid_jax.main --config=configs/mso.py --workdir=runs/mso \
      --config.data.manual_dir=/data/SYSU-MM01 --config.model.pretrained=resnet50.npz \
      --config.loss.terms.perceptual_edge.vgg16=vgg16.npz
  python -m vireid_jax.main --config=configs/mso.py:synthetic      # CPU (README, Training: result and time)

Expected (Table 1, SYSU-MM01): all-search single-shot R1 58.70, mAP 56.42 (mINP 42.04, Table 3),
multi-shot 65.85 / 49.56; indoor single-shot 63.09 / 70.31, multi-shot 72.06 / 61.69. RegDB
(Table 2): visible-to-thermal R1 73.6, mAP 66.9; thermal-to-visible 74.6 / 67.5. 100 epochs at
288 x 144: about 5 h on one modern GPU (our estimate). Ablation: `--config.loss.terms.perceptual_edge.weight=0`
(MSO without PEF, Table 3 "B+CMCC").

Released code: none from the authors ("Code will be made available", Sec. 5). cjjjao/DIP_work is
an MSO re-implementation on the AGW code by a third party; it is cited below where the paper is
silent, never where it contradicts the paper (it uses a Laplace operator, 60 epochs, no L2
normalisation, and trains the VGG).
"""

from configs import common
from configs.common import Row

IMPL = "4.1"
DIP = "cjjjao/DIP_work"
ROWS = (
    Row("modality-specific stages", "model.split", 1, "3.1 eq. 1: 'the unshared layer0 of ResNet-50'"),
    Row(
        "backbone",
        "",
        "ResNet-50 from model.pretrained",
        f"{IMPL}: 'initialized with the parameters pretrained " "on the ImageNet'",
    ),
    Row("last stride", "model.last_stride", 1, f"{IMPL}: 'stride of the last convolutional layer ... changed to 1'"),
    Row(
        "non-local blocks",
        "model.non_local",
        ((2, 2), (2, 3), (3, 3), (3, 4), (3, 5)),
        "3.1: 'inserted in the same positions as [44]' (AGW)",
        f"{DIP} model.py non_layers=[0,2,3,0]",
    ),
    Row(
        "non-local inner width",
        "model.non_local_inner",
        "half",
        "silent ('following [44]')",
        f"{DIP} model.py: reduc_ratio//reduc_ratio = 1",
        note="the non-local paper's C/2; the AGW code's 1 is a slip",
    ),
    Row("pooling", "model.pooling", "gem", "3.1: 'generalized-mean (GeM) pooling layer [44]'"),
    Row("GeM exponent", "model.gem_p", 3.0, "silent", f"{DIP} model.py: p = 3, fixed"),
    Row("GeM exponent learned", "model.gem_learnable", False, "silent", f"{DIP} model.py: fixed"),
    Row("BNNeck, classifier", "", "model.heads: bnneck, classifier", "3.1: 'BN layer [14], FC layer, and Softmax'"),
    Row("test feature", "model.test_feature", "bn", "3.1: 'we obtain the features after the BN layer'"),
    Row("optimiser", "optimizer.name", "adam", f"{IMPL}: 'optimized with Adam'"),
    Row("learning rate", "optimizer.lr", 5e-4, f"{IMPL}: 'initial learning rate of 0.0005'"),
    Row(
        "one rate for every layer",
        "optimizer.backbone_lr_mult",
        1.0,
        f"{IMPL}: a single rate is given",
        f"{DIP} train.py: 0.1 x for the backbone",
    ),
    Row("weight decay", "optimizer.weight_decay", 5e-4, "silent", f"{DIP} train.py: 5e-4"),
    Row("warm-up", "optimizer.warmup", 0, "none mentioned", f"{DIP} train.py: none"),
    Row(
        "decay epochs",
        "optimizer.decay_at",
        (20, 25, 35),
        f"{IMPL}: 'decay the learning rate by 0.1 at epoch 20, " "25, and 35'",
        f"{DIP}: 20, 25",
    ),
    Row("epochs", "train.epochs", 100, f"{IMPL}: 'Adam for 100 epochs'", f"{DIP}: 60"),
    Row("identities per batch", "data.p", 8, f"{IMPL}: '64 images of 8 identities'"),
    Row("image pairs per identity", "data.k", 4, f"{IMPL}: '4 pairs of RGB and infrared images'"),
    Row("image height", "data.augment.height", 288, f"{IMPL}: 'uniformly resized to 288x144'"),
    Row("image width", "data.augment.width", 144, f"{IMPL}: 288x144"),
    Row(
        "pad and random crop",
        "data.augment.pad",
        10,
        f"{IMPL}: 'random crop'",
        f"{DIP}: Pad(10), RandomCrop",
        note="pad size from the code",
    ),
    Row("horizontal flip", "data.augment.flip", True, f"{IMPL}: 'horizontal flip'"),
    Row("random erasing", "data.augment.erasing_prob", 0.0, f"{IMPL}: only crop and flip"),
    Row("identity loss", "loss.terms.identity.label_smoothing", 0.0, "eq. 7: plain cross-entropy"),
    Row("WRT feature", "loss.terms.wrt.feature", "pooled", "3.4: 'the feature vectors before BN layer'"),
    Row(
        "WRT on L2-normalised features",
        "loss.terms.wrt.normalize",
        True,
        "3.4: 'computed by the L2-norm results'",
        f"{DIP}: not normalised",
    ),
    Row("WRT form", "loss.terms.wrt.variant", "paper", "eqs. 8-9"),
    Row(
        "CMCC feature",
        "loss.terms.contrastive_center.feature",
        "bn",
        "3.3: 'we obtain feature g_i^m by BN layer and L2-norm'",
    ),
    Row(
        "CMCC L2 normalisation",
        "loss.terms.contrastive_center.variant",
        "paper",
        "3.3 (as above)",
        f"{DIP} loss.py CMCC: not normalised ('reference')",
    ),
    Row("PEF on the stem (layer0)", "", "model output stage0", "3.2: 'features ... obtained by the unshared layer0'"),
    Row(
        "PEF loss network",
        "loss.terms.perceptual_edge.vgg_blocks",
        4,
        "3.2: 'computed by the block1 to block4 of the VGG-16 network'",
        f"{DIP} PEF.py: features[5:31]",
        note="VGG-16 blocks 2-5 (the 64-channel stem enters at conv2_1), each compared after its max-pool as "
        "the code does",
    ),
    Row(
        "PEF network frozen",
        "",
        "frozen (never optimised)",
        "3.2: 'keeps weights non-learnable'",
        f"{DIP}: the optimiser updates it",
    ),
    Row(
        "PEF edge maps",
        "",
        "4 Sobel operators, |responses| added",
        "3.2: 'four classical sobel operators ... adding " "these four channels together'",
        f"{DIP} PEF.py: Laplace (Sobel commented out)",
        note="we add the absolute responses (edge magnitudes): a signed sum of the four kernels is one linear "
        "filter",
    ),
    Row("PEF form", "", "sum over blocks of per-modality MSE, visible + infrared", "eqs. 2-3"),
    Row(
        "loss weights",
        "loss.terms.perceptual_edge.weight",
        1.0,
        "eq. 10: L_pef + L_id + L_wrt + L_cmcc",
        f"{DIP} train.py: all 1",
    ),
    Row("CMCC weight", "loss.terms.contrastive_center.weight", 1.0, "eq. 10"),
    Row("WRT weight", "loss.terms.wrt.weight", 1.0, "eq. 10"),
    Row("SYSU-MM01 galleries", "eval.shots", [1, 10], "Table 1 reports single- and multi-shot"),
    Row("test distance", "eval.distance", "cosine", f"{IMPL}: 'we use cosine distance'"),
)

SYNTHETIC = common.SYNTHETIC_SCALE + (common.ZERO_INIT_RESIDUAL,)
RESULTS = {  # all-search and indoor single-shot SYSU-MM01, RegDB both directions
    "sysu_all": common.Result("Table 1 (mINP: Table 3)", "58.70", "56.42", "42.04"),
    "sysu_indoor": common.Result("Table 1", "63.09", "70.31"),
    "regdb_v2t": common.Result("Table 2", "73.6", "66.9"),
    "regdb_t2v": common.Result("Table 2", "74.6", "67.5"),
}


def get_config(arg: str | None = None):
  loss = common.loss_config(identity=1.0, wrt=1.0, perceptual_edge=1.0, contrastive_center=1.0)
  cfg = common.base_config("mso", loss)
  return common.variants(common.apply(cfg, ROWS), arg, synthetic=SYNTHETIC)


__doc__ += common.table(ROWS, "Every setting and its source (the config applies these rows):")
__doc__ += common.table(SYNTHETIC, "`:synthetic`, besides the CPU sizes of `configs/common.py`:")
