"""Evaluation: features of the whole test split once, then every protocol mode and trial.

`cfg` below is the `eval` block of a run config with fields:
  protocol        "sysu" | "regdb" | "llcm"
  modes           SYSU: any of "all", "indoor"; RegDB: any of protocols.REGDB_DIRECTIONS; LLCM: any
                  of protocols.LLCM_DIRECTIONS
  shots           SYSU: any of 1 (single-shot), 10 (multi-shot)
  trials          SYSU and LLCM gallery samplings (10 in every published result)
  sampling        "seeded" (AGW code family) | "official" (exp/rand_perm_cam.mat)
  rand_perm_cam   path of rand_perm_cam.mat for sampling="official"
  gallery_identities  0: one gallery of every test identity (every published result); n: the test
                  identities (in order) in groups of n, each scored as a test split of its own, and
                  each mode's trials pooled over the groups: a smaller gallery, and a mean over more
                  people than one gallery of that size holds (names carry "_gallery<n>")
  distance        "euclidean" | "sqeuclidean" | "cosine"
  normalize       L2-normalise features first (optional, names carry "_l2")
  flip            average features of the image and its mirror (optional, "_flip")
  rerank          k-reciprocal re-ranking, k1=20, k2=6, lambda=0.3 (optional, "_rerank")
  max_rank        CMC length
Metric names carry a suffix for every optional step that is on, so no such result can be read as
a plain one: e.g. `rank1_flip_rerank`, `mAP_gallery30`.
"""

from __future__ import annotations

import collections
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from vireid_jax import errors
from vireid_jax.evaluation import metrics, protocols

RANKS = (1, 5, 10, 20)
SHOT_NAMES = {1: "single", 10: "multi"}
MODES = {
    "sysu": tuple(protocols.GALLERY_CAMERAS),
    "regdb": protocols.REGDB_DIRECTIONS,
    "llcm": protocols.LLCM_DIRECTIONS,
}


def check(config: Any) -> list[str]:
  """Problems with the run config's `eval` block (and its protocol against `data.dataset`), each
  naming the field (empty if none)."""
  cfg = config.eval
  if cfg.protocol not in MODES:
    return [f"eval.protocol: expected one of {tuple(MODES)}, got {cfg.protocol!r}."]
  problems = []
  expected = protocols.DATASET_PROTOCOLS.get(config.data.dataset)
  if expected and cfg.protocol != expected:
    problems.append(
        f"eval.protocol: {cfg.protocol!r} does not evaluate data.dataset={config.data.dataset!r}; "
        f"expected {expected!r} (the :regdb and :llcm config variants set both)."
    )
  modes = list(cfg.modes)
  if not modes or any(m not in MODES[cfg.protocol] for m in modes):
    problems.append(
        f"eval.modes: expected some of {MODES[cfg.protocol]} for the {cfg.protocol} protocol, got {modes!r}."
    )
  if cfg.protocol == "sysu":
    if not list(cfg.shots) or any(not (isinstance(s, int) and s >= 1) for s in cfg.shots):
      problems.append(
          f"eval.shots: expected gallery images per identity and camera, e.g. [1] or [1, 10], "
          f"got {list(cfg.shots)!r}."
      )
    if cfg.sampling not in protocols.SAMPLINGS:
      problems.append(f"eval.sampling: expected one of {protocols.SAMPLINGS}, got {cfg.sampling!r}.")
    elif cfg.sampling == "official":
      if not cfg.rand_perm_cam:
        problems.append(
            "eval.rand_perm_cam: sampling='official' needs the dataset's exp/rand_perm_cam.mat "
            "(--config.eval.rand_perm_cam=/path/to/SYSU-MM01/exp/rand_perm_cam.mat)."
        )
      else:
        try:
          protocols.load_rand_perm_cam(os.path.expanduser(cfg.rand_perm_cam))
        except ValueError as e:
          problems.append(f"eval.rand_perm_cam: {e}")
      if isinstance(cfg.trials, int) and cfg.trials > 10:
        problems.append(f"eval.trials: rand_perm_cam holds 10 trials; got {cfg.trials!r}.")
  if not (isinstance(cfg.trials, int) and cfg.trials >= 1):
    problems.append(f"eval.trials: expected a positive number of gallery samplings, got {cfg.trials!r}.")
  if cfg.distance not in metrics.DISTANCES:
    problems.append(f"eval.distance: expected one of {metrics.DISTANCES}, got {cfg.distance!r}.")
  if not (isinstance(cfg.gallery_identities, int) and cfg.gallery_identities >= 0):
    problems.append(
        f"eval.gallery_identities: expected 0 (one gallery) or a number of identities, got {cfg.gallery_identities!r}."
    )
  for field in ("max_rank", "batch_size"):
    if not (isinstance(cfg[field], int) and cfg[field] >= 1):
      problems.append(f"eval.{field}: expected a positive integer, got {cfg[field]!r}.")
  return problems


