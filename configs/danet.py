r"""DANet: Wu, Chen, Liu, Fang, Ma, "Logit and Feature Dual-level Alignment for Visible-Infrared
Person Re-Identification" (Xiamen University; the text names no venue; no public code). A one-stream
ResNet-50, the cross-modality centre loss (eq. 3) and modality-specific classifiers aligned by KL
mutual learning (eqs. 4-5); total loss eq. 6: L_id + lambda_1 L_cc + lambda_2 L_M.

  python -m vireid_jax.main --config=configs/danet.py --workdir=runs/danet \
      --config.data.manual_dir=/data/SYSU-MM01 --config.model.pretrained=resnet50.npz
  python -m vireid_jax.regdb_trials --config=configs/danet.py:regdb --config.data.manual_dir=/data/RegDB ...
  python -m vireid_jax.main --config=configs/danet.py:synthetic      # CPU (README, Training: result and time); make demo

Expected (Table 1, SYSU-MM01 single-shot): all-search R1 66.89, mAP 64.69; indoor R1 73.21, mAP
78.11 (multi-shot all 72.53 / 59.53, indoor 80.30 / 72.15). RegDB (Table 2): visible-to-infrared R1
79.4, mAP 74.3; infrared-to-visible 78.3 / 73.8. No mINP is reported. 140 epochs of a 16 x 8 batch
at 384 x 128: about 6 h on one modern GPU (our estimate).
"""

from configs import common
from configs.common import Row

IMPL = "Implementation details"
ROWS = (
    Row(
        "shared backbone",
        "model.split",
        0,
        "Method: 'a one-stream convolutional neural network E(.)' for both " "modalities",
    ),
    Row("backbone", "", "ResNet-50 from model.pretrained", f"{IMPL}: 'ResNet-50 pre-trained on ImageNet'"),
    Row(
        "last stride", "model.last_stride", 1, f"{IMPL}: 'the stride size of the last convolutional layer is set to 1'"
    ),
    Row("attention blocks", "model.non_local", (), "none mentioned"),
    Row(
        "pooling",
        "model.pooling",
        "avg",
        "silent",
        note="our choice: average pooling, the BNNeck baseline's " "(Luo et al.); GeM is AGW's and is not mentioned",
    ),
    Row("BNNeck", "", "model.heads.bnneck", "Ablation: 'the BN neck and an FC layer as the classifier'"),
    Row(
        "classifiers C, C_v, C_r without bias",
        "model.heads.classifier.bias",
        False,
        f"{IMPL}: 'implemented by a single FC layer without bias'",
    ),
    Row(
        "modality-specific classifiers C_v, C_r",
        "",
        "model.heads.modality_classifiers",
        "Classifier Level Alignment; eq. 4",
    ),
    Row(
        "test feature",
        "model.test_feature",
        "bn",
        "silent ('the features extracted by the backbone')",
        note="our choice: the BNNeck feature the classifiers see",
    ),
    Row("optimiser", "optimizer.name", "adam", f"{IMPL}: 'optimized by using Adam'"),
    Row("learning rate", "optimizer.lr", 3.5e-4, f"{IMPL}: 'initial learning rate of 3.5x10^-4'"),
    Row("one rate for every layer", "optimizer.backbone_lr_mult", 1.0, f"{IMPL}: a single rate is given"),
    Row(
        "weight decay",
        "optimizer.weight_decay",
        5e-4,
        f"{IMPL}: 'the weight decay is set to 5x10^-4'",
        note="coupled, as PyTorch's Adam",
    ),
    Row("warm-up", "optimizer.warmup", 0, "none mentioned"),
    Row("decay epochs", "optimizer.decay_at", (80, 120), f"{IMPL}: 'decays at the 80th and 120th epoch'"),
    Row("decay factor", "optimizer.decay_factor", 0.1, f"{IMPL}: 'with a decay factor of 0.1'"),
    Row(
        "epochs",
        "train.epochs",
        140,
        f"{IMPL}: 'The total number of training epochs is set to 140'",
        note="an epoch: max(#visible, #infrared) / images per modality per batch, as the AGW family",
    ),
    Row("identities per batch", "data.p", 16, f"{IMPL}: 'we randomly sample 16 identities'"),
    Row(
        "images per identity and modality",
        "data.k",
        4,
        f"{IMPL}: '8 images for each identity' (batch 128)",
        note="our reading: 4 visible + 4 infrared of each identity (eqs. 3-5 need both modalities)",
    ),
    Row("image size", "data.augment.height", 384, f"{IMPL}: 're-scaled to a fixed size of 384x128'"),
    Row("image width", "data.augment.width", 128, f"{IMPL}: 384x128"),
    Row("horizontal flip", "data.augment.flip", True, f"{IMPL}: 'randomly flipped and erased with 50% probability'"),
    Row(
        "random erasing",
        "data.augment.erasing_prob",
        0.5,
        f"{IMPL}: 'erased with 50% probability'",
        note="area 0.02-0.4, aspect 0.3-3.33 (Zhong et al.'s defaults; the paper is silent)",
    ),
    Row("pad and random crop", "data.augment.pad", 10, "silent", note="our choice: the AGW family's 10-pixel pad"),
    Row("label smoothing", "loss.terms.identity.label_smoothing", 0.0, "eq. 4: plain cross-entropy"),
    Row("L_id weight", "loss.terms.identity.weight", 1.0, "eq. 6"),
    Row("lambda_1 (L_cc)", "loss.terms.cross_modality_center.weight", 1.0, f"eq. 6; {IMPL}: 'set to 1.0 and 2.5'"),
    Row(
        "centre margin rho",
        "loss.terms.cross_modality_center.margin",
        0.7,
        f"{IMPL}: 'The cross-modality center loss margin rho is set to 0.7'",
    ),
    Row(
        "L_cc feature",
        "loss.terms.cross_modality_center.feature",
        "pooled",
        "eq. 3: 'f' (not said which)",
        note="our choice: the pooled feature before the BNNeck, as metric losses in the BNNeck design",
    ),
    Row("lambda_2 (L_M)", "loss.terms.mutual_learning.weight", 2.5, f"eq. 6; {IMPL}: 'set to 1.0 and 2.5'"),
    Row(
        "L_sid weight (eq. 4)",
        "loss.terms.modality_identity.weight",
        1.0,
        "eq. 4 trains C_v, C_r ('These classifiers are trained with the following cross-entropy loss'); eq. 6 "
        "omits it",
        note="our choice: weight 1 (without it the modality classifiers learn nothing)",
    ),
    Row(
        "cross-modality triplet (eq. 2)",
        "loss.terms.cross_modality_triplet.weight",
        0.0,
        "eq. 2 leads to eq. 3; eq. 6 and Table 3 do not use it",
        note="off; kept to switch on as an ablation",
    ),
    Row("SYSU-MM01 galleries", "eval.shots", [1, 10], "Table 1 reports single- and multi-shot"),
    Row("test distance", "eval.distance", "euclidean", "silent", note="our default"),
)

