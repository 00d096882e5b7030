"""Bad input across what a user touches: each case stops with a message that names the file, field
or value and what was expected (exit status 2, no traceback), or recovers as documented, and
leaves what was already written intact.

The command-line cases run as real processes (four at a time); library-level cases (dataset
trees, damaged checkpoints) call the library.
"""

import hashlib
import json
import logging
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from configs import common
from data_builders.llcm.llcm_dataset_builder import Llcm
from data_builders.regdb.regdb_dataset_builder import Regdb
from data_builders.sysu_mm01.sysu_mm01_dataset_builder import SysuMm01
from tests import runs
from tests.models import reference
from vireid_jax import checkpointing, errors, inference, train
from vireid_jax.data import datasets
from vireid_jax.models import convert

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSU_DUMMY = os.path.join(ROOT, "data_builders", "sysu_mm01", "dummy_data")
REGDB_DUMMY = os.path.join(ROOT, "data_builders", "regdb", "dummy_data")
LLCM_DUMMY = os.path.join(ROOT, "data_builders", "llcm", "dummy_data")
HTML = b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n"


def config(name):
  return os.path.join(ROOT, "configs", name)


# name: (module, arguments, exit status, pattern that stderr must match). Arguments are formatted
# with the `files` fixture; every run is in an empty folder (`{cwd}`).
CASES = {
    "paper config, nothing given": (
        "main",
        ["--config={configs}/eat.py", "--config.data.data_dir={data_dir}"],
        2,
        r"2 problems in the config:\n  data\.manual_dir: this config reproduces a paper on SYSU-MM01 .*"
        r":synthetic variant.*\n  model\.pretrained: this config reproduces a paper and needs ImageNet",
    ),
    "manual_dir does not exist": (
        "main",
        [
            "--config={configs}/agw.py",
            "--config.data.manual_dir={cwd}/nowhere/SYSU-MM01",
            "--config.model.pretrained={resnet50}",
        ],
        2,
        r"data\.manual_dir: sysu_mm01: manual_dir .*/nowhere/SYSU-MM01 does not exist",
    ),
    "manual_dir is the parent folder": (
        "main",
        ["--config={configs}/agw.py", "--config.data.manual_dir={sysu_parent}", "--config.model.pretrained={resnet50}"],
        2,
        r"is missing cam1.*It looks like the parent folder: use .*/SYSU-MM01\.",
    ),
    "llcm manual_dir is the parent folder": (
        "main",
        [
            "--config={configs}/agw.py:llcm",
            "--config.data.manual_dir={llcm_parent}",
            "--config.model.pretrained={resnet50}",
        ],
        2,
        r"llcm: manual_dir .* is missing idx/train_vis\.txt.*It looks like the parent folder: use .*/LLCM\.",
    ),
    "regdb manual_dir lacks the trial's idx files": (
        "main",
        [
            "--config={configs}/agw.py:regdb",
            "--config.data.trial=3",
            "--config.data.manual_dir={regdb_no_3}",
            "--config.model.pretrained={resnet50}",
        ],
        2,
        r"data\.manual_dir: regdb: manual_dir .* is missing idx/train_visible_3\.txt",
    ),
    "a misspelt view and a view_kl out of the views": (
        "main",
        [
            "--config={configs}/caj.py:test",
            "--config.data.data_dir={data_dir}",
            "--config.data.views=('visible', 'visible+channel_swap', 'infrared')",
            "--config.loss.terms.view_kl.weight=1.0",
            "--config.loss.terms.view_kl.views=(0, 3)",
        ],
        2,
        r"2 problems in the config:\n  data\.views: 'visible\+channel_swap' is not a view; expected "
        r"'<modality>\[\+<op>\.\.\.\]' with a modality of \('visible', 'infrared'\) and ops of "
        r"\('channel_exchange', 'adaptive_gray'\)\.\n  loss\.terms\.view_kl\.views: expected \(student, teacher\) "
        r"indices into data\.views \(3 views\), got \(0, 3\)\.",
    ),
    "weights file is an HTML page": (
        "main",
        [
            "--config={configs}/hctri.py:synthetic",
            "--config.data.data_dir={data_dir}",
            "--config.model.pretrained={html_npz}",
        ],
        2,
        r"weights\.npz: not a readable \.npz weights file .*a truncated download or a saved error page",
    ),
    "weights file truncated": (
        "main",
        [
            "--config={configs}/hctri.py:synthetic",
            "--config.data.data_dir={data_dir}",
            "--config.model.pretrained={truncated_npz}",
        ],
        2,
        r"truncated\.npz: not a readable \.npz weights file \(BadZipFile",
    ),
    "weights file missing": (
        "main",
        [
            "--config={configs}/hctri.py:synthetic",
            "--config.data.data_dir={data_dir}",
            "--config.model.pretrained={cwd}/resnet50.npz",
        ],
        2,
        r"resnet50\.npz: no such weights file",
    ),
    "weights file of another width": (
        "main",
        [
            "--config={configs}/hctri.py:synthetic",
            "--config.data.data_dir={data_dir}",
            "--config.model.pretrained={resnet50}",
        ],
        2,
        r"model\.pretrained: .*resnet50\.npz: not a torchvision ResNet-50 state dict \(\d+ problems\):\n"
        r"  conv1\.weight has shape \(64, 3, 7, 7\), expected \(32, 3, 7, 7\)",
    ),
    "unknown config variant": (
        "main",
        ["--config={configs}/eat.py:sysuu"],
        2,
        r"config arg 'sysuu': unknown variant 'sysuu'; expected .*dataset: sysu or regdb",
    ),
    "config file missing": (
        "main",
        ["--config={configs}/nope.py"],
        2,
        r"--config: .*No such file or directory: '.*configs/nope\.py'",
    ),
    "override of a field that does not exist": (
        "main",
        ["--config={configs}/eat.py", "--config.loss.terms.angular_triplet.margn=1"],
        2,
        r"--config\.loss\.terms\.angular_triplet\.margn: the config has no field 'margn'",
    ),
    "override of the wrong type": (
        "main",
        ["--config={configs}/eat.py", "--config.model.split=two"],
        2,
        r"flag --config\.model\.split=two: invalid literal for int\(\)",
    ),
    "field values out of range": (
        "main",
        [
            "--config={configs}/hctri.py:test",
            "--config.data.data_dir={data_dir}",
            "--config.model.split=9",
            "--config.eval.distance=manhattan",
            "--config.optimizer.name=rmsprop",
            "--config.data.p=0",
        ],
        2,
        r"4 problems in the config:\n  data\.p: expected a positive integer, got 0\.\n  model\.split: expected 0\.\.5 .*"
        r"got 9\.\n  optimizer\.name: expected one of \('sgd', 'adam'\), got 'rmsprop'\.\n"
        r"  eval\.distance: expected one of \('euclidean', 'sqeuclidean', 'cosine'\), got 'manhattan'\.",
    ),
    "image height does not split into parts": (
        "main",
        ["--config={configs}/hctri.py:test", "--config.data.data_dir={data_dir}", "--config.data.augment.height=100"],
        2,
        r"data\.augment\.height: 100 px gives a feature map of 7 rows, which does not split into "
        r"model\.heads\.parts\.strips=6",
    ),
    "best metric the run never reports": (
        "main",
        [
            "--config={configs}/hctri.py:test",
            "--config.data.data_dir={data_dir}",
            "--config.train.best_metric=eval/all_single/map",
        ],
        2,
        r"train\.best_metric: expected one of the metrics .*eval/all_single/mAP.*got 'eval/all_single/map'",
    ),
    "official sampling without its file": (
        "main",
        ["--config={configs}/hctri.py:test", "--config.data.data_dir={data_dir}", "--config.eval.sampling=official"],
        2,
        r"eval\.rand_perm_cam: sampling='official' needs the dataset's exp/rand_perm_cam\.mat",
    ),
    "official sampling with a damaged file": (
        "main",
        [
            "--config={configs}/hctri.py:test",
            "--config.data.data_dir={data_dir}",
            "--config.eval.sampling=official",
            "--config.eval.rand_perm_cam={html_mat}",
        ],
        2,
        r"eval\.rand_perm_cam: .*rand_perm_cam\.mat: expected SYSU-MM01's exp/rand_perm_cam\.mat",
    ),
    "more identities per batch than the dataset has": (
        "main",
        ["--config={configs}/hctri.py:test", "--config.data.data_dir={data_dir}", "--config.data.p=500"],
        2,
        r"data\.p: 500 identities per batch, but the training split has only \d+ identities",
    ),
    "eval without checkpoints": (
        "main",
        [
            "--config={configs}/hctri.py:test",
            "--config.data.data_dir={data_dir}",
            "--mode=eval",
            "--workdir={cwd}/empty_run",
        ],
        2,
        r"No checkpoints directory .*empty_run/checkpoints: train first",
    ),
    "eval of a step that does not exist": (
        "main",
        [
            "--config={configs}/hctri.py:test",
            "--config.data.data_dir={data_dir}",
            "--mode=eval",
            "--checkpoint={run}/checkpoints/99",
            "--workdir={cwd}/eval",
        ],
        2,
        r"No step 99 in .*/checkpoints: train first",
    ),
    "eval with another method's config": (
        "main",
        [
            "--config={configs}/agw.py:test",
            "--config.data.data_dir={data_dir}",
            "--mode=eval",
            "--checkpoint={run}/checkpoints/3",
            "--workdir={cwd}/eval",
        ],
        2,
        r"checkpoints/3 was written by another model than this config builds \(\d+ arrays differ\)",
    ),
    "export of a split that does not exist": (
        "main",
        [
            "--config={configs}/hctri.py:test",
            "--config.data.data_dir={data_dir}",
            "--mode=export",
            "--split=validation",
            "--workdir={run}",
        ],
        2,
        r"--split: expected one of \['test', 'train'\], got 'validation'",
    ),
    "search: query missing": (
        "search",
        ["--checkpoint={run}/checkpoints/3", "--query={cwd}/night.jpg", "--gallery={gallery}"],
        2,
        r"--query: .*night\.jpg is not a file",
    ),
    "search: query is not an image": (
        "search",
        ["--checkpoint={run}/checkpoints/3", "--query={html_jpg}", "--gallery={gallery}"],
        2,
        r"page\.jpg: cannot decode image .*expected a JPEG, PNG or BMP file",
    ),
    "search: empty gallery": (
        "search",
        ["--checkpoint={run}/checkpoints/3", "--query={query}", "--gallery={cwd}"],
        2,
        r"--gallery: no \.jpg/\.jpeg/\.png/\.bmp files under",
    ),
    "search: checkpoint outside a run": (
        "search",
        ["--checkpoint={cwd}/3", "--query={query}", "--gallery={gallery}"],
        2,
        r"config\.json not found: --checkpoint must be <workdir>/checkpoints/<step>",
    ),
    "aggregate: not JSON": ("aggregate", ["{html_json}"], 2, r"page\.json: cannot read results JSON"),
    "aggregate: nothing given": ("aggregate", [], 2, r"Give the results\.json files to aggregate"),
    "aggregate: runs of different protocols": (
        "aggregate",
        ["{run}/results.json", "{regdb_results}"],
        2,
        r"regdb/results\.json: modes \['thermal_to_visible', 'visible_to_thermal'\] differ from .*results\.json's "
        r"\['all_single'\]",
    ),
    "regdb_trials: a SYSU config": (
        "regdb_trials",
        ["--config={configs}/hctri.py:test", "--config.data.data_dir={data_dir}"],
        2,
        r"data\.dataset: regdb_trials needs a RegDB config",
    ),
    "regdb_trials: trial out of range": (
        "regdb_trials",
        ["--config={configs}/hctri.py:regdb", "--trials=1,11"],
        2,
        r"--trials: expected numbers in 1\.\.10, got \[1, 11\]",
    ),
}


