import pytest
import torch
import torch.nn.functional as F

from tuner.models import bpr_loss, sample_negatives
from tuner.models.losses import full_softmax_cross_entropy


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


@pytest.mark.parametrize("B,n,scale", [(5, 7, 1.0), (64, 300, 1.0), (1, 2, 1.0), (4, 6, 100.0), (3, 16, 1.0)])
def test_full_softmax_cross_entropy_matches_autograd_loss_and_gradients(B, n, scale):
    sequence = (torch.randn(B, 16, dtype=torch.float64) * scale).requires_grad_()
    item_weight = torch.randn(n, 16, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, n, (B,))
    expected = F.cross_entropy(sequence @ item_weight.t(), target)
    ours = full_softmax_cross_entropy(sequence, item_weight, target)
    # scale 100: targets trail the top score by hundreds, where p[target] underflows; the loss stays exact
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=0)
    for a, b in zip(torch.autograd.grad(ours * 3, (sequence, item_weight)), torch.autograd.grad(expected * 3, (sequence, item_weight))):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_full_softmax_cross_entropy_without_gradients_is_the_plain_loss():
    sequence, item_weight, target = torch.randn(8, 4), torch.randn(10, 4), torch.randint(0, 10, (8,))
    with torch.no_grad():
        ours = full_softmax_cross_entropy(sequence, item_weight, target)
    assert ours.grad_fn is None
    torch.testing.assert_close(ours, F.cross_entropy(sequence @ item_weight.t(), target))
