import pytest
import torch
import torch.nn.functional as F

from tuner.models import bpr_loss, losses, native, sample_negatives
from tuner.models.losses import full_softmax_cross_entropy

from models_helpers import KERNEL_PATHS, require_kernels, take_path


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


@pytest.fixture(params=KERNEL_PATHS)
def ce_path(request, monkeypatch):
    """Run a float32 test through each path: the C++ kernel (where it builds) and the torch-op form."""
    return take_path(request.param, losses, monkeypatch)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("B,n,d,scale", [(1, 2, 8, 1.0), (65, 17, 16, 1.0), (300, 1683, 64, 1.0), (130, 40, 8, 60.0)])
def test_float32_cross_entropy_matches_float64_autograd(B, n, d, scale, threads, ce_path):
    """Blocks of 64 rows split over threads (and the last short one), items not a multiple of 8, and
    targets trailing the top score by far more than exp can reach (scale 60)."""
    sequence = torch.randn(B, d, dtype=torch.float64) * scale
    item_weight = torch.randn(n, d, dtype=torch.float64)
    target = torch.randint(0, n, (B,))
    s64, w64 = sequence.clone().requires_grad_(), item_weight.clone().requires_grad_()
    expected = F.cross_entropy(s64 @ w64.t(), target)
    expected_grads = torch.autograd.grad(expected, (s64, w64))
    s32, w32 = sequence.float().requires_grad_(), item_weight.float().requires_grad_()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ours = full_softmax_cross_entropy(s32, w32, target)
        grads = torch.autograd.grad(ours, (s32, w32))
    finally:
        torch.set_num_threads(previous)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours.double(), expected, rtol=1e-5, atol=1e-5 * scale)
    for a, b in zip(grads, expected_grads):
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-5 * scale)


def test_kernel_loss_per_row_is_each_examples_cross_entropy_and_repeats_exactly():
    require_kernels()
    sequence, item_weight, target = torch.randn(200, 32), torch.randn(101, 32), torch.randint(0, 101, (200,))
    per_row, grad_sequence, grad_items = native.cpu_kernels().softmax_cross_entropy(sequence, item_weight, target)
    torch.testing.assert_close(per_row, F.cross_entropy(sequence @ item_weight.t(), target, reduction="none"))
    assert grad_items.shape == item_weight.shape and grad_sequence.shape == sequence.shape
    again = native.cpu_kernels().softmax_cross_entropy(sequence, item_weight, target)
    for first, second in zip((per_row, grad_sequence, grad_items), again):
        assert torch.equal(first, second)  # same threads, same chunks, same order of sums


def test_kernel_nan_or_infinite_score_gives_a_non_finite_loss():
    require_kernels()
    sequence, item_weight, target = torch.randn(3, 8), torch.randn(20, 8), torch.tensor([1, 2, 3])
    item_weight[5, 0] = float("nan")  # every row's score of item 5 is NaN, and the max may skip it
    assert torch.isnan(native.cpu_kernels().softmax_cross_entropy(sequence, item_weight, target)[0]).all()
    sequence[1, 0] = float("inf")
    item_weight[5, 0] = 0.0
    per_row = native.cpu_kernels().softmax_cross_entropy(sequence, item_weight, target)[0]
    assert not torch.isfinite(per_row[1]) and torch.isfinite(per_row[[0, 2]]).all()


def test_kernel_refuses_a_target_outside_the_items():
    require_kernels()
    with pytest.raises(RuntimeError, match=r"outside \[0, 20\)"):
        native.cpu_kernels().softmax_cross_entropy(torch.randn(3, 8), torch.randn(20, 8), torch.tensor([1, 20, 3]))
