"""The vectorised horizontal convolutions against RecBole's loop of one Conv2d per height."""

import logging

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tuner.models import horizontal, native
from tuner.models.horizontal import horizontal_max_pool, packed_rows, plan_height_groups

from models_helpers import KERNEL_PATHS, require_kernels, take_path


@pytest.fixture(params=KERNEL_PATHS)
def kernel_path(request, monkeypatch):
    """Run a test through each path: the C++ kernels (where they build) and the torch-op forms."""
    return take_path(request.param, horizontal, monkeypatch)


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
def test_matches_per_height_reference_in_float64(B, L, nh, d, groups, kernel_path):
    E, weight, bias = random_case(B, L, nh, d, torch.float64)
    upstream = torch.randn(B, L * nh, dtype=torch.float64)
    plan = {"planned": None, "one group": ((1, L),), "one per height": tuple((h, h) for h in range(1, L + 1))}[groups]
    ours = outputs_and_grads(lambda *a: F.relu(horizontal_max_pool(*a, plan)), E, weight, bias, upstream)
    theirs = outputs_and_grads(per_height_reference, E, weight, bias, upstream)
    torch.testing.assert_close(ours[0], theirs[0], rtol=0, atol=1e-10)
    for a, b, name in zip(ours[1], theirs[1], ("E", "weight", "bias")):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10, msg=f"gradient of {name}")


