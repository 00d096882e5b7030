"""Loss terms as declared units: every registered term through the trainer, its declared needs
checked, and a new method (a term and a head) added from this file alone."""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import agw, common
from vireid_jax import inference, objective, optim, train
from vireid_jax.models import heads, merge_modalities

BUILT_IN = sorted(objective.TERMS)
EVERY_HEAD = dict(bnneck={}, classifier={}, parts=dict(strips=2, dim=16), modality_classifiers={}, centers={})
CLASSES = 6


def tiny_config(terms, sampler="pk"):
  """agw:test's tiny model with every head, 64x32 images and the given terms at weight 1."""
  cfg = agw.get_config("test")
  cfg.data.update(sampler=sampler, p=3, k=2, tuples=4)
  cfg.data.augment.update(height=64, width=32)
  cfg.model.heads = common.heads(**EVERY_HEAD)
  cfg.loss = common.loss_config(**{name: 1.0 for name in terms})
  if "perceptual_edge" in terms:  # a 16x8 stem map takes three VGG blocks
    cfg.loss.terms.perceptual_edge.vgg_blocks = 3
  if "dual_constraint" in terms:  # a margin that keeps every hinge active on random features
    cfg.loss.terms.dual_constraint.margin = 100.0
  return cfg


def random_batch(cfg, seed=0):
  """A training batch of the sampler's layout: [2, n, ...] arrays, row 0 visible, row 1 infrared."""
  rng = np.random.default_rng(seed)
  if cfg.data.sampler == "pk":
    labels = np.repeat(np.arange(cfg.data.p), cfg.data.k)
  else:  # tuples ordered (tuple, role): anchor and positive of identity t, a negative of another
    labels = np.stack([np.arange(cfg.data.tuples)] * 2 + [np.arange(cfg.data.tuples) + 1], 1).reshape(-1) % CLASSES
  n = len(labels)
  return {"image": jnp.asarray(rng.integers(0, 256, (2, n, 64, 32, 3), dtype=np.uint8)),
          "label": jnp.asarray(np.stack([labels, labels]), jnp.int32),
          "modality": jnp.asarray(np.stack([np.zeros(n), np.ones(n)]), jnp.int32)}


def groups():
  """The built-in terms in two batch layouts: the tuple sampler's terms, and all the others."""
  tuple_terms = [t for t in BUILT_IN if objective.TERMS[t].sampler == "tuple"]
  return {"pk": [t for t in BUILT_IN if t not in tuple_terms], "tuple": tuple_terms}


@pytest.mark.parametrize("sampler", ["pk", "tuple"])
def test_every_term_gives_a_finite_scalar_and_gradient_through_the_trainer(sampler):
  terms = groups()[sampler]
  cfg = tiny_config(terms, sampler)
  train.check(cfg)
  program, state = train.create(cfg, CLASSES, steps_per_epoch=10)
  batch = random_batch(cfg)
  frozen = {name: nnx.merge(g, state.frozen[name], copy=True) for name, g in program.frozen_graphs.items()}

  def term_values(params):
    out = nnx.merge(program.train_graph, params, state.rest, copy=True)(batch["image"])
    _, values = objective.total_loss(cfg.loss, out, merge_modalities(batch["label"]),
                                     merge_modalities(batch["modality"]), merge_modalities(batch["image"]), frozen)
    return values

  # One forward and one backward program, the backward run once per term (a jacrev would compile
  # one backward per term into a single program).
  values, pullback = jax.jit(lambda params: jax.vjp(term_values, params))(state.params)
  gradient = jax.jit(lambda pullback, cotangent: pullback(cotangent)[0])
  assert sorted(values) == sorted(terms)
  for name in terms:
    assert values[name].shape == () and values[name].dtype == jnp.float32, name
    assert np.isfinite(float(values[name])), name
    grads = gradient(pullback, {k: jnp.float32(k == name) for k in values})
    norms = [float(jnp.linalg.norm(g)) for g in jax.tree.leaves(grads)]
    assert all(np.isfinite(norms)) and max(norms) > 0, name
  new_state, metrics = jax.jit(lambda s, b: train.train_step(program, s, b))(state, batch)  # the trainer's step
  assert all(np.isfinite(float(metrics[f"loss/{name}"])) for name in terms)
  assert np.isfinite(float(metrics["grad_norm"])) and int(new_state.first_bad_step) == -1
  moved = [not np.allclose(a, b) for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(new_state.params))]
  assert any(moved)


def without_need(name):
  """(config lacking one of the term's declared needs, the field the check must name) pairs."""
  term = objective.TERMS[name]
  cases = []
  from_heads = [o for o in term.outputs if any(o in h.OUTPUTS for h in heads.HEADS.values())]  # backbone's: always there
  if from_heads:
    kept = {h: s for h, s in EVERY_HEAD.items() if not set(from_heads) & set(heads.HEADS[h].OUTPUTS)}
    cfg = tiny_config([name], term.sampler or "pk")
    cfg.model.heads = common.heads(**kept)
    cases.append((cfg, f"loss.terms.{name} reads the model output {from_heads[0]!r}: add model.heads."))
  if term.sampler:
    cases.append((tiny_config([name], "tuple" if term.sampler == "pk" else "pk"),
                  f"loss.terms.{name} needs data.sampler='{term.sampler}'"))
  if "feature" in term.settings:
    cfg = tiny_config([name], term.sampler or "pk")
    cfg.loss.terms[name].feature = "modality"
    cases.append((cfg, f"loss.terms.{name}.feature: expected one of this model's {term.feature_kind} outputs"))
  for key, allowed in term.choices.items():
    cfg = tiny_config([name], term.sampler or "pk")
    cfg.loss.terms[name][key] = "neither"
    cases.append((cfg, f"loss.terms.{name}.{key}: expected one of {allowed}"))
  if name == "perceptual_edge":  # a paper config needs its ImageNet VGG-16
    cfg = tiny_config([name])
    cfg.model.require_pretrained = True
    cases.append((cfg, f"loss.terms.{name}.vgg16: "))
  if "anchors_only" in term.settings:  # the anchors are the tuple sampler's
    cfg = tiny_config([name], "pk")
    cfg.loss.terms[name].anchors_only = True
    cases.append((cfg, f"loss.terms.{name}.anchors_only: "))
  cfg = tiny_config([name], term.sampler or "pk")
  cfg.loss.terms[name].bogus = 1.0
  cases.append((cfg, f"loss.terms.{name}: expected the settings"))
  return cases


