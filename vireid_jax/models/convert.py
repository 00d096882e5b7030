"""PyTorch state dicts -> parameters of our NNX modules: torchvision's ImageNet ResNet-50 and
VGG-16, and the two-stream models trained by the AGW and HcTri authors' code (`model.init_from`).

Inputs: `.pth` / `.pt` / `.t` (read through torch with `weights_only=True` when it is installed),
or `.safetensors` / `.npz` holding the same tensor names (no torch needed); a checkpoint may hold
the state dict under `net` / `state_dict` and carry DataParallel's `module.` prefixes. Every
tensor the model needs must be present with its PyTorch shape; anything missing, mis-shaped or
unexpected is an error that names each one. Deliberately left out: the ImageNet classifiers
(`fc.*`, `classifier.*`), the VGG-16 layers the PEF net does not use, and BatchNorm's
`num_batches_tracked` counters.

  python -m vireid_jax.models.convert --src resnet50-0676ba61.pth --dst resnet50.npz
  python -m vireid_jax.models.convert --src sysu_agw_p4_n8_lr_0.1_seed_0_best.t --dst sysu_agw.npz
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
from collections.abc import Callable, Mapping

import numpy as np
from absl import logging
from flax import nnx

from vireid_jax import errors
from vireid_jax.models import edges, resnet
from vireid_jax.models.batch_norm import BatchNorm
from vireid_jax.models.conv import Conv

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
  """A `torch.save` file read with `weights_only=True`: no code of a downloaded pickle runs. NumPy
  arrays and scalars are allowed too (the authors' checkpoints keep their metrics as NumPy values
  next to the state dict under 'net'); a file that needs any other object is refused."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise errors.UserError(
        f"{path}: reading a PyTorch file needs torch; convert it once where torch is installed "
        "(python -m vireid_jax.models.convert --src X.t --dst X.npz) or use .safetensors."
    ) from e
  try:
    with torch.serialization.safe_globals(_NUMPY_GLOBALS):
      loaded = torch.load(path, map_location="cpu", weights_only=True)
  except pickle.UnpicklingError as e:
    needs = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
    raise errors.UserError(
        f"{path}: refused: the pickle needs {needs.group(1) if needs else 'an object'} beyond tensors, NumPy values "
        "and plain containers, and a downloaded pickle's code is never run here. If you trust the file, load it "
        "with torch.load(weights_only=False) yourself and save its state dict (e.g. with safetensors)."
    ) from e
  state = loaded.get("net", loaded.get("state_dict", loaded)) if isinstance(loaded, dict) else loaded
  if not isinstance(state, dict) or not all(hasattr(v, "numpy") for v in state.values()):
    raise errors.UserError(
        f"{path}: expected a state dict of tensors (itself, or under 'net' or 'state_dict'), got "
        f"{type(state).__name__} with keys {sorted(state)[:5] if isinstance(state, dict) else ''}."
    )
  return {k.removeprefix("module."): v.numpy() for k, v in state.items()}


