"""One training step of the authors' released code next to ours (`:reference`), for the parity test
and `benchmarks/reference_parity.py`.

The authors' code is never part of this project: it is imported from the folders the user names,
`VIREID_AGW_CODE` (mangye16/Cross-Modal-Re-ID-baseline: model.py, resnet.py, loss.py) and
`VIREID_HCTRI_CODE` (hijune6/Hetero-center-triplet-loss-for-VT-Re-ID: model_mine.py, resnet.py,
loss.py), and needs torch. Their ImageNet download is replaced by random torchvision-layout
weights. Their step is run in float64 (the equations) and in float32; ours in float32.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import sys
from typing import Any

import jax
import numpy as np

from configs import agw, hctri
from tests.models import reference
from vireid_jax import inference, train
from vireid_jax.data.transforms import normalize
from vireid_jax.models import build_model, convert

ENV = {"agw": "VIREID_AGW_CODE", "hctri": "VIREID_HCTRI_CODE"}


def code_folder(method: str) -> str | None:
  folder = os.environ.get(ENV[method], "")
  return folder if os.path.isdir(folder) else None


def _import(folder: str, *names: str) -> list:
  """Imports `names` (.py files) from `folder`; their files import each other by bare name, and
  both folders have a resnet.py and a loss.py, so those are re-imported from `folder`."""
  sys.path.insert(0, folder)
  try:
    for shared in ("resnet", "loss", "model", "model_mine"):
      sys.modules.pop(shared, None)
    modules = []
    for name in names:
      spec = importlib.util.spec_from_file_location(name, os.path.join(folder, f"{name}.py"))
      modules.append(importlib.util.module_from_spec(spec))
      sys.modules[name] = modules[-1]
      spec.loader.exec_module(modules[-1])
    return modules
  finally:
    sys.path.remove(folder)


def authors_net(method: str, classes: int, seed: int = 0):
  """Their model with random ImageNet-layout weights (their resnet50(pretrained=True) downloads)."""
  import torch  # pylint: disable=g-import-not-at-top

  folder = code_folder(method)
  imagenet = reference.random_state(reference.resnet_names(""), seed)
  # BatchNorms near the identity and residual branches scaled down (bn3 = 0.2), as in a trained
  # network: 16 random blocks keep the activations' scale in eval mode, so the test features'
  # GeM with p = 10 stays finite in float32.
  for name in imagenet:
    if name.endswith(("running_mean", "bias")):
      imagenet[name][:] = 0.0
    elif name.endswith(("running_var", "bn1.weight", "bn2.weight", "downsample.1.weight")):
      imagenet[name][:] = 1.0
    elif name.endswith("bn3.weight"):
      imagenet[name][:] = 0.2
  imagenet = {k: torch.from_numpy(v) for k, v in imagenet.items()}
  module, _ = _import(folder, "model" if method == "agw" else "model_mine", "loss")
  sys.modules["resnet"].model_zoo.load_url = lambda *_, **__: dict(imagenet)
  torch.manual_seed(seed)
  if method == "agw":
    return module.embed_net(classes, no_local="on", gm_pool="on")
  return module.embed_net(
      classes, no_local="off", gm_pool="on", share_net=2, pcb="on", local_feat_dim=256, num_strips=6
  )


def authors_step(method: str, net, x: np.ndarray, labels: np.ndarray, dtype) -> dict[str, Any]:
  """One step of their training loop (train.py / train_mine.py at epoch 0) on images x [2, n, H, W,
  3] uint8 with identity-major labels [n]; returns the loss terms and the state dict after it."""
  import torch  # pylint: disable=g-import-not-at-top

  net = copy.deepcopy(net).to(dtype)
  net.train()
  inputs = [
      torch.from_numpy(np.transpose(np.asarray(normalize(x[m]), np.float64), (0, 3, 1, 2))).to(dtype) for m in (0, 1)
  ]
  target = torch.from_numpy(np.concatenate([labels, labels])).long()
  loss_module = sys.modules["loss"]
  lr = 0.1 * (0 + 1) / 10  # adjust_learning_rate(epoch=0)
  if method == "agw":
    heads = list(net.bottleneck.parameters()) + list(net.classifier.parameters())
    groups = [net.bottleneck.parameters(), net.classifier.parameters()]
  else:
    heads = list(net.local_conv_list.parameters()) + list(net.fc_list.parameters())
    groups = [net.local_conv_list.parameters(), net.fc_list.parameters()]
  base = [p for p in net.parameters() if all(p is not h for h in heads)]
  optimizer = torch.optim.SGD(
      [{"params": base, "lr": 0.1 * lr}] + [{"params": g, "lr": lr} for g in groups],
      weight_decay=5e-4,
      momentum=0.9,
      nesterov=True,
  )
  if method == "agw":
    feat, logits = net(inputs[0], inputs[1])
    terms = {
        "identity": torch.nn.CrossEntropyLoss()(logits, target),
        "wrt": loss_module.TripletLoss_WRT()(feat, target)[0],
    }
  else:
    feats, logits, feat_all = net(inputs[0], inputs[1])
    identity = loss_module.CrossEntropyLabelSmooth(logits[0].shape[1], use_gpu=False)
    center = loss_module.CenterTripletLoss(batch_size=len(target), margin=0.3)
    terms = {
        "part_identity": sum(identity(z, target) for z in logits),
        "hetero_center": center(feat_all, target)[0],
        "part_hetero_center": sum(center(f, target)[0] for f in feats),
    }
  total = (
      sum(terms.values())
      if method == "agw"
      else (terms["part_identity"] + terms["hetero_center"] + 2.0 * terms["part_hetero_center"])
  )
  optimizer.zero_grad()
  total.backward()
  optimizer.step()
  state = {k: v.detach().double().numpy() for k, v in net.state_dict().items()}
  return {"terms": {k: float(v) for k, v in terms.items()}, "state": state, "net": net}


def authors_features(method: str, net, x: np.ndarray, modality: int, dtype) -> np.ndarray:
  """Their test feature (eval mode): AGW l2norm(BN feature), HcTri l2norm(concatenated parts)."""
  import torch  # pylint: disable=g-import-not-at-top

  net = copy.deepcopy(net).to(dtype)
  net.eval()
  images = torch.from_numpy(np.transpose(np.asarray(normalize(x), np.float64), (0, 3, 1, 2))).to(dtype)
  with torch.no_grad():
    out = net(images, images, modality + 1)
  return (out[1] if method == "agw" else out).double().numpy()


def config(method: str, classes_path: str):
  """`:regdb,reference` (HcTri's RegDB defaults are the code's argparse defaults) loading `path`."""
  cfg = (agw if method == "agw" else hctri).get_config("regdb,reference")
  cfg.model.init_from = classes_path
  return cfg


def our_step(cfg, x: np.ndarray, labels: np.ndarray):
  """One jitted `train.train_step` of `cfg` (from `model.init_from`) on the same batch."""
  weights = train.load_weights(cfg)
  classes = convert.num_classes(weights.init_from)
  program, state = train.create(cfg, classes, steps_per_epoch=10, weights=weights)
  batch = {
      "image": x,
      "label": np.stack([labels, labels]).astype(np.int32),
      "modality": np.stack([np.zeros_like(labels), np.ones_like(labels)]).astype(np.int32),
  }
  new_state, metrics = jax.jit(lambda s, b: train.train_step(program, s, b))(state, batch)
  return program, new_state, {k.removeprefix("loss/"): float(v) for k, v in metrics.items() if k.startswith("loss/")}


def as_ours(cfg, state: dict[str, np.ndarray], classes: int):
  """Their state dict in our model's structure (parameters and statistics as flat arrays)."""
  model = build_model(cfg.model, classes)
  convert.load_two_stream(model, state)
  return model


