"""Every method config is its provenance table: the values its docstring claims are the values it
runs with, every value names its source, and the README quotes the papers' numbers the configs hold."""

import importlib
import os
import pathlib
import re
import shutil

import pytest

import configs
from configs import common
from vireid_jax import evaluate, train
from vireid_jax.data import synthetic

METHODS = configs.methods()
README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def module(method):
  return importlib.import_module(f"configs.{method}")


def variant_rows(method):
  """(config arg, rows) pairs: the paper rows on SYSU-MM01 and each variant's rows."""
  m = module(method)
  pairs = [(None, m.ROWS)]
  if hasattr(m, "REGDB"):
    pairs.append(("regdb", m.REGDB))
  if hasattr(m, "REFERENCE"):
    pairs += [("reference", m.REFERENCE["sysu"]), ("regdb,reference", m.REFERENCE["regdb"])]
  if hasattr(m, "SYNTHETIC"):
    pairs.append(("synthetic", m.SYNTHETIC))
  return pairs


def test_the_library_configs_are_found_and_a_users_config_beside_them_is_not_one(tmp_path):
  for name in os.listdir(os.path.dirname(configs.__file__)):
    shutil.copy(os.path.join(os.path.dirname(configs.__file__), name), tmp_path) if name.endswith(".py") else None
  (tmp_path / "mine.py").write_text("from configs import common\n\ndef get_config(arg=None):\n  return None\n")
  (tmp_path / "broken.py").write_text("def get_config(:\n")
  assert configs.methods(str(tmp_path)) == METHODS == ["agw", "caj", "cmdc", "danet", "eat", "hctri", "mso"]


@pytest.mark.parametrize("method", METHODS)
def test_each_library_config_builds_its_own_method(method):
  assert module(method).get_config().method == method, configs.LIBRARY_CONFIG


@pytest.mark.parametrize("method", METHODS)
def test_the_config_runs_with_the_values_its_table_claims(method):
  for arg, rows in variant_rows(method):
    cfg = module(method).get_config(arg)
    fields = [r for r in rows if r.field]
    assert len(fields) >= 10 or arg
    for row in fields:
      assert common.get(cfg, row.field) == row.value, (arg, row.parameter, row.field)


@pytest.mark.parametrize("method", METHODS)
def test_the_docstring_table_is_rendered_from_the_rows(method):
  """A guard, not evidence of paper fidelity: the docstring is rendered from the same rows the
  config applies, so this fails only if a config stops rendering them (or edits its docstring by
  hand). Fidelity rests on each row's citation, which a reader checks against the paper."""
  doc = module(method).__doc__
  for _, rows in variant_rows(method):
    assert common.table(rows, "").strip() in doc  # the rows, in order, as rendered
    for row in rows:
      assert row.parameter in doc and (not row.field or f"`{row.field} = {row.value!r}`" in doc)


@pytest.mark.parametrize("method", METHODS)
def test_every_value_names_its_source(method):
  for _, rows in variant_rows(method):
    for row in rows:
      assert row.paper.strip(), row.parameter
      if row.paper.startswith(("silent", "–")):  # the paper says nothing: the code or our reason must
        assert row.code != "–" or row.note, row.parameter


@pytest.mark.parametrize("method", METHODS)
def test_the_paper_config_is_complete_but_for_data_and_weights(method):
  cfg = module(method).get_config()
  cfg.data.require_manual_dir = False
  cfg.model.require_pretrained = False
  train.check(cfg)  # every field valid, every term's needs met


@pytest.mark.parametrize("size", ["synthetic", "test"])
@pytest.mark.parametrize("method", METHODS)
def test_the_cpu_sizes_are_valid_configs(method, size):
  """The CPU sizes keep one non-local block per stage that had any (a duplicate pair is refused)."""
  cfg = module(method).get_config(size)
  train.check(cfg)
  stages = sorted({stage for stage, _ in module(method).get_config().model.non_local})
  assert [tuple(pair) for pair in cfg.model.non_local] == [(stage, 0) for stage in stages]


def synthetic_galleries(method):
  """(test identities, gallery size) of `method:synthetic`: its tree's 30% and the people added to it."""
  cfg = module(method).get_config("synthetic")
  spec = synthetic.sysu_spec(cfg.data.synthetic_identities, cfg.data.synthetic_more_test_identities)
  return spec.num_identities - spec.num_train - spec.num_val + spec.more_test_identities, cfg.eval.gallery_identities


@pytest.mark.parametrize("method", METHODS)
def test_the_synthetic_test_split_makes_whole_galleries(method):
  """`:synthetic` scores its test split's people in galleries of `eval.gallery_identities`: at
  least 13 of them, none left over."""
  people, size = synthetic_galleries(method)
  assert people % size == 0 and people // size >= 13, people


@pytest.mark.parametrize("method", METHODS)
def test_the_readme_quotes_the_papers_numbers(method):
  text = pathlib.Path(README).read_text().split("## Methods", 1)[1].split("\n## ", 1)[0]
  row = next(line for line in text.splitlines() if f"`configs/{method}.py`" in line)
  cells = [c.strip() for c in row.strip("|").split("|")][3:]
  keys = ("sysu_all", "sysu_indoor", "regdb_v2t", "regdb_t2v", "llcm_i2v", "llcm_v2i_as_released")
  expected = [module(method).RESULTS.get(k) for k in keys]
  assert len(cells) == len(keys)
  for cell, result in zip(cells, expected):
    assert cell == (f"{result.cell()} ({result.table})" if result else "–")
  assert all(re.fullmatch(r"\d+\.\d+", x) for r in expected if r for x in (r.r1, r.mAP, r.mINP) if x)


def test_the_best_metric_follows_the_eval_options_a_user_turns_on():
  """`train.best_metric` names the metric without the options' suffix: turning test-time flip on
  from the command line keeps the config valid and the best checkpoint chosen by the flipped mAP."""
  cfg = module("agw").get_config("test")
  cfg.eval.flip = True
  train.check(cfg)
  assert evaluate.reported(cfg.eval, cfg.train.best_metric) == "eval/all_single/mAP_flip"
  assert evaluate.reported(cfg.eval, cfg.train.best_metric) in evaluate.metric_names(cfg.eval)


def test_variants_combine_and_refuse_unknown_arguments():
  cfg = module("hctri").get_config("regdb,test")
  assert cfg.data.dataset == "regdb" and cfg.train.steps == 3 and cfg.data.k == 2
  assert cfg.loss.terms.part_hetero_center.weight == 2.0  # the paper's RegDB lambda survives the CPU shrink
  with pytest.raises(ValueError, match=r"config arg 'sysu,regdb': two dataset variants \('sysu', 'regdb'\)"):
    module("agw").get_config("sysu,regdb")
  with pytest.raises(ValueError, match=r"config arg 'tpu': unknown variant 'tpu'; .*size: synthetic or test"):
    module("agw").get_config("tpu")
