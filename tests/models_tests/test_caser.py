import math

import pytest
import torch

from tuner.errors import ConfigError
from tuner.models import Batch, Caser, CaserConfig
from tuner.models.horizontal import packed_rows

from models_helpers import random_batch

N_USERS, N_ITEMS, L = 7, 30, 5


def make(**overrides) -> Caser:
    return Caser(CaserConfig(n_user_ids=N_USERS, n_item_ids=N_ITEMS, max_seq_length=L, **overrides))


@pytest.mark.parametrize("batch_size", [1, 3])
@pytest.mark.parametrize("loss_type", ["CE", "BPR"])
def test_shapes(batch_size, loss_type):
    model = make(embedding_size=12, loss_type=loss_type)
    batch = random_batch(batch_size, L, N_USERS, N_ITEMS)
    assert model.sequence_representation(batch).shape == (batch_size, 12)
    assert model.full_sort_scores(batch).shape == (batch_size, N_ITEMS)
    assert model.loss(batch).shape == ()
    assert model.needs_negative == (loss_type == "BPR")


@pytest.mark.parametrize("nh,nv", [(0, 3), (3, 0)])
def test_a_branch_can_be_dropped(nh, nv):
    model = make(embedding_size=8, nh=nh, nv=nv)
    assert model.fc1.in_features == nv * 8 + nh * L
    batch = random_batch(4, L, N_USERS, N_ITEMS)
    model.loss(batch).backward()
    assert all(p.grad is not None for p in model.parameters() if p.numel())


def test_both_branches_dropped_is_a_config_error():
    with pytest.raises(ConfigError, match="nh, nv"):
        make(nh=0, nv=0)


def test_every_parameter_gets_a_gradient():
    model = make(embedding_size=8)
    model.loss(random_batch(6, L, N_USERS, N_ITEMS)).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_padding_rows_are_initialised_and_get_no_gradient_through_the_lookup():
    model = make(embedding_size=8)
    assert model.item_embedding.weight[0].abs().sum() > 0  # RecBole's init overwrites the padding row
    batch = random_batch(6, L, N_USERS, N_ITEMS)
    assert (batch.item_seq == 0).any()
    model.sequence_representation(batch).sum().backward()
    assert model.item_embedding.weight.grad[0].abs().sum() == 0
    # (as in RecBole, the CE logits and the regularisation do reach the padding row)
    model.zero_grad()
    model.loss(batch).backward()
    assert model.item_embedding.weight.grad[0].abs().sum() > 0


def test_initialisation_follows_recbole():
    model = Caser(CaserConfig(n_user_ids=500, n_item_ids=2000, max_seq_length=10))
    d = 64
    assert model.item_embedding.weight.std().item() == pytest.approx(1 / d, rel=0.05)
    assert model.fc1.bias.abs().sum() == 0 and model.fc2.bias.abs().sum() == 0
    fan_in, fan_out = model.fc1.in_features, model.fc1.out_features
    assert model.fc1.weight.std().item() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.05)
    for h in (1, 10):  # PyTorch's Conv2d default: uniform(+-1/sqrt(h*d))
        rows = model.conv_h_weight[h * (h - 1) // 2 : h * (h + 1) // 2]
        assert rows.abs().max().item() <= 1 / math.sqrt(h * d)
        assert rows.abs().max().item() > 0.9 / math.sqrt(h * d)
    assert model.conv_v_weight.abs().max().item() <= 1 / math.sqrt(10)


def test_regularisation_is_recbole_formula():
    model = make(embedding_size=8, reg_weight=0.5)
    expected = 0.5 * (
        model.user_embedding.weight.norm()
        + model.item_embedding.weight.norm()
        + model.conv_v_weight.norm()
        + model.fc1.weight.norm()
        + model.fc2.weight.norm()
    ) + 0.5 * sum(model.conv_h_weight[h * (h - 1) // 2 : h * (h + 1) // 2].norm() for h in range(1, L + 1))
    torch.testing.assert_close(model.regularization(), expected)
    assert model.conv_h_weight.shape == (packed_rows(L), 8, 8)


def test_dropout_acts_in_training_only():
    model = make(embedding_size=8, dropout_prob=0.5)
    batch = random_batch(4, L, N_USERS, N_ITEMS)
    model.eval()
    assert torch.equal(model.sequence_representation(batch), model.sequence_representation(batch))
    model.train()
    assert not torch.equal(model.sequence_representation(batch), model.sequence_representation(batch))


def test_bpr_without_negative_is_refused():
    model = make(loss_type="BPR")
    b = random_batch(2, L, N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match="neg_item"):
        model.loss(Batch(b.user, b.item_seq, b.item_len, b.target))


def test_a_few_adam_steps_fit_a_fixed_batch():
    model = make(embedding_size=16, dropout_prob=0.0)
    batch = random_batch(8, L, N_USERS, N_ITEMS)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    first = model.loss(batch).item()
    for _ in range(30):
        opt.zero_grad()
        model.loss(batch).backward()
        opt.step()
    assert model.loss(batch).item() < 0.5 * first


@pytest.mark.parametrize("nh,device,loads", [(8, "cpu", True), (0, "cpu", True), (8, "cuda", False)])
def test_prepare_loads_the_cpu_kernels_before_training_when_they_will_run(monkeypatch, nh, device, loads):
    import tuner.models.base as base_module

    calls = []
    monkeypatch.setattr(base_module, "cpu_kernels", lambda: calls.append(1))
    make(nh=nh, nv=4).prepare(torch.device(device))  # a cuda device object needs no GPU
    assert bool(calls) == loads
