"""The embedding with the C++ gradient against nn.Embedding."""

import pytest
import torch
from torch import nn

from tuner.models import embedding, native
from tuner.models.embedding import Embedding

from models_helpers import KERNEL_PATHS, CountingKernels, require_kernels, take_path


@pytest.fixture(params=KERNEL_PATHS)
def kernel_path(request, monkeypatch):
    return take_path(request.param, embedding, monkeypatch)


def gradients(module_class, n_rows, d, index, padding_idx, dtype):
    torch.manual_seed(0)
    module = module_class(n_rows, d, padding_idx=padding_idx).to(dtype)
    out = module(index)
    upstream = torch.randn(out.shape, dtype=dtype, generator=torch.Generator().manual_seed(1))
    (out * upstream).sum().backward()
    return out.detach(), module.weight.grad


@pytest.mark.parametrize("shape", [(7,), (5, 9), (300, 10)])
@pytest.mark.parametrize("d", [64, 5])
@pytest.mark.parametrize("padding_idx", [0, 3, None])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_output_and_gradient_match_nn_embedding(shape, d, padding_idx, dtype, kernel_path):
    # few rows, many lookups: every row is hit many times, the padding row included
    index = torch.randint(0, 12, shape, generator=torch.Generator().manual_seed(2))
    index.view(-1)[:3] = 0
    ours = gradients(Embedding, 12, d, index, padding_idx, dtype)
    theirs = gradients(nn.Embedding, 12, d, index, padding_idx, dtype)
    assert torch.equal(ours[0], theirs[0])
    torch.testing.assert_close(ours[1], theirs[1], rtol=1e-6, atol=1e-5)
    if padding_idx is not None:
        assert not ours[1][padding_idx].any()


def test_kernel_sums_rows_skips_padding_and_checks_the_range():
    require_kernels()
    kernels = native.cpu_kernels()
    grad = torch.tensor([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0], [5.0, 5.0]])
    out = kernels.embedding_backward(grad, torch.tensor([2, 0, 2, 1]), 4, 1)
    assert torch.equal(out, torch.tensor([[10.0, 20.0], [0.0, 0.0], [101.0, 202.0], [0.0, 0.0]]))
    with pytest.raises(RuntimeError, match="out of range"):
        kernels.embedding_backward(grad, torch.tensor([0, 4, 0, 0]), 4, -1)


def test_models_take_it_on_the_cpu(monkeypatch):
    require_kernels()
    from tuner.models import build_model

    model = build_model("Caser", {}, n_user_ids=10, n_item_ids=20, max_seq_length=4)
    assert isinstance(model.item_embedding, Embedding) and isinstance(model.user_embedding, Embedding)
    calls = []
    monkeypatch.setattr(embedding, "cpu_kernels", lambda: CountingKernels(calls, "embedding_backward"))
    model.item_embedding(torch.tensor([[1, 2, 0, 0]])).sum().backward()
    assert calls == ["embedding_backward"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lookup_of_a_computed_table_matches_indexing(dtype, kernel_path):
    generator = torch.Generator().manual_seed(3)
    base = torch.randn(9, 6, dtype=dtype, generator=generator, requires_grad=True)
    index = torch.randint(0, 9, (40, 5), generator=generator)
    index[0, :3] = 0  # row 0 is an ordinary row here: no padding
    upstream = torch.randn(40, 5, 6, dtype=dtype, generator=generator)
    ours = embedding.lookup(index, base * 2)
    (ours * upstream).sum().backward()
    ours_grad, base.grad = base.grad, None
    theirs = (base * 2)[index]
    (theirs * upstream).sum().backward()
    assert torch.equal(ours.detach(), theirs.detach())
    torch.testing.assert_close(ours_grad, base.grad, rtol=1e-6, atol=1e-5)
    assert ours_grad[0].any()


def test_gru4recf_item_features_take_the_kernel(monkeypatch):
    require_kernels()
    from tuner.models.item_features import ItemFeatureEmbedding

    features = ItemFeatureEmbedding({"class": torch.randint(0, 4, (12, 3))}, {"class": 4}, ["class"], "sum", 8)
    calls = []
    monkeypatch.setattr(embedding, "cpu_kernels", lambda: CountingKernels(calls))
    features(torch.tensor([[1, 2, 0], [3, 3, 11]])).sum().backward()
    assert calls == ["embedding_backward"]
