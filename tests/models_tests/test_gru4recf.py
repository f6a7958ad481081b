import pytest
import torch

from tuner.errors import ConfigError
from tuner.models import Batch, GRU4RecF, GRU4RecFConfig, ItemFeatureEmbedding

from models_helpers import random_batch

N_ITEMS, L = 12, 6
# item 0 is padding; item 5 has no genre; item 7 has one genre
GENRES = torch.tensor([[0, 0, 0], [1, 2, 0], [3, 0, 0], [2, 3, 4], [4, 1, 0], [0, 0, 0], [1, 0, 0],
                       [2, 0, 0], [3, 4, 0], [4, 0, 0], [1, 3, 0], [2, 4, 1]])
YEAR = torch.tensor([0, 1, 2, 1, 3, 0, 2, 2, 1, 3, 1, 2])  # a token field: one id per item, 0 = missing
FEATURES = {"class": GENRES, "year": YEAR}
SIZES = {"class": 5, "year": 4}


def make(**overrides) -> GRU4RecF:
    return GRU4RecF(GRU4RecFConfig(n_item_ids=N_ITEMS, max_seq_length=L, **overrides), FEATURES, SIZES)


@pytest.mark.parametrize("batch_size", [1, 4])
@pytest.mark.parametrize("loss_type", ["CE", "BPR"])
def test_shapes(batch_size, loss_type):
    model = make(embedding_size=8, hidden_size=10, loss_type=loss_type)
    batch = random_batch(batch_size, L, 5, N_ITEMS)
    assert model.sequence_representation(batch).shape == (batch_size, 8)
    assert model.full_sort_scores(batch).shape == (batch_size, N_ITEMS)
    assert model.loss(batch).shape == ()
    assert model.needs_negative == (loss_type == "BPR")


def recbole_pooling(table, ids, mode):
    """RecBole's embed_token_seq_fields for one field, at every position: (B, L, F) ids -> (B, L, d)."""
    mask = (ids != 0).float()
    count = mask.sum(-1, keepdim=True)
    emb = table(ids)
    mask = mask.unsqueeze(-1).expand_as(emb)
    if mode == "max":
        return torch.max(emb - (1 - mask) * 1e9, dim=-2).values
    summed = torch.sum(emb * mask, dim=-2)
    return summed if mode == "sum" else summed / (count + torch.FloatTensor([1e-8]))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_pooling_matches_recbole_per_position(mode):
    layer = ItemFeatureEmbedding(FEATURES, SIZES, ["class"], mode, 4)
    item_seq = torch.tensor([[1, 5, 3, 0], [7, 11, 0, 0]])
    expected = recbole_pooling(layer.token_seq_embeddings[0], GENRES[item_seq], mode)
    torch.testing.assert_close(layer(item_seq), expected, rtol=0, atol=0)


def test_token_fields_come_first_share_one_table_and_do_not_mask_id_0():
    layer = ItemFeatureEmbedding(FEATURES, SIZES, ["class", "year"], "sum", 4)
    assert layer.token_fields == ("year",) and layer.token_seq_fields == ("class",)
    item_seq = torch.tensor([[5, 2]])
    out = layer(item_seq).view(1, 2, 2, 4)  # (B, L, fields, d): year first
    torch.testing.assert_close(out[0, :, 0], layer.token_embedding.weight[YEAR[item_seq[0]]])
    assert out[0, 0, 0].abs().sum() > 0  # item 5's missing year (id 0) still has an embedding
    assert out[0, 0, 1].abs().sum() == 0  # item 5 has no genre: the sum is 0
    torch.testing.assert_close(out[0, 1, 1], layer.token_seq_embeddings[0].weight[3])


def test_two_token_fields_are_offset_in_the_shared_table():
    features = {"a": torch.tensor([0, 1, 2]), "b": torch.tensor([0, 2, 1])}
    layer = ItemFeatureEmbedding(features, {"a": 3, "b": 3}, ["a", "b"], "sum", 2)
    assert layer.token_embedding.num_embeddings == 6
    out = layer(torch.tensor([[1]])).view(2, 2)
    torch.testing.assert_close(out[1], layer.token_embedding.weight[3 + 2])


def test_feature_gru_input_is_one_embedding_per_selected_field():
    model = make(embedding_size=8, selected_features=["class", "year"])
    assert model.feature_gru.input_size == 16


def test_output_ignores_positions_after_item_len():
    model = make(embedding_size=8).eval()
    batch = random_batch(5, L, 5, N_ITEMS)
    other = batch.item_seq.clone()
    after = torch.arange(L)[None, :] >= batch.item_len[:, None]
    other[after] = 3  # real items where padding was
    changed = Batch(batch.user, other, batch.item_len, batch.target)
    torch.testing.assert_close(model.sequence_representation(batch), model.sequence_representation(changed))


def test_output_is_taken_at_the_last_real_position():
    model = make(embedding_size=8).eval()
    batch = random_batch(1, L, 5, N_ITEMS)
    full = Batch(batch.user, torch.tensor([[1, 2, 3, 4, 5, 6]]), torch.tensor([6]), batch.target)
    shorter = Batch(batch.user, full.item_seq, torch.tensor([3]), batch.target)
    prefix = Batch(batch.user, torch.tensor([[1, 2, 3, 0, 0, 0]]), torch.tensor([3]), batch.target)
    assert not torch.allclose(model(full), model(shorter))
    torch.testing.assert_close(model(shorter), model(prefix))


def test_dropout_is_on_items_only():
    model = make(embedding_size=8, dropout_prob=0.9).train()
    batch = random_batch(3, L, 5, N_ITEMS)
    seen = {}
    model.feature_gru.register_forward_hook(lambda m, i, o: seen.setdefault("features", []).append(i[0]))
    model(batch)
    model(batch)
    torch.testing.assert_close(seen["features"][0], seen["features"][1])
    assert not torch.equal(model(batch), model(batch))


def test_every_parameter_gets_a_gradient():
    model = make(embedding_size=8, selected_features=["class", "year"])
    model.loss(random_batch(6, L, 5, N_ITEMS)).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_missing_feature_is_a_config_error_naming_the_choices():
    with pytest.raises(ConfigError, match="selected_features: 'genre' is not an item feature.*'class', 'year'"):
        make(selected_features=["genre"])


def test_feature_table_of_wrong_length_is_refused():
    with pytest.raises(ValueError, match="rows"):
        GRU4RecF(GRU4RecFConfig(n_item_ids=N_ITEMS + 1, max_seq_length=L), FEATURES, SIZES)


def test_feature_tables_are_buffers_that_follow_the_model():
    model = make().to(torch.float64)
    buffers = dict(model.named_buffers())
    assert buffers["features.token_seq_ids_0"].dtype == torch.long  # ids stay ids
    assert "features.token_seq_ids_0" not in model.state_dict()  # data, not weights
