"""The authors' trained models load (`model.init_from`): every tensor of an AGW, CAJ or HcTri checkpoint
lands where their code uses it, checked by an independent NumPy forward of their architecture on
state dicts of the documented names and shapes with random values (tiny widths; the full-size
layouts are checked by name and shape)."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import agw, caj, hctri
from tests.models import reference
from tests.runs import forward
from vireid_jax import errors, inference, train
from vireid_jax.models import build_model, convert

CLASSES = 10


def random_checkpoint(names, seed=0):
  state = reference.random_state(names, seed)
  state["bottleneck.bias"] = np.zeros_like(state.get("bottleneck.bias", np.zeros(0)))  # frozen at 0 in the code
  return {k: v for k, v in state.items() if v.size or k != "bottleneck.bias"}


def images(seed=1, height=64):
  return np.random.default_rng(seed).integers(0, 256, (2, height, height // 2, 3), dtype=np.uint8)


def loaded(model_cfg, state, tmp_path):
  np.savez(tmp_path / "checkpoint.npz", **state)  # the format `python -m vireid_jax.models.convert` writes
  model = build_model(model_cfg, CLASSES)
  convert.load_two_stream(model, convert.load_state_dict(str(tmp_path / "checkpoint.npz")))
  model.eval()
  return model


def test_the_generated_layouts_are_the_authors():
  """The names and shapes these tests generate match the authors' code: the tensor and parameter
  counts of their state dicts (measured by building their models: AGW 1,025 tensors and 71,365,839
  parameters, HcTri 438 and 27,492,802, with 395 classes)."""
  for names, tensors, parameters in (
      (reference.agw_names(), 1025, 71_365_839),
      (reference.hctri_names(), 438, 27_492_802),
  ):
    counters = sum(k.endswith("running_var") for k in names)  # one num_batches_tracked per BatchNorm
    assert len(names) + counters == tensors
    assert sum(int(np.prod(s)) for k, s in names.items() if "running" not in k) == parameters


@pytest.mark.parametrize(
    "config,arg,names",
    [
        (agw, "reference", reference.agw_names()),
        (agw, "regdb,reference", reference.agw_names(classes=206)),
        (caj, None, reference.agw_names()),  # CAJ's released SYSU-MM01 model: ICCV21_CAJ/model.py is AGW's
        (caj, "regdb", reference.agw_names(classes=206)),
    ],
)
def test_full_size_agw_checkpoints_fit_agw_reference_and_caj(config, arg, names):
  names = {**names, **{k.replace("running_var", "num_batches_tracked"): () for k in names if k.endswith("running_var")}}
  state = {k: np.zeros(s, np.float32) for k, s in names.items()}
  model = nnx.eval_shape(lambda: build_model(config.get_config(arg).model, convert.num_classes(state)))
  convert.check_two_stream(model, state)  # every tensor has its place, nothing unexpected


def test_full_size_hctri_checkpoints_fit_hctri_reference():
  state = {k: np.zeros(s, np.float32) for k, s in reference.hctri_names().items()}
  model = nnx.eval_shape(lambda: build_model(hctri.get_config("reference").model, convert.num_classes(state)))
  convert.check_two_stream(model, state)


@pytest.mark.parametrize("config,arg", [(agw, "reference,test"), (caj, "test")])
def test_agw_and_caj_checkpoint_forward_matches_numpy(tmp_path, config, arg):
  cfg = config.get_config(arg).model  # width 8, one block per stage, non-local after (2, 0), (3, 0)
  state = random_checkpoint(reference.agw_names(cfg.width, cfg.blocks, cfg.non_local, 1, CLASSES))
  model = loaded(cfg, state, tmp_path)
  x = images()
  for modality in (0, 1):
    out = forward(model, jnp.asarray(x), modality)
    fmap = reference.two_stream(x, state, modality, split=1, blocks=cfg.blocks, non_local_at=cfg.non_local)
    ours = np.asarray(out["feature_map"], np.float64)
    np.testing.assert_allclose(ours, fmap, rtol=1e-3, atol=1e-3 * np.abs(fmap).max())
    # The head from the feature map just checked: in a channel whose float32 sums cancel, GeM's
    # cube magnifies the backbone's rounding, which depends on the CPU's vector units (1.3e-3 and
    # 2.0e-3 relative in 1 of 512 channels on two CPUs), so the head is checked on its own input.
    pooled = reference.gem(ours, 3.0)  # the code's GeM: p = 3, + 1e-12 inside the root
    np.testing.assert_allclose(np.asarray(out["pooled"]), pooled, rtol=1e-5)
    bn = reference.bn(pooled, state, "bottleneck")
    np.testing.assert_allclose(np.asarray(out["bn"]), bn, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.asarray(out["logits"]), bn @ state["classifier.weight"].T, rtol=1e-3, atol=1e-5)


def test_hctri_checkpoint_forward_matches_numpy(tmp_path):
  cfg = hctri.get_config("reference,test").model  # split s2, six strips of 16-d, conv bias, classifier bias
  parts = cfg.heads.parts
  state = random_checkpoint(reference.hctri_names(cfg.width, cfg.blocks, parts.strips, parts.dim, CLASSES))
  model = loaded(cfg, state, tmp_path)
  x = images(height=96)
  for modality in (0, 1):
    out = forward(model, jnp.asarray(x), modality)
    fmap = reference.two_stream(x, state, modality, split=2, blocks=cfg.blocks)
    rows = fmap.shape[1] // parts.strips
    expected = []
    for i in range(parts.strips):
      pooled = reference.gem(fmap[:, i * rows : (i + 1) * rows], parts.gem_p)
      reduced = pooled @ state[f"local_conv_list.{i}.0.weight"][:, :, 0, 0].T + state[f"local_conv_list.{i}.0.bias"]
      expected.append(np.maximum(reference.bn(reduced, state, f"local_conv_list.{i}.1"), 0))
      logits = expected[-1] @ state[f"fc_list.{i}.weight"].T + state[f"fc_list.{i}.bias"]
      np.testing.assert_allclose(np.asarray(out["part_logits"][i]), logits, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(np.asarray(out["parts"]), np.concatenate(expected, axis=1), rtol=1e-3, atol=1e-4)


def test_every_problem_is_named_in_one_error(tmp_path):
  cfg = agw.get_config("reference,test").model
  state = random_checkpoint(reference.agw_names(cfg.width, cfg.blocks, cfg.non_local, 1, CLASSES))
  del state["base_resnet.base.layer3.0.conv2.weight"]
  state["NL_2.0.theta.weight"] = np.zeros((2, 64, 1, 1), np.float32)
  state["extra_head.weight"] = np.zeros(3, np.float32)
  model = build_model(cfg, CLASSES)
  with pytest.raises(errors.UserError) as e:
    convert.load_two_stream(model, state, "ckpt.t")
  message = str(e.value)
  assert message.startswith("ckpt.t: not a two-stream (AGW / HcTri code) state dict (3 problems)")
  assert "missing base_resnet.base.layer3.0.conv2.weight (32, 32, 3, 3)" in message
  assert "NL_2.0.theta.weight has shape (2, 64, 1, 1), expected (1, 64, 1, 1)" in message
  assert "unexpected extra_head.weight" in message
  # The paper config's non-local width (C/2) is not the code's: every non-local tensor is named.
  with pytest.raises(errors.UserError, match=r"NL_2\.0\.theta\.weight has shape \(1, 64, 1, 1\), expected \(32, 64"):
    convert.load_two_stream(
        build_model(agw.get_config("test").model, CLASSES),
        random_checkpoint(reference.agw_names(cfg.width, cfg.blocks, cfg.non_local, 1, CLASSES)),
    )


def test_eval_mode_evaluates_an_authors_model(data_dir, tmp_path):
  """`--mode=eval --config.model.init_from=...` with an empty work directory: the checkpoint's model
  (its own class count) through our evaluator."""
  cfg = agw.get_config("reference,test")
  cfg.data.data_dir = str(data_dir)
  cfg.eval.figures = False  # drawn and checked once (`hctri_run`)
  state = random_checkpoint(reference.agw_names(cfg.model.width, cfg.model.blocks, cfg.model.non_local, 1, 395))
  np.savez(tmp_path / "sysu_agw.npz", **state)
  cfg.model.init_from = str(tmp_path / "sysu_agw.npz")
  results = inference.evaluate_checkpoint(cfg, str(tmp_path / "eval"))
  assert results["modes"]["all_single"]["trials"][0]["queries"] > 0
  restored, step = inference.restore(cfg, str(tmp_path / "eval"))
  assert step == 0
  np.testing.assert_array_equal(
      np.asarray(restored.params["heads"]["classifier"]["fc"]["kernel"][...]), state["classifier.weight"].T
  )


def test_create_starts_from_the_weights_the_config_names(tmp_path):
  """`train.create(config, ...)` without `weights=` reads `model.init_from` / `model.pretrained`
  itself: a script that calls it never gets random weights by accident, nor a missing file silently."""
  cfg = agw.get_config("reference,test")
  state = random_checkpoint(reference.agw_names(cfg.model.width, cfg.model.blocks, cfg.model.non_local, 1, CLASSES))
  np.savez(tmp_path / "sysu_agw.npz", **state)
  cfg.model.init_from = str(tmp_path / "sysu_agw.npz")
  _, created = train.create(cfg, CLASSES, steps_per_epoch=1)
  np.testing.assert_array_equal(
      np.asarray(created.params["heads"]["classifier"]["fc"]["kernel"][...]), state["classifier.weight"].T
  )
  cfg.model.update(init_from="", pretrained=str(tmp_path / "resnet50.npz"))
  with pytest.raises(errors.UserError, match=r"resnet50\.npz: no such weights file"):
    train.create(cfg, CLASSES, steps_per_epoch=1)


@pytest.fixture(name="torch")
def fixture_torch():
  """torch, for the two tests that write `.t` files; they alone skip without it."""
  return pytest.importorskip(
      "torch", reason="torch is not installed: the .t / .pth reading tests need it " "(pip install -e '.[torch]')"
  )


def test_torch_checkpoints_load_with_weights_only(torch, tmp_path):
  """A `torch.save` checkpoint as the authors write it ({'net': state_dict, 'mAP': ..., 'cmc': ...,
  'epoch': ...}, `module.` prefixes of DataParallel) loads; a pickle that needs more is refused."""
  state = {"module.a.weight": torch.ones(2, 3), "module.b.running_var": torch.full((4,), 2.0)}
  torch.save(
      {"net": state, "mAP": np.float64(47.65), "cmc": np.arange(20, dtype=np.float32), "epoch": 80},
      tmp_path / "sysu_agw_p4_n8_lr_0.1_seed_0_best.t",
  )
  loaded_state = convert.load_state_dict(str(tmp_path / "sysu_agw_p4_n8_lr_0.1_seed_0_best.t"))
  assert sorted(loaded_state) == ["a.weight", "b.running_var"] and loaded_state["b.running_var"][0] == 2.0

  torch.save({"net": state, "extra": errors.UserError("not data")}, tmp_path / "evil.t")
  with pytest.raises(errors.UserError, match=r"evil\.t: refused: the pickle needs .*UserError.* never run"):
    convert.load_state_dict(str(tmp_path / "evil.t"))


def test_convert_turns_a_checkpoint_into_npz_for_machines_without_torch(torch, tmp_path, monkeypatch):
  import sys

  cfg = hctri.get_config("reference,test").model
  parts = cfg.heads.parts
  state = random_checkpoint(reference.hctri_names(cfg.width, cfg.blocks, parts.strips, parts.dim, CLASSES))
  counters = {
      k.replace("running_var", "num_batches_tracked"): torch.tensor(3) for k in state if k.endswith("running_var")
  }
  torch.save(
      {
          "net": {**{f"module.{k}": torch.from_numpy(v) for k, v in state.items()}, **counters},
          "mAP": np.float64(80.0),
          "mINP": np.float64(60.0),
          "epoch": 42,
      },
      tmp_path / "regdb_best.t",
  )
  monkeypatch.setattr(
      sys, "argv", ["convert", "--src", str(tmp_path / "regdb_best.t"), "--dst", str(tmp_path / "x.npz")]
  )
  convert.main()
  converted = convert.load_state_dict(str(tmp_path / "x.npz"))
  assert sorted(converted) == sorted(state)  # prefixes and BatchNorm counters dropped, nothing else
  model = build_model(cfg, CLASSES)
  convert.load_two_stream(model, converted)
  np.testing.assert_array_equal(np.asarray(model.heads["parts"].reduce[2].bias[...]), state["local_conv_list.2.0.bias"])
