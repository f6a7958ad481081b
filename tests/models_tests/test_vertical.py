"""Caser's vertical convolution: the C++ kernels against the batched product they replace."""

import pytest
import torch

from tuner.models import vertical
from tuner.models.vertical import vertical_conv

from models_helpers import require_kernels


def bmm_reference(E, weight, bias):
    return torch.bmm(weight.expand(E.shape[0], -1, -1), E) + bias[:, None]


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("B,L,nv,d", [(300, 10, 4, 64), (7, 3, 1, 8), (1, 1, 2, 16), (65, 50, 5, 32)])
def test_kernels_match_the_batched_product_and_its_gradients(B, L, nv, d, threads):
    require_kernels()
    E = torch.randn(B, L, d, requires_grad=True)
    weight, bias = torch.randn(nv, L, requires_grad=True), torch.randn(nv, requires_grad=True)
    grad = torch.randn(B, nv, d)
    expected = bmm_reference(E, weight, bias)
    expected_grads = torch.autograd.grad(expected, (E, weight, bias), grad)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        ours = vertical_conv(E, weight, bias)
        grads = torch.autograd.grad(ours, (E, weight, bias), grad)
    finally:
        torch.set_num_threads(before)
    assert ours.grad_fn is not None and "VerticalConv" in type(ours.grad_fn).__name__  # the kernel path ran
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
    for a, b in zip(grads, expected_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype,d", [(torch.float64, 8), (torch.float32, 6)])
def test_float64_or_an_embedding_size_off_the_vector_width_takes_the_batched_product(dtype, d):
    E = torch.randn(5, 4, d, dtype=dtype, requires_grad=True)
    weight, bias = torch.randn(3, 4, dtype=dtype), torch.randn(3, dtype=dtype)
    ours = vertical_conv(E, weight, bias)
    assert "VerticalConv" not in type(ours.grad_fn).__name__
    torch.testing.assert_close(ours, bmm_reference(E, weight, bias))


def test_without_kernels_the_batched_product_runs(monkeypatch):
    monkeypatch.setattr(vertical, "cpu_kernels", lambda: None)
    E, weight, bias = torch.randn(5, 4, 8), torch.randn(3, 4), torch.randn(3)
    torch.testing.assert_close(vertical_conv(E, weight, bias), bmm_reference(E, weight, bias))
