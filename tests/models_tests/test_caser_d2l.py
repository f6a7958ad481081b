"""CaserD2L: the D2L tutorial's Caser (shapes, parameter names, init, the convolutions as the tutorial's modules)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tuner.config import merge
from tuner.errors import ConfigError
from tuner.models import build_model
from tuner.models.base import Batch
from tuner.models.caser_d2l import CaserD2L, CaserD2LConfig
from tuner.training.settings import known_params, resolve

U, I, L, K = 7, 11, 4, 6


def model(**params) -> CaserD2L:
    torch.manual_seed(0)
    return build_model("CaserD2L", {"num_factors": K, **params}, n_user_ids=U, n_item_ids=I, max_seq_length=L)


def batch(B: int = 5) -> Batch:
    g = torch.Generator().manual_seed(1)
    return Batch(
        user=torch.randint(U, (B,), generator=g),
        item_seq=torch.randint(I, (B, L), generator=g),
        item_len=torch.full((B,), L),
        target=torch.randint(I, (B,), generator=g),
        neg_item=torch.randint(I, (B,), generator=g),
    )


def tutorial_forward(m: CaserD2L, user, seq, item):
    """The tutorial's ``Caser.forward`` written with its Conv2d / MaxPool1d calls, in eval mode."""
    E = m.Q(seq).unsqueeze(1)  # (B, 1, L, k)
    parts = []
    if m.conv_v is not None:
        v = F.conv2d(E, m.conv_v.weight, m.conv_v.bias)  # (B, d', 1, k)
        parts.append(v.reshape(v.shape[0], -1))
    for conv in m.conv_h:
        out = torch.relu(F.conv2d(E, conv.weight, conv.bias)).squeeze(3)  # (B, d, L - h + 1)
        parts.append(F.max_pool1d(out, out.shape[2]).squeeze(2))
    z = m.fc(torch.cat(parts, dim=1))
    x = torch.cat([z, m.P(user)], dim=1)
    return (x * m.Q_prime(item)).sum(1) + m.b(item).squeeze(1)


def test_parameter_names_and_shapes_are_the_tutorials():
    shapes = {name: tuple(p.shape) for name, p in model().named_parameters()}
    expected = {"P.weight": (U, K), "Q.weight": (I, K), "conv_v.weight": (4, 1, L, 1), "conv_v.bias": (4,),
                "fc.0.weight": (K, 4 * K + 16 * L), "fc.0.bias": (K,), "Q_prime.weight": (I, 2 * K), "b.weight": (I, 1)}
    for h in range(1, L + 1):
        expected[f"conv_h.{h - 1}.weight"] = (16, 1, h, K)
        expected[f"conv_h.{h - 1}.bias"] = (16,)
    assert shapes == expected


def test_every_weight_is_normal_0_01_and_every_bias_zero():
    torch.manual_seed(0)
    m = CaserD2L(CaserD2LConfig(n_user_ids=300, n_item_ids=500, max_seq_length=5))
    weights = []
    for name, p in m.named_parameters():
        if name.endswith("bias"):
            assert torch.count_nonzero(p) == 0, name
        else:  # torch's defaults (N(0, 1) embeddings, uniform(+-1/sqrt(fan_in))) reach far beyond 6 sigma
            assert p.abs().max() < 0.06, name
            weights.append(p.detach().flatten())
    pooled = torch.cat(weights)
    assert abs(pooled.std().item() - 0.01) < 0.0005 and abs(pooled.mean().item()) < 0.0005


@pytest.mark.parametrize("params", [{}, {"d": 0}, {"d_prime": 0}, {"d": 3, "d_prime": 2}])
def test_scores_equal_the_tutorials_convolutions(params):
    m = model(**params).eval()
    with torch.no_grad():  # larger weights than the init, so ReLU and max pooling have work to do
        for p in m.parameters():
            p.normal_(0.0, 0.5)
    b = batch()
    expected = tutorial_forward(m, b.user, b.item_seq, b.target)
    x = m.sequence_representation(b)
    assert x.shape == (5, 2 * K)
    torch.testing.assert_close(m.score(x, b.target), expected)
    scores = m.full_sort_scores(b)
    assert scores.shape == (5, I)
    torch.testing.assert_close(scores.gather(1, b.target[:, None])[:, 0], expected)


def test_loss_is_the_batch_mean_bpr_and_works_at_batch_size_one():
    m = model(drop_ratio=0.0)
    b = batch()
    x = m.sequence_representation(b)
    expected = -torch.log(torch.sigmoid(m.score(x, b.target) - m.score(x, b.neg_item))).mean()
    torch.testing.assert_close(m.loss(b), expected)
    one = Batch(b.user[:1], b.item_seq[:1], b.item_len[:1], b.target[:1], b.neg_item[:1])
    assert m.loss(one).shape == () and m.full_sort_scores(one).shape == (1, I)


def test_both_branches_off_is_an_error_naming_d_and_d_prime():
    with pytest.raises(ConfigError, match=r"d, d_prime"):
        model(d=0, d_prime=0)
    with pytest.raises(ConfigError, match="drop_ratio"):
        model(drop_ratio=1.5)


def test_known_params_read_like_the_tutorial():
    known = known_params("CaserD2L")
    assert {k: known[k] for k in ("num_factors", "d", "d_prime", "drop_ratio")} == {
        "num_factors": 10, "d": 16, "d_prime": 4, "drop_ratio": 0.05}
    assert (known["MAX_ITEM_LIST_LENGTH"], known["learning_rate"], known["weight_decay"]) == (5, 0.04, 1e-5)
    assert (known["train_batch_size"], known["epochs"], known["holdout"]) == (4096, 8, "test")
    assert "holdout" not in known_params("Caser") and known_params("Caser")["learning_rate"] == 0.001


def test_L_is_an_alias_of_MAX_ITEM_LIST_LENGTH_and_one_layer_cannot_give_both():
    assert resolve("CaserD2L", overrides={"L": 7})["MAX_ITEM_LIST_LENGTH"] == 7
    assert resolve("CaserD2L", overrides={"MAX_ITEM_LIST_LENGTH": 6})["MAX_ITEM_LIST_LENGTH"] == 6
    with pytest.raises(ConfigError, match=r"'L' and 'MAX_ITEM_LIST_LENGTH' are the same parameter"):
        resolve("CaserD2L", overrides={"L": 7, "MAX_ITEM_LIST_LENGTH": 6})
    # a later layer may restate it under the other name
    assert merge({"MAX_ITEM_LIST_LENGTH": 5}, [("file", {"L": 3}), ("--set", {"MAX_ITEM_LIST_LENGTH": 4})]) == {
        "MAX_ITEM_LIST_LENGTH": 4}


def test_dropout_drops_drop_ratio_of_the_features_and_follows_torch_seed():
    from tuner.models.caser_d2l import dropout_scale

    torch.manual_seed(3)
    scale = dropout_scale((2, 4096, 120), 0.05, torch.device("cpu"))
    assert scale.unique().tolist() == [0.0, pytest.approx(1 / 0.95)]
    assert abs((scale == 0).double().mean().item() - 0.05) < 0.002
    assert not torch.equal(scale[0], scale[1])  # the positive's and the negative's masks differ
    torch.manual_seed(3)
    assert torch.equal(dropout_scale((2, 4096, 120), 0.05, torch.device("cpu")), scale)
