"""Start-up time with an empty and with a warm compilation cache: from launching `main` to its
first training step, and a whole `--mode=eval`, each in a fresh process.

  python -m benchmarks.startup [--configs=configs/agw.py:test,configs/agw.py] [--data_dir=...] [--out=...]

For each config: training of one step in a new work directory with an empty cache folder, again
(new work directory) with the cache the first run filled, then `--mode=eval` of that run with the
warm cache and with an empty one. The full AGW paper config runs at its batch (8 x 4 images per
modality, 288x144) with random weights (`model.require_pretrained=False`) on the synthetic data.
Prints seconds and the cold / warm ratio, and writes them to `--out` (the README's figures:
`benchmarks/results/startup.json`, checked by tests/test_recorded.py).
"""

import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from absl import app, flags

_CONFIGS = flags.DEFINE_list("configs", ["configs/agw.py:test", "configs/agw.py"], "Configs to start.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir",
    os.path.join(tempfile.gettempdir(), "vireid_jax_startup_data"),
    "Where the synthetic dataset is built (reused).",
)
_OUT = flags.DEFINE_string("out", "benchmarks/results/startup.json", "Where the figures are written.")
PAPER_OVERRIDES = ["--config.model.require_pretrained=False", "--config.data.require_manual_dir=False"]


def timed(cmd: list[str], marker: str | None) -> tuple[float, float]:
  """(seconds until a log line contains `marker` (or the end), seconds to the end) of `cmd`."""
  start = time.perf_counter()
  proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  first = None
  lines = []
  for line in proc.stdout:
    lines.append(line)
    if first is None and marker and marker in line:
      first = time.perf_counter() - start
  if proc.wait():
    raise SystemExit(f"{' '.join(cmd)} failed:\n{''.join(lines[-30:])}")
  total = time.perf_counter() - start
  return (first if first is not None else total), total


def main(_):
  rows = []
  print(f"{'config':28s} {'what':34s} {'cold s':>8s} {'warm s':>8s} {'cold/warm':>9s}")
  for config in _CONFIGS.value:
    with tempfile.TemporaryDirectory() as tmp:
      base = [
          sys.executable,
          "-m",
          "vireid_jax.main",
          f"--config={config}",
          f"--config.data.data_dir={_DATA_DIR.value}",
          "--config.train.steps=1",
          "--config.train.log_every=1",
          "--config.eval.figures=False",
      ]
      base += [] if config.endswith(":test") or ":synthetic" in config else PAPER_OVERRIDES
      cache, empty = os.path.join(tmp, "cache"), os.path.join(tmp, "empty")
      train = lambda workdir, folder: timed(
          base + [f"--workdir={workdir}", f"--config.train.compilation_cache={folder}"], "step 1/"
      )
      timed(base + [f"--workdir={tmp}/build", "--config.train.compilation_cache="], None)  # builds the data
      cold, warm = train(f"{tmp}/a", cache), train(f"{tmp}/b", cache)
      rows.append(report(config, "first_step", cold[0], warm[0]))
      evaluate = lambda folder: timed(
          base + [f"--workdir={tmp}/a", "--mode=eval", f"--config.train.compilation_cache={folder}"], None
      )[1]
      warm_eval, cold_eval = evaluate(cache), evaluate(empty)
      rows.append(report(config, "eval", cold_eval, warm_eval))
  record = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "rows": rows}
  with open(_OUT.value, "w") as f:
    json.dump(record, f, indent=1)
  print(f"Written to {_OUT.value}")


def report(config: str, what: str, cold: float, warm: float) -> dict:
  label = {"first_step": "start to the first training step", "eval": "--mode=eval, whole"}[what]
  print(f"{config:28s} {label:34s} {cold:8.1f} {warm:8.1f} {cold / warm:9.2f}", flush=True)
  return {"config": config, "what": what, "cold_s": round(cold, 1), "warm_s": round(warm, 1)}


if __name__ == "__main__":
  app.run(main)
