"""The same space as YAML in RecBole's params_dict shape (``_build_space_from_dict``)."""

import pytest
from space_helpers import FIXTURES, same

from tuner.errors import SpaceError
from tuner.spaces import parse_file, parse_text

RECBOLE_EXAMPLE_YAML = """\
# RecBole's example space, as a params_dict
loguniform:
  learning_rate: [-8, 0]
choice:
  embedding_size: [64, 96, 128]
  train_batch_size: [512, 1024, 2048]
  mlp_hidden_size: ['[64,64,64]', '[128,128]']
"""


def test_yaml_gives_the_same_space_as_the_hyper_test_file(write):
    from_text = parse_file(FIXTURES / "recbole-example.hyper")
    from_yaml = parse_file(write(RECBOLE_EXAMPLE_YAML, "space.yaml"))
    assert from_yaml.to_json()["params"] == from_text.to_json()["params"]
    assert [p.line for p in from_yaml.params] == [3, 5, 6, 7]


def test_yaml_is_recognised_by_its_first_line_without_a_suffix():
    space = parse_text("choice:\n  num_layers: [1, 2]\n", "space.hyper")
    assert space.names == ("num_layers",) and space.grid_size == 2
    flow = parse_text("{uniform: {dropout_prob: [0.0, 0.5]}}", "s")
    assert flow["dropout_prob"].high == 0.5


def test_every_type_and_recboles_number_reading():
    space = parse_text(
        "uniform: {a: [0, 1]}\n"
        "quniform: {b: [0, 10, 3]}\n"
        "qloguniform: {c: ['-3', '0', '5e-2']}\n"  # RecBole float()s the bounds: numeric strings work
        "randint: {d: [1, 5]}\n"
        "choice: {e: [1e-4, 1.0e-5, true, null, [1, 2], {k: v}]}\n",
        "s",
        format="yaml",
    )
    assert [p.kind for p in space.params] == ["float", "float", "float", "int", "choice"]
    assert (space["b"].low, space["b"].high, space["b"].step) == (0.0, 9.0, 3.0)
    assert space["c"].q == 0.05 and space["c"].log
    assert (space["d"].low, space["d"].high) == (1, 4)
    # 1e-4 is a float as RecBole's YAML loader reads it, not the string plain PyYAML makes of it
    assert same(list(space["e"].values), [1e-4, 1e-5, True, None, [1, 2], {"k": "v"}])


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("choice:\n  a: [1]\nchoise:\n  b: [2]\n", 3, "unknown type 'choise'"),
        ("choice:\n  a: [1]\nchoice:\n  b: [2]\n", 3, "'choice' appears twice (first on line 1)"),
        ("choice:\n  a: [1]\nuniform:\n  a: [0, 1]\n", 4, "'a' is defined twice (first on line 2)"),
        ("choice:\n  a: [1]\n  a: [2]\n", 3, "'a' is defined twice"),
        ("uniform:\n  a: [0]\n", 2, "uniform takes 2 numbers LOW,HIGH; got 1"),
        ("uniform:\n  a: 0.5\n", 2, "uniform expects a list LOW,HIGH"),
        ("uniform:\n  a: [1, 0]\n", 2, "LOW must be below HIGH"),
        ("uniform:\n  a: [true, 2]\n", 2, "uniform LOW True is not a number"),
        ("quniform:\n  a: [0, 1, 0]\n", 2, "Q must be above 0"),
        ("choice:\n  a: 5\n", 2, "is an int, not a list"),
        ("choice:\n  a: []\n", 2, "is empty"),
        ("choice:\n  a: [2024-01-01]\n", 2, "holds a date"),
        ("choice:\n  a: !!set {1, 2}\n", 2, "is a set, not a list"),
        ("choice:\n  '1a': [1]\n", 2, "'1a' is not a parameter name"),
        ("choice:\n  a: [1\n", 3, "not valid YAML"),
        ("choice: [1, 2]\n", 1, "choice: expected a mapping of names to [OPTION,...]"),
        ("choice:\n", 1, "choice: expected a mapping of names"),
        ("- choice\n", 1, "expected a mapping of types (choice, uniform, ...)"),
        ("choice:\n  a: &x [1]\n  b: *x\n", 2, "anchors and aliases are not supported"),
        ("choice:\n  a: !!python/object/apply:os.system ['true']\n", 2, "not valid YAML"),
        ("---\n", 1, "no parameters"),
    ],
)
def test_yaml_errors_name_file_line_and_what_was_expected(write, text, line, fragment):
    path = write(text, "space.yaml")
    with pytest.raises(SpaceError) as caught:
        parse_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message, message


def test_yaml_python_tags_never_run(write, tmp_path):
    marker = tmp_path / "ran"
    text = f"choice:\n  a: [!!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path ['{marker}']]]\n"
    with pytest.raises(SpaceError, match="not valid YAML"):
        parse_file(write(text, "space.yml"))
    assert not marker.exists()
