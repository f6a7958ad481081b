import pytest
import torch

from tuner.models import bpr_loss, sample_negatives


def test_bpr_is_recbole_formula():
    pos, neg = torch.tensor([2.0, -1.0, 40.0]), torch.tensor([1.0, 3.0, -40.0])
    expected = -torch.log(1e-10 + torch.sigmoid(pos - neg)).mean()
    torch.testing.assert_close(bpr_loss(pos, neg), expected)
    # gamma keeps a hopeless pair finite: -log(1e-10)
    assert bpr_loss(torch.tensor([-200.0]), torch.tensor([200.0])).item() == pytest.approx(23.02585, rel=1e-5)


def test_negatives_are_real_items_other_than_the_target_and_uniform():
    n_item_ids = 6  # real items 1..5
    target = torch.tensor([1, 3, 5]).repeat(20000)
    negatives = sample_negatives(target, n_item_ids, torch.Generator().manual_seed(1))
    assert negatives.dtype == torch.long and negatives.shape == target.shape
    assert not (negatives == target).any()
    assert negatives.min() >= 1 and negatives.max() <= 5
    for t in (1, 3, 5):
        counts = torch.bincount(negatives[target == t], minlength=6)[1:].float()
        others = counts[torch.arange(1, 6) != t]
        assert counts[t - 1] == 0
        assert (others / others.sum() - 0.25).abs().max() < 0.02  # 4 equally likely choices


def test_too_few_items_for_a_negative():
    with pytest.raises(ValueError, match="at least 2 real items"):
        sample_negatives(torch.tensor([1]), 2)
