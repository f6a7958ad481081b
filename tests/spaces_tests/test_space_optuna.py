"""From a space to Optuna and back: distributions, suggest/decode/encode, the grid, hyperopt's meaning."""

import itertools
import math
import tracemalloc

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from space_helpers import same

from tuner.errors import SpaceError
from tuner.spaces import Grid, parse_text

optuna.logging.set_verbosity(optuna.logging.WARNING)

MIXED = """\
lr loguniform -8,0
dropout uniform 0.0,0.5
hidden quniform 16,128,16
wd qloguniform -9,-2,0.0001
layers randint 1,4
size choice [64,96,128]
mlp choice ['[64,64,64]', [128,128], {'a': 1}]
flag choice [1, 1.0, True, None]
"""


def test_distributions_of_every_kind():
    d = parse_text(MIXED, "s").distributions()
    assert d["lr"] == FloatDistribution(math.exp(-8), 1.0, log=True)
    assert d["dropout"] == FloatDistribution(0.0, 0.5)
    assert d["hidden"] == FloatDistribution(16.0, 128.0, step=16.0)
    assert d["wd"] == FloatDistribution(math.exp(-9), math.exp(-2), log=True)
    assert d["layers"] == IntDistribution(1, 3)
    # distinct scalars are their own categories; anything else is categorised by its JSON text
    assert d["size"] == CategoricalDistribution((64, 96, 128))
    assert d["mlp"] == CategoricalDistribution(('"[64,64,64]"', "[128, 128]", '{"a": 1}'))
    assert d["flag"] == CategoricalDistribution(("1", "1.0", "true", "null"))  # 1 == 1.0 == True for Optuna


def test_suggest_in_a_real_study_records_the_same_distributions_and_decodes_trial_params():
    space = parse_text(MIXED, "s")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    suggested = []

    def objective(trial):
        suggested.append(space.suggest(trial))
        return 0.0

    study.optimize(objective, n_trials=30)
    for trial, values in zip(study.trials, suggested):
        assert trial.distributions == space.distributions()
        assert same(space.decode(trial.params), values)
        assert same(space.decode(space.encode(values)), values)
    assert {type(v["hidden"]) for v in suggested} == {float}  # hyperopt's quniform gives floats
    assert {type(v["layers"]) for v in suggested} == {int}
    assert all(v["hidden"] % 16 == 0 and 16 <= v["hidden"] <= 128 for v in suggested)
    # every option comes back as written, types included
    options = [[1, 1.0, True, None], ["[64,64,64]", [128, 128], {"a": 1}]]
    for name, written in zip(("flag", "mlp"), options):
        assert all(any(same(v[name], o) for o in written) for v in suggested)


def test_every_option_round_trips_with_its_type():
    space = parse_text(MIXED, "s")
    for param in space.params:
        for option in param.values:
            assert same(param.decode(param.encode(option)), option)


def test_grid_order_size_and_types():
    space = parse_text("a choice [1, 2]\nb choice ['x', [3]]\nc choice [0.5, None, True]", "s")
    grid = space.grid()
    assert isinstance(grid, Grid) and space.grid_size == len(grid) == 12
    expected = [dict(zip("abc", combo)) for combo in itertools.product([1, 2], ["x", [3]], [0.5, None, True])]
    assert grid == expected and list(grid) == expected and grid[:] == expected
    assert all(same(grid[i], expected[i]) for i in range(-12, 12))
    assert grid[0] == {"a": 1, "b": "x", "c": 0.5} and grid[1] == {"a": 1, "b": "x", "c": None}  # last fastest
    with pytest.raises(IndexError):
        grid[12]


