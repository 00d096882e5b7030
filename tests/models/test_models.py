import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import configs
from configs import common
from tests.models import reference
from tests.runs import forward
from tests.test_objective import EVERY_HEAD
from vireid_jax import errors
from vireid_jax.data import transforms
from vireid_jax.models import build_model, check, convert, edges, heads
from vireid_jax.models.attention import NonLocal, PositionAttention

TINY = dict(width=8, blocks=(1, 1, 1, 1), non_local=((2, 0), (3, 0)))


def tiny(**overrides):
  return common.model_config(**{**TINY, **overrides})


def images(shape, seed=0):
  return jnp.asarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8))


def count(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def backbone_params(model) -> int:
  return count(nnx.state(model.specific, nnx.Param)) + count(nnx.state(model.shared, nnx.Param))


@pytest.mark.parametrize("split,factor", [(0, 0), (1, 1), (5, None)])
def test_resnet50_parameter_counts(split, factor):
  resnet50 = sum(int(np.prod(s)) for k, s in convert.resnet50_shapes().items() if "running" not in k)
  assert resnet50 == 23_508_032
  model = nnx.eval_shape(lambda: build_model(common.model_config(split=split, non_local=()), 395))
  stem = 64 * 3 * 7 * 7 + 2 * 64
  expected = 2 * resnet50 if split == 5 else resnet50 + factor * stem
  assert backbone_params(model) == expected


@pytest.mark.parametrize(
    "overrides,keys",
    [
        (
            {},
            {
                "pooled": (4, 2048),
                "bn": (4, 2048),
                "logits": (4, 395),
                "feature_map": (4, 18, 9, 2048),
                "stage0": (4, 72, 36, 64),
                "stage1": (4, 72, 36, 256),
            },
        ),
        (
            dict(heads=common.heads(parts=dict(strips=6, dim=256)), split=3, non_local=()),
            {"part_features": (4, 6, 256), "part_logits": (6, 4, 395), "parts": (4, 1536)},
        ),
        (
            dict(heads=common.heads(bnneck={}, modality_classifiers={})),
            {"visible_logits": (4, 395), "infrared_logits": (4, 395)},
        ),
        (
            dict(position_attention=True, heads=common.heads(centers={}), test_feature="pooled", non_local=()),
            {"centers": (395, 2048)},
        ),
    ],
)
def test_full_size_output_shapes(overrides, keys):
  cfg = common.model_config(**overrides)

  def build_and_run():
    model = build_model(cfg, 395)
    return model(jnp.zeros((2, 2, 288, 144, 3), jnp.uint8))

  out = jax.eval_shape(build_and_run)
  for k, shape in keys.items():
    assert out[k].shape == shape, k


def test_torchvision_weights_reproduce_the_reference_forward():
  state = reference.random_state(convert.resnet50_shapes())
  state["fc.weight"] = np.zeros((1000, 2048), np.float32)  # ignored on purpose
  cfg = common.model_config(split=1, non_local=(), last_stride=2)
  model = build_model(cfg, 10)
  convert.load_resnet50(model, state)
  model.eval()
  x = np.random.default_rng(1).integers(0, 256, (2, 64, 32, 3), dtype=np.uint8)
  expected = reference.resnet50(x, state)
  both = np.asarray(forward(model, jnp.asarray(np.stack([x, x])))["feature_map"])  # rows i*2 + modality
  for modality in (0, 1):  # both stems got the ImageNet stem
    got = both[modality::2]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_converter_names_every_problem():
  state = reference.random_state(convert.resnet50_shapes())
  del state["layer2.0.conv1.weight"]
  state["layer3.1.bn2.weight"] = np.ones(7, np.float32)
  state["layer5.0.conv1.weight"] = np.ones(1, np.float32)
  with pytest.raises(ValueError) as e:
    convert.check(state, convert.resnet50_shapes(), "torchvision ResNet-50")
  message = str(e.value)
  assert "3 problems" in message and "missing layer2.0.conv1.weight" in message
  assert (
      "layer3.1.bn2.weight has shape (7,), expected (256,)" in message and "unexpected layer5.0.conv1.weight" in message
  )


def test_state_dict_files(tmp_path):
  import json

  state = {"a.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "b.bias": np.ones(4, np.float32)}
  np.savez(tmp_path / "w.npz", **state)
  header, blob, offset = {}, b"", 0
  for k, v in state.items():
    header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [offset, offset + v.nbytes]}
    blob += v.tobytes()
    offset += v.nbytes
  head = json.dumps(header).encode()
  (tmp_path / "w.safetensors").write_bytes(len(head).to_bytes(8, "little") + head + blob)
  for name in ("w.npz", "w.safetensors"):
    loaded = convert.load_state_dict(str(tmp_path / name))
    for k, v in state.items():
      np.testing.assert_array_equal(loaded[k], v)
  with pytest.raises(errors.UserError, match="nowhere.pth: no such weights file"):
    convert.load_state_dict(str(tmp_path / "nowhere.pth"))


def test_vgg16_import_matches_numpy():
  state = reference.random_state(convert.vgg16_shapes(), seed=3)
  net = edges.VGGFeatures(rngs=nnx.Rngs(0))
  convert.load_vgg16(net, state)
  x = np.random.default_rng(0).normal(size=(1, 32, 16, 64)).astype(np.float32)
  outs = forward(net, jnp.asarray(x))
  assert [o.shape for o in outs] == [(1, 16, 8, 128), (1, 8, 4, 256), (1, 4, 2, 512), (1, 2, 1, 512)]
  y = x
  for i in (5, 7):  # block 2: conv2_1, conv2_2, then its max-pool
    y = np.maximum(reference.conv2d(y, state[f"features.{i}.weight"], 1, 1, state[f"features.{i}.bias"]), 0)
  y = y.reshape(1, 16, 2, 8, 2, 128).max(axis=(2, 4))
  np.testing.assert_allclose(np.asarray(outs[0]), y, rtol=1e-4, atol=1e-4)
  small = edges.VGGFeatures(in_channels=16, width=0.125, rngs=nnx.Rngs(0))  # a CPU-sized PEF net
  assert [o.shape[-1] for o in forward(small, jnp.zeros((1, 32, 16, 16)))] == [16, 32, 64, 64]


def test_each_modality_runs_only_its_own_stem():
  """FLOPs of the compiled forward: s1 (two stems, each on its half) within 2% of s0."""
  x = images((2, 4, 64, 32, 3))

  def flops(split):
    model = build_model(tiny(split=split, non_local=()), 10)
    graph, state = nnx.split(model)
    fn = jax.jit(lambda s, x: nnx.merge(graph, s)(x)["logits"])
    return fn.lower(state, x).compile().cost_analysis()["flops"]

  f0, f1 = flops(0), flops(1)
  assert abs(f1 / f0 - 1) < 0.02


def test_tiny_forward_backward_and_batch_norm_modes():
  model = build_model(tiny(heads=common.heads(**EVERY_HEAD), position_attention=True), 10)
  x = images((2, 3, 96, 32, 3))  # six rows for the part strips
  graph, params, rest = nnx.split(model, nnx.Param, ...)

  def loss(params, rest):
    trained = nnx.merge(graph, params, rest, copy=True)  # a new model is in training mode
    out = trained(x)
    total = sum(jnp.mean(v**2) for v in out.values() if jnp.issubdtype(v.dtype, jnp.floating))
    return total, nnx.state(trained, nnx.Not(nnx.Param))

  grads, updated = jax.jit(jax.grad(loss, has_aux=True))(params, rest)
  assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))  # NumPy: no program per shape
  assert float(jnp.abs(grads["shared"][0]["blocks"][0]["conv1"]["kernel"][...]).sum()) > 0

  before = np.asarray(model.specific[0][0].bn1.mean[...]).copy()
  visible, infrared = (np.asarray(updated["specific"][m][0]["bn1"]["mean"][...]) for m in (0, 1))
  assert not np.allclose(before, visible) and not np.allclose(before, infrared)  # updated in training
  assert not np.allclose(visible, infrared)  # each stream sees only its own images
  model.eval()
  forward(model, x)
  np.testing.assert_array_equal(np.asarray(model.specific[0][0].bn1.mean[...]), before)  # frozen in inference
  emb = nnx.jit(lambda m, y: m.embed(y, 1))(model, x[1])
  assert emb.shape == (3, model.heads["bnneck"].bn.scale.shape[0]) and emb.dtype == jnp.float32


