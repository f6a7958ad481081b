"""The GRU with whole-sequence C++ kernels against nn.GRU."""

import pytest
import torch
from torch import nn

from tuner.models import gru, native
from tuner.models.gru import GRU

from models_helpers import CountingKernels, require_kernels


def paired(input_size, hidden_size, num_layers, **options):
    """(ours in float32, nn.GRU in float64) with the same weights."""
    torch.manual_seed(0)
    reference = nn.GRU(input_size, hidden_size, num_layers, batch_first=True, **options).double()
    ours = GRU(input_size, hidden_size, num_layers, batch_first=True, **options)
    ours.load_state_dict({name: value.float() for name, value in reference.state_dict().items()})
    return ours, reference


def run(module, x, upstream):
    x = x.clone().requires_grad_()
    output, last = module(x)
    (output * upstream).sum().backward()
    return output.detach(), last.detach(), x.grad, [p.grad for p in module.parameters()]


@pytest.fixture
def gru_calls(monkeypatch):
    require_kernels()
    calls = []
    monkeypatch.setattr(gru, "cpu_kernels", lambda: CountingKernels(calls, "gru_"))
    return calls


# hidden sizes that are and aren't a multiple of the 8-float vectors; L = 1 has no hidden product
@pytest.mark.parametrize("B, L, I, H, layers", [(37, 7, 64, 128, 1), (64, 10, 20, 13, 2), (5, 1, 8, 8, 1), (3, 4, 6, 20, 3)])
def test_outputs_and_gradients_match_nn_gru(B, L, I, H, layers, gru_calls):
    ours, reference = paired(I, H, layers, bias=False)
    generator = torch.Generator().manual_seed(1)
    x = 2 * torch.randn(B, L, I, dtype=torch.float64, generator=generator)  # gates well into both tanh branches
    upstream = torch.randn(B, L, H, dtype=torch.float64, generator=generator)
    out, last, grad_x, grads = run(ours, x.float(), upstream.float())
    ref_out, ref_last, ref_grad_x, ref_grads = run(reference, x, upstream)
    assert gru_calls.count("gru_forward") == layers and gru_calls.count("gru_backward") == layers
    torch.testing.assert_close(out.double(), ref_out, rtol=0, atol=2e-6)
    torch.testing.assert_close(last.double(), ref_last, rtol=0, atol=2e-6)
    torch.testing.assert_close(grad_x.double(), ref_grad_x, rtol=1e-5, atol=1e-5)
    for grad, ref_grad in zip(grads, ref_grads):
        torch.testing.assert_close(grad.double(), ref_grad, rtol=1e-5, atol=5e-5)


def test_inference_takes_the_forward_without_saving_and_gives_the_same_output(gru_calls):
    ours, _ = paired(16, 24, 2, bias=False)
    x = torch.randn(9, 6, 16)
    trained_out, _ = ours(x.requires_grad_())
    with torch.no_grad():
        out, last = ours(x)
    assert torch.equal(out, trained_out.detach()) and torch.equal(last[-1], out[:, -1])
    assert gru_calls == ["gru_forward"] * 4  # 2 layers with autograd, then 2 without


def test_the_gradient_reaches_only_what_asks_for_it(gru_calls):
    ours, reference = paired(8, 16, 1, bias=False)
    x = torch.randn(4, 5, 8)  # no gradient wanted for the input: the weights' still flow
    ours(x)[0].sum().backward()
    reference(x.double())[0].sum().backward()
    torch.testing.assert_close(ours.weight_hh_l0.grad.double(), reference.weight_hh_l0.grad, rtol=1e-5, atol=1e-5)


def test_tanh_is_accurate_from_tiny_to_saturated_inputs(gru_calls):
    # one step, z driven to 0: h = tanh(n-gate input) exactly, so the kernel's tanh shows through
    values = torch.cat([torch.linspace(-20, 20, 4001), torch.tensor([1e-30, -1e-8, 3e-4, 0.6249, 0.6251, 0.0])])
    w_ih = torch.zeros(3, 2)
    w_ih[1, 1] = -1000.0  # z-gate input -1000 (the second feature is 1)
    w_ih[2, 0] = 1.0  # n-gate input = the value
    x = torch.stack([values, torch.ones_like(values)], 1).view(-1, 1, 2)
    (h,) = native.cpu_kernels().gru_forward(x, w_ih, torch.zeros(3, 1), False)
    expected = torch.tanh(values.double())
    torch.testing.assert_close(h.view(-1).double(), expected, rtol=4e-7, atol=1e-38)


@pytest.mark.parametrize(
    "options, dtype, with_state",
    [
        ({"bias": True}, torch.float32, False),  # RecBole's GRU4RecF has no biases; others keep nn.GRU
        ({"bias": False, "bidirectional": True}, torch.float32, False),
        ({"bias": False}, torch.float32, True),  # an initial state
        ({"bias": False}, torch.float64, False),
    ],
)
def test_other_configurations_are_nn_gru(options, dtype, with_state, gru_calls):
    ours = GRU(10, 12, batch_first=True, **options).to(dtype)
    reference = nn.GRU(10, 12, batch_first=True, **options).to(dtype)
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(3, 4, 10, dtype=dtype)
    state = (torch.randn(1, 3, 12, dtype=dtype),) if with_state else ()
    torch.testing.assert_close(ours(x, *state)[0], reference(x, *state)[0], rtol=0, atol=0)
    assert gru_calls == []


def test_backward_refuses_gates_that_are_not_the_forwards(gru_calls):
    kernels = native.cpu_kernels()
    x, w_ih, w_hh = torch.randn(2, 3, 4), torch.randn(15, 4), torch.randn(15, 5)
    output, *gates = kernels.gru_forward(x, w_ih, w_hh, True)
    with pytest.raises(RuntimeError, match="saved gates"):
        kernels.gru_backward(torch.ones_like(output), x, w_ih, w_hh, output, gates[:-1], True)


def test_gru4recf_trains_through_the_kernels(gru_calls):
    from tuner.models import build_model

    from models_helpers import random_batch

    classes = torch.randint(0, 5, (30, 2))
    model = build_model("GRU4RecF", {}, n_user_ids=10, n_item_ids=30, max_seq_length=6, item_features={"class": classes},
                        feature_sizes={"class": 5})
    assert isinstance(model.item_gru, GRU) and isinstance(model.feature_gru, GRU)
    model.loss(random_batch(8, 6, 10, 30)).backward()
    assert sorted(gru_calls) == ["gru_backward"] * 2 + ["gru_forward"] * 2
    assert model.item_gru.weight_hh_l0.grad.abs().sum() > 0
