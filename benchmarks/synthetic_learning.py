"""How robustly each method's `:synthetic` config learns: all-search mAP over seeds and thread counts.

  python -m benchmarks.synthetic_learning [--methods=agw,hctri] [--runs=0/1,1/1,2/1,0/2,1/2,2/2]
  python -m benchmarks.synthetic_learning --methods=hctri --set=data.synthetic_identities=200 \
      --set=train.epochs=14 --set="optimizer.decay_at=(10, 13)" \
      --out=benchmarks/results/synthetic_trials/hctri_demo_scale.json

Floating-point reduction order differs between CPUs (AVX2, AVX-512) and between thread counts, and
with it every training curve. One machine reproduces that spread with other seeds and other
thread counts, so every `:synthetic` config (and `make demo`) is trained from random weights on the
synthetic SYSU-MM01 tree once per run `seed/threads`: `seed` sets `config.seed` (the batches) and
`config.model.seed` (the initialisation); `threads` pins the process to that many cores. Each run
also evaluates the untrained model and random features through the same protocol (all-search
single-shot mAP, the config's gallery trials).

Writes `benchmarks/results/synthetic_learning.json` (one entry per method: the config it ran, every
run with its machine, the min-max of trained mAP over all of them, the largest untrained and
random-feature mAP, the machines); a method measured again on another machine keeps its runs from
the first, unless its config has changed since (`config_changes`), which drops them all. The
README's learning table and demo result and `tests/test_learning.py`'s thresholds are checked
against this record, and the record against today's configs (`tests/test_recorded.py`).

A trial, a change to the configs measured before (or instead of) making it, sets fields with
`--set=field=value` (a Python literal) and writes its own record with `--out`: under
`benchmarks/results/synthetic_trials/`, where the README quotes it (`tests/test_recorded.py`).
"""

import ast
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

import configs
from configs import common
from vireid_jax import evaluate, inference, train
from vireid_jax.data import datasets

FLAGS = flags.FLAGS


def synthetic_config(method: str, seed: int, data_dir: str, overrides: dict | None = None):
  """`method:synthetic` for one run: its seed, the data folder and a trial's `overrides` (field: value)."""
  cfg = importlib.import_module(f"configs.{method}").get_config("synthetic")
  cfg.seed = cfg.model.seed = seed
  cfg.data.data_dir = data_dir
  cfg.eval.figures = False
  return common.apply(cfg, [common.Row("--set", field, value, "–") for field, value in (overrides or {}).items()])


def flat_fields(cfg) -> dict:
  """A config as {dotted field: value} (JSON values: tuples as lists)."""

  def flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
      out.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key: value})
    return out

  return flat(json.loads(cfg.to_json_best_effort()))


def recorded_config(method: str, overrides: dict | None = None) -> dict:
  """`method:synthetic` (with a trial's `overrides`) as every run trains it, flattened to dotted
  fields, less what each run sets (its seed, the data folder)."""
  fields = flat_fields(synthetic_config(method, 0, "", overrides))
  per_run = {"seed", "model.seed", "data.data_dir"} - set(overrides or {})
  return {k: v for k, v in sorted(fields.items()) if k not in per_run}


def config_changes(recorded: dict, current: dict) -> list[str]:
  """Fields whose value differs between a recorded config and the current one, that the current
  one no longer has, or that it added since with a value other than the block's default
  (`configs.common`): runs recorded before a field existed trained what its default does. A loss
  term's or head's own settings, whose defaults are the term's, count as added at their default."""
  defaults = flat_fields(common.base_config("", common.loss_config()))
  return [
      f"{k}: {v!r} -> {repr(current[k]) if k in current else '(gone)'}"
      for k, v in recorded.items()
      if k not in current or current[k] != v
  ] + [f"{k}: (added) {v!r}" for k, v in current.items() if k not in recorded and defaults.get(k, v) != v]


def all_search_map(cfg, results: dict) -> float:
  """The all-search single-shot mAP of evaluation `results`, as recorded (2 decimals)."""
  return round(results["modes"]["all_single"]["mean"][evaluate.reported(cfg.eval, "mAP")], 2)


def measure(method: str, seed: int, data_dir: str, overrides: dict | None = None) -> dict:
  """Trains `method:synthetic` with `seed` (and a trial's `overrides`) in a temporary work
  directory; its all-search mAP, the untrained model's and random features'."""
  cfg = synthetic_config(method, seed, data_dir, overrides)
  start = time.perf_counter()
  with tempfile.TemporaryDirectory() as workdir:
    trained = train.train_and_evaluate(cfg, workdir)
  seconds = time.perf_counter() - start
  data = train.load_data(cfg)
  program, state = train.create(cfg, data.num_classes, data.steps_per_epoch)
  untrained = inference.features(cfg, train.inference_model(program, state), data.sources["test"], data.test_cols)
  noise = np.random.default_rng(seed).normal(size=untrained.shape).astype(np.float32)
  return dict(
      seed=seed,
      trained=all_search_map(cfg, trained),
      seconds=round(seconds, 1),
      untrained=all_search_map(cfg, evaluate.evaluate_features(untrained, data.test_cols, cfg.eval)),
      random=all_search_map(cfg, evaluate.evaluate_features(noise, data.test_cols, cfg.eval)),
  )


