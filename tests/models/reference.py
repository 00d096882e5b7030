"""An independent NumPy forward pass of a torchvision-layout ResNet-50 (eval mode), for tests."""

import numpy as np

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def conv2d(x, w, stride, pad, bias=None):
  """x [B, H, W, Ci], w torch [Co, Ci, kh, kw]; zero padding, im2col + matmul in float64."""
  co, ci, kh, kw = w.shape
  x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  b, h, wd, _ = x.shape
  oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
  cols = np.empty((b, oh, ow, kh, kw, ci))
  for i in range(kh):
    for j in range(kw):
      cols[:, :, :, i, j] = x[:, i : i + stride * oh : stride, j : j + stride * ow : stride]
  out = cols.reshape(b, oh, ow, -1) @ w.transpose(2, 3, 1, 0).reshape(-1, co)
  return out if bias is None else out + bias


def bn(x, state, prefix, eps=1e-5):
  return (x - state[f"{prefix}.running_mean"]) / np.sqrt(state[f"{prefix}.running_var"] + eps) * state[
      f"{prefix}.weight"
  ] + state[f"{prefix}.bias"]


def maxpool3x3s2(x):
  x = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
  b, h, w, c = x.shape
  oh, ow = (h - 3) // 2 + 1, (w - 3) // 2 + 1
  return np.max([x[:, i : i + 2 * oh : 2, j : j + 2 * ow : 2] for i in range(3) for j in range(3)], axis=0)


def resnet50(images_uint8, state, blocks=(3, 4, 6, 3), last_stride=2):
  """[B, H, W, 3] uint8 -> stage-4 feature map [B, h, w, 2048], as torchvision computes it."""
  x = (images_uint8 / 255.0 - MEAN) / STD
  x = np.maximum(bn(conv2d(x, state["conv1.weight"], 2, 3), state, "bn1"), 0)
  x = maxpool3x3s2(x)
  for s, n in enumerate(blocks, start=1):
    for b in range(n):
      p = f"layer{s}.{b}"
      stride = (1, 2, 2, last_stride)[s - 1] if b == 0 else 1
      y = np.maximum(bn(conv2d(x, state[f"{p}.conv1.weight"], 1, 0), state, f"{p}.bn1"), 0)
      y = np.maximum(bn(conv2d(y, state[f"{p}.conv2.weight"], stride, 1), state, f"{p}.bn2"), 0)
      y = bn(conv2d(y, state[f"{p}.conv3.weight"], 1, 0), state, f"{p}.bn3")
      if f"{p}.downsample.0.weight" in state:
        x = bn(conv2d(x, state[f"{p}.downsample.0.weight"], stride, 0), state, f"{p}.downsample.1")
      x = np.maximum(y + x, 0)
  return x


def random_state(shapes, seed=0):
  """Random tensors of the given torchvision shapes, with He-scaled convs and sane BN statistics."""
  rng = np.random.default_rng(seed)
  state = {}
  for name, shape in shapes.items():
    if name.endswith("running_var"):
      state[name] = rng.uniform(0.5, 1.5, shape)
    elif name.endswith(("running_mean", "bias")):
      state[name] = rng.normal(0, 0.1, shape)
    elif len(shape) == 4:
      state[name] = rng.normal(0, np.sqrt(2.0 / np.prod(shape[1:])), shape)
    else:
      state[name] = rng.uniform(0.5, 1.5, shape)
  return {k: v.astype(np.float32) for k, v in state.items()}


def bn_names(prefix, c):
  return {f"{prefix}.{k}": (c,) for k in ("weight", "bias", "running_mean", "running_var")}


def resnet_names(prefix, width=64, blocks=(3, 4, 6, 3), stages=range(5)):
  """torchvision ResNet-50 tensor names and shapes of the given stages (0: conv1/bn1), under `prefix`."""
  names = {}
  if 0 in stages:
    names.update({f"{prefix}conv1.weight": (width, 3, 7, 7), **bn_names(f"{prefix}bn1", width)})
  cin = width
  for s, n in enumerate(blocks, start=1):
    w = width * 2 ** (s - 1)
    for b in range(n):
      p = f"{prefix}layer{s}.{b}"
      c = cin if b == 0 else 4 * w
      if s in stages:
        names.update(
            {
                f"{p}.conv1.weight": (w, c, 1, 1),
                **bn_names(f"{p}.bn1", w),
                f"{p}.conv2.weight": (w, w, 3, 3),
                **bn_names(f"{p}.bn2", w),
                f"{p}.conv3.weight": (4 * w, w, 1, 1),
                **bn_names(f"{p}.bn3", 4 * w),
            }
        )
        if b == 0:
          names.update({f"{p}.downsample.0.weight": (4 * w, c, 1, 1), **bn_names(f"{p}.downsample.1", 4 * w)})
    cin = 4 * w
  return names