# NumPy's array and scalar constructors, under the names NumPy 1 and 2 pickle them with.
_NUMPY_GLOBALS = [
    (fn, f"numpy.{core}.multiarray.{fn.__name__}")
    for core in ("core", "_core")
    for fn in (np._core.multiarray._reconstruct, np._core.multiarray.scalar)
]  # pylint: disable=protected-access
_NUMPY_GLOBALS += [np.ndarray, np.dtype, *(type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool"))]

READERS = {
    ".npz": _read_npz,
    ".safetensors": _read_safetensors,
    ".pth": _read_torch,
    ".pt": _read_torch,
    ".t": _read_torch,
}


def load_state_dict(path: str) -> dict[str, np.ndarray]:
  """Reads a state dict (name -> array) from .pth/.pt/.t, .safetensors or .npz; logs the file's SHA-256.

  A torch file may hold the state dict itself or a checkpoint dict with it under 'net' (the AGW
  and HcTri code) or 'state_dict'; `module.` prefixes (DataParallel) are dropped. A missing file,
  an unknown extension or a file that does not parse (a truncated download, an HTML error page
  saved under the name) is a UserError naming the file and the expected format.
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
    raise errors.UserError(
        f"{path}: not a readable {os.path.splitext(path)[1]} weights file ({type(e).__name__}: "
        f"{e}); a truncated download or a saved error page looks like this. Expected a state "
        "dict of named tensors as torchvision writes it (or as vireid_jax.models.convert "
        "converts it)."
    ) from e


def resnet50_shapes(width: int = 64, blocks=(3, 4, 6, 3)) -> dict[str, tuple[int, ...]]:
  """torchvision names and shapes of a ResNet-50 backbone (no fc)."""
  shapes: dict[str, tuple[int, ...]] = {"conv1.weight": (width, 3, 7, 7), **_bn_shapes("bn1", width)}
  for s, (cin, w, n, stride) in enumerate(resnet.stage_shapes(width, blocks, 2), start=1):
    for b in range(n):
      p = f"layer{s}.{b}"
      c = cin if b == 0 else w * resnet.EXPANSION
      shapes.update(
          {
              f"{p}.conv1.weight": (w, c, 1, 1),
              **_bn_shapes(f"{p}.bn1", w),
              f"{p}.conv2.weight": (w, w, 3, 3),
              **_bn_shapes(f"{p}.bn2", w),
              f"{p}.conv3.weight": (w * 4, w, 1, 1),
              **_bn_shapes(f"{p}.bn3", w * 4),
          }
      )
      if b == 0 and (stride != 1 or c != w * 4):
        shapes.update({f"{p}.downsample.0.weight": (w * 4, c, 1, 1), **_bn_shapes(f"{p}.downsample.1", w * 4)})
  return shapes


def vgg16_shapes() -> dict[str, tuple[int, ...]]:
  """torchvision names and shapes of VGG-16 `features` blocks 2-5."""
  shapes = {}
  for channels, indices in zip(edges.VGG_BLOCKS, edges.VGG_TORCH_INDICES):
    for cin, cout, i in zip(channels[:-1], channels[1:], indices):
      shapes[f"features.{i}.weight"] = (cout, cin, 3, 3)
      shapes[f"features.{i}.bias"] = (cout,)
  return shapes


def _bn_shapes(prefix: str, c: int) -> dict[str, tuple[int, ...]]:
  return {f"{prefix}.{k}": (c,) for k in ("weight", "bias", "running_mean", "running_var")}


def check(
    state: Mapping[str, np.ndarray],
    expected: Mapping[str, tuple[int, ...]],
    what: str,
    path: str = "",
    ignored: re.Pattern = IGNORED,
) -> None:
  """Raises UserError naming every missing, mis-shaped and unexpected tensor (and the file, if given);
  tensors matching `ignored` may be present without being expected."""
  problems = [f"missing {k} {v}" for k, v in expected.items() if k not in state]
  problems += [
      f"{k} has shape {tuple(state[k].shape)}, expected {v}"
      for k, v in expected.items()
      if k in state and tuple(state[k].shape) != v
  ]
  problems += [f"unexpected {k}" for k in state if k not in expected and not ignored.search(k)]
  if problems:
    where = f"{path}: " if path else ""
    raise errors.UserError(f"{where}not a {what} state dict ({len(problems)} problems):\n  " + "\n  ".join(problems))


# Where each torch tensor of a state dict goes: name -> (torch shape, setters). A name can fill
# several variables (an ImageNet stem fills both modalities' stems).
Targets = dict[str, tuple[tuple[int, ...], list[Callable[[np.ndarray], None]]]]


def _add(targets: Targets, name: str, shape: tuple[int, ...], setter: Callable[[np.ndarray], None]) -> None:
  targets.setdefault(name, (tuple(shape), []))[1].append(setter)


def _setter(variable) -> Callable[[np.ndarray], None]:
  def assign(value: np.ndarray) -> None:
    variable[...] = value

  return assign


def _conv(targets: Targets, name: str, conv: Conv) -> None:
  """A PyTorch Conv2d: weight OIHW (ours HWIO), optional bias."""
  kh, kw, cin, cout = conv.kernel.shape
  _add(
      targets, f"{name}.weight", (cout, cin, kh, kw), lambda w, v=conv.kernel: _setter(v)(np.transpose(w, (2, 3, 1, 0)))
  )
  if conv.bias is not None:
    _add(targets, f"{name}.bias", (cout,), _setter(conv.bias))


def _linear(targets: Targets, name: str, linear: nnx.Linear, conv1x1: bool = False) -> None:
  """A PyTorch Linear ([out, in]) or a 1x1 Conv2d ([out, in, 1, 1]) acting on pooled vectors."""
  cin, cout = linear.kernel.shape
  shape = (cout, cin, 1, 1) if conv1x1 else (cout, cin)
  _add(targets, f"{name}.weight", shape, lambda w, v=linear.kernel: _setter(v)(np.reshape(w, (cout, cin)).T))
  if linear.bias is not None:
    _add(targets, f"{name}.bias", (cout,), _setter(linear.bias))


def _frozen_zero(name: str) -> Callable[[np.ndarray], None]:
  def check_zero(value: np.ndarray) -> None:
    if np.abs(value).max() > 0:
      raise errors.UserError(
          f"{name} is not zero (max |{np.abs(value).max():.3g}|): a BNNeck's bias stays 0 "
          "(frozen); this head has none to hold it."
      )

  return check_zero


def _bn(targets: Targets, name: str, bn: BatchNorm) -> None:
  c = bn.scale.shape[0]
  _add(targets, f"{name}.weight", (c,), _setter(bn.scale))
  _add(targets, f"{name}.bias", (c,), _setter(bn.bias) if bn.bias is not None else _frozen_zero(f"{name}.bias"))
  _add(targets, f"{name}.running_mean", (c,), _setter(bn.mean))
  _add(targets, f"{name}.running_var", (c,), _setter(bn.var))


def _stage(targets: Targets, prefix: str, index: int, stage) -> None:
  """Stage `index` of a torchvision ResNet under `prefix`: the stem (conv1, bn1) or layer<index>."""
  root = f"{prefix}." if prefix else ""
  if index == 0:
    _conv(targets, f"{root}conv1", stage.conv1)
    _bn(targets, f"{root}bn1", stage.bn1)
    return
  for b, block in enumerate(stage.blocks):
    p = f"{root}layer{index}.{b}"
    for i in (1, 2, 3):
      _conv(targets, f"{p}.conv{i}", getattr(block, f"conv{i}"))
      _bn(targets, f"{p}.bn{i}", getattr(block, f"bn{i}"))
    if block.downsample_conv is not None:
      _conv(targets, f"{p}.downsample.0", block.downsample_conv)
      _bn(targets, f"{p}.downsample.1", block.downsample_bn)


def backbone_targets(model, prefixes: tuple[str, str, str]) -> Targets:
  """The ResNet stages of `model`: modality m's specific stages under prefixes[m], the shared ones
  under prefixes[2] ("" everywhere for one torchvision ResNet-50 filling both streams)."""
  targets: Targets = {}
  for modality in (0, 1):
    for index, stage in enumerate(model.specific[modality]):
      _stage(targets, prefixes[modality], index, stage)
  for index, stage in enumerate(model.shared, start=model.split):
    _stage(targets, prefixes[2], index, stage)
  return targets


def load_resnet50(model, state: Mapping[str, np.ndarray]) -> None:
  """Copies an ImageNet ResNet-50 into `model` (a TwoStreamReID): both streams' specific stages
  get the same weights, shared stages get them once. Non-local blocks, attention and heads keep
  their initialisation."""
  _load(backbone_targets(model, ("", "", "")), state, "torchvision ResNet-50")


def _load(
    targets: Targets, state: Mapping[str, np.ndarray], what: str, path: str = "", ignored: re.Pattern = IGNORED
) -> None:
  check(state, {name: shape for name, (shape, _) in targets.items()}, what, path, ignored)
  for name, (_, setters) in targets.items():
    for set_value in setters:
      set_value(np.asarray(state[name], np.float32))


# The authors' two-stream checkpoints: AGW (mangye16/Cross-Modal-Re-ID-baseline, model.py embed_net)
# and HcTri (hijune6/Hetero-center-triplet-loss-for-VT-Re-ID, model_mine.py embed_net) share a layout:
# a torchvision ResNet per modality and a shared one, of which each model uses the stages of its split.
TWO_STREAM = ("visible_module.visible", "thermal_module.thermal", "base_resnet.base")
TWO_STREAM_UNUSED = re.compile(
    r"num_batches_tracked$|^(visible_module\.visible|thermal_module\.thermal|"
    r"base_resnet\.base)\.(conv1|bn1|layer\d|fc)\."
)


def two_stream_targets(model) -> Targets:
  """Every tensor of the authors' layout that `model` has: the backbone, AGW's non-local blocks
  (`NL_<stage>.<j>`, theta / phi / g.0 / W.0 convs and the W.1 BatchNorm) and heads (AGW's
  `bottleneck` BNNeck and `classifier`; HcTri's `local_conv_list.<i>` 1x1 conv + BN and `fc_list.<i>`)."""
  targets = backbone_targets(model, TWO_STREAM)
  for index, stage in enumerate(model.shared, start=model.split):
    for j, block in enumerate(getattr(stage, "non_local", ())):
      p = f"NL_{index}.{j}"
      _conv(targets, f"{p}.theta", block.theta)
      _conv(targets, f"{p}.phi", block.phi)
      _conv(targets, f"{p}.g.0", block.g)
      _conv(targets, f"{p}.W.0", block.w)
      _bn(targets, f"{p}.W.1", block.w_bn)
  heads = model.heads
  if "bnneck" in heads:
    _bn(targets, "bottleneck", heads["bnneck"].bn)
  if "classifier" in heads:
    _linear(targets, "classifier", heads["classifier"].fc)
  if "parts" in heads:
    for i, (fc, bn, cls) in enumerate(zip(heads["parts"].reduce, heads["parts"].bn, heads["parts"].classifiers)):
      _linear(targets, f"local_conv_list.{i}.0", fc, conv1x1=True)
      _bn(targets, f"local_conv_list.{i}.1", bn)
      _linear(targets, f"fc_list.{i}", cls)
  return targets


def num_classes(state: Mapping[str, np.ndarray]) -> int | None:
  """The classes of a two-stream checkpoint's classifier (AGW `classifier`, HcTri `fc_list.0`)."""
  for name in ("classifier.weight", "fc_list.0.weight"):
    if name in state:
      return int(state[name].shape[0])
  return None


TWO_STREAM_WHAT = "two-stream (AGW / HcTri code)"


def check_two_stream(model, state: Mapping[str, np.ndarray], path: str = "") -> None:
  """One UserError naming every tensor of `model` (concrete or `nnx.eval_shape`'d) that an authors'
  checkpoint lacks or shapes differently, and every tensor of the file the model has no place for
  (the stages of the code's ResNets its split does not use, and BatchNorm counters, are expected)."""
  check(
      state,
      {name: shape for name, (shape, _) in two_stream_targets(model).items()},
      TWO_STREAM_WHAT,
      path,
      TWO_STREAM_UNUSED,
  )


def load_two_stream(model, state: Mapping[str, np.ndarray], path: str = "") -> None:
  """Copies an authors' checkpoint into every parameter and BatchNorm statistic of `model` (see
  `check_two_stream`)."""
  _load(two_stream_targets(model), state, TWO_STREAM_WHAT, path, TWO_STREAM_UNUSED)


def load_vgg16(net: edges.VGGFeatures, state: Mapping[str, np.ndarray], path: str = "") -> None:
  """Copies VGG-16 `features` blocks 2-5 (as many as `net` has) into the PEF feature net."""
  targets: Targets = {}
  for block, indices in zip(net.blocks, edges.VGG_TORCH_INDICES):
    for conv, i in zip(block, indices):
      _conv(targets, f"features.{i}", conv)
  _load(targets, state, "torchvision VGG-16", path, re.compile(r"^features\.\d+\.|^classifier\."))


def main() -> None:
  import argparse

  parser = argparse.ArgumentParser(
      description="Convert a torchvision ResNet-50 or VGG-16 file, or an AGW / HcTri "
      "checkpoint, to .npz (readable without torch)."
  )
  parser.add_argument("--src", required=True, help=".pth, .pt, .t, .safetensors or .npz state dict or checkpoint")
  parser.add_argument("--dst", required=True, help="output .npz")
  args = parser.parse_args()
  try:
    state = load_state_dict(args.src)
    if any(k.startswith(TWO_STREAM) for k in state):  # checked against a config when it is loaded
      kind, unused = "two-stream checkpoint", re.compile(r"num_batches_tracked$")
    else:
      kind, unused = ("VGG-16", IGNORED) if any(k.startswith("features.") for k in state) else ("ResNet-50", IGNORED)
      check(state, vgg16_shapes() if kind == "VGG-16" else resnet50_shapes(), f"torchvision {kind}", args.src)
  except errors.UserError as e:
    parser.exit(errors.EXIT_STATUS, f"error: {e}\n")
  tmp = f"{args.dst}.tmp.npz"  # written whole, then renamed: an interrupted run leaves no half file
  np.savez(tmp, **{k: np.asarray(v) for k, v in state.items() if not unused.search(k)})
  os.replace(tmp, args.dst)
  print(f"{args.src} ({kind}, sha256 {sha256(args.src)}) -> {args.dst}")


if __name__ == "__main__":
  main()