def suffix(cfg: Any) -> str:
  """ "_l2", "_flip", "_rerank" for each optional step that is on, in that order, then
  "_gallery<n>" for galleries of n identities."""
  steps = "".join(f"_{name}" for name, on in (("l2", cfg.normalize), ("flip", cfg.flip), ("rerank", cfg.rerank)) if on)
  return steps + (f"_gallery{cfg.gallery_identities}" if cfg.gallery_identities else "")


def reported(cfg: Any, metric: str) -> str:
  """The name under which the eval config `cfg` reports `metric` (e.g. `eval/all_single/mAP`):
  with the suffix of its optional steps (`eval/all_single/mAP_l2_flip`)."""
  return metric + suffix(cfg)


def metric_names(cfg: Any) -> list[str]:
  """The scalar names a run reports for the eval config `cfg`, e.g. `eval/all_single/mAP`."""
  modes = (
      [f"{mode}_{_shot_name(shots)}" for mode in cfg.modes for shots in cfg.shots]
      if cfg.protocol == "sysu"
      else list(cfg.modes)
  )
  s = suffix(cfg)
  return [
      f"eval/{mode}/{metric}{s}"
      for mode in modes
      for metric in ["mAP", "mINP"] + [f"rank{r}" for r in RANKS if r <= cfg.max_rank]
  ]


def _shot_name(shots: int) -> str:
  return SHOT_NAMES.get(shots, f"{shots}shot")


def _identities_and_cameras(test_split, q, g) -> tuple[np.ndarray, ...]:
  """(query identities, gallery identities, query cameras, gallery cameras), as the metrics take them."""
  return test_split["identity"][q], test_split["identity"][g], test_split["camera"][q], test_split["camera"][g]


def _trial_metrics(features, test_split, q, g, cfg, protocol) -> dict[str, float]:
  dist = _distmat(features, q, g, cfg)
  out = metrics.ranking_metrics(
      dist, *_identities_and_cameras(test_split, q, g), protocol=protocol, max_rank=cfg.max_rank
  )
  s = suffix(cfg)
  row = {f"rank{r}{s}": 100.0 * float(out["cmc"][r - 1]) for r in RANKS if r <= cfg.max_rank}
  row.update(
      {
          f"mAP{s}": 100.0 * out["mAP"],
          f"mINP{s}": 100.0 * out["mINP"],
          "queries": len(q),
          "gallery": len(g),
          "skipped_queries": out["num_skipped_queries"],
      }
  )
  return row


def _summarize(rows: list[dict[str, float]]) -> dict[str, Any]:
  keys = rows[0].keys()
  return {
      "trials": rows,
      "mean": {k: float(np.mean([r[k] for r in rows])) for k in keys},
      "std": {k: float(np.std([r[k] for r in rows])) for k in keys},
  }


