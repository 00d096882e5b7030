"""`vireid_jax.export`: BatchNorm folding, and artefacts that run with jax alone."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from flax import nnx

from configs import common
from vireid_jax import errors, export, inference
from vireid_jax.data import datasets, pipeline
from vireid_jax.models import batch_norm, build_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def trained_like(model: nnx.Module, seed: int = 0) -> nnx.Module:
  """Random BatchNorm statistics and affine parameters (not the 0/1 of an initialisation, which
  would make folding look exact by accident)."""
  rng = np.random.default_rng(seed)
  for _, m in nnx.iter_modules(model):
    if isinstance(m, batch_norm.BatchNorm):
      c = m.mean.shape[0]
      m.mean[...] = rng.normal(0, 0.5, c).astype(np.float32)
      m.var[...] = rng.uniform(0.5, 2.0, c).astype(np.float32)
      m.scale[...] = rng.uniform(0.5, 1.5, c).astype(np.float32)
      if m.bias is not None:
        m.bias[...] = rng.normal(0, 0.2, c).astype(np.float32)
  return model


def test_folding_batch_norms_keeps_the_function_and_removes_them():
  cfg = common.model_config(
      width=8,
      blocks=(1, 2, 1, 1),
      non_local=((2, 1), (3, 0)),
      split=2,
      heads=common.heads(bnneck={}, classifier={}, parts=dict(strips=2, dim=16)),
      test_feature="parts",
      require_pretrained=False,
  )
  model = inference.split(trained_like(build_model(cfg, 10)))
  folded = export.fold_batch_norms(model)
  count = lambda m, kind: sum(isinstance(x, kind) for _, x in nnx.iter_modules(nnx.merge(m.graph, m.params, m.rest)))
  # Left: the BNNeck's and the two part strips' BatchNorms, which follow no convolution. Folded: two
  # stems, both streams' stage-1 bottleneck (3 + downsample), stages 2-4 (4 + 3 + 4 + 4), 2 non-local.
  assert count(folded, batch_norm.BatchNorm) == 3
  assert count(folded, export.Identity) == count(model, batch_norm.BatchNorm) - 3 == 2 + 2 * 4 + 15 + 2
  images = np.random.default_rng(1).integers(0, 256, (3, 64, 32, 3), dtype=np.uint8)
  for modality in (0, 1):
    want = np.asarray(inference.embedder(model)(images, modality))
    got = np.asarray(inference.embedder(folded)(images, modality))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())


RUN_WITHOUT_THE_LIBRARY = r"""
import sys
sys.modules["vireid_jax"] = None  # any import of the library fails
import json, numpy as np
from jax import export
out, images = sys.argv[1], np.load(sys.argv[2])
info = json.load(open(f"{out}/export.json"))
result = {}
for name, m in info["modalities"].items():
  embed = export.deserialize(bytearray(open(f"{out}/{m['file']}", "rb").read()))
  result[name] = np.asarray(embed.call(images[m["number"]]))
  result[name + "_one"] = np.asarray(embed.call(images[m["number"]][:1]))
np.savez(sys.argv[3], **result)
"""


def test_exported_embedding_runs_without_the_library_and_gives_its_features(hctri_run, tmp_path):
  cfg, workdir = hctri_run
  checkpoint = os.path.join(workdir, "checkpoints", "3")
  out = tmp_path / "served"
  done = subprocess.run(
      [sys.executable, "-m", "vireid_jax.export", f"--checkpoint={checkpoint}", f"--out={out}"],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=600,
  )
  assert done.returncode == 0, done.stderr[-3000:]
  info = json.loads((out / "export.json").read_text())
  assert (info["height"], info["width"], info["step"], info["feature_dim"]) == (96, 48, 3, 6 * 16)
  assert info["modalities"] == {
      "visible": {"number": 0, "file": "visible.jax"},
      "infrared": {"number": 1, "file": "infrared.jax"},
  }
  assert info["checkpoint"] == checkpoint and info["config"]["model"]["test_feature"] == "parts"

  source = datasets.sources(cfg.data)["test"]
  cols = datasets.columns(source)
  images = np.stack([pipeline.load_images(source, np.flatnonzero(cols["modality"] == m)[:5], cfg.data) for m in (0, 1)])
  np.save(tmp_path / "images.npy", images)
  served = subprocess.run(
      [
          sys.executable,
          "-c",
          RUN_WITHOUT_THE_LIBRARY,
          str(out),
          str(tmp_path / "images.npy"),
          str(tmp_path / "served.npz"),
      ],
      cwd=tmp_path,
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert served.returncode == 0, served.stderr[-3000:]
  got = np.load(tmp_path / "served.npz")
  model, _ = inference.restore(cfg, workdir)
  for name, m in export.MODALITIES.items():
    want = np.asarray(inference.embedder(model)(images[m], m))
    np.testing.assert_allclose(got[name], want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
    np.testing.assert_allclose(got[name + "_one"], want[:1], rtol=1e-4, atol=1e-5 * np.abs(want).max())


def test_export_never_replaces_a_folder_that_is_not_an_export(hctri_run, tmp_path):
  cfg, workdir = hctri_run
  (tmp_path / "mine").mkdir()
  (tmp_path / "mine" / "notes.txt").write_text("keep")
  with pytest.raises(errors.UserError, match="is not an earlier export"):
    export.export(cfg, os.path.join(workdir, "checkpoints", "3"), str(tmp_path / "mine"))
  assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
