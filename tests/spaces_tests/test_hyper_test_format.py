"""The hyper.test format, rule by rule, read as RecBole 1.2.1 reads it (``_build_space_from_file``)."""

import math

import pytest
from space_helpers import FIXTURES, same

from tuner.errors import SpaceError
from tuner.spaces import parse_file, parse_text


def test_recbole_example_file_reads_as_recbole_means_it():
    space = parse_file(FIXTURES / "recbole-example.hyper")
    assert space.names == ("learning_rate", "embedding_size", "train_batch_size", "mlp_hidden_size")
    assert space.to_json() == {
        "params": {
            "learning_rate": {"kind": "float", "low": 0.00033546262790251185, "high": 1.0, "log": True, "step": None},
            "embedding_size": {"kind": "choice", "values": [64, 96, 128]},
            "train_batch_size": {"kind": "choice", "values": [512, 1024, 2048]},
            # quoted lists stay the strings RecBole passes on
            "mlp_hidden_size": {"kind": "choice", "values": ["[64,64,64]", "[128,128]"]},
        },
        "grid_size": None,
    }
    assert space["learning_rate"].low == math.exp(-8) and space["learning_rate"].high == math.exp(0)


def test_recbole_repository_file_without_final_newline():
    space = parse_file(FIXTURES / "recbole-repo-root.hyper")
    assert space.names == ("learning_rate", "dropout_prob", "train_batch_size", "kl_loss_weight")
    assert space.grid_size == 3 * 3 * 1 * 3
    assert same(space["train_batch_size"].values, (2048,))


def test_words_split_on_any_whitespace_and_the_value_is_joined_without_it():
    spaced = parse_text("learning_rate \t choice   [0.1, 0.2,\t0.3]\nnum_layers choice [1, 2]", "a")
    tight = parse_text("learning_rate choice [0.1,0.2,0.3]\nnum_layers choice [1,2]", "b")
    assert spaced.to_json() == tight.to_json()
    assert spaced["learning_rate"].written == "[0.1,0.2,0.3]"


def test_spaces_inside_quoted_options_are_removed_as_recbole_joins_the_value():
    space = parse_text("pooling_mode choice ['sum', 'me an']", "s")
    assert space["pooling_mode"].values == ("sum", "mean")


def test_blank_lines_comments_crlf_cr_and_bom_are_fine(write):
    text = "\ufeff# a header\r\n\r\n   # indented comment\r\nlearning_rate choice [0.01,0.001]\r\n\rnum_layers choice [1,2]\r\n   \r\n"
    space = parse_file(write(text))
    assert space.names == ("learning_rate", "num_layers")
    assert [p.line for p in space.params] == [4, 6]


def test_line_numbers_count_crlf_lines_once():
    with pytest.raises(SpaceError, match=r"^f:3: "):
        parse_text("a choice [1]\r\nb choice [2]\r\nc choise [3]\r\n", "f")


def test_comment_after_a_value():
    space = parse_text("a choice [1,2] # two options\nb uniform 0,1 # a range", "s")
    assert space["a"].values == (1, 2)
    assert (space["b"].low, space["b"].high) == (0.0, 1.0)


def test_choice_values_stay_as_written():
    space = parse_text(
        "a choice [0, 0.0, 1e-4, -3, True, None, 'x']\n"
        "b choice [[1, 2], {'k': [3]}, '[64,64,64]']\n"
        "c choice (4, 5)\n",
        "s",
    )
    assert same(list(space["a"].values), [0, 0.0, 1e-4, -3, True, None, "x"])
    assert same(list(space["b"].values), [[1, 2], {"k": [3]}, "[64,64,64]"])
    assert same(list(space["c"].values), [4, 5])  # a tuple of options works, as hp.choice takes it


@pytest.mark.parametrize(
    "line, expected",
    [
        ("x uniform 0.1,0.5", {"kind": "float", "low": 0.1, "high": 0.5, "log": False, "step": None}),
        ("x uniform -1,1e-3", {"kind": "float", "low": -1.0, "high": 0.001, "log": False, "step": None}),
        # hyperopt: round(U(0, 10) / 3) * 3 reaches 0, 3, 6, 9 (10/3 rounds down to 3)
        ("x quniform 0,10,3", {"kind": "float", "low": 0.0, "high": 9.0, "log": False, "step": 3.0}),
        # round(U(1, 4) / 2): just above 0.5 rounds to 1, just below 2 rounds to 2
        ("x quniform 1,4,2", {"kind": "float", "low": 2.0, "high": 4.0, "log": False, "step": 2.0}),
        ("x quniform 0.3,1.05,0.1", {"kind": "float", "low": 0.3, "high": 1.0, "log": False, "step": 0.1}),
        ("x loguniform -8,0", {"kind": "float", "low": 0.00033546262790251185, "high": 1.0, "log": True, "step": None}),
        (
            "x qloguniform -3,0,0.05",
            {"kind": "float", "low": math.exp(-3), "high": 1.0, "log": True, "step": None, "q": 0.05},
        ),
        ("x randint 1,5", {"kind": "int", "low": 1, "high": 4, "log": False, "step": 1}),  # [1, 5): 1..4
        ("x randint -2,-1", {"kind": "int", "low": -2, "high": -2, "log": False, "step": 1}),
    ],
)
def test_each_type_as_optuna_sees_it(line, expected):
    got = parse_text(line, "s").to_json()["params"]["x"]
    assert got == expected
    assert all(type(got[k]) is type(v) for k, v in expected.items())


