import json

import numpy as np
import pytest

from configs import common
from vireid_jax import errors, evaluate, inference
from vireid_jax.data import transforms
from vireid_jax.evaluation import metrics, protocols


def eval_config(**overrides):
  return common.eval_config(**{"shots": [1, 10], "trials": 3, **overrides})


@pytest.fixture
def split():
  rng = np.random.default_rng(0)
  rows = [(i, c, k) for i in range(1, 9) for c in (1, 2, 3, 4, 5, 6) for k in range(1, rng.integers(2, 5))]
  return {
      "identity": np.array([r[0] for r in rows]),
      "camera": np.array([r[1] for r in rows]),
      "modality": np.array([int(r[1] in (3, 6)) for r in rows]),
      "path": np.array([f"cam{c}/{i:04d}/{k:04d}.jpg" for i, c, k in rows]),
  }


def test_identity_features_give_perfect_scores(split):
  features = np.eye(10)[split["identity"]] + 0.01 * np.random.default_rng(1).normal(size=(len(split["identity"]), 10))
  results = evaluate.evaluate_features(features, split, eval_config())
  assert set(results["modes"]) == {"all_single", "all_multi", "indoor_single", "indoor_multi"}
  for r in results["modes"].values():
    assert len(r["trials"]) == 3
    assert r["mean"]["rank1"] == pytest.approx(100.0) and r["mean"]["mAP"] == pytest.approx(100.0)
    assert r["std"]["rank1"] == 0.0


def test_trials_mean_and_std(split):
  features = np.random.default_rng(2).normal(size=(len(split["identity"]), 16))
  cfg = eval_config(modes=["all"], shots=[1])
  results = evaluate.evaluate_features(features, split, cfg)
  rank1 = []
  for q, g in protocols.sysu_trials(split, mode="all", shots=1, trials=3):
    d = metrics.distances(features[q], features[g])
    out = metrics.ranking_metrics(
        d, split["identity"][q], split["identity"][g], split["camera"][q], split["camera"][g], protocol="sysu"
    )
    rank1.append(100 * out["cmc"][0])
  r = results["modes"]["all_single"]
  assert [t["rank1"] for t in r["trials"]] == pytest.approx(rank1)
  assert r["mean"]["rank1"] == pytest.approx(np.mean(rank1)) and r["std"]["rank1"] == pytest.approx(np.std(rank1))


def test_identity_groups_are_scored_as_test_splits_of_their_own_and_their_trials_pooled(split):
  """`eval.gallery_identities=4`: identities 1-4 and 5-8 each a test split (queries and gallery of
  those people only), every trial of both in one mean."""
  features = np.random.default_rng(4).normal(size=(len(split["identity"]), 16))
  results = evaluate.evaluate_features(features, split, eval_config(modes=["all"], shots=[1], gallery_identities=4))
  expected = []
  for people in ((1, 2, 3, 4), (5, 6, 7, 8)):
    keep = np.isin(split["identity"], people)
    part = {k: v[keep] for k, v in split.items()}
    for q, g in protocols.sysu_trials(part, mode="all", shots=1, trials=3):
      assert set(part["identity"][g]) == set(people)
      d = metrics.distances(features[keep][q], features[keep][g])
      ids_cams = part["identity"][q], part["identity"][g], part["camera"][q], part["camera"][g]
      expected.append(100 * metrics.ranking_metrics(d, *ids_cams, protocol="sysu")["mAP"])
  r = results["modes"]["all_single"]
  assert [t["mAP_gallery4"] for t in r["trials"]] == pytest.approx(expected)  # named apart from one gallery's
  assert r["mean"]["mAP_gallery4"] == pytest.approx(np.mean(expected))
  whole = evaluate.evaluate_features(features, split, eval_config(modes=["all"], shots=[1]))["modes"]["all_single"]
  assert whole["mean"]["mAP"] != pytest.approx(r["mean"]["mAP_gallery4"])  # a gallery of 8 people is another protocol
  assert [t["gallery"] for t in r["trials"]] == [4 * 4] * 6  # 4 people x 4 visible cameras, single-shot


def test_identity_groups_must_divide_the_test_identities(split):
  with pytest.raises(
      errors.UserError, match=r"eval.gallery_identities: the test split's 8 identities do not make groups of 3"
  ):
    evaluate.identity_groups(split["identity"], eval_config(gallery_identities=3))
  config = common.base_config("agw", common.loss_config())
  config.eval.gallery_identities = -1
  assert evaluate.check(config) == [
      "eval.gallery_identities: expected 0 (one gallery) or a number of identities, got -1."
  ]