def digest(folder):
  """A hash of every file under `folder`: equal before and after means nothing was touched."""
  h = hashlib.sha256()
  for root, dirs, names in sorted(os.walk(folder)):
    dirs.sort()
    for name in sorted(names):
      path = os.path.join(root, name)
      h.update(os.path.relpath(path, folder).encode())
      h.update(pathlib.Path(path).read_bytes())
  return h.hexdigest()


@pytest.fixture(scope="module")
def files(hctri_run, data_dir, tmp_path_factory):
  """The inputs the cases refer to."""
  base = tmp_path_factory.mktemp("bad_input")
  _, run = hctri_run
  sysu_parent = base / "datasets"
  shutil.copytree(SYSU_DUMMY, sysu_parent / "SYSU-MM01")
  shutil.copytree(LLCM_DUMMY, sysu_parent / "LLCM")
  regdb = base / "RegDB"
  shutil.copytree(REGDB_DUMMY, regdb)
  for name in os.listdir(regdb / "idx"):
    if name.endswith("_3.txt"):
      os.remove(regdb / "idx" / name)
  (base / "weights.npz").write_bytes(HTML)
  np.savez(base / "good.npz", a=np.zeros(100_000, np.float32))
  (base / "truncated.npz").write_bytes((base / "good.npz").read_bytes()[:200_000])
  np.savez(base / "resnet50.npz", **reference.random_state(convert.resnet50_shapes(), seed=0))
  (base / "rand_perm_cam.mat").write_bytes(HTML)
  (base / "page.jpg").write_bytes(HTML)
  (base / "page.json").write_bytes(HTML)
  gallery = base / "gallery"
  gallery.mkdir()
  raw = datasets.synthetic_root(str(data_dir), common.data_config())
  person = os.path.join(raw, "cam3", sorted(os.listdir(os.path.join(raw, "cam3")))[0])
  query = os.path.join(person, sorted(os.listdir(person))[0])
  shutil.copy(query, gallery / "day.jpg")
  regdb_results = base / "regdb" / "results.json"
  regdb_results.parent.mkdir()
  regdb_results.write_text(json.dumps({"modes": {"visible_to_thermal": {}, "thermal_to_visible": {}}}))
  return dict(
      configs=os.path.join(ROOT, "configs"),
      data_dir=str(data_dir),
      run=run,
      resnet50=str(base / "resnet50.npz"),
      sysu_parent=str(sysu_parent),
      llcm_parent=str(sysu_parent),
      regdb_no_3=str(regdb),
      html_npz=str(base / "weights.npz"),
      truncated_npz=str(base / "truncated.npz"),
      html_mat=str(base / "rand_perm_cam.mat"),
      html_jpg=str(base / "page.jpg"),
      html_json=str(base / "page.json"),
      query=query,
      gallery=str(gallery),
      regdb_results=str(regdb_results),
  )


