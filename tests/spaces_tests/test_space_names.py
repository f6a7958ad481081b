"""Names checked against a model's and the trainer's parameters, with the closest one suggested."""

import pytest

from tuner.config import TRAIN_DEFAULTS
from tuner.errors import SpaceError
from tuner.spaces import parse_text

CASER_AND_TRAINER = {"embedding_size": 64, "nh": 16, "nv": 8, "reg_weight": 1e-4, "dropout_prob": 0.4, **TRAIN_DEFAULTS}


def test_an_unknown_name_is_an_error_at_its_line_with_the_closest_name():
    space = parse_text("learning_rate choice [0.01]\ndropout_rate uniform 0,0.5\n", "caser.hyper")
    with pytest.raises(SpaceError) as caught:
        space.check_names(CASER_AND_TRAINER, where="Caser")
    assert str(caught.value) == (
        "caser.hyper:2: unknown parameter 'dropout_rate' for Caser (did you mean 'dropout_prob'?)"
    )


def test_known_names_pass_from_a_mapping_or_an_iterable_and_aliases_either_way():
    space = parse_text("n_h choice [4, 8]\nnv choice [2]\nlearning_rate choice [0.01]", "s")
    space.check_names(CASER_AND_TRAINER)
    space.check_names(list(CASER_AND_TRAINER))
    space.check_names(["n_h", "n_v", "learning_rate"])  # a list that spells RecBole's aliases


def test_a_name_far_from_any_known_one_gets_no_suggestion():
    space = parse_text("zzz choice [1]", "s")
    with pytest.raises(SpaceError) as caught:
        space.check_names(CASER_AND_TRAINER)
    assert str(caught.value) == "s:1: unknown parameter 'zzz'"


def test_a_case_slip_is_suggested():
    with pytest.raises(SpaceError, match=r"did you mean 'learning_rate'\?"):
        parse_text("Learning_Rate choice [1]", "s").check_names(CASER_AND_TRAINER)
