"""The vectorised horizontal convolutions against RecBole's loop of one Conv2d per height."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tuner.models.horizontal import horizontal_max_pool, packed_norms, packed_rows, plan_height_groups


def per_height_reference(E, weight, bias):
    """RecBole's computation, written out: nn.Conv2d of kernel (h, d) for h = 1..L, ReLU, max over time."""
    B, L, d = E.shape
    nh = weight.shape[1]
    x = E.unsqueeze(1)  # (B, 1, L, d)
    outs = []
    for h in range(1, L + 1):
        conv = nn.Conv2d(1, nh, kernel_size=(h, d)).to(E.dtype)
        with torch.no_grad():
            conv.weight.copy_(weight[h * (h - 1) // 2 : h * (h + 1) // 2].permute(1, 0, 2).unsqueeze(1))  # (nh, 1, h, d)
            conv.bias.copy_(bias[h - 1])
        # route the gradient back to the packed tensors through the copies
        w = weight[h * (h - 1) // 2 : h * (h + 1) // 2].permute(1, 0, 2).unsqueeze(1)
        out = F.conv2d(x, w, bias[h - 1])
        assert torch.equal(out.detach(), conv(x).detach())  # the functional form is the module's
        out = F.relu(out.squeeze(3))  # (B, nh, L-h+1)
        outs.append(F.max_pool1d(out, out.size(2)).squeeze(2))  # (B, nh)
    return torch.cat(outs, 1)  # (B, L*nh)


def random_case(B, L, nh, d, dtype, scale=1.0):
    E = (torch.randn(B, L, d, dtype=dtype) * scale).requires_grad_()
    weight = (torch.randn(packed_rows(L), nh, d, dtype=dtype) * scale).requires_grad_()
    bias = (torch.randn(L, nh, dtype=dtype) * scale).requires_grad_()
    return E, weight, bias


def outputs_and_grads(fn, E, weight, bias, upstream):
    out = fn(E, weight, bias)
    grads = torch.autograd.grad((out * upstream).sum(), (E, weight, bias))
    return out.detach(), grads


@pytest.mark.parametrize("B,L,nh,d", [(5, 10, 8, 16), (3, 1, 2, 4), (1, 7, 3, 5), (4, 23, 2, 8)])
@pytest.mark.parametrize("groups", ["planned", "one group", "one per height"])
def test_matches_per_height_reference_in_float64(B, L, nh, d, groups):
    E, weight, bias = random_case(B, L, nh, d, torch.float64)
    upstream = torch.randn(B, L * nh, dtype=torch.float64)
    plan = {"planned": None, "one group": ((1, L),), "one per height": tuple((h, h) for h in range(1, L + 1))}[groups]
    ours = outputs_and_grads(lambda *a: F.relu(horizontal_max_pool(*a, plan)), E, weight, bias, upstream)
    theirs = outputs_and_grads(per_height_reference, E, weight, bias, upstream)
    torch.testing.assert_close(ours[0], theirs[0], rtol=0, atol=1e-10)
    for a, b, name in zip(ours[1], theirs[1], ("E", "weight", "bias")):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10, msg=f"gradient of {name}")


@pytest.mark.parametrize("L", [10, 50])
def test_matches_reference_within_1e_5_in_float32_at_model_scale(L):
    # Caser's scales: embeddings N(0, 1/64), conv weights uniform(+-1/sqrt(h*d))
    E, weight, bias = random_case(16, L, 8, 64, torch.float32, scale=0.05)
    upstream = torch.randn(16, L * 8)
    ours = outputs_and_grads(lambda *a: F.relu(horizontal_max_pool(*a)), E, weight, bias, upstream)
    theirs = outputs_and_grads(per_height_reference, E, weight, bias, upstream)
    torch.testing.assert_close(ours[0], theirs[0], rtol=0, atol=1e-5)
    for a, b in zip(ours[1], theirs[1]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_tied_padding_windows_give_the_reference_gradient_on_the_embedding_table():
    # short histories: many all-padding windows with identical responses; whichever the max picks,
    # the table gradient must be RecBole's
    L, nh, d = 8, 4, 6
    table = torch.randn(20, d, dtype=torch.float64, requires_grad=True)
    items = torch.tensor([[3, 0, 0, 0, 0, 0, 0, 0], [5, 6, 0, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7, 8]])
    _, weight, bias = random_case(1, L, nh, d, torch.float64)
    with torch.no_grad():
        bias.fill_(5.0)  # keep responses positive so the pooled padding windows carry gradient
    upstream = torch.randn(3, L * nh, dtype=torch.float64)
    grads = []
    for fn in (lambda E, w, b: F.relu(horizontal_max_pool(E, w, b)), per_height_reference):
        out = fn(F.embedding(items, table), weight, bias)
        grads.append(torch.autograd.grad((out * upstream).sum(), (table, weight)))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("L,nh,d", [(1, 8, 64), (10, 8, 64), (50, 8, 64), (50, 1, 16), (37, 16, 128)])
def test_plan_covers_every_height_once_in_order(L, nh, d):
    groups = plan_height_groups(L, nh, d)
    heights = [h for a, b in groups for h in range(a, b + 1)]
    assert heights == list(range(1, L + 1))
    assert all(a <= b for a, b in groups)


def test_packed_norms_are_the_per_height_weight_norms():
    L = 6
    weight = torch.randn(packed_rows(L), 3, 4)
    expected = torch.stack([weight[h * (h - 1) // 2 : h * (h + 1) // 2].norm(2) for h in range(1, L + 1)])
    torch.testing.assert_close(packed_norms(weight), expected)


def test_wrong_packed_size_is_refused():
    with pytest.raises(ValueError, match="L\\(L\\+1\\)/2"):
        horizontal_max_pool(torch.randn(2, 4, 3), torch.randn(9, 2, 3), torch.randn(4, 2))