@pytest.fixture(scope="module")
def outcomes(files, hctri_run, tmp_path_factory):
  """Every case's finished process, run four at a time, each in its own empty folder; and the
  digest of the trained run's folder before and after all of them."""
  before = digest(hctri_run[1])
  folders = {name: str(tmp_path_factory.mktemp("cwd")) for name in CASES}
  jobs = [
      (f"vireid_jax.{module}", [a.format(cwd=folders[name], **files) for a in args], folders[name])
      for name, (module, args, _, _) in CASES.items()
  ]
  done = runs.run_modules(jobs, parallel=4)
  return {name: (folders[name], proc) for name, proc in zip(CASES, done)}, before, digest(hctri_run[1])


@pytest.mark.xdist_group("bad_input_commands")  # the fixture's commands run once, for its three tests
@pytest.mark.parametrize("name", CASES)
def test_command_line_names_the_problem(name, outcomes):
  results, _, _ = outcomes
  cwd, proc = results[name]
  _, _, status, pattern = CASES[name]
  assert proc.returncode == status, proc.stderr[-2000:]
  assert re.search(pattern, proc.stderr), proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr + proc.stdout
  assert not os.path.exists(os.path.join(cwd, "runs"))  # nothing was started, so nothing was written


@pytest.mark.xdist_group("bad_input_commands")
def test_failed_commands_left_the_trained_run_intact(outcomes):
  _, before, after = outcomes
  assert before == after


