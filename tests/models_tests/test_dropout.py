"""The CPU dropout: nn.Dropout's distribution and scaling, with a cheaper mask."""

import pytest
import torch
from torch import nn

from tuner.models import dropout
from tuner.models.dropout import Dropout, keep_mask

from models_helpers import KERNEL_PATHS, require_kernels, take_path


@pytest.fixture(params=KERNEL_PATHS)
def kernel_path(request, monkeypatch):
    """float32 masks through the C++ kernel (where it builds) and through torch's generator."""
    return take_path(request.param, dropout, monkeypatch)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.4, 0.75])
def test_drops_a_fraction_p_and_scales_the_rest_by_one_over_keep(p, kernel_path):
    x = torch.ones(400_001)  # not a whole number of 4-element words
    y = Dropout(p).train()(x)
    dropped = (y == 0).float().mean().item()
    assert dropped == pytest.approx(p, abs=0.004)  # 400k draws: a standard error near 0.001
    kept = y[y != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 1.0 / (1.0 - round(p * 2**15) / 2**15)))
    assert y.mean().item() == pytest.approx(1.0, abs=0.01)  # the expectation is kept


def test_every_lane_of_the_random_words_is_uniform(kernel_path):
    # four draws share one 64-bit word; a biased lane (e.g. a constant top bit) would skew every 4th element
    mask = keep_mask(torch.Size([400_000]), 0.5, dtype=torch.float32)
    per_lane = (mask.view(-1, 4) == 0).float().mean(0)
    assert (per_lane - 0.5).abs().max().item() < 0.01


def test_eval_mode_and_p_zero_are_the_identity_and_p_one_drops_everything():
    x = torch.randn(3, 5)
    assert Dropout(0.4).eval()(x) is x
    assert Dropout(0.0).train()(x) is x
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Dropout(1.5)


def test_gradient_flows_through_kept_elements_only_with_the_same_scale(kernel_path):
    x = torch.randn(50, 40, requires_grad=True)
    y = Dropout(0.4).train()(x)
    y.sum().backward()
    scale = y.detach() / x.detach()
    torch.testing.assert_close(x.grad, scale)


def test_same_seed_same_mask_and_module_has_no_state(kernel_path):
    torch.manual_seed(3)
    a = Dropout(0.4).train()(torch.ones(100))
    torch.manual_seed(3)
    b = Dropout(0.4).train()(torch.ones(100))
    assert torch.equal(a, b)
    assert list(Dropout(0.4).state_dict()) == list(nn.Dropout(0.4).state_dict()) == []


@pytest.mark.parametrize("n", [1, 7, 100_003])
def test_kernel_mask_depends_on_the_seed_only_not_on_threads(n):
    require_kernels()
    before = torch.get_num_threads()
    masks = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            masks.append(keep_mask(torch.Size([n]), 0.5, dtype=torch.float32, generator=torch.Generator().manual_seed(5)))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(masks[0], masks[1]) and torch.equal(masks[0], masks[2])
    other = keep_mask(torch.Size([n]), 0.5, dtype=torch.float32, generator=torch.Generator().manual_seed(6))
    assert n < 100 or not torch.equal(masks[0], other)
    # a prefix of a longer mask: element i's integer depends only on the seed and i
    longer = keep_mask(torch.Size([n + 5]), 0.5, dtype=torch.float32, generator=torch.Generator().manual_seed(5))
    assert torch.equal(longer[:n], masks[0])
