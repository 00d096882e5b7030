"""Using a trained run: --mode=eval/export, search, the RegDB all-trials runner and aggregate."""

import json
import logging
import math
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from configs import hctri
from vireid_jax import aggregate, errors, inference, objective, optim, regdb_trials, registry, search, train
from vireid_jax.data import datasets, pipeline
from vireid_jax.evaluation import metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def run(hctri_run):
  return hctri_run


def test_training_writes_config_results_and_figures(run):
  cfg, workdir = run
  assert (
      json.loads(pathlib.Path(os.path.join(workdir, "config.json")).read_text())["model"]["heads"]["parts"]
      == cfg.model.heads.parts.to_dict()
  )
  results = json.loads(pathlib.Path(os.path.join(workdir, "results.json")).read_text())
  names = sorted(os.path.basename(p) for p in results["figures"])
  assert names == ["curves_step3.png", "embedding_step3.png", "ranked_all_single_step3.png"]
  assert all(os.path.getsize(p) > 10_000 for p in results["figures"])


def test_eval_mode_reproduces_the_training_evaluation(run, tmp_path):
  cfg, workdir = run
  again = inference.evaluate_checkpoint(cfg, str(tmp_path), os.path.join(workdir, "checkpoints", "3"))
  first = json.loads(pathlib.Path(os.path.join(workdir, "results.json")).read_text())
  assert again["modes"]["all_single"]["mean"] == pytest.approx(first["modes"]["all_single"]["mean"])
  with pytest.raises(errors.UserError, match="No step 7 in"):
    inference.evaluate_checkpoint(cfg, str(tmp_path), os.path.join(workdir, "checkpoints", "7"))
  with pytest.raises(errors.UserError, match="train first"):
    inference.evaluate_checkpoint(cfg, str(tmp_path / "empty"))


def test_evaluating_a_checkpoint_needs_no_loss_term_optimiser_or_training_state(run, tmp_path, monkeypatch):
  """Inference reads the checkpoint's `model` item alone: with no loss term registered and the
  training state's constructors broken, a checkpoint still evaluates to the training run's result."""
  cfg, workdir = run
  monkeypatch.setattr(objective, "TERMS", registry.Registry("loss term", lambda term: term.settings))

  def broken(*args, **kwargs):
    raise AssertionError("inference built training state")

  for name in ("create", "load_weights", "from_checkpoint_items"):
    monkeypatch.setattr(train, name, broken)
  monkeypatch.setattr(optim, "make", broken)
  results = inference.evaluate_checkpoint(cfg, str(tmp_path), os.path.join(workdir, "checkpoints", "3"))
  first = json.loads(pathlib.Path(os.path.join(workdir, "results.json")).read_text())
  assert results["modes"]["all_single"]["mean"] == pytest.approx(first["modes"]["all_single"]["mean"])


def test_the_inference_path_compiles_once_per_process(run, tmp_path, caplog):
  """Evaluations after the first compile nothing (one program per modality and batch shape), and
  feature extraction logs its progress."""
  cfg, workdir = run
  checkpoint = os.path.join(workdir, "checkpoints", "3")
  with caplog.at_level(logging.INFO):
    inference.evaluate_checkpoint(cfg, str(tmp_path / "a"), checkpoint)
  first = inference.compilations()
  inference.evaluate_checkpoint(cfg, str(tmp_path / "b"), checkpoint)
  assert inference.compilations() == first
  lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("features of the test split, infrared")]
  infrared = int((datasets.columns(datasets.sources(cfg.data)["test"])["modality"] == 1).sum())
  batches = math.ceil(infrared / cfg.eval.batch_size)  # here each batch is over a tenth of the images
  assert len(lines) == min(inference.PROGRESS_LINES, batches) and lines[-1].startswith(
      f"features of the test split, infrared: " f"{infrared}/{infrared} "
  )
  assert all(" img/s  ETA " in line for line in lines)


def test_export_writes_features_and_columns(run):
  cfg, workdir = run
  path = inference.export_features(cfg, workdir, None, "test")
  assert path == os.path.join(workdir, "features_test_step3.npz")
  out = np.load(path)
  cols = datasets.columns(datasets.sources(cfg.data)["test"])
  for key in ("identity", "camera", "modality", "path", "label"):
    np.testing.assert_array_equal(out[key], cols[key])
  # Independently: a few images of each modality through the restored model's inference path.
  model, _ = inference.restore(cfg, workdir)
  embed = inference.embedder(model)
  for modality in (0, 1):
    records = np.flatnonzero(cols["modality"] == modality)[:3]
    images = pipeline.load_images(datasets.sources(cfg.data)["test"], records, cfg.data)
    np.testing.assert_allclose(out["features"][records], np.asarray(embed(images, modality)), rtol=1e-4, atol=1e-5)
  with pytest.raises(ValueError, match="--split: expected one of"):
    inference.export_features(cfg, workdir, None, "validation")


