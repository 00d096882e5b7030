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
      cols[:, :, :, i, j] = x[:, i:i + stride * oh:stride, j:j + stride * ow:stride]
  out = cols.reshape(b, oh, ow, -1) @ w.transpose(2, 3, 1, 0).reshape(-1, co)
  return out if bias is None else out + bias


def bn(x, state, prefix, eps=1e-5):
  return ((x - state[f"{prefix}.running_mean"]) / np.sqrt(state[f"{prefix}.running_var"] + eps)
          * state[f"{prefix}.weight"] + state[f"{prefix}.bias"])


def maxpool3x3s2(x):
  x = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
  b, h, w, c = x.shape
  oh, ow = (h - 3) // 2 + 1, (w - 3) // 2 + 1
  return np.max([x[:, i:i + 2 * oh:2, j:j + 2 * ow:2] for i in range(3) for j in range(3)], axis=0)


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