@pytest.mark.parametrize("name", BUILT_IN)
def test_declared_needs_are_checked_by_name(name):
  cases = without_need(name)
  assert len(cases) >= 2  # every term needs something besides its own settings
  assert objective.check(tiny_config([name], objective.TERMS[name].sampler or "pk")) == []
  for cfg, field in cases:
    problems = objective.check(cfg)
    assert any(p.startswith(field) for p in problems), (field, problems)


def test_an_output_that_nothing_provides_is_named(monkeypatch):
  monkeypatch.setitem(objective.TERMS, "reads_gaze", objective.Term(lambda b, s: 0.0, outputs=("gaze",)))
  cfg = tiny_config(["identity"])
  cfg.loss.terms.reads_gaze = objective.settings("reads_gaze")
  assert objective.check(cfg) == ["loss.terms.reads_gaze reads the model output 'gaze': no backbone stage or "
                                  "registered head provides it."]


def test_unknown_terms_and_all_zero_weights_are_named():
  cfg = tiny_config(["identity"])
  cfg.loss.terms.identity.weight = 0.0
  assert objective.check(cfg) == ["loss.terms: every term has weight 0; the objective would be constant."]
  with pytest.raises(ValueError, match="Unknown loss term 'triplett'"):
    common.loss_config(triplett=1.0)


def test_every_head_parameter_trains_as_a_new_layer():
  cfg = tiny_config(["identity"])
  program, state = train.create(cfg, CLASSES, steps_per_epoch=10)
  groups_of = jax.tree_util.tree_leaves_with_path(optim.param_groups(state.params))
  new = {jax.tree_util.keystr(p) for p, g in groups_of if g == "new"}
  assert new and all(k.startswith("['heads']") for k in new)
  assert all(any(k.startswith(f"['heads']['{h}']") for k in new) for h in EVERY_HEAD)
  assert all(g == "backbone" for p, g in groups_of if not jax.tree_util.keystr(p).startswith("['heads']"))


# A seventh method from this file alone: a head and a term, registered here, and a config built here.

class Projection(heads.Head):
  """The toy head: a bias-free linear projection of the pooled feature to `dim`."""

  SETTINGS = {"dim": 32}
  INPUTS = ("pooled",)
  OUTPUTS = {"projected": "vector"}

  def __init__(self, settings, channels, num_classes, *, rngs):
    del num_classes
    self.fc = nnx.Linear(channels, settings.dim, use_bias=False, rngs=rngs)

  def __call__(self, out):
    return {"projected": self.fc(out["pooled"])}


def unit_norm(inputs, settings):
  """The toy term: features of norm `radius` (mean squared deviation of the norms)."""
  norms = jnp.linalg.norm(inputs.out[settings.feature].astype(jnp.float32), axis=-1)
  return jnp.mean((norms - settings.radius) ** 2)


@pytest.fixture
def toy_method():
  heads.register("toy_projection")(Projection)
  objective.TERMS.register("toy_unit_norm", objective.Term(unit_norm, settings=dict(feature="projected", radius=1.0)))
  yield
  del heads.HEADS["toy_projection"], objective.TERMS["toy_unit_norm"]


def test_a_new_method_needs_no_library_edit(toy_method, data_dir, tmp_path):
  cfg = agw.get_config("test")
  cfg.data.data_dir = str(data_dir)
  cfg.model.heads = common.heads(bnneck={}, classifier={}, toy_projection=dict(dim=8))
  cfg.model.test_feature = "projected"
  cfg.loss = common.loss_config(identity=1.0, toy_unit_norm=dict(weight=0.5, radius=3.0))
  cfg.train.steps = 1
  results = train.train_and_evaluate(cfg, str(tmp_path))
  assert 0 <= results["modes"]["all_single"]["mean"]["mAP"] <= 100
  rows = [json.loads(line) for line in pathlib.Path(tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert np.isfinite(rows[0]["loss/toy_unit_norm"]) and rows[0]["loss/total"] == pytest.approx(
      rows[0]["loss/identity"] + 0.5 * rows[0]["loss/toy_unit_norm"], rel=1e-5)
  model, _ = inference.restore(cfg, str(tmp_path))
  assert optim.param_groups(model.params)["heads"]["toy_projection"]["fc"]["kernel"] == "new"
  _, initial = train.create(cfg, model.params["heads"]["classifier"]["fc"]["kernel"].shape[1], 1)
  assert not np.allclose(model.params["heads"]["toy_projection"]["fc"]["kernel"][...],
                         initial.params["heads"]["toy_projection"]["fc"]["kernel"][...])  # trained