def max_difference(a, b) -> float:
  return max(
      float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
      for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
  )


def compare(method: str, tmp_dir: str, *, p: int = 3, k: int = 2, height: int = 96, seed: int = 0) -> dict[str, tuple]:
  """{quantity: (max |ours float32 - theirs float64|, max |theirs float32 - theirs float64|)} after
  one step from the same random start on the same batch: the loss terms, the parameters, the
  BatchNorm statistics, and the test features of both modalities afterwards."""
  import torch  # pylint: disable=g-import-not-at-top
  from flax import nnx  # pylint: disable=g-import-not-at-top

  classes = 16
  net = authors_net(method, classes, seed)
  path = os.path.join(tmp_dir, f"{method}_start.t")
  torch.save({"net": net.state_dict(), "mAP": np.float64(0.0), "epoch": 0}, path)  # as their train.py saves
  rng = np.random.default_rng(seed)
  x = rng.integers(0, 256, (2, p * k, height, height // 2, 3), dtype=np.uint8)
  labels = np.repeat(np.arange(p), k)
  theirs = {dtype: authors_step(method, net, x, labels, dtype) for dtype in (torch.float64, torch.float32)}
  cfg = config(method, path)
  program, state, terms = our_step(cfg, x, labels)
  split = {dtype: nnx.split(as_ours(cfg, t["state"], classes), nnx.Param, ...)[1:] for dtype, t in theirs.items()}
  f64, f32 = torch.float64, torch.float32
  relative = lambda a, b: abs(a - b) / max(abs(b), 1.0)
  out = {
      "loss terms (relative)": (
          max(relative(terms[n], v) for n, v in theirs[f64]["terms"].items()),
          max(relative(theirs[f32]["terms"][n], v) for n, v in theirs[f64]["terms"].items()),
      ),
      "parameters": (max_difference(state.params, split[f64][0]), max_difference(split[f32][0], split[f64][0])),
      "BatchNorm statistics": (max_difference(state.rest, split[f64][1]), max_difference(split[f32][1], split[f64][1])),
  }
  embed = inference.embedder(train.inference_model(program, state))
  ours_f, theirs_f = [], {f64: [], f32: []}
  for modality in (0, 1):
    feats = np.asarray(embed(x[modality], modality), np.float64)
    ours_f.append(feats / np.linalg.norm(feats, axis=1, keepdims=True))  # both rank L2-normalised features
    for dtype in (f64, f32):
      theirs_f[dtype].append(authors_features(method, theirs[dtype]["net"], x[modality], modality, dtype))
  out["test features"] = (max_difference(ours_f, theirs_f[f64]), max_difference(theirs_f[f32], theirs_f[f64]))
  return out