@pytest.mark.xdist_group("bad_input_commands")
def test_usage_line_defaults_the_work_directory(outcomes):
  results, _, _ = outcomes
  cwd, proc = results["paper config, nothing given"]
  assert f"Work directory: {os.path.join(cwd, 'runs', 'eat')}" in proc.stdout


def test_unexpected_errors_keep_their_traceback(tmp_path):
  """Only bad input is reported without a traceback: a bug must stay debuggable."""
  script = (
      "from absl import app; from vireid_jax import errors\n"
      "@errors.reports_user_errors\ndef main(argv): raise KeyError('a bug')\n"
      "app.run(main, flags_parser=errors.parse_flags)"
  )
  proc = subprocess.run(
      [sys.executable, "-c", script],
      capture_output=True,
      text=True,
      cwd=tmp_path,
      env={**os.environ, "PYTHONPATH": ROOT},
  )
  assert proc.returncode == 1 and "Traceback" in proc.stderr and "KeyError: 'a bug'" in proc.stderr


# Raw dataset trees: the builders name the file and what was expected, and a failed build is never reused.


def build(builder_class, config_name, manual_dir, data_dir):
  b = builder_class(config=config_name, data_dir=str(data_dir), file_format="array_record")
  b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
  return {k: datasets.columns(v) for k, v in b.as_data_source(decoders={"image": tfds.decode.SkipDecoding()}).items()}


