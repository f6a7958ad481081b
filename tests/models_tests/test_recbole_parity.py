"""RecBole 1.2.1's own weights and outputs (tests/fixtures) reproduced within 1e-5."""

import pytest
import torch
from models_helpers import load_fixture

from tuner.models import Batch, build_model, load_recbole_state_dict


def recbole_model(name: str, loss_type: str):
    fixture = load_fixture(name)
    params = {**fixture["config"], "loss_type": loss_type}
    shape = dict(n_user_ids=len(fixture["user_tokens"]), n_item_ids=len(fixture["item_tokens"]),
                 max_seq_length=fixture["config"]["MAX_ITEM_LIST_LENGTH"])
    if name == "gru4recf":
        shape.update(item_features={"class": fixture["item_class"]}, feature_sizes={"class": len(fixture["class_tokens"])})
    model = build_model(fixture["model"], params, **shape)
    load_recbole_state_dict(model, fixture["state_dict"])
    b = fixture["batch"]
    batch = Batch(b["user_id"], b["item_id_list"], b["item_length"], b["item_id"], b["neg_item_id"])
    return model.eval(), batch, fixture["outputs"]


@pytest.mark.parametrize("name", ["caser", "gru4recf"])
@pytest.mark.parametrize("loss_type", ["CE", "BPR"])
def test_outputs_match_recbole(name, loss_type):
    model, batch, expected = recbole_model(name, loss_type)
    with torch.no_grad():
        torch.testing.assert_close(model.sequence_representation(batch), expected["seq_output"], rtol=0, atol=1e-5)
        torch.testing.assert_close(model.full_sort_scores(batch), expected["full_sort_scores"], rtol=0, atol=1e-5)
        loss = model.loss(batch)
    torch.testing.assert_close(loss, expected["loss_ce" if loss_type == "CE" else "loss_bpr"], rtol=0, atol=1e-5)


def test_fixture_batch_has_padding_and_full_histories():
    # the comparison above covers both cases only if the batch holds both
    lengths = load_fixture("caser")["batch"]["item_length"]
    assert (lengths < 10).any() and (lengths == 10).any()


def test_translation_refuses_missing_and_unknown_parameters():
    model, _, _ = recbole_model("caser", "CE")
    state = dict(load_fixture("caser")["state_dict"])
    with pytest.raises(KeyError, match="conv_h.9.weight"):
        load_recbole_state_dict(model, {k: v for k, v in state.items() if k != "conv_h.9.weight"})
    with pytest.raises(KeyError, match="extra.weight"):
        load_recbole_state_dict(model, {**state, "extra.weight": torch.zeros(1)})


def test_translation_refuses_a_model_of_another_shape():
    fixture = load_fixture("caser")
    model = build_model("Caser", {**fixture["config"], "MAX_ITEM_LIST_LENGTH": 10, "nh": 4},
                        n_user_ids=944, n_item_ids=1683, max_seq_length=10)
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_recbole_state_dict(model, fixture["state_dict"])
