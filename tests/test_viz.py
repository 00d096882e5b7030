"""Pictures: frame colours of ranked lists, the 2-D projections, curves; ranked examples vs brute force."""

import numpy as np
import pytest
from PIL import Image

from configs import common
from vireid_jax import evaluate, viz
from vireid_jax.evaluation import protocols


def colour_pixels(path, hex_colour, tol=40):
  rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
  target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
  return int((np.abs(rgb - target).max(axis=-1) < tol).sum())


@pytest.mark.parametrize("correct, present, absent", [(True, viz.GREEN, viz.RED), (False, viz.RED, viz.GREEN)])
def test_ranked_list_frames_say_right_or_wrong(tmp_path, correct, present, absent):
  grey = np.full((2, 32, 16, 3), 128, np.uint8)
  gallery = np.full((2, 3, 32, 16, 3), 128, np.uint8)
  path = viz.ranked_lists(str(tmp_path / "r.png"), grey, gallery, np.ones((2, 3)), np.full((2, 3), correct))
  assert Image.open(path).size[0] > 200
  assert colour_pixels(path, present) > 100 and colour_pixels(path, absent) == 0


def test_ranked_list_leaves_missing_ranks_empty(tmp_path):
  grey = np.full((1, 32, 16, 3), 128, np.uint8)
  gallery = np.full((1, 3, 32, 16, 3), 128, np.uint8)
  full = viz.ranked_lists(str(tmp_path / "a.png"), grey, gallery, np.ones((1, 3)), np.ones((1, 3), bool))
  short = viz.ranked_lists(
      str(tmp_path / "b.png"), grey, gallery, np.array([[1.0, np.nan, np.nan]]), np.ones((1, 3), bool)
  )
  assert 0 < colour_pixels(short, viz.GREEN) < colour_pixels(full, viz.GREEN)


def test_pca_projection_keeps_the_top_two_variances():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(200, 5)) * np.array([5.0, 3.0, 1.0, 0.5, 0.1])
  points, used = viz.project_2d(x, "pca")
  assert used == "PCA" and points.shape == (200, 2)
  eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False)))[::-1]
  np.testing.assert_allclose(points.var(axis=0, ddof=1), eigenvalues[:2], rtol=1e-6)


def test_tsne_separates_well_separated_clusters():
  rng = np.random.default_rng(1)
  x = np.concatenate([rng.normal(size=(30, 8)), rng.normal(size=(30, 8)) + 20.0])
  points, used = viz.project_2d(x, "auto")
  assert used == "t-SNE"
  a, b = points[:30], points[30:]
  assert np.linalg.norm(a.mean(0) - b.mean(0)) > 3 * max(a.std(0).max(), b.std(0).max())
  with pytest.raises(ValueError, match="method must be"):
    viz.project_2d(x, "umap")


def test_embedding_and_curves_are_drawn(tmp_path):
  rng = np.random.default_rng(2)
  ids, modality = np.repeat(np.arange(4), 6), np.tile([0, 0, 0, 1, 1, 1], 4)
  path = viz.embedding(str(tmp_path / "e.png"), rng.normal(size=(24, 16)), ids, modality, method="pca")
  assert Image.open(path).size == (650, 600)
  rows = [{"step": s, "loss/total": 5.0 / s, "loss/identity": 4.0 / s, "lr": 0.1} for s in range(1, 6)]
  rows.append({"step": 5, "eval/all_single/mAP": 12.0})
  path = viz.training_curves(str(tmp_path / "c.png"), rows)
  assert Image.open(path).size == (1300, 360)


def test_ranked_examples_follow_the_protocol_ranking():
  rng = np.random.default_rng(3)
  n = 120
  split = {"identity": rng.integers(0, 8, n), "camera": rng.choice([1, 2, 3, 4, 5, 6], n)}
  split["modality"] = np.isin(split["camera"], [3, 6]).astype(np.int32)
  split["path"] = np.asarray([f"cam{c}/{i:04d}.jpg" for i, c in enumerate(split["camera"])])
  features = rng.normal(size=(n, 6)).astype(np.float32)
  cfg = common.eval_config(modes=["all"], trials=1)
  examples = evaluate.ranked_examples(features, split, cfg, queries=4, topk=5)["all_single"]
  assert examples["query"].shape == (4,) and examples["gallery"].shape == (4, 5)
  q_all, g = next(iter(protocols.sysu_trials(split, mode="all", shots=1, trials=1, sampling="seeded")))
  for i, q in enumerate(examples["query"]):
    assert q in q_all and split["modality"][q] == 1
    visible = [j for j in g if not (split["camera"][q] == 3 and split["camera"][j] == 2)]
    dist = {j: float(np.linalg.norm(features[q] - features[j])) for j in visible}
    ranked = sorted(visible, key=lambda j: (dist[j], list(g).index(j)))[:5]
    assert examples["gallery"][i].tolist() == ranked
    np.testing.assert_allclose(examples["distance"][i], [dist[j] for j in ranked], rtol=1e-5)
    assert examples["correct"][i].tolist() == [split["identity"][j] == split["identity"][q] for j in ranked]