SYNTHETIC = common.SYNTHETIC_SCALE + (  # what `make demo` trains
    Row(
        ":synthetic: image height",
        "data.augment.height",
        64,
        "–",
        note="our choice: 64 x 32 rather than the CPU sizes' 96 x 48, so that the demo takes at most 5 minutes on "
        "2 AVX2 cores; its runs learn as much (README, Training)",
    ),
    Row(":synthetic: image width", "data.augment.width", 32, "–", note="our choice: with the height"),
)
RESULTS = {  # all-search and indoor single-shot SYSU-MM01, RegDB both directions
    "sysu_all": common.Result("Table 1", "66.89", "64.69"),
    "sysu_indoor": common.Result("Table 1", "73.21", "78.11"),
    "regdb_v2t": common.Result("Table 2", "79.4", "74.3"),
    "regdb_t2v": common.Result("Table 2", "78.3", "73.8"),
}


def get_config(arg: str | None = None):
  loss = common.loss_config(
      identity=1.0, cross_modality_center=1.0, mutual_learning=1.0, modality_identity=1.0, cross_modality_triplet=0.0
  )
  cfg = common.base_config("danet", loss)
  cfg.model.heads = common.heads(bnneck={}, classifier={}, modality_classifiers={})
  return common.variants(common.apply(cfg, ROWS), arg, synthetic=SYNTHETIC)


__doc__ += common.table(ROWS, "Every setting and its source (the config applies these rows):")
__doc__ += common.table(SYNTHETIC, "`:synthetic` (`make demo`), besides the CPU sizes of `configs/common.py`:")