def test_grid_and_suggest_give_the_same_values_through_enqueued_trials():
    space = parse_text("lr choice [0.01, 0.001]\nmlp choice ['[64,64]', [128, 128]]\nn choice [1, 1.0, True]", "s")
    study = optuna.create_study()
    for point in space.grid():
        study.enqueue_trial(space.encode(point))
    got = []
    study.optimize(lambda trial: got.append(space.suggest(trial)) or 0.0, n_trials=space.grid_size)
    assert len(got) == len(space.grid())
    assert all(same(g, p) for g, p in zip(got, space.grid()))
    fixed = [space.suggest(optuna.trial.FixedTrial(space.encode(p))) for p in space.grid()]
    assert all(same(f, p) for f, p in zip(fixed, space.grid()))


def test_no_grid_unless_every_parameter_is_a_choice():
    space = parse_text("a choice [1, 2]\nb uniform 0,1", "s")
    assert space.grid() is None and space.grid_size is None and space.to_json()["grid_size"] is None


def test_a_million_point_grid_is_not_built_to_be_counted_or_indexed():
    text = "\n".join(f"p{i} choice [{', '.join(str(10 * i + k) for k in range(10))}]" for i in range(6))
    space = parse_text(text, "s")
    tracemalloc.start()
    try:
        size, grid = space.grid_size, space.grid()
        length, last, middle = len(grid), grid[-1], grid[123456]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == length == 10**6
    assert last == {f"p{i}": 10 * i + 9 for i in range(6)}
    assert middle == {"p0": 1, "p1": 12, "p2": 23, "p3": 34, "p4": 45, "p5": 56}  # 123456 in base 10
    assert peak < 1_000_000  # a list of a million dicts would take hundreds of MB


def test_values_handed_out_are_copies():
    space = parse_text("mlp choice [[64, 64], [128]]", "s")
    point = space.grid()[0]
    point["mlp"].append(1)
    space.decode({"mlp": "[64, 64]"})["mlp"].append(2)
    space.to_json()["params"]["mlp"]["values"][0].append(3)
    assert space["mlp"].values == ([64, 64], [128]) and space.grid()[0] == {"mlp": [64, 64]}


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"a": 1}, "missing ['b']"),
        ({"a": 1, "b": 0.5, "c": 3}, "not in the space ['c']"),
        ({"a": 3, "b": 0.5}, "3 is not one of its categories"),
        ({"a": 1, "b": 2.0}, "2.0 is outside [0.0, 1.0]"),
        ({"a": 1, "b": "0.5"}, "expected a number"),
    ],
)
def test_decode_refuses_what_the_space_cannot_give(params, fragment):
    space = parse_text("a choice [1, 2]\nb uniform 0,1", "s")
    with pytest.raises(SpaceError, match=None) as caught:
        space.decode(params)
    assert fragment in str(caught.value)


def test_encode_refuses_an_option_that_is_not_written():
    space = parse_text("a choice [1, 2]\nn randint 0,3", "s")
    with pytest.raises(SpaceError, match="is not one of its options"):
        space.encode({"a": 1.0, "n": 1})  # 1.0 is not the option 1
    with pytest.raises(SpaceError, match="expected an integer"):
        space.encode({"a": 1, "n": 1.5})


def test_loguniform_samples_log_uniformly_over_the_real_bounds():
    space = parse_text("learning_rate loguniform -8,0", "s")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    values = [space.suggest(study.ask())["learning_rate"] for _ in range(400)]
    assert all(math.exp(-8) <= v <= 1.0 for v in values)
    logs = np.log(values)
    assert abs(logs.mean() - (-4.0)) < 0.4  # U(-8, 0) has mean -4
    assert np.mean(logs < -6) == pytest.approx(0.25, abs=0.07)


bounds = st.tuples(
    st.floats(-1000, 1000, allow_nan=False), st.floats(0.001, 500, allow_nan=False), st.floats(0.01, 50)
)


