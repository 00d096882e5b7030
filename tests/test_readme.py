"""The README's code as written: the loss example computes the hetero-centre triplet of the equation;
"Adding a method" works from a folder of its own."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import jax
import numpy as np

from configs import hctri
from tests.losses import brute_force
from vireid_jax.data import datasets

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def test_readme_loss_example(capsys):
  text = pathlib.Path(README).read_text()
  section = text.split("## Using the losses in your own JAX code", 1)[1]
  code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
  assert len(code.strip().splitlines()) <= 10
  namespace = {}
  exec(compile(code, README, "exec"), namespace)  # pylint: disable=exec-used
  assert "hetero-centre triplet" in capsys.readouterr().out
  f, y, m = (np.asarray(namespace[k]) for k in ("features", "labels", "modality"))
  expected = brute_force.hetero_center(f.astype(np.float64), y, m, 0.3, "mean")
  np.testing.assert_allclose(float(namespace["loss"]), expected, rtol=1e-5)
  assert namespace["grads"].shape == f.shape and np.isfinite(np.asarray(namespace["grads"])).all()


PIPES = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_readme_new_method_example_in_a_folder_of_its_own(data_dir, tmp_path):
  """The "Adding a method" section as a user follows it: its three files, written from its code
  blocks into an empty folder outside the repository, and its commands run there, each in a fresh
  process (train, evaluate, search, export, the user's test)."""
  section = pathlib.Path(README).read_text().split("## Adding a method", 1)[1].split("\n## ", 1)[0]
  files = re.findall(r"`(\w+\.py)`(?::|\s+names|\s+checks)", section)
  blocks = re.findall(r"```python\n(.*?)```", section, re.S)
  assert files == ["mine.py", "mine_config.py", "test_mine.py"] and len(blocks) == 3
  assert "three files" in section
  folder = tmp_path / "my_method"
  folder.mkdir()
  for name, code in zip(files, blocks):
    (folder / name).write_text(code)
  commands = re.search(r"```bash\n(.*?)```", section, re.S).group(1).strip().splitlines()
  # The user's own pictures: an infrared test image and a few visible ones of the synthetic data.
  cfg = hctri.get_config("test")
  cfg.data.data_dir = str(data_dir)
  cols = datasets.columns(datasets.sources(cfg.data)["test"])
  raw = datasets.synthetic_root(cfg.data.data_dir, cfg.data)
  shutil.copy(os.path.join(raw, cols["path"][np.flatnonzero(cols["modality"] == 1)[0]]), folder / "night.jpg")
  (folder / "day_photos").mkdir()
  for i in np.flatnonzero(cols["modality"] == 0)[:5]:
    shutil.copy(os.path.join(raw, cols["path"][i]), folder / "day_photos" / f"{i}.jpg")
  # The default data folder ~/tensorflow_datasets is the session's (built once), the commands'
  # default compilation cache the tests' folder (the user's own test compiles without one).
  home = tmp_path / "home"
  (home / ".cache" / "vireid_jax").mkdir(parents=True)
  (home / "tensorflow_datasets").symlink_to(data_dir)
  (home / ".cache" / "vireid_jax" / "jax").symlink_to(jax.config.jax_compilation_cache_dir)
  env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COMPILATION_CACHE", "JAX_PERSISTENT_CACHE"))}
  env["HOME"] = str(home)
  # Two waves of processes side by side: what needs no trained run (the user's test, training),
  # then what reads the run (evaluation, search, export).
  assert all(command.startswith("python -m ") for command in commands), commands
  reads_run = ["--mode=eval" in c or "--checkpoint=" in c for c in commands]
  for wave in (False, True):
    procs = [
        (c, subprocess.Popen([sys.executable, *c.split()[1:]], cwd=folder, env=env, **PIPES))
        for c, reads in zip(commands, reads_run)
        if reads == wave
    ]
    for command, proc in procs:
      stdout, stderr = proc.communicate(timeout=600)
      assert proc.returncode == 0, f"{command}\n{stdout[-2000:]}\n{stderr[-4000:]}"
      if "vireid_jax.main" in command:
        assert "all_single" in stdout, stdout
  run = json.loads((folder / "runs" / "mine" / "config.json").read_text())
  assert run["imports"] == [str(folder / "mine.py")] and run["model"]["heads"]["scale"]["init"] == 2.0
  assert (folder / "search_night.png").stat().st_size > 10_000
  served = json.loads((folder / "mine_export" / "export.json").read_text())
  assert served["step"] == 3 and served["test_feature"] == "bn"
  assert sorted(p.name for p in folder.iterdir() if not p.name.startswith((".", "__"))) == [
      "day_photos",
      "mine.py",
      "mine_config.py",
      "mine_export",
      "night.jpg",
      "runs",
      "search_night.png",
      "test_mine.py",
  ]
