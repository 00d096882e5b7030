"""Pictures of results: ranked lists, the embedding with its modality gap, training curves.

Each drawing function writes one PNG and returns its path; `write_figures` draws all three for
an evaluation (called by training and `--mode=eval`) under `workdir/figures/`, named by step.
Matplotlib's object-oriented API renders off-screen without touching global pyplot state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vireid_jax import evaluate

GREEN, RED, GREY = "#1a9850", "#d73027", "#888888"
MODALITY_MARKERS = {0: ("o", "visible"), 1: ("^", "infrared")}


def _save(fig: Figure, path: str) -> str:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + ".tmp.png"
  FigureCanvasAgg(fig).print_png(tmp)
  os.replace(tmp, path)
  return path


def ranked_lists(
    path: str,
    queries: np.ndarray,
    galleries: np.ndarray,
    distances: np.ndarray,
    correct: np.ndarray | None = None,
    titles: Sequence[str] | None = None,
    suptitle: str = "",
) -> str:
  """One row per query: the query, then its ranked gallery images with rank and distance below.

  Args:
    queries: uint8 [Q, H, W, 3].
    galleries: uint8 [Q, k, H, W, 3]; all-zero images for ranks past the visible gallery.
    distances: [Q, k] (NaN past the visible gallery: that cell is left empty).
    correct: bool [Q, k] or None (unlabelled search): frames green / red, or grey.
    titles: optional caption per query.
  """
  q, k = distances.shape
  fig = Figure(figsize=(1.1 * (k + 1), 2.4 * q), dpi=100)
  axes = fig.subplots(q, k + 1, squeeze=False)
  for i in range(q):
    axes[i, 0].imshow(queries[i])
    axes[i, 0].set_xlabel(titles[i] if titles else "query", fontsize=7)
    _frame(axes[i, 0], "#2166ac", 3)
    for j in range(k):
      ax = axes[i, j + 1]
      if np.isnan(distances[i, j]):
        ax.set_axis_off()
        continue
      ax.imshow(galleries[i, j])
      ax.set_xlabel(f"{j + 1}: {distances[i, j]:.3f}", fontsize=7)
      _frame(ax, GREY if correct is None else (GREEN if correct[i, j] else RED), 3)
  if suptitle:
    fig.suptitle(suptitle, fontsize=9)
  fig.tight_layout()
  return _save(fig, path)


def _frame(ax: Any, colour: str, width: float) -> None:
  ax.set_xticks([])
  ax.set_yticks([])
  for spine in ax.spines.values():
    spine.set_edgecolor(colour)
    spine.set_linewidth(width)


def project_2d(features: np.ndarray, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str]:
  """[N, D] -> ([N, 2], the method used): "tsne" (scikit-learn), "pca", or "auto" (t-SNE when
  scikit-learn is installed, else PCA)."""
  features = np.asarray(features, np.float64)
  if method in ("auto", "tsne"):
    try:
      from sklearn.manifold import TSNE  # pylint: disable=g-import-not-at-top
    except ImportError:
      if method == "tsne":
        raise ImportError("project_2d(method='tsne') needs scikit-learn (pip install scikit-learn).") from None
    else:
      perplexity = float(min(30.0, max(2.0, (len(features) - 1) / 3.0)))
      return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features), "t-SNE"
  elif method != "pca":
    raise ValueError(f"project_2d: method must be 'auto', 'tsne' or 'pca', got {method!r}.")
  centred = features - features.mean(axis=0)
  _, _, vt = np.linalg.svd(centred, full_matrices=False)
  return centred @ vt[:2].T, "PCA"


def embedding(
    path: str,
    features: np.ndarray,
    identities: np.ndarray,
    modalities: np.ndarray,
    method: str = "auto",
    title: str = "",
) -> str:
  """2-D projection of features [N, D]: colour = identity, marker = modality, and a line joining
  each identity's visible and infrared centres (in the projection): the modality gap."""
  points, used = project_2d(features, method)
  identities, modalities = np.asarray(identities), np.asarray(modalities)
  fig = Figure(figsize=(6.5, 6), dpi=100)
  ax = fig.subplots()
  ids = np.unique(identities)
  palette = _palette(len(ids))
  for colour, identity in zip(palette, ids):
    centres = []
    for modality, (marker, _) in MODALITY_MARKERS.items():
      chosen = (identities == identity) & (modalities == modality)
      if chosen.any():
        ax.scatter(points[chosen, 0], points[chosen, 1], c=[colour], marker=marker, s=28, alpha=0.8, edgecolors="none")
        centres.append(points[chosen].mean(axis=0))
    if len(centres) == 2:
      (x0, y0), (x1, y1) = centres
      ax.plot([x0, x1], [y0, y1], color=colour, linewidth=1.5)
      ax.scatter([x0, x1], [y0, y1], c=[colour], marker="X", s=90, edgecolors="black", linewidths=0.6)
  for modality, (marker, name) in MODALITY_MARKERS.items():
    ax.scatter([], [], c="grey", marker=marker, label=name)
  ax.scatter([], [], c="grey", marker="X", edgecolors="black", label="modality centre")
  ax.legend(loc="best", fontsize=8)
  ax.set_title(title or f"{used} of {len(ids)} test identities (line: visible-infrared centre gap)", fontsize=9)
  ax.set_xticks([])
  ax.set_yticks([])
  fig.tight_layout()
  return _save(fig, path)


