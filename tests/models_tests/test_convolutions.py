"""Caser's convolution branches as one node (the C++ kernels) against their composition in torch ops."""

import pytest
import torch

from tuner.models import convolutions, horizontal, native, vertical
from tuner.models.convolutions import caser_convolutions
from tuner.models.horizontal import packed_rows

from models_helpers import require_kernels


def case(B, L, nh, nv, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    tensors = [
        torch.randn(B, L, d, generator=g) * 0.1,
        torch.randn(nv, L, generator=g) * 0.3,
        torch.randn(nv, generator=g) * 0.3,
        torch.randn(packed_rows(L), nh, d, generator=g) * 0.1,
        torch.randn(L, nh, generator=g) * 0.1,  # some pooled responses end below 0: ReLU cuts their gradient
    ]
    return [t.requires_grad_() for t in tensors]


def output_and_grads(tensors, upstream_seed=1):
    out = caser_convolutions(*tensors)
    upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(upstream_seed))
    return out, torch.autograd.grad((out * upstream).sum(), tensors)


def composed(monkeypatch, tensors):
    with monkeypatch.context() as patch:
        for module in (convolutions, horizontal, vertical):
            patch.setattr(module, "cpu_kernels", lambda: None)
        return output_and_grads(tensors)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("B,L,nh,nv,d", [(300, 10, 8, 4, 64), (37, 6, 3, 2, 16), (5, 1, 2, 1, 8)])
def test_one_node_matches_the_composition(B, L, nh, nv, d, threads, monkeypatch):
    require_kernels()
    tensors = case(B, L, nh, nv, d)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        out, grads = output_and_grads(tensors)
    finally:
        torch.set_num_threads(before)
    assert type(out.grad_fn).__name__ == "_CaserConvolutionsBackward"
    expected_out, expected_grads = composed(monkeypatch, tensors)
    assert (expected_out[:, nv * d :] == 0).any()  # the ReLU did cut some columns
    torch.testing.assert_close(out, expected_out, rtol=0, atol=1e-5)
    for name, a, b in zip(("E", "v_weight", "v_bias", "h_weight", "h_bias"), grads, expected_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4, msg=f"gradient of {name}")


@pytest.mark.parametrize("nv,nh", [(0, 3), (2, 0)])
def test_a_switched_off_branch_leaves_the_composition(nv, nh):
    tensors = case(4, 5, nh, nv, 8)
    out = caser_convolutions(*tensors)
    assert out.shape == (4, nv * 8 + 5 * nh)
    assert type(out.grad_fn).__name__ != "_CaserConvolutionsBackward"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_horizontal_backward_adds_into_a_given_input_gradient_and_reads_a_column_slice(dtype):
    require_kernels()
    kernels = native.cpu_kernels()
    E, _, _, weight, _ = (t.detach().to(dtype) for t in case(20, 6, 3, 1, 16))
    _, start = horizontal._forward(E, weight, horizontal.plan_height_groups(6, 3, 16))
    wide = torch.randn(20, 7 + 6 * 3, dtype=dtype)
    grad = wide[:, 7:]  # a column slice, as the one node passes it
    alone_E, alone_W = kernels.horizontal_backward(E, weight, start, grad.contiguous())
    into = torch.randn_like(E)
    expected = into + alone_E
    got_E, got_W = kernels.horizontal_backward(E, weight, start, grad, into)
    assert got_E.data_ptr() == into.data_ptr()
    torch.testing.assert_close(got_E, expected, rtol=0, atol=1e-6)
    assert torch.equal(got_W, alone_W)