def agw_names(width=64, blocks=(3, 4, 6, 3), non_local=((2, 2), (2, 3), (3, 3), (3, 4), (3, 5)), inner=1, classes=395):
  """The AGW code's state dict (model.py embed_net, no_local='on', gm_pool='on'): three full ResNets,
  of which it uses the modality stems and the shared layer1-4; NL_<stage>.<j>; BNNeck; classifier."""
  names = {}
  for prefix in ("thermal_module.thermal.", "visible_module.visible.", "base_resnet.base."):
    names.update(resnet_names(prefix, width, blocks))
  counts = {}
  for stage, _ in sorted(non_local):
    j = counts[stage] = counts.get(stage, -1) + 1
    c, p = width * 2 ** (stage - 1) * 4, f"NL_{stage}.{j}"
    names.update(
        {
            f"{p}.g.0.weight": (inner, c, 1, 1),
            f"{p}.g.0.bias": (inner,),
            f"{p}.W.0.weight": (c, inner, 1, 1),
            f"{p}.W.0.bias": (c,),
            **bn_names(f"{p}.W.1", c),
            f"{p}.theta.weight": (inner, c, 1, 1),
            f"{p}.theta.bias": (inner,),
            f"{p}.phi.weight": (inner, c, 1, 1),
            f"{p}.phi.bias": (inner,),
        }
    )
  dim = width * 32
  names.update({**bn_names("bottleneck", dim), "classifier.weight": (classes, dim)})
  return names


def hctri_names(width=64, blocks=(3, 4, 6, 3), strips=6, dim=256, classes=395):
  """The HcTri code's state dict (model_mine.py embed_net, share_net=2, pcb on): the modality stems
  and layer1 per modality, the shared layer2-4, and per strip a 1x1 conv (bias) + BN and a classifier."""
  names = {
      **resnet_names("visible_module.visible.", width, blocks, (0, 1)),
      **resnet_names("thermal_module.thermal.", width, blocks, (0, 1)),
      **resnet_names("base_resnet.base.", width, blocks, (2, 3, 4)),
  }
  for i in range(strips):
    names.update(
        {
            f"local_conv_list.{i}.0.weight": (dim, width * 32, 1, 1),
            f"local_conv_list.{i}.0.bias": (dim,),
            **bn_names(f"local_conv_list.{i}.1", dim),
            f"fc_list.{i}.weight": (classes, dim),
            f"fc_list.{i}.bias": (classes,),
        }
    )
  return names


def bottleneck(x, state, p, stride):
  y = np.maximum(bn(conv2d(x, state[f"{p}.conv1.weight"], 1, 0), state, f"{p}.bn1"), 0)
  y = np.maximum(bn(conv2d(y, state[f"{p}.conv2.weight"], stride, 1), state, f"{p}.bn2"), 0)
  y = bn(conv2d(y, state[f"{p}.conv3.weight"], 1, 0), state, f"{p}.bn3")
  if f"{p}.downsample.0.weight" in state:
    x = bn(conv2d(x, state[f"{p}.downsample.0.weight"], stride, 0), state, f"{p}.downsample.1")
  return np.maximum(y + x, 0)


def non_local(x, state, p):
  """AGW model.py Non_local: f = theta^T phi / N, y = f g, z = BN(W y) + x (eval mode)."""
  b, h, w, c = x.shape
  flat = lambda name: conv2d(x, state[f"{p}.{name}.weight"], 1, 0, state[f"{p}.{name}.bias"]).reshape(b, h * w, -1)
  theta, phi, g = flat("theta"), flat("phi"), flat("g.0")
  y = (theta @ phi.transpose(0, 2, 1) / (h * w)) @ g
  wy = conv2d(y.reshape(b, h, w, -1), state[f"{p}.W.0.weight"], 1, 0, state[f"{p}.W.0.bias"])
  return bn(wy, state, f"{p}.W.1") + x


def gem(x, p, axes=(1, 2)):
  """The AGW / HcTri code's GeM: (mean(x^p) + 1e-12)^(1/p)."""
  return (np.mean(x**p, axis=axes) + 1e-12) ** (1.0 / p)


def two_stream(images_uint8, state, modality, *, split, blocks, non_local_at=(), last_stride=1):
  """The backbone of the authors' two-stream code in eval mode: modality-specific stages below
  `split`, shared stages from base_resnet; non-local after the listed (stage, block) pairs."""
  prefixes = ("visible_module.visible.", "thermal_module.thermal.")
  x = (images_uint8 / 255.0 - MEAN) / STD
  pre = lambda stage: prefixes[modality] if stage < split else "base_resnet.base."
  x = np.maximum(bn(conv2d(x, state[f"{pre(0)}conv1.weight"], 2, 3), state, f"{pre(0)}bn1"), 0)
  x = maxpool3x3s2(x)
  for s, n in enumerate(blocks, start=1):
    positions = sorted(b for st, b in non_local_at if st == s)
    for b in range(n):
      x = bottleneck(x, state, f"{pre(s)}layer{s}.{b}", (1, 2, 2, last_stride)[s - 1] if b == 0 else 1)
      if b in positions:
        x = non_local(x, state, f"NL_{s}.{positions.index(b)}")
  return x
