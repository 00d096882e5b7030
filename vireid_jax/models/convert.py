"""torchvision ResNet-50 / VGG-16 state dicts -> parameters of our NNX modules.

Inputs: a `.pth` (read through torch when it is installed), or `.safetensors` / `.npz` holding
the same tensor names (no torch needed). Every tensor the model needs must be present with its
torchvision shape; anything missing, mis-shaped or unexpected is an error that names each one.
Only the ImageNet classifiers (`fc.*`, `classifier.*`), VGG-16's first block (the PEF net starts
at block 2) and BatchNorm's `num_batches_tracked` counters are deliberately left out.

  python -m vireid_jax.models.convert --src resnet50-0676ba61.pth --dst resnet50.npz
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping

import numpy as np
from absl import logging
from flax import nnx

from vireid_jax import errors
from vireid_jax.models import edges, resnet

IGNORED = re.compile(r"^(fc|classifier)\.|num_batches_tracked$|^features\.[02]\.")
_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64}


def sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def _read_safetensors(path: str) -> dict[str, np.ndarray]:
  """The safetensors format: 8-byte little-endian header length, JSON header, raw tensor bytes."""
  with open(path, "rb") as f:
    header_len = int.from_bytes(f.read(8), "little")
    header = json.loads(f.read(header_len))
    data = f.read()
  out = {}
  for name, info in header.items():
    if name == "__metadata__":
      continue
    if info["dtype"] not in _SAFETENSORS_DTYPES:
      raise ValueError(f"tensor {name} has unsupported dtype {info['dtype']}")
    lo, hi = info["data_offsets"]
    out[name] = np.frombuffer(data[lo:hi], _SAFETENSORS_DTYPES[info["dtype"]]).reshape(info["shape"])
  return out


def _read_npz(path: str) -> dict[str, np.ndarray]:
  with np.load(path) as f:
    return {k: f[k] for k in f.files}


def _read_torch(path: str) -> dict[str, np.ndarray]:
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise errors.UserError(f"{path}: reading a PyTorch file needs torch; convert it once where torch is installed "
                           "(python -m vireid_jax.models.convert --src X.pth --dst X.npz) or use .safetensors.") from e
  state = torch.load(path, map_location="cpu", weights_only=True)
  return {k: v.numpy() for k, v in state.items()}


READERS = {".npz": _read_npz, ".safetensors": _read_safetensors, ".pth": _read_torch, ".pt": _read_torch}


def load_state_dict(path: str) -> dict[str, np.ndarray]:
  """Reads a state dict (name -> array) from .pth/.pt, .safetensors or .npz; logs the file's SHA-256.

  A missing file, an unknown extension or a file that does not parse (a truncated download, an
  HTML error page saved under the name) is a UserError naming the file and the expected format.
  """
  path = os.path.expanduser(path)
  reader = READERS.get(os.path.splitext(path)[1])
  if reader is None:
    raise errors.UserError(f"{path}: expected a weights file ending in {', '.join(READERS)}.")
  if not os.path.isfile(path):
    raise errors.UserError(f"{path}: no such weights file.")
  logging.info("Reading %s (sha256 %s)", path, sha256(path))
  try:
    return reader(path)
  except errors.UserError:
    raise
  except Exception as e:  # every parser fails differently on a damaged file; all mean the same to the user
    raise errors.UserError(f"{path}: not a readable {os.path.splitext(path)[1]} weights file ({type(e).__name__}: "
                           f"{e}); a truncated download or a saved error page looks like this. Expected a state "
                           "dict of named tensors as torchvision writes it (or as vireid_jax.models.convert "
                           "converts it).") from e


def resnet50_shapes(width: int = 64, blocks=(3, 4, 6, 3)) -> dict[str, tuple[int, ...]]:
  """torchvision names and shapes of a ResNet-50 backbone (no fc)."""
  shapes: dict[str, tuple[int, ...]] = {"conv1.weight": (width, 3, 7, 7), **_bn("bn1", width)}
  for s, (cin, w, n, stride) in enumerate(resnet.stage_shapes(width, blocks, 2), start=1):
    for b in range(n):
      p = f"layer{s}.{b}"
      c = cin if b == 0 else w * resnet.EXPANSION
      shapes.update({f"{p}.conv1.weight": (w, c, 1, 1), **_bn(f"{p}.bn1", w),
                     f"{p}.conv2.weight": (w, w, 3, 3), **_bn(f"{p}.bn2", w),
                     f"{p}.conv3.weight": (w * 4, w, 1, 1), **_bn(f"{p}.bn3", w * 4)})
      if b == 0 and (stride != 1 or c != w * 4):
        shapes.update({f"{p}.downsample.0.weight": (w * 4, c, 1, 1), **_bn(f"{p}.downsample.1", w * 4)})
  return shapes


def vgg16_shapes() -> dict[str, tuple[int, ...]]:
  """torchvision names and shapes of VGG-16 `features` blocks 2-5."""
  shapes = {}
  for channels, indices in zip(edges.VGG_BLOCKS, edges.VGG_TORCH_INDICES):
    for cin, cout, i in zip(channels[:-1], channels[1:], indices):
      shapes[f"features.{i}.weight"] = (cout, cin, 3, 3)
      shapes[f"features.{i}.bias"] = (cout,)
  return shapes


def _bn(prefix: str, c: int) -> dict[str, tuple[int, ...]]:
  return {f"{prefix}.{k}": (c,) for k in ("weight", "bias", "running_mean", "running_var")}


def check(state: Mapping[str, np.ndarray], expected: Mapping[str, tuple[int, ...]], what: str, path: str = "") -> None:
  """Raises UserError naming every missing, mis-shaped and unexpected tensor (and the file, if given)."""
  problems = [f"missing {k} {v}" for k, v in expected.items() if k not in state]
  problems += [f"{k} has shape {tuple(state[k].shape)}, expected {v}" for k, v in expected.items()
               if k in state and tuple(state[k].shape) != v]
  problems += [f"unexpected {k}" for k in state if k not in expected and not IGNORED.search(k)]
  if problems:
    where = f"{path}: " if path else ""
    raise errors.UserError(f"{where}not a torchvision {what} state dict ({len(problems)} problems):\n  "
                           + "\n  ".join(problems))


def _set_conv(conv: nnx.Conv, weight: np.ndarray, bias: np.ndarray | None = None) -> None:
  conv.kernel[...] = np.transpose(weight, (2, 3, 1, 0))  # OIHW -> HWIO
  if bias is not None:
    conv.bias[...] = bias


def _set_bn(bn: nnx.BatchNorm, state: Mapping[str, np.ndarray], prefix: str) -> None:
  bn.scale[...] = state[f"{prefix}.weight"]
  bn.bias[...] = state[f"{prefix}.bias"]
  bn.mean[...] = state[f"{prefix}.running_mean"]
  bn.var[...] = state[f"{prefix}.running_var"]


def load_resnet50(model, state: Mapping[str, np.ndarray]) -> None:
  """Copies an ImageNet ResNet-50 into `model` (a TwoStreamReID): both streams' specific stages
  get the same weights, shared stages get them once. Non-local blocks, attention and heads keep
  their initialisation."""
  blocks = tuple(len(stage.blocks) for stage in _stages(model, 0)[1:])
  check(state, resnet50_shapes(_stages(model, 0)[0].conv1.out_features, blocks), "ResNet-50")
  for modality in (0, 1):
    stem, *layers = _stages(model, modality)
    _set_conv(stem.conv1, state["conv1.weight"])
    _set_bn(stem.bn1, state, "bn1")
    for s, stage in enumerate(layers, start=1):
      for b, block in enumerate(stage.blocks):
        p = f"layer{s}.{b}"
        for i in (1, 2, 3):
          _set_conv(getattr(block, f"conv{i}"), state[f"{p}.conv{i}.weight"])
          _set_bn(getattr(block, f"bn{i}"), state, f"{p}.bn{i}")
        if block.downsample_conv is not None:
          _set_conv(block.downsample_conv, state[f"{p}.downsample.0.weight"])
          _set_bn(block.downsample_bn, state, f"{p}.downsample.1")


def _stages(model, modality: int) -> list:
  """Stages 0..4 as seen by one modality (its specific stages, then the shared ones)."""
  return list(model.specific[modality]) + list(model.shared)


def load_vgg16(net: edges.VGGFeatures, state: Mapping[str, np.ndarray]) -> None:
  """Copies VGG-16 `features` blocks 2-5 into the PEF feature net."""
  check(state, vgg16_shapes(), "VGG-16")
  for block, indices in zip(net.blocks, edges.VGG_TORCH_INDICES):
    for conv, i in zip(block, indices):
      _set_conv(conv, state[f"features.{i}.weight"], state[f"features.{i}.bias"])


def main() -> None:
  import argparse

  parser = argparse.ArgumentParser(description="Convert a torchvision ResNet-50 or VGG-16 file to .npz.")
  parser.add_argument("--src", required=True, help=".pth, .safetensors or .npz state dict")
  parser.add_argument("--dst", required=True, help="output .npz")
  args = parser.parse_args()
  try:
    state = load_state_dict(args.src)
    kind = "VGG-16" if any(k.startswith("features.") for k in state) else "ResNet-50"
    check(state, vgg16_shapes() if kind == "VGG-16" else resnet50_shapes(), kind, args.src)
  except errors.UserError as e:
    parser.exit(errors.EXIT_STATUS, f"error: {e}\n")
  tmp = f"{args.dst}.tmp.npz"  # written whole, then renamed: an interrupted run leaves no half file
  np.savez(tmp, **{k: np.asarray(v) for k, v in state.items() if not IGNORED.search(k)})
  os.replace(tmp, args.dst)
  print(f"{args.src} ({kind}, sha256 {sha256(args.src)}) -> {args.dst}")


if __name__ == "__main__":
  main()