def test_sysu_corrupt_image_then_fixed_builds_whole(tmp_path):
  root = tmp_path / "SYSU-MM01"
  shutil.copytree(SYSU_DUMMY, root)
  victim = sorted(root.glob("cam1/*/*.jpg"))[0]
  original = victim.read_bytes()
  victim.write_bytes(original[: len(original) // 3])  # a truncated copy
  with pytest.raises(errors.UserError, match=f"{victim}: not a readable image"):
    build(SysuMm01, "default", root, tmp_path / "tfds")
  victim.write_bytes(original)
  cols = build(SysuMm01, "default", root, tmp_path / "tfds")  # rebuilt, not the half-written attempt
  total = sum(len(c["path"]) for c in cols.values())
  assert total == len(list(root.glob("cam*/*/*.jpg")))


def test_sysu_id_file_not_numbers(tmp_path):
  root = tmp_path / "SYSU-MM01"
  shutil.copytree(SYSU_DUMMY, root)
  (root / "exp" / "test_id.txt").write_text("1,4,seven")
  with pytest.raises(
      errors.UserError, match=r"exp/test_id\.txt: expected one line of comma-separated identity numbers"
  ):
    build(SysuMm01, "default", root, tmp_path / "tfds")


def test_regdb_idx_line_malformed_and_missing_file(tmp_path):
  root = tmp_path / "RegDB"
  shutil.copytree(REGDB_DUMMY, root)
  idx = root / "idx" / "train_thermal_1.txt"
  lines = idx.read_text().splitlines()
  idx.write_text("\n".join(lines[:2] + [lines[2].replace(" ", ";")] + lines[3:]))
  with pytest.raises(errors.UserError, match=r"train_thermal_1\.txt:3: expected '<relative path> <label>'"):
    build(Regdb, "trial_1", root, tmp_path / "tfds")
  idx.write_text("\n".join(lines[:1] + ["Thermal/1/gone.bmp 0"] + lines[1:]))
  with pytest.raises(errors.UserError, match=r"train_thermal_1\.txt:2: .*Thermal/1/gone\.bmp does not exist"):
    build(Regdb, "trial_1", root, tmp_path / "tfds")


def test_llcm_one_label_for_two_identities(tmp_path):
  root = tmp_path / "LLCM"
  shutil.copytree(LLCM_DUMMY, root)
  listed = root / "idx" / "train_vis.txt"
  lines = listed.read_text().splitlines()
  other = next(line for line in lines if line.split()[1] != lines[0].split()[1])
  listed.write_text("\n".join(lines + [f"{other.split()[0]} {lines[0].split()[1]}"]) + "\n")
  with pytest.raises(errors.UserError, match=r"train_vis\.txt:\d+: identity \d+ has labels \d+ and \d+"):
    build(Llcm, "default", root, tmp_path / "tfds")


# Checkpoints: a damaged newest one is skipped with a warning (documented recovery); nothing is lost.


def truncate(path):
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)


def largest_file(folder):
  return max((os.path.join(r, n) for r, _, names in os.walk(folder) for n in names), key=os.path.getsize)


def test_damaged_latest_checkpoint_resumes_from_the_newest_intact_one(hctri_run, tmp_path, caplog):
  cfg, run = hctri_run
  workdir = tmp_path / "run"
  shutil.copytree(run, workdir)
  truncate(workdir / "checkpoints" / "3" / "meta" / "metadata")  # a disk that filled up mid-copy
  cfg = cfg.copy_and_resolve_references()
  cfg.train.steps = 4
  with caplog.at_level(logging.WARNING):
    train.train_and_evaluate(cfg, str(workdir))
  warnings = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
  assert re.search(r"Checkpoint .*checkpoints/3 is damaged and is skipped", warnings)
  assert "Continuing from step 2, the newest intact checkpoint" in warnings
  assert (workdir / "damaged_checkpoints" / "3" / "meta" / "metadata").exists()  # kept, out of the way
  assert sorted(int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit())[-1] == 4
  steps = [
      json.loads(line)["step"]
      for line in pathlib.Path(workdir / "metrics.jsonl").read_text().splitlines()
      if "loss/total" in line
  ]
  assert steps[-2:] == [3, 4]  # steps 3 and 4 trained again after the restart from 2


def test_every_checkpoint_damaged_is_an_error_naming_them(hctri_run, tmp_path):
  cfg, run = hctri_run
  workdir = tmp_path / "run"
  shutil.copytree(run, workdir)
  for step in ("2", "3"):
    truncate(largest_file(workdir / "checkpoints" / step / "model"))
  before = digest(workdir)
  with pytest.raises(errors.UserError, match=r"No intact checkpoint: .*checkpoints/3, .*checkpoints/2 are damaged"):
    train.train_and_evaluate(cfg, str(workdir))
  assert digest(workdir) == before  # never silently from step 0, nothing moved or rewritten
  with pytest.raises(errors.UserError, match=r"No intact checkpoint: .*checkpoints/2 is damaged"):
    inference.restore(cfg, str(workdir), str(workdir / "checkpoints" / "2"))


def test_a_bug_while_restoring_keeps_its_traceback_and_moves_nothing(hctri_run, tmp_path, monkeypatch):
  """Only damaged files are damage: an unexpected error while restoring an intact checkpoint is
  raised as it is (not a UserError, so `main` shows its traceback) and no checkpoint is set aside."""
  cfg, run = hctri_run
  workdir = tmp_path / "run"
  shutil.copytree(run, workdir)
  before = digest(workdir)

  def broken_restore(self, step, abstract, iterator):
    raise TypeError("a bug in restoring")

  monkeypatch.setattr(checkpointing.Checkpointer, "restore", broken_restore)
  with pytest.raises(TypeError, match="a bug in restoring"):
    train.train_and_evaluate(cfg, str(workdir))
  assert digest(workdir) == before and not (workdir / "damaged_checkpoints").exists()


def test_damage_is_told_from_bugs_by_the_error():
  """What TensorStore, Orbax and JSON raise for missing or truncated files (as the tests above
  produce them) is damage; errors that say nothing about the files are not."""
  orbax = Exception("Encountered error while reading array index: (slice(0, 3, 1),).")
  orbax.__cause__ = ValueError('OUT_OF_RANGE: Error reading "a/0" in OCDBT database at local file "/ck/3/state/"')
  for damage in (
      orbax,
      json.JSONDecodeError("Expecting value", "{", 1),
      FileNotFoundError("/ck/3/meta/metadata"),
      ValueError("DATA_LOSS: Error reading manifest"),
  ):
    assert checkpointing.is_damage(damage), damage
  for bug in (
      TypeError("unsupported operand"),
      KeyError("params"),
      ValueError("shapes (3,) and (4,) differ"),
      Exception("Encountered error while reading array index"),
  ):
    assert not checkpointing.is_damage(bug), bug


def test_eval_reads_the_newest_intact_checkpoint_and_moves_nothing(hctri_run, tmp_path, caplog):
  cfg, run = hctri_run
  workdir = tmp_path / "run"
  shutil.copytree(run, workdir)
  truncate(workdir / "checkpoints" / "3" / "model" / "_METADATA")
  before = digest(workdir / "checkpoints")
  with caplog.at_level(logging.WARNING):
    _, step = inference.restore(cfg, str(workdir))
  assert step == 2 and "checkpoints/3 is damaged" in caplog.text
  assert digest(workdir / "checkpoints") == before


def test_resuming_with_another_config_names_the_arrays_and_keeps_the_run(hctri_run, tmp_path):
  cfg, run = hctri_run
  workdir = tmp_path / "run"
  shutil.copytree(run, workdir)
  before = digest(workdir)
  other = cfg.copy_and_resolve_references()
  other.model.heads.parts.dim = 8
  with pytest.raises(
      errors.UserError,
      match=r"written by another model than this config builds .*\n"
      r"  model/params/heads/parts/bn/0/bias/value: saved \(\(16,\), 'float32'\), config gives \(\(8,\), 'float32'\)",
  ):
    train.train_and_evaluate(other, str(workdir))
  assert digest(workdir) == before  # config.json, checkpoints, results untouched