@pytest.mark.parametrize("L", [10, 50])
def test_matches_reference_within_1e_5_in_float32_at_model_scale(L, kernel_path):
    # Caser's scales: embeddings N(0, 1/64), conv weights uniform(+-1/sqrt(h*d))
    E, weight, bias = random_case(16, L, 8, 64, torch.float32, scale=0.05)
    upstream = torch.randn(16, L * 8)
    ours = outputs_and_grads(lambda *a: F.relu(horizontal_max_pool(*a)), E, weight, bias, upstream)
    theirs = outputs_and_grads(per_height_reference, E, weight, bias, upstream)
    torch.testing.assert_close(ours[0], theirs[0], rtol=0, atol=1e-5)
    for a, b in zip(ours[1], theirs[1]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_tied_padding_windows_give_the_reference_gradient_on_the_embedding_table(kernel_path):
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


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("B,L,nh,d", [(300, 20, 3, 64), (37, 9, 8, 5)])
def test_kernel_and_gathers_agree_over_thread_chunks_and_example_blocks(B, L, nh, d, threads):
    require_kernels()
    E, weight, _ = random_case(B, L, nh, d, torch.float64)
    values, start = horizontal._forward(E.detach(), weight.detach(), plan_height_groups(L, nh, d))
    grad = torch.randn(B, L * nh, dtype=torch.float64)
    grad[::7] = 0  # examples whose columns get no gradient
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        kernel = native.cpu_kernels().horizontal_backward(E.detach(), weight.detach(), start, grad)
    finally:
        torch.set_num_threads(before)
    gathered = horizontal._gather_backward(E.detach(), weight.detach(), start, grad)
    for a, b in zip(kernel, gathered):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("B,L,nh,d", [(300, 10, 8, 64), (37, 9, 3, 32), (21, 5, 2, 24), (17, 4, 3, 5)])
def test_float32_kernel_matches_float64_gathers(B, L, nh, d, threads):
    # float32 with d a multiple of 8 takes the two-pass vector kernel (d = 64 and 32 with fixed-size
    # sums, 24 with runtime ones); d = 5 the one-pass scalar kernel. B = 300 and 37 leave partial
    # example blocks in each thread's chunk.
    require_kernels()
    E, weight, _ = random_case(B, L, nh, d, torch.float64)
    values, start = horizontal._forward(E.detach(), weight.detach(), plan_height_groups(L, nh, d))
    start[0, :] = -1  # what a NaN response leaves: clamped into the valid starts, as the float64 kernel
    start[1, :] = L
    grad = torch.randn(B, L * nh, dtype=torch.float64)
    grad[::7] = 0
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        kernel = native.cpu_kernels().horizontal_backward(E.detach().float(), weight.detach().float(), start, grad.float())
    finally:
        torch.set_num_threads(before)
    expected = native.cpu_kernels().horizontal_backward(E.detach(), weight.detach(), start, grad)
    assert all(g.dtype == torch.float32 for g in kernel)
    for a, b in zip(kernel, expected):
        torch.testing.assert_close(a.double(), b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("a,b", [(1, 6), (3, 6), (4, 4)])
def test_kernel_max_over_starts_takes_the_first_tied_start_and_skips_non_windows(a, b):
    require_kernels()
    L, nh, B = 6, 3, 50
    T, columns = L - a + 1, (b - a + 1) * nh
    R = torch.randint(0, 3, (T, B, columns)).float()  # many ties
    n_starts = horizontal._starts_per_column(L, a, b, nh, torch.device("cpu"))
    masked = R.clone()
    for c, n in enumerate(n_starts.tolist()):
        R[n:, :, c] = float("nan")  # not windows: whatever the buffer held must not count
        masked[n:, :, c] = float("-inf")
    values, start = native.cpu_kernels().max_over_starts(R, n_starts)
    expected_values, expected_start = horizontal._max_over_starts(masked)
    assert torch.equal(values, expected_values) and torch.equal(start, expected_start)
    R[0, 0, 0] = float("nan")  # a NaN response propagates, as torch's amax
    assert torch.isnan(native.cpu_kernels().max_over_starts(R, n_starts)[0][0, 0])


def grouped_products_forward(E, weight):
    """The forward with the grouped products and the torch-op max (what runs without the kernels)."""
    L, nh, d = E.shape[1], weight.shape[1], E.shape[2]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(horizontal, "cpu_kernels", lambda: None)
        return horizontal._forward(E, weight, plan_height_groups(L, nh, d))


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("B,L,nh,d", [(300, 10, 8, 64), (13, 5, 3, 7), (9, 23, 5, 16), (1, 1, 1, 4), (17, 4, 6, 2)])
def test_float32_forward_kernel_matches_the_grouped_products(B, L, nh, d, threads):
    """Batches that are not whole blocks of eight lanes, filter counts that are not whole tiles."""
    require_kernels()
    E, weight = torch.randn(B, L, d), torch.randn(packed_rows(L), nh, d) / 4
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        values, start = native.cpu_kernels().horizontal_forward(E, weight)
    finally:
        torch.set_num_threads(before)
    expected_values, expected_start = grouped_products_forward(E, weight)
    torch.testing.assert_close(values, expected_values, rtol=1e-5, atol=1e-5)
    assert torch.equal(start, expected_start)


def test_forward_kernel_takes_the_first_of_tied_windows_and_propagates_nan():
    require_kernels()
    B, L, nh, d = 10, 7, 3, 4
    E = torch.randn(B, 1, d).expand(B, L, d).contiguous()  # every position alike: all windows of a height tie
    weight = torch.randn(packed_rows(L), nh, d)
    values, start = native.cpu_kernels().horizontal_forward(E, weight)
    assert torch.equal(start, torch.zeros_like(start))
    E[3, 4, 0] = float("nan")
    values, start = native.cpu_kernels().horizontal_forward(E, weight)
    assert torch.isnan(values[3]).all() and not torch.isnan(values[[0, 1, 2, 4]]).any()  # every height has a window over it
    heights = torch.arange(1, L + 1).repeat_interleave(nh)
    assert ((start[3] >= 0) & (start[3] <= L - heights)).all()


def test_kernel_keeps_windows_inside_the_sequence_when_the_max_is_nan():
    require_kernels()
    B, L, nh, d = 4, 6, 2, 8
    E, weight = torch.randn(B, L, d), torch.randn(packed_rows(L), nh, d)
    start = torch.full((B, L * nh), 10**6, dtype=torch.int32)  # what no valid argmax could give
    grad_E, grad_weight = native.cpu_kernels().horizontal_backward(E, weight, start, torch.ones(B, L * nh))
    assert grad_E.shape == E.shape and grad_weight.shape == weight.shape
    assert grad_E[:, -1].abs().sum() > 0  # clamped to the last window of each height: it ends at L-1


def test_switched_off_or_unbuildable_kernels_fall_back_to_torch_ops(monkeypatch, caplog, tmp_path):
    native.cpu_kernels.cache_clear()
    try:
        monkeypatch.setenv(native.SWITCH, "0")
        assert native.cpu_kernels() is None
        native.cpu_kernels.cache_clear()
        monkeypatch.delenv(native.SWITCH)
        monkeypatch.setenv("TUNER_KERNEL_DIR", str(tmp_path))  # an empty cache: the kernels must be built

        def no_compiler(**_):
            raise RuntimeError("Error building extension: g++: command not found")

        monkeypatch.setattr("torch.utils.cpp_extension.load", no_compiler)
        with caplog.at_level(logging.WARNING, logger="tuner.models.native"):
            assert native.cpu_kernels() is None
        assert "g++: command not found" in caplog.text and "using torch ops" in caplog.text
        E, weight, bias = random_case(3, 5, 2, 4, torch.float64)
        F.relu(horizontal_max_pool(E, weight, bias)).sum().backward()  # the gathers still train
        assert E.grad.abs().sum() > 0
    finally:
        native.cpu_kernels.cache_clear()


@pytest.mark.parametrize("L,nh,d", [(1, 8, 64), (10, 8, 64), (50, 8, 64), (50, 1, 16), (37, 16, 128)])
def test_plan_covers_every_height_once_in_order(L, nh, d):
    groups = plan_height_groups(L, nh, d)
    heights = [h for a, b in groups for h in range(a, b + 1)]
    assert heights == list(range(1, L + 1))
    assert all(a <= b for a, b in groups)


def test_wrong_packed_size_is_refused():
    with pytest.raises(ValueError, match="L\\(L\\+1\\)/2"):
        horizontal_max_pool(torch.randn(2, 4, 3), torch.randn(9, 2, 3), torch.randn(4, 2))