def run_all(jobs: list[tuple[str, int, int]]) -> dict[tuple[str, int, int], dict]:
  """Every (method, seed, threads) run, each in a fresh process pinned to its own `threads`
  cores; runs that fit side by side on this machine's cores run at once (single-thread ones first)."""
  for method in dict.fromkeys(method for method, _, _ in jobs):  # built once, before runs side by side
    datasets.sources(synthetic_config(method, 0, FLAGS.data_dir, overrides()).data)
  free, pending, running, results = sorted(os.sched_getaffinity(0)), sorted(jobs, key=lambda j: j[2]), [], {}
  if max(threads for _, _, threads in jobs) > len(free):
    raise SystemExit(f"--runs: more threads asked for than this machine's {len(free)} cores.")
  while pending or running:
    while pending and pending[0][2] <= len(free):
      job = pending.pop(0)
      cores = [free.pop(0) for _ in range(job[2])]
      cmd = [
          sys.executable,
          "-m",
          "benchmarks.synthetic_learning",
          f"--worker={job[0]}/{job[1]}",
          f"--data_dir={FLAGS.data_dir}",
          *(f"--set={assignment}" for assignment in FLAGS.set),
      ]
      proc = subprocess.Popen(
          cmd,
          stdout=subprocess.PIPE,
          stderr=subprocess.DEVNULL,
          text=True,
          preexec_fn=lambda cores=cores: os.sched_setaffinity(0, cores),
      )
      running.append((proc, job, cores))
    proc, job, cores = running.pop(0)
    out, _ = proc.communicate()
    if proc.returncode:
      raise SystemExit(f"{job[0]} seed {job[1]}, {job[2]} thread(s) failed (exit {proc.returncode}).")
    free = sorted(free + cores)
    r = results[job] = dict(json.loads(out.strip().splitlines()[-1]), threads=job[2], machine=machine())
    print(
        f"{job[0]} seed {r['seed']}, {r['threads']} thread(s): all-search mAP {r['trained']:.2f} (untrained "
        f"{r['untrained']:.2f}, random {r['random']:.2f}), {r['seconds']:.0f} s",
        flush=True,
    )
  return results


def machine() -> str:
  """Architecture, cores, vector units and CPU model (runs recorded before the model was part of
  the label have none)."""
  with open("/proc/cpuinfo") as f:
    info = f.read()
  vector = "AVX-512" if "avx512f" in info else "AVX2"
  model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
  return ", ".join(filter(None, (platform.machine(), f"{os.cpu_count()} cores", vector, model)))


def overrides() -> dict:
  """`--set` as field: value."""
  out = {}
  for assignment in FLAGS.set:
    field, _, value = assignment.partition("=")
    try:
      out[field] = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      raise SystemExit(f"--set={assignment}: expected field=value with a Python literal value ('64', \"'bilinear'\").")
  return out


def summary(runs: list[dict]) -> dict:
  trained = [r["trained"] for r in runs]
  return dict(
      machines=sorted({r["machine"] for r in runs}),
      runs=runs,
      trained_min=min(trained),
      trained_max=max(trained),
      untrained_max=max(r["untrained"] for r in runs),
      random_max=max(r["random"] for r in runs),
  )


def main(argv):
  del argv
  if FLAGS.worker:
    method, seed = FLAGS.worker.split("/")
    print(json.dumps(measure(method, int(seed), FLAGS.data_dir, overrides())))
    return
  record = {}
  if os.path.exists(FLAGS.out):
    with open(FLAGS.out) as f:
      record = json.load(f)
  record.setdefault("methods", {})
  specs = [tuple(map(int, spec.split("/"))) for spec in FLAGS.runs]
  methods, sets = FLAGS.methods or configs.methods(), overrides()
  try:  # before any run
    configs_run = {method: recorded_config(method, sets) for method in methods}
  except KeyError as e:
    raise SystemExit(f"--set: {e.args[0]}") from None
  results = run_all([(method, seed, threads) for method in methods for seed, threads in specs])
  for method in methods:
    new = [results[(method, *spec)] for spec in specs]
    again = {(r["seed"], r["threads"], r["machine"]) for r in new}
    previous, config = record["methods"].get(method, {}), configs_run[method]
    changes = config_changes(previous["config"], config) if previous else []
    if changes:
      print(f"{method}: config changed since its recorded runs ({'; '.join(changes)}): they are dropped.", flush=True)
    kept = [
        r for r in ([] if changes else previous.get("runs", [])) if (r["seed"], r["threads"], r["machine"]) not in again
    ]
    s = record["methods"][method] = dict(summary(kept + new), config=config)
    if sets:
      s["set"] = sets  # what the trial changed
    print(
        f"{method}: trained {s['trained_min']:.1f}-{s['trained_max']:.1f}, untrained <= {s['untrained_max']:.1f}, "
        f"random <= {s['random_max']:.1f}",
        flush=True,
    )
  os.makedirs(os.path.dirname(FLAGS.out), exist_ok=True)
  with open(FLAGS.out, "w") as f:
    json.dump(record, f, indent=1, sort_keys=True)
    f.write("\n")


def define_flags() -> None:
  """Flags exist only when this runs as a program, so tests can import `measure`."""
  flags.DEFINE_list("methods", None, "Methods to measure (default: every method config).")
  flags.DEFINE_list("runs", ["0/1", "1/1", "2/1", "0/2", "1/2", "2/2"], "Runs of each method, as seed/threads.")
  flags.DEFINE_string(
      "data_dir",
      os.path.join(tempfile.gettempdir(), "vireid_jax_learning_data"),
      "Where the synthetic dataset is built (reused between runs).",
  )
  flags.DEFINE_string(
      "out",
      os.path.join(os.path.dirname(__file__), "results", "synthetic_learning.json"),
      "The record to update: a measured method's runs replace its recorded runs of the same seed, "
      "threads and machine (runs on other machines are kept, so the record spans CPUs).",
  )
  flags.DEFINE_multi_string(
      "set", [], "A trial: field=value (a Python literal) set in every run's config; use with --out."
  )
  flags.DEFINE_string("worker", None, "Internal: one run, as method/seed; prints its result as JSON.")


if __name__ == "__main__":
  define_flags()
  app.run(main)