@settings(max_examples=200, deadline=None)
@given(bounds, st.floats(0, 1, exclude_max=True))
def test_quniform_covers_exactly_what_hyperopt_reaches(b, fraction):
    low, width, q = b
    high = low + width
    param = parse_text(f"x quniform {low!r},{high!r},{q!r}", "s")["x"]
    tolerance = 1e-9 * max(1.0, abs(low), abs(high))
    # hyperopt: np.round(U(low, high) / q) * q, for any draw strictly inside the range
    draw = low + fraction * (high - low)
    value = float(np.round(draw / q) * q)
    assert param.low - tolerance <= value <= param.high + tolerance
    # Optuna's bounds are themselves reached by draws just inside the range
    assert float(np.round(np.nextafter(low, high) / q) * q) == pytest.approx(param.low, abs=tolerance)
    assert float(np.round(np.nextafter(high, low) / q) * q) == pytest.approx(param.high, abs=tolerance)
    # and what Optuna samples decodes to the multiple of q hyperopt would give
    k = round((param.high - param.low) / q * fraction)
    sampled = param.low + k * q
    assert param.decode(sampled) == float(np.round(sampled / q) * q)


@settings(max_examples=200, deadline=None)
@given(st.floats(-20, 5), st.floats(0.01, 5), st.floats(1e-4, 10), st.floats(0, 1, exclude_max=True))
def test_qloguniform_decodes_the_draw_as_hyperopt_does(low, width, q, fraction):
    param = parse_text(f"x qloguniform {low!r},{low + width!r},{q!r}", "s")["x"]
    assert (param.low, param.high, param.log) == (math.exp(low), math.exp(low + width), True)
    draw = float(np.exp(low + fraction * width))  # the draw both hyperopt and Optuna's log float make
    assert param.decode(draw) == float(np.round(draw / q) * q)


@settings(max_examples=100, deadline=None)
@given(st.integers(-10**6, 10**6), st.integers(1, 1000))
def test_randint_covers_numpys_integers_low_high(low, width):
    param = parse_text(f"x randint {low},{low + width}", "s")["x"]
    # numpy Generator.integers(low, high) gives low .. high-1; Optuna's int bounds are inclusive
    assert range(param.low, param.high + 1) == range(low, low + width)
    rng = np.random.default_rng(0)
    assert all(param.low <= int(v) <= param.high for v in rng.integers(low, low + width, size=20))


def test_an_int_among_float_choices_reaches_optuna_as_a_float_and_the_model_as_written(tmp_path):
    space = parse_text("reg_weight choice [0,1e-4,1e-5]\nnh choice [2, 4]\nmix choice [1, 2.5, 8]", "s")
    assert space.distributions()["reg_weight"] == CategoricalDistribution((0.0, 1e-4, 1e-5))
    assert [type(c) for c in space["reg_weight"].categories] == [float, float, float]
    assert [type(c) for c in space["nh"].categories] == [int, int]  # ints alone stay ints
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="mixed", storage=url, sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial(space.encode({"reg_weight": 0, "nh": 2, "mix": 2.5}))
    suggested = []
    study.optimize(lambda trial: suggested.append(space.suggest(trial)) or 0.0, n_trials=12)
    stored = optuna.load_study(study_name="mixed", storage=url).trials
    for trial, values in zip(stored, suggested):
        distribution = trial.distributions["reg_weight"]
        assert isinstance(distribution, CategoricalDistribution)
        assert {type(c) for c in distribution.choices} == {float}
        assert type(trial.params["reg_weight"]) is float
        assert same(space.decode(trial.params), values)
    assert same(suggested[0]["reg_weight"], 0)  # the model gets the int 0, as written
    assert any(same(v["reg_weight"], 0) for v in suggested) and any(same(v["reg_weight"], 1e-5) for v in suggested)


def test_ints_that_would_collide_as_floats_fall_back_to_json_categories():
    param = parse_text("big choice [9007199254740992, 9007199254740993, 0.5]", "s")["big"]
    assert param.categories == ("9007199254740992", "9007199254740993", "0.5")
    assert same(param.decode(param.encode(9007199254740993)), 9007199254740993)