def test_ranked_examples_come_from_the_first_identity_group(split):
  features = np.random.default_rng(5).normal(size=(len(split["identity"]), 8))
  examples = evaluate.ranked_examples(features, split, eval_config(modes=["all"], shots=[1], gallery_identities=4))
  ranked = examples["all_single"]
  shown = np.concatenate([ranked["query"], ranked["gallery"][ranked["gallery"] >= 0]])
  assert set(split["identity"][shown]) <= {1, 2, 3, 4}


def test_optional_steps_appear_in_metric_names(split):
  features = np.random.default_rng(3).normal(size=(len(split["identity"]), 8))
  results = evaluate.evaluate_features(
      features, split, eval_config(modes=["all"], shots=[1], trials=1, normalize=True, flip=True, rerank=True)
  )
  keys = set(results["modes"]["all_single"]["mean"])
  assert {"rank1_l2_flip_rerank", "mAP_l2_flip_rerank", "mINP_l2_flip_rerank"} <= keys
  assert not {"rank1", "mAP", "mINP"} & keys
  assert "_l2_flip_rerank" in evaluate.format_table(results)


def test_regdb_directions(split):
  regdb = {"identity": np.repeat(np.arange(6), 4), "camera": np.tile([1, 1, 2, 2], 6)}
  regdb["modality"] = regdb["camera"] - 1
  features = np.eye(6)[regdb["identity"]]
  results = evaluate.evaluate_features(
      features, regdb, eval_config(protocol="regdb", modes=list(protocols.REGDB_DIRECTIONS))
  )
  for direction in protocols.REGDB_DIRECTIONS:
    assert results["modes"][direction]["mean"]["mAP"] == pytest.approx(100.0)
    assert results["modes"][direction]["mean"]["queries"] == 12


def test_aggregate_and_write(tmp_path, split):
  rng = np.random.default_rng(4)
  runs = [
      evaluate.evaluate_features(
          rng.normal(size=(len(split["identity"]), 8)), split, eval_config(modes=["all"], shots=[1], trials=2)
      )
      for _ in range(3)
  ]
  agg = evaluate.aggregate(runs)
  means = [run["modes"]["all_single"]["mean"]["mAP"] for run in runs]
  assert agg["modes"]["all_single"]["mean"]["mAP"] == pytest.approx(np.mean(means))
  assert agg["modes"]["all_single"]["std"]["mAP"] == pytest.approx(np.std(means))
  path = tmp_path / "eval" / "results.json"
  evaluate.write_json(agg, str(path))
  assert json.loads(path.read_text()) == json.loads(json.dumps(agg))
  table = evaluate.format_table(agg)
  assert "all_single" in table and "±" in table and "mAP" in table


def test_extract_features_in_order_with_flip(sysu):
  cfg, src, cols = sysu
  records = np.flatnonzero(cols["test"]["modality"] == 0)[:11]
  seen = []

  def embed(images, modality):
    assert images.shape[0] == 4 and modality == 0
    seen.append(images.shape[0])
    x = transforms.normalize(images)
    return np.concatenate([x.mean(axis=(1, 2)), x[:, :, : x.shape[2] // 2].mean(axis=(1, 2, 3))[:, None]], axis=1)

  feats = inference.extract_features(embed, src["test"], records, 0, cfg, batch_size=4, flip=True)
  assert feats.shape == (11, 4) and len(seen) == 2 * 3
  one = inference.extract_features(embed, src["test"], records[5:6], 0, cfg, batch_size=4, flip=False)
  image = transforms.normalize(
      transforms.eval_transform(transforms.decode(src["test"][int(records[5])]["image"]), cfg.augment)
  )
  left, right = image[:, : image.shape[1] // 2].mean(), image[:, image.shape[1] // 2 :][:, ::-1].mean()
  np.testing.assert_allclose(one[0, :3], image.mean(axis=(0, 1)), rtol=1e-5)
  np.testing.assert_allclose(feats[5, :3], image.mean(axis=(0, 1)), rtol=1e-5)
  np.testing.assert_allclose(feats[5, 3], 0.5 * (left + right), rtol=1e-4)
  # with eval.normalize, each of the two features is L2-normalised before the mean (CAJ's testa.py)
  normed = inference.extract_features(embed, src["test"], records[5:6], 0, cfg, batch_size=4, flip=True, normalize=True)
  plain = np.concatenate([image.mean(axis=(0, 1)), [left]])
  mirrored = np.concatenate([image.mean(axis=(0, 1)), [right]])
  expected = 0.5 * (plain / np.linalg.norm(plain) + mirrored / np.linalg.norm(mirrored))
  np.testing.assert_allclose(normed[0], expected, rtol=1e-4)
