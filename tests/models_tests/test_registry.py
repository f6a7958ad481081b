import re

import pytest
import torch

from tuner.config import TRAIN_DEFAULTS
from tuner.errors import ConfigError
from tuner.models import MODEL_NAMES, Caser, GRU4RecF, build_model, model_defaults

GENRES = torch.tensor([[0, 0], [1, 2], [2, 0], [1, 0]])
SHAPE = dict(n_user_ids=5, n_item_ids=4, max_seq_length=3, item_features={"class": GENRES}, feature_sizes={"class": 3})


def test_names_and_recbole_defaults():
    assert MODEL_NAMES == ("Caser", "GRU4RecF", "CaserD2L")
    # RecBole 1.2.1's properties/model/Caser.yaml and GRU4RecF.yaml
    assert model_defaults("Caser") == {
        "embedding_size": 64, "nh": 8, "nv": 4, "dropout_prob": 0.4, "reg_weight": 1e-4, "loss_type": "CE",
    }
    assert model_defaults("GRU4RecF") == {
        "embedding_size": 64, "hidden_size": 128, "num_layers": 1, "dropout_prob": 0.3,
        "selected_features": ["class"], "pooling_mode": "sum", "loss_type": "CE",
    }


def test_build_takes_its_own_keys_and_ignores_the_rest():
    params = {**TRAIN_DEFAULTS, "MAX_ITEM_LIST_LENGTH": 3, "embedding_size": 6, "n_h": 2, "nv": 1, "hidden_size": 99}
    model = build_model("Caser", params, **SHAPE)
    assert isinstance(model, Caser)
    assert (model.config.embedding_size, model.config.nh, model.config.nv) == (6, 2, 1)
    gru = build_model("gru4recf", params, **SHAPE)
    assert isinstance(gru, GRU4RecF) and gru.config.hidden_size == 99 and gru.config.embedding_size == 6


def test_integral_floats_are_accepted_as_integers():
    model = build_model("Caser", {"embedding_size": 8.0, "nh": 1e0}, **SHAPE)
    assert model.config.embedding_size == 8 and isinstance(model.config.embedding_size, int)


def test_selected_features_may_be_one_string():
    assert build_model("GRU4RecF", {"selected_features": "class"}, **SHAPE).config.selected_features == ("class",)


@pytest.mark.parametrize(
    "name,params,message",
    [
        ("Caser", {"loss_type": "XYZ"}, "loss_type: expected one of 'CE', 'BPR', got 'XYZ'"),
        ("GRU4RecF", {"pooling_mode": "avg"}, "pooling_mode: expected one of 'sum', 'mean', 'max', got 'avg'"),
        ("Caser", {"dropout_prob": -0.1}, "dropout_prob: expected a number >= 0.0 and <= 1.0, got -0.1"),
        ("GRU4RecF", {"dropout_prob": "high"}, "dropout_prob: expected a number"),
        ("Caser", {"reg_weight": -1}, "reg_weight: expected a number >= 0.0"),
        ("Caser", {"embedding_size": 0}, "embedding_size: expected an integer >= 1, got 0"),
        ("Caser", {"nh": 2.5}, "nh: expected an integer >= 0, got 2.5"),
        ("Caser", {"n_v": -1}, "nv: expected an integer >= 0, got -1"),
        ("GRU4RecF", {"num_layers": True}, "num_layers: expected an integer >= 1, got True"),
        ("GRU4RecF", {"selected_features": ["genre"]}, "selected_features: 'genre' is not an item feature of this dataset; expected names from 'class'"),
        ("GRU4RecF", {"selected_features": []}, "selected_features: expected a non-empty list of names"),
        ("GRU4RecF", {"selected_features": ["class", "class"]}, "selected_features: a name is listed twice"),
        ("SASRec", {}, "model: unknown model 'SASRec'.*expected one of Caser, GRU4RecF"),
        ("Caserr", {}, "did you mean 'Caser'"),
    ],
)
def test_invalid_values_name_the_parameter_and_what_is_allowed(name, params, message):
    with pytest.raises(ConfigError, match=message if ".*" in message else re.escape(message)):
        build_model(name, params, **SHAPE)


def test_gru4recf_without_features_names_the_missing_feature():
    with pytest.raises(ConfigError, match="selected_features: 'class' is not an item feature.*\\(none\\)"):
        build_model("GRU4RecF", {}, n_user_ids=5, n_item_ids=4, max_seq_length=3, item_features={}, feature_sizes={})


def test_defaults_are_a_fresh_copy():
    model_defaults("GRU4RecF")["selected_features"].append("x")
    assert model_defaults("GRU4RecF")["selected_features"] == ["class"]