@pytest.fixture
def folder(run, tmp_path):
  """A query (an infrared test image) and a gallery folder of visible test images."""
  cfg, _ = run
  cols = datasets.columns(datasets.sources(cfg.data)["test"])
  raw = datasets.synthetic_root(cfg.data.data_dir, cfg.data)
  infrared, visible = np.flatnonzero(cols["modality"] == 1), np.flatnonzero(cols["modality"] == 0)
  query = os.path.join(raw, cols["path"][infrared[0]])
  gallery = tmp_path / "gallery"
  for i in visible[:7]:
    target = gallery / cols["path"][i].replace("/", "_")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(os.path.join(raw, cols["path"][i]), target)
  return query, str(gallery)


def test_search_ranks_by_the_models_distances(run, folder):
  cfg, workdir = run
  query, gallery_dir = folder
  files = search.gallery_files(gallery_dir)
  assert len(files) == 7
  checkpoint = os.path.join(workdir, "checkpoints", "3")
  dist, order = search.search(inference.run_config(checkpoint), checkpoint, query, files)
  model, _ = inference.restore(cfg, workdir)
  embed = inference.embedder(model)
  source = search.FolderSource([query] + files, 0)
  images = pipeline.load_images(source, range(8), cfg.data)
  q, g = np.asarray(embed(images[:1], 1)), np.asarray(embed(images[1:], 0))
  np.testing.assert_allclose(dist, metrics.distances(q, g, cfg.eval.distance)[0], rtol=1e-4, atol=1e-5)
  assert np.all(np.diff(dist[order]) >= 0)


def test_search_command_prints_ranking_and_writes_picture(run, folder, tmp_path):
  _, workdir = run
  query, gallery_dir = folder
  out = tmp_path / "ranked.png"
  proc = subprocess.run(
      [
          sys.executable,
          "-m",
          "vireid_jax.search",
          f"--checkpoint={workdir}/checkpoints/3",
          f"--query={query}",
          f"--gallery={gallery_dir}",
          "--topk=3",
          f"--out={out}",
      ],
      capture_output=True,
      text=True,
      env={**os.environ, "PYTHONPATH": ROOT},
      check=True,
  )
  lines = proc.stdout.splitlines()
  assert lines[0].split() == ["rank", "distance", "path"]
  assert [line.split()[0] for line in lines[1:4]] == ["1", "2", "3"] and out.stat().st_size > 5_000


def test_search_names_unreadable_files(run, folder, tmp_path):
  _, workdir = run
  query, gallery_dir = folder
  broken = os.path.join(gallery_dir, "broken.jpg")
  with open(broken, "wb") as f:
    f.write(b"not an image")
  checkpoint = os.path.join(workdir, "checkpoints", "3")
  with pytest.raises(ValueError, match="broken.jpg: cannot decode image"):
    search.search(inference.run_config(checkpoint), checkpoint, query, search.gallery_files(gallery_dir))
  with pytest.raises(ValueError, match="missing.jpg: cannot read image"):
    search.search(inference.run_config(checkpoint), checkpoint, "/nowhere/missing.jpg", [query])
  with pytest.raises(errors.UserError, match="no .jpg/.jpeg/.png/.bmp files under"):
    (tmp_path / "empty").mkdir()
    search.gallery_files(str(tmp_path / "empty"))


def test_regdb_trials_train_one_model_each_and_aggregate(data_dir, tmp_path):
  cfg = hctri.get_config("regdb,test")  # the test config on RegDB
  cfg.data.data_dir = str(data_dir)
  cfg.eval.update(figures=False, modes=["visible_to_thermal", "thermal_to_visible"])  # :test keeps one
  results = regdb_trials.run_trials(cfg, str(tmp_path), [1, 2])
  runs = [json.loads(pathlib.Path(tmp_path / f"trial_{t}" / "results.json").read_text()) for t in (1, 2)]
  assert runs[0]["modes"]["visible_to_thermal"]["trials"][0]["queries"] > 0
  for direction in ("visible_to_thermal", "thermal_to_visible"):
    maps = [r["modes"][direction]["mean"]["mAP"] for r in runs]
    assert results["modes"][direction]["mean"]["mAP"] == pytest.approx(np.mean(maps))
    assert results["modes"][direction]["std"]["mAP"] == pytest.approx(np.std(maps))
  assert json.loads(pathlib.Path(tmp_path / "aggregate.json").read_text())["modes"].keys() == results["modes"].keys()
  # The aggregate command over the same files.
  proc = subprocess.run(
      [sys.executable, "-m", "vireid_jax.aggregate", *(str(tmp_path / f"trial_{t}" / "results.json") for t in (1, 2))],
      capture_output=True,
      text=True,
      env={**os.environ, "PYTHONPATH": ROOT},
      check=True,
  )
  assert " runs " in proc.stdout and "visible_to_thermal" in proc.stdout and "thermal_to_visible" in proc.stdout
  with pytest.raises(ValueError, match="data.dataset: regdb_trials needs a RegDB config"):
    regdb_trials.run_trials(hctri.get_config("test"), str(tmp_path), [1])


def test_aggregate_names_bad_files(tmp_path):
  bad = tmp_path / "results.json"
  bad.write_text("{}")
  with pytest.raises(ValueError, match="results.json: not a results file"):
    aggregate.read_runs([str(bad)])
  with pytest.raises(ValueError, match="nope.json: cannot read results JSON"):
    aggregate.read_runs([str(tmp_path / "nope.json")])