def identity_groups(identities: np.ndarray, cfg: Any) -> list[np.ndarray]:
  """Indices into the test split (its `identities` [N]) of each group `cfg.gallery_identities` makes."""
  if not cfg.gallery_identities:
    return [np.arange(len(identities))]
  people = np.unique(identities)
  if len(people) % cfg.gallery_identities:
    raise errors.UserError(
        f"eval.gallery_identities: the test split's {len(people)} identities do not make groups of "
        f"{cfg.gallery_identities}; expected a divisor of {len(people)}."
    )
  return [
      np.flatnonzero(np.isin(identities, group)) for group in np.split(people, len(people) // cfg.gallery_identities)
  ]


def evaluate_features(features: np.ndarray, test_split: Mapping[str, np.ndarray], cfg: Any) -> dict[str, Any]:
  """Every mode and trial of `cfg.protocol` on features [N, D] of the whole test split (each mode's
  trials of every identity group, `cfg.gallery_identities`, in group order)."""
  test_split = {k: np.asarray(v) for k, v in test_split.items()}
  results: dict[str, Any] = {
      "protocol": cfg.protocol,
      "sampling": cfg.sampling,
      "distance": cfg.distance,
      "suffix": suffix(cfg),
  }
  rows = collections.defaultdict(list)
  for group in identity_groups(test_split["identity"], cfg):
    split = {k: v[group] for k, v in test_split.items()}
    for name, (protocol, trials) in _mode_trials(split, cfg).items():
      rows[name] += [_trial_metrics(features[group], split, q, g, cfg, protocol) for q, g in trials]
  results["modes"] = {name: _summarize(trials) for name, trials in rows.items()}
  return results


def _mode_trials(test_split: Mapping[str, np.ndarray], cfg: Any) -> dict[str, tuple[str, Iterable]]:
  """{result name: (metrics protocol, the (query, gallery) index arrays of each trial)} of `cfg`."""
  if cfg.protocol == "sysu":
    return {
        f"{mode}_{_shot_name(shots)}": (
            "sysu",
            protocols.sysu_trials(
                test_split,
                mode=mode,
                shots=shots,
                trials=cfg.trials,
                sampling=cfg.sampling,
                rand_perm_cam=os.path.expanduser(cfg.rand_perm_cam) or None,
            ),
        )
        for mode in cfg.modes
        for shots in cfg.shots
    }
  if cfg.protocol == "llcm":
    return {
        direction: ("llcm", protocols.llcm_trials(test_split, direction=direction, trials=cfg.trials))
        for direction in cfg.modes
    }
  return {direction: ("regdb", [protocols.regdb_trial(test_split, direction=direction)]) for direction in cfg.modes}


def _distmat(features: np.ndarray, q: np.ndarray, g: np.ndarray, cfg: Any) -> np.ndarray:
  query, gallery = features[q], features[g]
  if cfg.normalize:
    query, gallery = metrics.l2_normalize(query), metrics.l2_normalize(gallery)
  return metrics.k_reciprocal_rerank(query, gallery) if cfg.rerank else metrics.distances(query, gallery, cfg.distance)


def ranked_examples(
    features: np.ndarray, test_split: Mapping[str, np.ndarray], cfg: Any, *, queries: int = 6, topk: int = 10
) -> dict[str, dict[str, np.ndarray]]:
  """Rankings of a few queries per mode, for pictures: the first trial of each mode (in the first
  identity group), `queries` spread evenly over its query list.

  Returns {mode: {"query": int [Q] and "gallery": int [Q, k] (indices into the test split;
  gallery -1 past the visible images), "distance": float [Q, k], "correct": bool [Q, k]}}.
  """
  test_split = {k: np.asarray(v) for k, v in test_split.items()}
  group = identity_groups(test_split["identity"], cfg)[0]
  out = {}
  for name, (protocol, trials) in _mode_trials({k: v[group] for k, v in test_split.items()}, cfg).items():
    q, g = (group[i] for i in next(iter(trials)))
    q = q[np.unique(np.linspace(0, len(q) - 1, queries).round().astype(int))]
    dist = _distmat(features, q, g, cfg)
    ranked = metrics.top_k(dist, *_identities_and_cameras(test_split, q, g), protocol=protocol, k=topk)
    gallery = np.where(ranked >= 0, g[np.maximum(ranked, 0)], -1)
    out[name] = {
        "query": q,
        "gallery": gallery,
        "distance": np.where(ranked >= 0, np.take_along_axis(dist, np.maximum(ranked, 0), 1), np.nan),
        "correct": (gallery >= 0) & (test_split["identity"][gallery] == test_split["identity"][q][:, None]),
    }
  return out


def aggregate(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
  """Mean ± std over runs (e.g. the 10 RegDB trials, one model each), per mode: each run's
  per-mode mean becomes one trial of the aggregate."""
  modes = runs[0]["modes"].keys()
  for run in runs:
    if run["modes"].keys() != modes:
      raise ValueError(f"Cannot aggregate runs with different modes: {sorted(modes)} vs {sorted(run['modes'])}.")
  out = {k: runs[0][k] for k in ("protocol", "sampling", "distance", "suffix")}
  out["modes"] = {m: _summarize([run["modes"][m]["mean"] for run in runs]) for m in modes}
  return out


def format_table(results: Mapping[str, Any], count: str = "trials") -> str:
  """A fixed-width table: one line per mode, mean ± std over trials (or over the runs of an
  `aggregate`, `count="runs"`) of every metric, in %."""
  s = results["suffix"]
  keys = [k for k in next(iter(results["modes"].values()))["mean"] if k.startswith(("rank", "mAP", "mINP"))]
  width = max(22, *(len(m) for m in results["modes"]))
  header = f"{'mode':{width}s} {count:>6s} " + " ".join(f"{k:>{max(len(k), 13)}s}" for k in keys)
  lines = [
      f"{results['protocol']} protocol, {results['sampling']} sampling, {results['distance']} distance"
      + (f", options {s}" if s else ""),
      header,
      "-" * len(header),
  ]
  for mode, r in results["modes"].items():
    cells = " ".join(f"{r['mean'][k]:.2f} ± {r['std'][k]:.2f}".rjust(max(len(k), 13)) for k in keys)
    lines.append(f"{mode:{width}s} {len(r['trials']):6d} {cells}")
  return "\n".join(lines)


def write_json(results: Mapping[str, Any], path: str) -> None:
  """Writes `results` (or any JSON mapping) atomically: a crash never leaves a half-written file."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
  with os.fdopen(fd, "w") as f:
    json.dump(results, f, indent=1)
  os.replace(tmp, path)