@pytest.mark.parametrize(
    "text, line, fragments",
    [
        ("lr choise [1]", 1, ["unknown type 'choise'", "expected one of choice, uniform", "did you mean 'choice'"]),
        ("lr Uniform 0,1", 1, ["unknown type 'Uniform'", "did you mean 'uniform'"]),
        ("# c\nlr choice", 2, ["lr choice has no value", "expected lr choice [OPTION,...]"]),
        ("lr", 1, ["'lr' has no type or value", "expected NAME TYPE VALUE"]),
        ("lr uniform 0", 1, ["uniform takes 2 numbers LOW,HIGH; got 1"]),
        ("lr uniform 0,1,2", 1, ["uniform takes 2 numbers LOW,HIGH; got 3"]),
        ("lr quniform 0,1", 1, ["quniform takes 3 numbers LOW,HIGH,Q; got 2"]),
        ("lr randint 1", 1, ["randint takes 2 numbers LOW,HIGH; got 1"]),
        ("lr uniform 1,1", 1, ["LOW must be below HIGH"]),
        ("lr uniform 2,1", 1, ["LOW must be below HIGH"]),
        ("lr loguniform 0,-8", 1, ["LOW must be below HIGH"]),
        ("lr randint 5,5", 1, ["randint LOW must be below HIGH"]),
        ("lr quniform 0,1,0", 1, ["Q must be above 0; got 0.0"]),
        ("lr qloguniform -3,0,-0.1", 1, ["Q must be above 0"]),
        ("lr choice [1]\n\nlr choice [2]", 3, ["'lr' is defined twice (first on line 1)"]),
        ("n_h choice [1]\nnh choice [2]", 2, ["'nh' is the same parameter as 'n_h' (first on line 1)"]),
        ("lr choice [1,2", 1, ["is not a literal list", "nothing in a space file is evaluated"]),
        ("lr choice [inf]", 1, ["is not a literal list"]),
        ("lr choice foo", 1, ["is not a literal list"]),
        ("lr choice 5", 1, ["is an int, not a list; expected a list such as"]),
        ("lr choice {1,2}", 1, ["is a set, not a list"]),
        ("lr choice []", 1, ["is empty"]),
        ("lr choice [0.1,0.1]", 1, ["lists 0.1 twice (options 1 and 2)"]),
        ("lr choice [1j]", 1, ["holds a complex number"]),
        ("lr choice [b'x']", 1, ["holds bytes"]),
        ("lr choice [(1,2)]", 1, ["holds a tuple"]),
        ("lr choice [{1:2}]", 1, ["expected dict keys to be strings"]),
        ("lr choice [1e999]", 1, ["expected finite numbers"]),
        ("lr uniform a,1", 1, ["uniform LOW 'a' is not a number"]),
        ("lr uniform 0,nan", 1, ["uniform HIGH 'nan' is not a finite number"]),
        ("lr uniform [0,1]", 1, ["uniform LOW '[0' is not a number"]),
        ("lr uniform 0,", 1, ["uniform HIGH '' is not a number"]),
        ("lr randint 1.5,3", 1, ["randint LOW '1.5' is not an integer"]),
        ("lr loguniform 0,1000", 1, ["natural logarithm", "overflows"]),
        ("lr loguniform -1000,0", 1, ["natural logarithm", "underflows to 0"]),
        ("1lr choice [1]", 1, ["'1lr' is not a parameter name"]),
        ("lr-x choice [1]", 1, ["'lr-x' is not a parameter name"]),
        ("", 1, ["no parameters"]),
        ("\n\n  # only a comment\n", 1, ["no parameters"]),
    ],
)
def test_errors_name_file_line_and_what_was_expected(write, text, line, fragments):
    path = write(text)
    with pytest.raises(SpaceError) as caught:
        parse_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    for fragment in fragments:
        assert fragment in message, message


def test_unreadable_and_non_utf8_files(tmp_path):
    with pytest.raises(SpaceError, match=r"missing\.hyper: cannot read search-space file"):
        parse_file(tmp_path / "missing.hyper")
    path = tmp_path / "latin1.hyper"
    path.write_bytes(b"a choice [1]\nb choice ['\xe9']\n")
    with pytest.raises(SpaceError, match=r"latin1\.hyper:2: not UTF-8 text"):
        parse_file(path)


@pytest.mark.parametrize(
    "template",
    [
        "x choice [__import__('pathlib').Path({marker!r}).touch()]",
        "x choice __import__('pathlib').Path({marker!r}).touch()",
        "x choice [1] if __import__('pathlib').Path({marker!r}).touch() else [2]",
        "x uniform __import__('pathlib').Path({marker!r}).touch(),1",
        "x randint int(__import__('pathlib').Path({marker!r}).touch()),1",
    ],
)
def test_nothing_in_a_file_is_evaluated(write, tmp_path, template):
    marker = tmp_path / "ran"
    with pytest.raises(SpaceError):
        parse_file(write(template.format(marker=str(marker))))
    assert not marker.exists()