def test_outputs_are_in_merged_order():
  """Row i*2+m of the training output is item i of modality m: same as running it alone."""
  model = build_model(tiny(), 10)
  model.eval()
  x = images((2, 3, 64, 32, 3))
  out = forward(model, x)
  np.testing.assert_array_equal(np.asarray(out["modality"]), [0, 1, 0, 1, 0, 1])
  alone = forward(model, x[1], 1)["bn"]
  np.testing.assert_allclose(np.asarray(out["bn"][1::2]), np.asarray(alone), rtol=1e-5, atol=1e-5)


def test_views_go_through_their_streams_in_merged_order():
  """CAJ's three views (visible, visible, infrared): in training the visible stem's BatchNorm sees
  both visible views as one batch; row i*3 + v is item i of view v, as the view alone through its
  stream (inference); images the pipeline normalised give what uint8 images give."""
  model = build_model(tiny(), 10)
  x = images((3, 2, 64, 32, 3))
  model.train()
  out = forward(model, x, (0, 0, 1))
  np.testing.assert_array_equal(np.asarray(out["modality"]), [0, 0, 1, 0, 0, 1])
  both = transforms.normalize(x[:2].reshape((4,) + x.shape[2:]))
  stem = nnx.jit(lambda m, y: m(y))(model.specific[0][0], both)  # training mode: batch statistics
  np.testing.assert_allclose(np.asarray(out["stage0"][0::3]), np.asarray(stem[:2]), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(np.asarray(out["stage0"][1::3]), np.asarray(stem[2:]), rtol=1e-5, atol=1e-5)
  model.eval()
  out = forward(model, x, (0, 0, 1))
  for v, modality in enumerate((0, 0, 1)):
    alone = forward(model, x[v], modality)["bn"]
    np.testing.assert_allclose(np.asarray(out["bn"][v::3]), np.asarray(alone), rtol=1e-5, atol=1e-5)
  normalised = forward(model, transforms.normalize(x), (0, 0, 1))["bn"]
  np.testing.assert_allclose(np.asarray(normalised), np.asarray(out["bn"]), rtol=1e-5, atol=1e-5)


def test_gem_and_strips_against_numpy():
  x = np.random.default_rng(0).uniform(-1, 2, (2, 6, 3, 5)).astype(np.float32)
  expected = np.mean(np.maximum(x, 1e-6) ** 3.0, axis=(1, 2)) ** (1 / 3.0)
  np.testing.assert_allclose(np.asarray(heads.gem(jnp.asarray(x), 3.0, 1e-6)), expected, rtol=1e-5)
  s = np.asarray(heads.strips(jnp.asarray(x), 3))
  for i in range(3):
    np.testing.assert_array_equal(s[:, i], x[:, 2 * i : 2 * i + 2])


def test_position_attention_against_numpy():
  pam = PositionAttention(16, rngs=nnx.Rngs(0))
  x = np.random.default_rng(0).normal(size=(2, 4, 3, 16)).astype(np.float32)
  np.testing.assert_array_equal(np.asarray(pam(jnp.asarray(x))), x)  # gamma = 0: identity
  pam.gamma[...] = 0.7
  flat = x.reshape(2, 12, 16)
  proj = lambda conv: flat @ np.asarray(conv.kernel[...])[0, 0] + np.asarray(conv.bias[...])
  q, k, v = proj(pam.query), proj(pam.key), proj(pam.value)
  energy = np.einsum("bic,bjc->bij", q, k)
  attn = np.exp(energy - energy.max(-1, keepdims=True))
  attn /= attn.sum(-1, keepdims=True)
  expected = 0.7 * np.einsum("bij,bjc->bic", attn, v) + flat
  np.testing.assert_allclose(np.asarray(pam(jnp.asarray(x))).reshape(2, 12, 16), expected, rtol=1e-4, atol=1e-5)


def test_non_local_against_numpy():
  block = NonLocal(8, 4, rngs=nnx.Rngs(0))
  block.eval()
  x = np.random.default_rng(1).normal(size=(2, 3, 2, 8)).astype(np.float32)
  np.testing.assert_allclose(np.asarray(block(jnp.asarray(x))), x, atol=1e-6)  # zero BN scale: identity
  block.w_bn.scale[...] = jnp.ones(8)
  flat = x.reshape(2, 6, 8)
  proj = lambda conv, y: y @ np.asarray(conv.kernel[...])[0, 0] + np.asarray(conv.bias[...])
  f = np.einsum("bic,bjc->bij", proj(block.theta, flat), proj(block.phi, flat)) / 6
  y = np.einsum("bij,bjc->bic", f, proj(block.g, flat))
  wy = proj(block.w, y)
  bn = block.w_bn
  wy = (wy - np.asarray(bn.mean[...])) / np.sqrt(np.asarray(bn.var[...]) + 1e-5) + np.asarray(bn.bias[...])
  np.testing.assert_allclose(np.asarray(block(jnp.asarray(x))).reshape(2, 6, 8), wy + flat, rtol=1e-4, atol=1e-5)


def test_edge_maps_against_numpy_sobel():
  img = np.zeros((1, 16, 8, 3), np.uint8)
  img[:, :, 4:] = 255  # a vertical step edge
  got = np.asarray(edges.edge_maps(jnp.asarray(img), 16, 8, 5))
  assert got.shape == (1, 16, 8, 5) and (got == got[..., :1]).all()
  gray = np.pad(img[0, :, :, 0] / 255.0, 1)
  expected = np.zeros((16, 8))
  for kernel in edges.SOBEL:
    r = sum(kernel[i, j] * gray[i : i + 16, j : j + 8] for i in range(3) for j in range(3))
    expected += np.abs(r)
  np.testing.assert_allclose(got[0, :, :, 0], expected, atol=1e-5)


def test_convert_cli_writes_a_loadable_npz(tmp_path, monkeypatch, capsys):
  import sys

  state = reference.random_state(convert.resnet50_shapes(), seed=5)
  state["fc.weight"] = np.zeros((1000, 2048), np.float32)
  np.savez(tmp_path / "resnet50.npz", **state)
  monkeypatch.setattr(
      sys, "argv", ["convert", "--src", str(tmp_path / "resnet50.npz"), "--dst", str(tmp_path / "out.npz")]
  )
  convert.main()
  out = convert.load_state_dict(str(tmp_path / "out.npz"))
  assert "fc.weight" not in out and set(out) == set(convert.resnet50_shapes())
  np.testing.assert_array_equal(out["layer4.2.conv3.weight"], state["layer4.2.conv3.weight"])
  del state["layer1.0.bn1.running_var"]
  np.savez(tmp_path / "broken.npz", **state)
  monkeypatch.setattr(sys, "argv", ["convert", "--src", str(tmp_path / "broken.npz"), "--dst", str(tmp_path / "x.npz")])
  with pytest.raises(SystemExit) as e:
    convert.main()
  assert e.value.code == errors.EXIT_STATUS
  assert "broken.npz: not a torchvision ResNet-50 state dict" in capsys.readouterr().err
  assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize("method", configs.methods())
def test_every_config_model_shapes(method):
  """Each method config's full-size model (eval_shape): parameter count, test feature and classifier."""
  cfg = importlib.import_module(f"configs.{method}").get_config("sysu").model
  model = nnx.eval_shape(lambda: build_model(cfg, 395))
  stems = 2 if cfg.split >= 1 else 1
  assert backbone_params(model) >= 23_508_032 + (stems - 1) * (64 * 3 * 7 * 7 + 128)
  out = nnx.eval_shape(lambda m: m(jnp.zeros((2, 2, 288, 144, 3), jnp.uint8)), model)  # the shapes, not rebuilt
  dims = {"bn": 2048, "pooled": 2048}
  if "parts" in cfg.heads:
    dims["parts"] = cfg.heads.parts.strips * cfg.heads.parts.dim
  assert out[cfg.test_feature].shape == (4, dims[cfg.test_feature])
  logits = "logits" if "classifier" in cfg.heads else "part_logits"
  assert out[logits].shape[-2:] == (4, 395)


def test_a_non_local_position_given_twice_is_refused():
  """Two non-local blocks after the same block would build a second one that nothing calls."""
  cfg = importlib.import_module("configs.agw").get_config("test")
  assert check(cfg) == []
  cfg.model.non_local = ((2, 0), (2, 0), (3, 0))
  assert check(cfg) == [
      "model.non_local: a (stage, block) pair appears twice in ((2, 0), (2, 0), (3, 0)); "
      "a block is followed by at most one non-local block."
  ]


@pytest.mark.parametrize("attention", [False, True])
def test_equal_streams_start_both_modality_specific_streams_from_one_draw(attention):
  """`model.equal_streams` gives the infrared stream (stages and any position attention) the visible
  stream's initial weights in buffers of its own, and changes nothing else."""
  kw = dict(non_local=(), seed=3, split=2, position_attention=attention)
  apart, equal = (build_model(tiny(equal_streams=e, **kw), 10) for e in (False, True))
  a, b = (dict(nnx.to_flat_state(nnx.state(m))) for m in (apart, equal))
  differ = {k for k in a if not np.array_equal(a[k][...], b[k][...])}
  modules = ("specific", "attention") if attention else ("specific",)
  assert {k[0] for k in differ} == set(modules) and all(k[1] == 1 for k in differ)
  for module in modules:
    streams = [dict(nnx.to_flat_state(nnx.state(getattr(m, module)[i]))) for m in (apart, equal) for i in (0, 1)]
    assert streams[0].keys() == streams[1].keys()
    assert not all(np.array_equal(streams[0][k][...], streams[1][k][...]) for k in streams[0])
    assert all(np.array_equal(streams[2][k][...], streams[3][k][...]) for k in streams[2])
    pointers = [{v[...].unsafe_buffer_pointer() for v in s.values()} for s in streams[2:]]
    assert not pointers[0] & pointers[1]  # own buffers: a train step donates each once
  x = images((2, 48, 24, 3))
  out = equal(jnp.stack([x, x]), (0, 1))  # the same images through each stream, before any step
  np.testing.assert_array_equal(out["stage1"][0::2], out["stage1"][1::2])


def test_equal_streams_without_modality_specific_stages_is_refused():
  cfg = importlib.import_module("configs.danet").get_config("test")
  assert cfg.model.split == 0 and check(cfg) == []
  cfg.model.equal_streams = True
  assert check(cfg) == ["model.equal_streams: model.split=0 has no modality-specific streams; expected split >= 1."]


def test_zero_init_residual_starts_each_block_as_its_shortcut():
  """`model.zero_init_residual` changes only each bottleneck's last BN scale, to 0 (the same random
  draws otherwise), and the block then computes relu(shortcut(x)), checked in numpy."""
  plain, zeroed = (build_model(tiny(non_local=(), seed=3, zero_init_residual=z), 10) for z in (False, True))
  a, b = (dict(nnx.to_flat_state(nnx.state(m))) for m in (plain, zeroed))
  differ = {k for k in a if not np.array_equal(a[k][...], b[k][...])}
  assert len(differ) == 4 and all(k[-2:] == ("bn3", "scale") for k in differ)  # one block in each of layer1..4
  assert all(not np.any(b[k][...]) for k in differ)
  block = zeroed.shared[0].blocks[0]
  rng = np.random.default_rng(0)
  conv, bn = block.downsample_conv, block.downsample_bn  # 1x1 stride-1 projection, BN in eval mode
  for stat in (bn.mean, bn.var, bn.scale, bn.bias):
    stat[...] = jnp.asarray(rng.uniform(0.5, 1.5, stat[...].shape), jnp.float32)
  zeroed.eval()
  x = rng.normal(size=(2, 8, 4, 8)).astype(np.float32)
  projected = x @ np.asarray(conv.kernel[...])[0, 0]
  mean, var, scale, bias = (np.asarray(v[...]) for v in (bn.mean, bn.var, bn.scale, bn.bias))
  expected = np.maximum((projected - mean) / np.sqrt(var + bn.epsilon) * scale + bias, 0)
  np.testing.assert_allclose(block(jnp.asarray(x)), expected, rtol=1e-5, atol=1e-6)