def _palette(n: int) -> np.ndarray:
  """n distinct RGB colours (evenly spaced hues)."""
  hues = np.arange(n) / max(n, 1)
  k = (np.array([5.0, 3.0, 1.0])[None, :] + hues[:, None] * 6.0) % 6.0
  return 0.85 - 0.85 * 0.75 * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def read_metrics(metrics_path: str) -> list[dict[str, float]]:
  """The rows of a run's `metrics.jsonl`."""
  with open(metrics_path) as f:
    return [json.loads(line) for line in f if line.strip()]


def training_curves(path: str, rows: Sequence[Mapping[str, float]]) -> str:
  """Loss terms, learning rate and evaluation mAP over steps, from the logged scalars."""
  panels = (
      ("loss terms", lambda k: k.startswith("loss/")),
      ("learning rate", lambda k: k == "lr"),
      ("evaluation mAP (%)", lambda k: k.startswith("eval/") and k.split("/")[-1].startswith("mAP")),
  )
  fig = Figure(figsize=(13, 3.6), dpi=100)
  axes = fig.subplots(1, len(panels))
  for ax, (title, wanted) in zip(axes, panels):
    names = sorted({k for r in rows for k in r if wanted(k)})
    for name in names:
      steps = [r["step"] for r in rows if name in r]
      ax.plot(
          steps,
          [r[name] for r in rows if name in r],
          marker="o" if len(steps) < 20 else None,
          label=name.split("/", 1)[-1],
          linewidth=1.2,
      )
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(labelsize=7)
    if names and title != "learning rate":
      ax.legend(fontsize=7)
  fig.tight_layout()
  return _save(fig, path)


def write_figures(
    features: np.ndarray,
    test_split: Mapping[str, np.ndarray],
    load_images: Callable[[np.ndarray], np.ndarray],
    eval_cfg: Any,
    workdir: str,
    step: int,
    *,
    queries: int = 6,
    topk: int = 10,
    identities: int = 10,
) -> list[str]:
  """Ranked lists per protocol mode, the embedding picture and the training curves of a run.

  Args:
    features: [N, D] test-split features; `test_split` its columns (identity, camera, modality, path).
    load_images: int [n] test-split indices -> uint8 [n, H, W, 3] (the images the model saw).
    eval_cfg: the run's `eval` config (protocol, modes, distance, ...).
  Returns the paths written, under `workdir/figures/`.
  """
  directory = os.path.join(workdir, "figures")
  paths = []
  for mode, ex in evaluate.ranked_examples(features, test_split, eval_cfg, queries=queries, topk=topk).items():
    flat = ex["gallery"].reshape(-1)
    images = load_images(np.maximum(flat, 0))
    images[flat < 0] = 0
    gallery = images.reshape(ex["gallery"].shape + images.shape[1:])
    titles = [f"query id {test_split['identity'][q]} cam {test_split['camera'][q]}" for q in ex["query"]]
    paths.append(
        ranked_lists(
            os.path.join(directory, f"ranked_{mode}_step{step}.png"),
            load_images(ex["query"]),
            gallery,
            ex["distance"],
            ex["correct"],
            titles,
            suptitle=f"{mode}, step {step}: green = same identity, red = other",
        )
    )
  ids = np.unique(test_split["identity"])
  chosen = ids[np.unique(np.linspace(0, len(ids) - 1, identities).round().astype(int))]
  rows = np.flatnonzero(np.isin(test_split["identity"], chosen))
  paths.append(
      embedding(
          os.path.join(directory, f"embedding_step{step}.png"),
          features[rows],
          test_split["identity"][rows],
          test_split["modality"][rows],
      )
  )
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  if os.path.exists(metrics_path):
    paths.append(training_curves(os.path.join(directory, f"curves_step{step}.png"), read_metrics(metrics_path)))
  return paths
