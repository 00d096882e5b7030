"""Default blocks shared by every method config; a method config overrides what its paper sets."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import ml_collections

from vireid_jax import imports as vireid_jax_imports
from vireid_jax import compilation_cache, models, objective
from vireid_jax.evaluation import protocols


def data_config(**overrides) -> ml_collections.ConfigDict:
  """Dataset, sampler and augmentation (AGW code family defaults at 288x144)."""
  cfg = ml_collections.ConfigDict(
      dict(
          dataset="sysu_mm01",  # "sysu_mm01" | "regdb" | "llcm"
          manual_dir="",  # the raw folder; empty = the synthetic dataset
          require_manual_dir=True,  # paper configs refuse to train on the synthetic stand-in
          synthetic_identities=100,  # size of the synthetic SYSU-MM01 tree (60% train, 10% val, 30% test)
          synthetic_more_test_identities=0,  # people added to its test split only (the rest unchanged)
          data_dir="~/tensorflow_datasets",
          builder_config="default",  # SYSU: "default" (train + val ids) | "train_only"
          trial=1,  # RegDB split 1..10
          sampler="pk",  # "pk" | "tuple" (EAT)
          p=8,
          k=4,  # identities per batch, images per identity and modality
          pk_replacement=False,  # draw the K images with replacement (the AGW code) or distinct
          epoch_length="ceil",  # batches per epoch: "ceil" | "floor_plus_one" (AGW/HcTri code)
          tuples=8,  # EAT: anchor pairs per batch
          views=("visible", "infrared"),  # the rows of a training batch (see vireid_jax.data.views)
          workers=2,  # Grain worker processes (0 = in the main process)
          augment=dict(
              height=288,
              width=144,
              interpolation="bilinear",
              pad=10,
              flip=True,
              channel_aug_prob=0.0,
              erasing_prob=0.5,
              erasing_area=(0.02, 0.4),
              erasing_aspect=(0.3, 3.33),
              # CAJ's channel augmentations on the normalised image (views; transforms.channel_erase)
              channel_erasing_prob=0.0,
              channel_erasing_area=(0.02, 0.4),
              channel_erasing_min_aspect=0.3,
              adaptive_gray_prob=0.5,
          ),
      )
  )
  cfg.update(overrides)
  return cfg


def model_config(**overrides) -> ml_collections.ConfigDict:
  """Two-stream ResNet-50 (AGW: split s1, non-local, GeM, BNNeck)."""
  cfg = ml_collections.ConfigDict(
      dict(
          width=64,
          blocks=(3, 4, 6, 3),
          last_stride=1,
          split=1,  # stages 0..split-1 modality-specific
          non_local=((2, 2), (2, 3), (3, 3), (3, 4), (3, 5)),  # (stage, block) pairs, AGW's positions
          non_local_inner="half",  # "half" (C/2) or a channel count ("1": the AGW code)
          non_local_kind="dot",  # "dot" (AGW) | "gaussian"
          position_attention=False,  # DPAN: PAM after the modality-specific stages
          attention_reduction=8,  # PAM query/key channels: C / this (Fu et al.: 8)
          zero_init_residual=False,  # each bottleneck's last BN scale starts at 0 (torchvision's option)
          equal_streams=False,  # both modality-specific streams start from the same random weights
          pooling="gem",
          gem_p=3.0,
          gem_learnable=False,
          gem_eps=1e-6,  # the AGW code's fixed p = 3
          heads=heads(bnneck={}, classifier={}),  # see vireid_jax.models.heads.HEADS
          test_feature="bn",  # a [B, D] output: "bn" | "pooled" | "parts" ...
          dtype="float32",  # compute dtype; parameters stay float32
          seed=0,
          pretrained="",  # ImageNet ResNet-50 (.npz/.safetensors/.pth)
          init_from="",  # a trained AGW / HcTri model of the authors' code (.t ...)
          require_pretrained=True,  # paper configs refuse to start without it
      )
  )
  cfg.update(overrides)
  return cfg


def heads(**settings: dict[str, Any]) -> ml_collections.ConfigDict:
  """`model.heads`: each named head with its settings (the head's defaults, updated by the dict)."""
  return ml_collections.ConfigDict({name: models.HEADS.settings(name, **s) for name, s in settings.items()})


def eval_config(**overrides) -> ml_collections.ConfigDict:
  """Evaluation protocol (see vireid_jax.evaluate)."""
  cfg = ml_collections.ConfigDict(
      dict(
          protocol="sysu",
          modes=["all", "indoor"],
          shots=[1],
          trials=10,
          sampling="seeded",
          rand_perm_cam="",
          gallery_identities=0,  # one gallery of every test identity
          distance="euclidean",
          normalize=False,
          flip=False,
          rerank=False,
          max_rank=20,
          batch_size=64,
          figures=True,  # ranked lists, embedding and curves under workdir/figures/
      )
  )
  cfg.update(overrides)
  return cfg


def loss_config(**terms: float | dict[str, Any]) -> ml_collections.ConfigDict:
  """`loss.terms`: each named term (see vireid_jax.objective.TERMS) with its weight, or a dict of
  its weight and settings; the term's defaults fill the rest."""
  return ml_collections.ConfigDict(
      dict(
          terms={
              name: objective.settings(name, **(spec if isinstance(spec, dict) else {"weight": spec}))
              for name, spec in terms.items()
          }
      )
  )


def optimizer_config(**overrides) -> ml_collections.ConfigDict:
  """AGW code family: SGD 0.1 (new layers) / 0.01 (backbone), Nesterov, wd 5e-4, warm-up 10
  epochs from 0.1x, x0.1 at epoch 20 and again at 50."""
  cfg = ml_collections.ConfigDict(
      dict(
          name="sgd",
          lr=0.1,
          backbone_lr_mult=0.1,
          momentum=0.9,
          nesterov=True,
          b1=0.9,
          b2=0.999,
          weight_decay=5e-4,
          unit="epoch",
          warmup=10,
          warmup_start=0.1,
          warmup_shape="linear",
          decay_at=(20, 50),
          decay_factor=0.1,
          clip_norm=0.0,
      )
  )
  cfg.update(overrides)
  return cfg


def train_config(**overrides) -> ml_collections.ConfigDict:
  cfg = ml_collections.ConfigDict(
      dict(
          epochs=60,
          steps=0,  # steps > 0 overrides epochs
          log_every=50,
          eval_every=0,
          checkpoint_every=500,
          checkpoint_minutes=0.0,  # also save when this much wall-clock time has passed (0: off); our choice
          keep_checkpoints=2,
          keep_best=1,
          best_metric="eval/all_single/mAP",  # named without the eval options' suffix (_l2, _flip, ...)
          fsdp=False,
          compilation_cache=compilation_cache.DEFAULT,  # JAX's persistent cache for the commands ("": off)
      )
  )
  cfg.update(overrides)
  return cfg


def imports(config_file: str, *entries: str) -> tuple[str, ...]:
  """Imports the modules that register a config's own terms and heads (module names, or `.py`
  files relative to `config_file`, the config's `__file__`) and returns them for `config.imports`,
  files as absolute paths (see `vireid_jax.imports`). Call it before building the config's blocks."""
  entries = vireid_jax_imports.resolve(entries, os.path.dirname(os.path.abspath(config_file)))
  vireid_jax_imports.load(entries)
  return entries


def base_config(method: str, loss: ml_collections.ConfigDict, imports: Sequence[str] = ()) -> ml_collections.ConfigDict:
  """A run config: `method`, `imports` (from `imports(__file__, ...)`), the default blocks and `loss`."""
  return ml_collections.ConfigDict(
      dict(
          method=method,
          imports=tuple(imports),
          seed=0,
          data=data_config(),
          model=model_config(),
          loss=loss,
          optimizer=optimizer_config(),
          train=train_config(),
          eval=eval_config(),
      )
  )


class Row(NamedTuple):
  """One line of a method config's provenance table: a setting, its value in the config and where
  the value comes from. The config applies its rows, and its docstring's table is rendered from
  the same rows, so the two cannot disagree."""

  parameter: str  # what a reader of the paper calls it
  field: str  # the config field the row sets ("optimizer.lr"), or "" for a fact with no field
  value: Any  # this config's value
  paper: str  # section, table or equation (with a short quote), or "silent"
  code: str = "–"  # the authors' released code (file and argument), where public
  note: str = ""  # where the value comes from where the paper is silent; deviations


class Result(NamedTuple):
  """A paper's own result, as printed (the paper's precision): R1 / mAP (/ mINP) and its table."""

  table: str
  r1: str
  mAP: str
  mINP: str = ""

  def cell(self) -> str:
    """How the README's method table shows it: `R1 / mAP[ / mINP]`."""
    return " / ".join(x for x in (self.r1, self.mAP, self.mINP) if x)


def get(cfg: ml_collections.ConfigDict, field: str) -> Any:
  """The value at a dotted field path, e.g. `get(cfg, "loss.terms.wrt.weight")`."""
  for key in field.split("."):
    cfg = cfg[key]
  return cfg


def apply(cfg: ml_collections.ConfigDict, rows: Sequence[Row]) -> ml_collections.ConfigDict:
  """Sets every row's field to its value (the field must exist)."""
  for row in rows:
    if row.field:
      *parents, key = row.field.split(".")
      block = get(cfg, ".".join(parents)) if parents else cfg
      if key not in block:
        raise KeyError(f"{row.field}: no such field for row {row.parameter!r}.")
      block[key] = row.value
  return cfg


def table(rows: Sequence[Row], title: str) -> str:
  """The rows as a markdown table (a config's docstring)."""

  def cell(text: Any) -> str:
    return str(text).replace("|", "/").replace("\n", " ")

  lines = [f"\n{title}\n", "| parameter | paper | released code | this config | note |", "|---|---|---|---|---|"]
  for r in rows:
    value = f"`{r.field} = {r.value!r}`" if r.field else cell(r.value)
    lines.append(f"| {cell(r.parameter)} | {cell(r.paper)} | {cell(r.code)} | {value} | {cell(r.note)} |")
  return "\n".join(lines) + "\n"


ARGS = {"dataset": ("sysu", "regdb", "llcm"), "fidelity": ("paper", "reference"), "size": ("synthetic", "test")}
# No seed paper trains on LLCM: every method keeps its SYSU-MM01 rows there (our choice), as the
# LLCM authors' port of AGW (ZYK100/LLCM AGW/train.py) keeps AGW's SYSU-MM01 settings.
LLCM_ROWS = (
    Row(
        "dataset",
        "data.dataset",
        "llcm",
        "silent: no seed paper trains on LLCM",
        "ZYK100/LLCM `AGW/train.py --dataset llcm`",
        "the LLCM benchmark (Zhang & Wang, CVPR 2023); every other setting: this method's SYSU-MM01 rows (our choice)",
    ),
    Row(
        "evaluation",
        "eval.modes",
        list(protocols.LLCM_DIRECTIONS),
        "silent",
        "ZYK100/LLCM `DEEN/test.py` (test_mode [1, 2] and [2, 1]), `DEEN/eval_metrics.py` eval_llcm",
        "ten seeded gallery samplings per direction; visible_to_infrared_as_released is test.py's transposed "
        "[2, 1] reading (the LLCM README's table)",
    ),
    Row(
        "image size",
        "",
        "the method's SYSU-MM01 size",
        "silent",
        "288 x 144 in `AGW/train.py` (as SYSU-MM01); 384 x 144 in `DEEN/data_loader.py` LLCMData",
        "DEEN's larger size is its own method's choice, not taken here",
    ),
)


# The demo's data and schedule (`make demo`), also applied by the `SYNTHETIC` rows of the methods
# measured at it (benchmarks.synthetic_learning, README: Training).
SYNTHETIC_SCALE = (
    Row(
        ":synthetic: identities",
        "data.synthetic_identities",
        200,
        "–",
        note="our choice: 140 training and validation identities rather than 70; chosen when each run was "
        "scored in one gallery of its test split, where 60 identities steadied the mAP more than 30 (README, Training)",
    ),
    Row(
        ":synthetic: epochs",
        "train.epochs",
        14,
        "–",
        note="our choice: 770 steps (55 an epoch; README, Training: the time it takes)",
    ),
    Row(
        ":synthetic: decay epochs",
        "optimizer.decay_at",
        (10, 13),
        "–",
        note="our choice: the last 4 epochs at 0.1x and 0.01x",
    ),
    Row(":synthetic: evaluate every", "train.eval_every", 260, "–", note="our choice: about every 5 epochs"),
)

# A method's `SYNTHETIC` rows add these where benchmarks.synthetic_learning measured them narrowing its runs.
ZERO_INIT_RESIDUAL = Row(
    ":synthetic: zero-initialised residuals",
    "model.zero_init_residual",
    True,
    "–",
    note="our choice for random weights (Goyal et al. 2017): each block starts as its shortcut; the runs "
    "spread less (README, Training)",
)
EQUAL_STREAMS = Row(
    ":synthetic: streams start equal",
    "model.equal_streams",
    True,
    "–",
    note="our choice for random weights: both modality-specific streams start from one draw, as both start from "
    "the one pretrained ResNet-50 in the paper; the runs spread less (README, Training)",
)
STRONG_WEIGHT_DECAY = Row(
    ":synthetic: weight decay",
    "optimizer.weight_decay",
    5e-3,
    "–",
    note="our choice for random weights: ten times the 5e-4 every method's rows set; the runs spread less "
    "(README, Training)",
)
WIDE = Row(
    ":synthetic: width",
    "model.width",
    32,
    "–",
    note="our choice: twice the CPU sizes' 16, at which the runs spread about twice as wide (README, Training)",
)


def variants(
    cfg: ml_collections.ConfigDict,
    arg: str | None,
    *,
    regdb: Sequence[Row] = (),
    reference: Mapping[str, Sequence[Row]] | None = None,
    synthetic: Sequence[Row] = (),
) -> ml_collections.ConfigDict:
  """The `:arg` variants every method config accepts, comma-separated (`configs/hctri.py:regdb,test`):
  a dataset (`sysu`, the default; `regdb`, with the paper's RegDB `regdb` rows; or `llcm`, with
  `LLCM_ROWS` and the SYSU-MM01 settings otherwise), a fidelity (`paper`, the default, or
  `reference`: the `reference[dataset]` rows, what the authors' released code does where it
  differs; on LLCM its SYSU-MM01 rows) and a size (`synthetic` or `test`: the method's structure shrunk for
  CPU; `synthetic` then applies the method's `synthetic` rows, what it needs to learn from random
  weights at that size)."""
  chosen = {}
  for a in (a.strip() for a in (arg or "").split(",") if a.strip()):
    kind = next((k for k, values in ARGS.items() if a in values), None)
    if kind is None or kind in chosen:
      problem = f"unknown variant {a!r}" if kind is None else f"two {kind} variants ({chosen.get(kind)!r}, {a!r})"
      options = "; ".join(f"{k}: {' or '.join(v)}" for k, v in ARGS.items())
      raise ValueError(
          f"config arg {arg!r}: {problem}; expected comma-separated variants, at most one of each "
          f"({options}), e.g. 'regdb,test'."
      )
    chosen[kind] = a
  dataset = chosen.get("dataset", "sysu")
  if dataset == "regdb":
    cfg.data.dataset = "regdb"
    cfg.eval.update(protocol="regdb", modes=["visible_to_thermal", "thermal_to_visible"], trials=1, shots=[1])
    cfg.train.best_metric = "eval/visible_to_thermal/mAP"
    apply(cfg, regdb)
  elif dataset == "llcm":
    cfg.eval.update(protocol="llcm", trials=10, shots=[1])
    cfg.train.best_metric = "eval/infrared_to_visible/mAP"
    apply(cfg, LLCM_ROWS)
  if chosen.get("fidelity") == "reference":
    if not reference:
      raise ValueError(f"config arg: {cfg.method} has no released code to reproduce, so no :reference variant.")
    apply(cfg, reference["sysu" if dataset == "llcm" else dataset])  # LLCM: the code's SYSU-MM01 settings
  if "size" in chosen:
    _shrink(cfg, chosen["size"])
    if chosen["size"] == "synthetic":
      apply(cfg, synthetic)
  return cfg


def _shrink(cfg: ml_collections.ConfigDict, size: str) -> None:
  """The method's structure (split, heads, terms and their weights) on CPU: tiny widths, small
  images, random initialisation, a common schedule (our choice, not from any paper)."""
  cfg.data.update(manual_dir="", require_manual_dir=False, p=4, k=2, tuples=4, workers=0)
  cfg.data.augment.update(height=96, width=48, pad=4)  # 6 rows at stride 16: six part strips
  cfg.model.update(
      width=8,
      blocks=(1, 1, 1, 1),
      require_pretrained=False,
      non_local=tuple((stage, 0) for stage in sorted({stage for stage, _ in cfg.model.non_local})),
  )
  for name, settings in cfg.model.heads.items():  # what each head and term declares for CPU sizes
    settings.update(models.HEADS[name].SHRINK)
  for name, settings in cfg.loss.terms.items():
    settings.update(objective.TERMS[name].shrink)
  cfg.optimizer.update(unit="epoch", warmup=1, warmup_start=0.1, warmup_shape="linear", decay_at=(6, 9))
  cfg.train.update(epochs=10, steps=0, log_every=20, checkpoint_every=100, eval_every=0)
  cfg.eval.update(trials=2, batch_size=32, shots=[1])
  if size == "synthetic":
    # From random weights on CPU: width 16 (`WIDE` where a method's rows add it), 8 x 4 batches,
    # Adam, grayscale/channel augmentation of visible images, no random erasing (too coarse at
    # 96x48). What each method reaches is recorded by benchmarks.synthetic_learning (README, Training).
    cfg.data.update(p=8, k=4, tuples=8)
    cfg.data.augment.update(channel_aug_prob=0.5, erasing_prob=0.0)
    cfg.model.width = 16
    cfg.optimizer.update(name="adam", lr=1e-3, backbone_lr_mult=1.0, decay_at=(15, 19))
    cfg.train.update(epochs=20, log_every=50, checkpoint_every=200, eval_every=130)
    cfg.eval.trials = 10  # the protocol's ten gallery samplings
    # Which people the test split holds moved a run's mAP by about 2 points (README, Training): 360
    # more people under the same cameras, scored in galleries of 30 (as many as the default test
    # split holds), make the mean one over 13 galleries (14 at `SYNTHETIC_SCALE`'s 60 test identities).
    cfg.data.synthetic_more_test_identities = 360
    cfg.eval.gallery_identities = 30
  else:
    cfg.train.update(steps=3, log_every=1, checkpoint_every=2)
    cfg.eval.update(trials=1, modes=cfg.eval.modes[:1])
