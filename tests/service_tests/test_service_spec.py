"""The job spec's own checks: every error names the file, the line and what was expected."""

from __future__ import annotations

import pytest

from tuner.errors import JobError
from tuner.service.spec import JobSpec, parse_spec

GOOD = """\
name: caser-ml100k
model: Caser
dataset: ml-100k
search_space: ../search_spaces/caser.hyper
params:
  MAX_ITEM_LIST_LENGTH: 10
  epochs: 30
objective: NDCG@10
n_trials: 20
timeout_hours: null
sampler: {name: tpe, seed: 0}
pruner: {name: median, n_warmup_steps: 3}
"""


def test_a_good_spec_reads_into_a_frozen_spec():
    spec = parse_spec(GOOD, "studies/caser.yaml")
    assert spec == JobSpec(
        name="caser-ml100k", model="Caser", dataset="ml-100k", search_space="../search_spaces/caser.hyper",
        objective="ndcg@10", n_trials=20, params={"MAX_ITEM_LIST_LENGTH": 10, "epochs": 30}, timeout_hours=None,
        sampler={"name": "tpe", "seed": 0}, pruner={"name": "median", "n_warmup_steps": 3}, max_retries=2,
    )
    assert spec.metric == "NDCG@10" and spec.topk == 10
    assert JobSpec.from_dict(spec.to_dict()) == spec


def test_defaults_name_from_file_sampler_tpe_no_pruner():
    spec = parse_spec("model: Caser\ndataset: x\nsearch_space: s.hyper\nobjective: recall@20\nn_trials: 3\n", "dir/my-job.yaml")
    assert (spec.name, spec.sampler, spec.pruner, spec.max_retries) == ("my-job", {"name": "tpe"}, {"name": "none"}, 2)


def test_name_option_overrides_the_file():
    assert parse_spec(GOOD, "a.yaml", name="other").name == "other"


@pytest.mark.parametrize(
    "change, message",
    [
        (("n_trials: 20", "n_trial: 20"), "s.yaml:9: n_trial: unknown key (did you mean 'n_trials'?)"),
        (("objective: NDCG@10", "objective: gauc"), "s.yaml:8: objective: 'gauc': expected METRIC@K"),
        (("objective: NDCG@10", "objective: ndcg@0"), "s.yaml:8: objective: 'ndcg@0': expected METRIC@K"),
        (("{name: tpe, seed: 0}", "{name: cmaes}"), "s.yaml:11: sampler.name: 'cmaes': expected one of tpe, random, grid"),
        (("{name: tpe, seed: 0}", "{name: tpe, seeds: 1}"), "s.yaml:11: sampler.seeds: not a setting of tpe (did you mean 'seed'?)"),
        (("n_warmup_steps: 3", "warmup: 3"), "s.yaml:12: pruner.warmup: not a setting of median"),
        (("{name: median, n_warmup_steps: 3}", "none"), None),
        (("n_trials: 20", "n_trials: 0"), "s.yaml:9: n_trials: 0: expected a positive whole number"),
        (("n_trials: 20", "n_trials: 2.5"), "s.yaml:9: n_trials: 2.5: expected a positive whole number"),
        (("timeout_hours: null", "timeout_hours: -1"), "s.yaml:10: timeout_hours: -1: expected a positive number"),
        (("model: Caser", "model: 3"), "s.yaml:2: model: required, a non-empty string"),
        (("name: caser-ml100k", "name: 'bad name!'"), "s.yaml:1: job name 'bad name!': expected letters"),
        (("  epochs: 30", "  epochs: 2020-01-01"), "s.yaml:7: params.epochs: datetime.date(2020, 1, 1): values must be plain YAML"),
    ],
)
def test_errors_name_file_line_and_expectation(change, message):
    text = GOOD.replace(*change)
    assert text != GOOD
    if message is None:
        assert parse_spec(text, "s.yaml").pruner == {"name": "none"}
        return
    with pytest.raises(JobError) as error:
        parse_spec(text, "s.yaml")
    assert str(error.value).startswith(message), str(error.value)


def test_n_trials_required_except_for_grid():
    text = GOOD.replace("n_trials: 20\n", "")
    with pytest.raises(JobError, match=r"s.yaml:10: n_trials: required with sampler 'tpe'"):
        parse_spec(text, "s.yaml")
    assert parse_spec(text.replace("{name: tpe, seed: 0}", "grid"), "s.yaml").n_trials is None


def test_invalid_yaml_names_its_line():
    with pytest.raises(JobError, match=r"s.yaml:4: not valid YAML \(expected ',' or '}', but got '<stream end>'; while parsing a flow mapping at line 3\)"):
        parse_spec("model: Caser\ndataset: x\nparams: {a: 1\n", "s.yaml")


def test_top_level_must_be_a_mapping():
    with pytest.raises(JobError, match=r"s.yaml:1: expected a mapping"):
        parse_spec("- a\n- b\n", "s.yaml")


@pytest.mark.parametrize(
    "confirm, expected",
    [
        ("confirm: {top: 3, seeds: 2}", {"top": 3, "seeds": 2}),
        ("confirm: {top: 2}", {"top": 2, "seeds": 1}),
        ("confirm: {top: 0, seeds: 4}", None),
        ("confirm: null", None),
    ],
)
def test_confirm_reads_top_and_seeds(confirm, expected):
    assert parse_spec(GOOD + confirm + "\n", "s.yaml").confirm == expected
    assert parse_spec(GOOD, "s.yaml").confirm is None


@pytest.mark.parametrize(
    "confirm, message",
    [
        ("confirm: {top: -1, seeds: 2}", "s.yaml:13: confirm.top: -1: expected a whole number >= 0"),
        ("confirm: {top: 2, seeds: 0}", "s.yaml:13: confirm.seeds: 0: expected a whole number >= 1"),
        ("confirm: {top: 2, seeds: 1.5}", "s.yaml:13: confirm.seeds: 1.5: expected a whole number >= 1"),
        ("confirm: {top: yes}", "s.yaml:13: confirm.top: True: expected a whole number >= 0"),
        ("confirm:\n  top: 2\n  seed: 3", "s.yaml:15: confirm.seed: unknown key (did you mean 'seeds'?)"),
        ("confirm: 3", "s.yaml:13: confirm: 3: expected {top: K, seeds: S}"),
    ],
)
def test_bad_confirm_names_the_key_and_line(confirm, message):
    with pytest.raises(JobError) as error:
        parse_spec(GOOD + confirm + "\n", "s.yaml")
    assert str(error.value).startswith(message), str(error.value)
