"""The one-node sum of L2 norms against the same sum built by autograd."""

import torch

from tuner.models.horizontal import height_of_rows
from tuner.models.norms import sum_of_norms


def reference(weights, grouped):
    """RecBole's form: torch.norm of each weight and of each height's filters (rows h(h-1)/2 .. h(h+1)/2 - 1)."""
    heights = [grouped[h * (h - 1) // 2 : h * (h + 1) // 2].norm(2) for h in range(1, 5)]
    return torch.stack([w.norm(2) for w in weights] + heights).sum()


def test_value_and_gradients_match_autograd_including_zero_norms():
    g = torch.Generator().manual_seed(0)
    weights = [torch.randn(7, 3, generator=g), torch.zeros(4, 2), torch.randn(5, generator=g, dtype=torch.float32)]
    grouped = torch.randn(10, 3, 2, generator=g)  # L = 4: heights own 1, 2, 3, 4 rows
    grouped[1:3] = 0  # height 2's filters all zero: its norm has no gradient
    tensors = [t.clone().double().requires_grad_() for t in (*weights, grouped)]
    ours = sum_of_norms(tensors[:3], tensors[3], height_of_rows(4) - 1, 4)
    theirs = reference(tensors[:3], tensors[3])
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=0)
    upstream = torch.tensor(0.7, dtype=torch.float64)
    for a, b in zip(torch.autograd.grad(ours, tensors, upstream), torch.autograd.grad(theirs, tensors, upstream)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)
    assert not torch.autograd.grad(sum_of_norms(tensors[:3], tensors[3], height_of_rows(4) - 1, 4), tensors[3])[0][1:3].any()


def test_without_a_grouped_weight_it_is_the_plain_sum():
    w = [torch.randn(3, 4, requires_grad=True), torch.randn(2, requires_grad=True)]
    torch.testing.assert_close(sum_of_norms(w), w[0].norm() + w[1].norm())
