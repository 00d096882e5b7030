"""Loss terms as declared units: every library term through the trainer, its declared needs
checked by name, and the registries (a user's method: tests/test_readme.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import agw, common
from vireid_jax import losses, objective, optim, train
from vireid_jax.models import heads, merge_modalities
from vireid_jax.models.edges import edge_maps

# The library's own terms and heads, as the registries hold them (whatever else a test registers).
BUILT_IN = sorted(name for name, term in objective.TERMS.items() if term.fn.__module__.startswith("vireid_jax."))
EVERY_HEAD = {
    name: dict(head.SHRINK) for name, head in heads.HEADS.items() if head.__module__.startswith("vireid_jax.")
}
CLASSES = 6


def tiny_config(terms, sampler="pk"):
  """agw:test's tiny model with every head (shrunk as they declare), 96x32 images (six rows for
  the part strips) and the given terms at weight 1 (shrunk as they declare)."""
  cfg = agw.get_config("test")
  cfg.data.update(sampler=sampler, p=3, k=2, tuples=4)
  cfg.data.augment.update(height=96, width=32)
  cfg.model.heads = common.heads(**EVERY_HEAD)
  cfg.loss = common.loss_config(**{name: dict(weight=1.0, **objective.TERMS[name].shrink) for name in terms})
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
  return {
      "image": jnp.asarray(rng.integers(0, 256, (2, n, 96, 32, 3), dtype=np.uint8)),
      "label": jnp.asarray(np.stack([labels, labels]), jnp.int32),
      "modality": jnp.asarray(np.stack([np.zeros(n), np.ones(n)]), jnp.int32),
  }


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
    _, values = objective.total_loss(
        cfg.loss,
        out,
        merge_modalities(batch["label"]),
        merge_modalities(batch["modality"]),
        merge_modalities(batch["image"]),
        frozen,
    )
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
    norms = [np.linalg.norm(np.asarray(g)) for g in jax.tree.leaves(grads)]  # NumPy: no program per shape
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
  from_heads = [
      o for o in term.outputs if any(o in h.OUTPUTS for h in heads.HEADS.values())
  ]  # backbone's: always there
  if from_heads:
    kept = {h: s for h, s in EVERY_HEAD.items() if not set(from_heads) & set(heads.HEADS[h].OUTPUTS)}
    cfg = tiny_config([name], term.sampler or "pk")
    cfg.model.heads = common.heads(**kept)
    cases.append((cfg, f"loss.terms.{name} reads the model output {from_heads[0]!r}: add model.heads."))
  if term.sampler:
    cases.append(
        (
            tiny_config([name], "tuple" if term.sampler == "pk" else "pk"),
            f"loss.terms.{name} needs data.sampler='{term.sampler}'",
        )
    )
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
    cfg = tiny_config([name])  # its edge maps are of uint8 images
    cfg.data.views = ("visible", "visible+channel_exchange", "infrared")
    cases.append((cfg, f"loss.terms.{name}: the edge maps are computed from the uint8 images"))
  if name == "view_kl":  # its two views are among the batch's
    cfg = tiny_config([name])
    cfg.loss.terms[name].views = (0, 2)
    cases.append((cfg, f"loss.terms.{name}.views: expected (student, teacher) indices into data.views (2 views)"))
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


def test_terms_read_the_rows_of_their_views_and_streams():
  """Three views (visible, visible, infrared), rows i*3 + v: view_kl compares view 0's logits with
  the last view's, item by item; perceptual_edge takes both visible views as visible images."""
  rng = np.random.default_rng(0)
  n, views = 4, (0, 0, 1)
  logits = jnp.asarray(rng.normal(size=(3 * n, CLASSES)), jnp.float32)
  labels = jnp.asarray(np.repeat(np.arange(n), 3), jnp.int32)
  modality = jnp.asarray(np.tile(views, n), jnp.int32)
  settings = objective.settings("view_kl")
  inputs = objective.Inputs({"logits": logits}, labels, modality, None, None, views)
  got = objective.TERMS["view_kl"].fn(inputs, settings)
  np.testing.assert_allclose(float(got), float(losses.view_kl(logits[0::3], logits[2::3], 3.0)), rtol=1e-6)

  cfg = tiny_config(["perceptual_edge"])
  vgg = objective.frozen_networks(cfg, pretrained=False)["perceptual_edge"]
  images = jnp.asarray(rng.integers(0, 256, (3 * n, 96, 32, 3), dtype=np.uint8))
  stem = jnp.asarray(rng.normal(size=(3 * n, 24, 8, cfg.model.width)), jnp.float32)
  visible, infrared = np.flatnonzero(np.tile(views, n) == 0), np.flatnonzero(np.tile(views, n) == 1)

  @nnx.jit
  def both(vgg):  # one compiled program: op by op, the VGG compiles every primitive on its own
    inputs = objective.Inputs({"stage0": stem}, labels, modality, images, vgg, views)
    got = objective.TERMS["perceptual_edge"].fn(inputs, cfg.loss.terms.perceptual_edge)
    edges = edge_maps(images, 24, 8, cfg.model.width)
    return got, sum(losses.perceptual_edge_loss(stem[r], edges[r], vgg) for r in (visible, infrared))

  got, expected = both(vgg)
  np.testing.assert_allclose(float(got), float(expected), rtol=1e-5)


def gaze(inputs, settings):
  return 0.0


def test_an_output_that_nothing_provides_is_named(registries):
  objective.TERMS.register("reads_gaze", objective.Term(gaze, outputs=("gaze",)))
  cfg = tiny_config(["identity"])
  cfg.loss.terms.reads_gaze = objective.settings("reads_gaze")
  assert objective.check(cfg) == [
      "loss.terms.reads_gaze reads the model output 'gaze': no backbone stage or " "registered head provides it."
  ]


def test_a_definition_registered_again_replaces_itself_and_another_is_refused(registries):
  """Importing a module again (a re-run notebook cell, a module imported by name and as a config's
  `imports` file) registers the same definitions again; another unit under a taken name is refused."""
  objective.TERMS.register("reads_gaze", objective.Term(gaze, outputs=("gaze",)))
  objective.TERMS.register("reads_gaze", objective.Term(gaze, outputs=("gaze",), settings=dict(margin=1.0)))
  assert objective.TERMS["reads_gaze"].settings == {"margin": 1.0}
  with pytest.raises(
      ValueError, match=r"loss term named 'reads_gaze' is already registered \(by gaze in .*test_objective"
  ):
    objective.TERMS.register("reads_gaze", objective.Term(lambda b, s: 0.0))
  with pytest.raises(ValueError, match="head named 'bnneck' is already registered"):
    heads.register("bnneck")(type("BNNeck", (heads.Head,), {}))


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
