"""Caser's horizontal convolutions: every height at once, max-pooled over time.

RecBole runs one ``Conv2d`` per height h = 1..L (kernel (h, d), nh filters), then ReLU and a max
over time: L small convolutions in a Python loop, most of Caser's cost at L = 50. Here:

* forward: one matrix product per window start t and group of heights. In an example's flattened
  embeddings ``(B, L*d)`` the window of height h starting at t is the contiguous column range
  ``[t*d, (t+h)*d)``, so all heights a..b of a group that fit at t read the same slice
  ``[t*d, (t+top)*d)`` (``top`` the tallest that fits) against one filter matrix whose columns of
  shorter heights are zero below their height. Every window computed is a real one (no im2col
  copy, no windows past the sequence end); heights are grouped so that products are wide enough to
  run near the machine's matmul speed while few zero rows are multiplied.
  :func:`plan_height_groups` picks the groups. The max over starts (and the first start reaching
  it) is one C++ pass on the CPU (tuner/models/native.py), else a few vectorised torch ops.
  In float32 on the CPU a C++ kernel replaces all of this: eight examples side by side in vector
  lanes, each window's responses summed in registers and max-pooled as they finish, with no
  product of a zero filter row (the grouped products multiply 807 MFLOP for 461 real ones at
  L = 10, B = 2048) and no response tensor; 6.2 against 15.6 ms there on a 2-core AMD EPYC.
* backward: max-pooling keeps one window per (example, height, filter), so only those windows get
  gradient, about ``B * nh * L^2/2 * d`` multiply-adds instead of another pass as large as the
  forward. On the CPU a C++ kernel scatters them in one pass (tuner/models/native.py); elsewhere,
  or where it can't build, both gradients are weighted sums of rows gathered by index
  (``embedding_bag``).

Packed filter layout: ``weight`` (S, nh, d) with S = L(L+1)/2; height h owns rows
``h(h-1)/2 .. h(h+1)/2 - 1`` and row ``h(h-1)/2 + k`` is the filter row applied to item t+k of the
window starting at t (RecBole's ``conv_h[h-1].weight[f, 0, k, :]``). ``bias`` (L, nh).
Output (B, L*nh): column ``(h-1)*nh + f``, RecBole's concatenation order. ReLU is left to the caller
(``relu(max(x)) == max(relu(x))``, with the same gradient).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from tuner.models.native import cpu_kernels

# Cost model of one forward product (M = B rows, K = top*d, N = output columns), in multiply-add
# equivalents per example, fitted on a 2-core x86 CPU (only relative sizes matter):
# (K + _OUTPUT_COST) * (N + _NARROW_COST) + _CALL_COST. Each output element also costs its write
# and the max/argmax passes; narrow products run slower per multiply-add than wide ones.
_OUTPUT_COST = 24.0
_NARROW_COST = 32.0
_CALL_COST = 1.0e3

# Gathered entries per backward chunk: bounds the index tensors to tens of MB.
_BACKWARD_CHUNK_ENTRIES = 1 << 22


def packed_rows(max_seq_length: int) -> int:
    """S = L(L+1)/2: the number of filter rows of all heights together."""
    return max_seq_length * (max_seq_length + 1) // 2


def height_of_rows(max_seq_length: int, device: torch.device | None = None) -> torch.Tensor:
    """(S,) long: the height (1..L) each packed row belongs to."""
    heights = torch.arange(1, max_seq_length + 1, device=device)
    return heights.repeat_interleave(heights)


def _tallest(L: int, b: int, t: int) -> int:
    """The tallest height of a group ending at b whose window starting at t fits in L positions."""
    return min(b, L - t)


@functools.lru_cache(maxsize=None)
def plan_height_groups(max_seq_length: int, n_filters: int, embedding_size: int) -> tuple[tuple[int, int], ...]:
    """Contiguous height groups ``((a, b), ...)`` covering 1..L at the least modelled cost.

    A group a..b runs one product per start t = 0..L-a over the heights that fit there: bigger
    groups multiply more zero filter rows (a short height padded to the tallest), smaller ones run
    more, narrower (slower) products. Exact dynamic programme over the groups, O(L^3).
    """
    L, nh, d = max_seq_length, n_filters, embedding_size

    def cost(a: int, b: int) -> float:
        total = 0.0
        for t in range(L - a + 1):
            top = _tallest(L, b, t)
            total += (top * d + _OUTPUT_COST) * ((top - a + 1) * nh + _NARROW_COST) + _CALL_COST
        return total

    best: list[tuple[float, tuple[tuple[int, int], ...]]] = [(0.0, ())] * (L + 2)
    for a in range(L, 0, -1):  # best[a]: cheapest cover of heights a..L
        best[a] = min((cost(a, b) + best[b + 1][0], ((a, b),) + best[b + 1][1]) for b in range(a, L + 1))
    return best[1][1]


def _group_filters(weight: torch.Tensor, a: int, b: int) -> torch.Tensor:
    """(b*d, w*nh): row k*d + j, column (h-a)*nh + f holds filter f of height h at offset k,
    ``weight[h(h-1)/2 + k, f, j]``, for heights a..b; zero where k >= h."""
    n_rows, nh, d = weight.shape
    heights = torch.arange(a, b + 1, device=weight.device)  # (w,)
    offsets = torch.arange(b, device=weight.device)  # (b,)
    rows = (heights * (heights - 1) // 2)[None, :] + offsets[:, None]  # (b, w)
    rows = torch.where(offsets[:, None] < heights[None, :], rows, n_rows)  # n_rows: the zero row
    padded = torch.cat([weight, weight.new_zeros(1, nh, d)])  # (S+1, nh, d)
    return padded[rows].permute(0, 3, 1, 2).reshape(b * d, (b - a + 1) * nh)  # (b, d, w, nh) flattened


def _kernels_for(E: torch.Tensor):
    """The C++ kernels where they handle ``E`` (float32/float64 on the CPU) and have built, else None."""
    if E.device.type == "cpu" and E.dtype in (torch.float32, torch.float64):
        return cpu_kernels()
    return None


def _forward(E: torch.Tensor, weight: torch.Tensor, groups) -> tuple[torch.Tensor, torch.Tensor]:
    """Max over window starts of every window response (bias excluded), and the first start reaching it
    (int32: the backward's index arithmetic runs on it, twice as fast as on int64)."""
    kernels = _kernels_for(E)
    if kernels is not None and E.dtype == weight.dtype == torch.float32:
        return kernels.horizontal_forward(E, weight)  # every window, no zero rows, no response tensor
    B, L, d = E.shape
    nh = weight.shape[1]
    flat = E.reshape(B, L * d)  # (B, L*d): the window (h, t) is columns [t*d, (t+h)*d)
    values, starts = [], []
    for a, b in groups:
        T, columns = L - a + 1, (b - a + 1) * nh  # starts where the group's shortest height fits
        filters = _group_filters(weight, a, b)  # (b*d, columns)
        R = E.new_empty(T, B, columns)
        for t in range(T):
            top = _tallest(L, b, t)
            fit = (top - a + 1) * nh  # heights a..top fit at t: the leading columns
            R[t, :, :fit].addmm_(flat[:, t * d : (t + top) * d], filters[: top * d, :fit], beta=0)
            if fit < columns and kernels is None:
                R[t, :, fit:] = float("-inf")  # the kernel skips them: (h - a) * nh + f is a window for t <= L - h
        if kernels is not None:
            v, first_start = kernels.max_over_starts(R, _starts_per_column(L, a, b, nh, E.device))
        else:
            v, first_start = _max_over_starts(R)
        values.append(v)
        starts.append(first_start)
    return torch.cat(values, 1), torch.cat(starts, 1)


def _max_over_starts(R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, first start reaching them (int32)) over dim 0 of R (T, B, columns), with torch ops."""
    T = R.shape[0]
    v = R.amax(0)  # (B, columns)
    # first start reaching the max (max_pool1d's choice among tied windows): the largest of T - t
    code_type = torch.uint8 if T < 256 else torch.int16
    code = torch.arange(T, 0, -1, dtype=code_type, device=R.device)[:, None, None]  # (T, 1, 1)
    first = (R == v).to(code_type).mul_(code).amax(0)  # (B, columns)
    return v, (T - first.to(torch.int32)).clamp_(max=T - 1)  # a NaN matches nothing: keep the index valid


@functools.lru_cache(maxsize=64)
def _starts_per_column(L: int, a: int, b: int, nh: int, device: torch.device) -> torch.Tensor:
    """(columns,) int32: a group a..b's column of height h has windows at starts 0..L-h."""
    heights = torch.arange(a, b + 1, dtype=torch.int32, device=device).repeat_interleave(nh)
    return L - heights + 1


@functools.lru_cache(maxsize=32)
def _backward_indices(L: int, nh: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Constant index tables of the backward pass for one (L, nh); entry indices are int32."""
    S = packed_rows(L)
    row_height = height_of_rows(L, device)  # (S,)
    row_offset = (torch.arange(S, device=device) - row_height * (row_height - 1) // 2).int()  # (S,) k
    column_of_row = (row_height - 1)[:, None] * nh + torch.arange(nh, device=device)  # (S, nh)
    # each column's filter rows sit at offsets L-1 .. L-2+h of a zero block of 2L-1 rows, so that
    # "row p - start" is block + L-1 + p - start for every p and start, zero outside the filter
    padded_row = column_of_row * (2 * L - 1) + (L - 1) + row_offset[:, None]  # (S, nh)
    return column_of_row, row_offset[:, None, None], padded_row.view(-1)


def _backward(E, weight, start, grad):
    """Gradients for E (B, L, d) and the packed weight (S, nh, d), from the winning windows only.

    ``start`` (B, L*nh) int32: where each column's maximal window starts; ``grad`` (B, L*nh).
    """
    kernels = _kernels_for(E)
    if kernels is not None:
        grad_E, grad_weight = kernels.horizontal_backward(E, weight, start, grad)
        return grad_E, grad_weight
    return _gather_backward(E, weight, start, grad)


def _gather_backward(E, weight, start, grad):
    """:func:`_backward` with torch ops: two ``embedding_bag`` gathers over index tables."""
    B, L, d = E.shape
    n_rows, nh, _ = weight.shape
    n_columns = L * nh
    device = E.device
    column_of_row, row_offset, padded_row = _backward_indices(L, nh, device)
    padded = weight.new_zeros(n_columns * (2 * L - 1), d).index_copy_(0, padded_row, weight.reshape(n_rows * nh, d))
    block = torch.arange(n_columns, dtype=torch.int32, device=device) * (2 * L - 1) + (L - 1)  # (L*nh,)
    positions = torch.arange(L, dtype=torch.int32, device=device)

    grad_weight = torch.zeros(n_rows * nh, d, dtype=weight.dtype, device=device)
    grad_E = torch.empty_like(E)
    chunk = max(1, _BACKWARD_CHUNK_ENTRIES // (L * n_columns))
    for lo in range(0, B, chunk):
        hi = min(B, lo + chunk)
        n = hi - lo
        s, g = start[lo:hi], grad[lo:hi]  # (n, L*nh)
        # weight: bag (row, filter) sums g[b, column] * E[b, start + k] over the examples b
        examples = torch.arange(n, dtype=torch.int32, device=device)[:, None] * L  # (n, 1)
        where = (s + examples).t()[column_of_row] + row_offset  # (S, nh, n): rows of E[lo:hi].view(n*L, d)
        grad_weight += F.embedding_bag(
            where.view(-1), E[lo:hi].reshape(n * L, d), _bag_offsets(where.numel(), n, device),
            mode="sum", per_sample_weights=g.t()[column_of_row].view(-1),
        )
        # input: bag (b, p) sums g[b, column] * (filter row p - start) over every column, a zero row
        # of the padded table where p is outside the window
        index = (block - s)[:, None, :] + positions[None, :, None]  # (n, L, L*nh)
        grad_E[lo:hi] = F.embedding_bag(
            index.view(-1), padded, _bag_offsets(index.numel(), n_columns, device),
            mode="sum", per_sample_weights=g[:, None, :].expand(n, L, n_columns).reshape(-1),
        ).view(n, L, d)
    return grad_E, grad_weight.view(n_rows, nh, d)


def _bag_offsets(n_entries: int, bag_size: int, device: torch.device) -> torch.Tensor:
    return torch.arange(0, n_entries, bag_size, dtype=torch.int32, device=device)


class _HorizontalMaxPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, E, weight, bias, groups):
        values, start = _forward(E.detach(), weight.detach(), groups)
        ctx.save_for_backward(E, weight, start)
        return values + bias.reshape(1, -1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        E, weight, start = ctx.saved_tensors
        grad = grad.contiguous()
        grad_E, grad_weight = _backward(E.detach(), weight.detach(), start, grad)
        grad_bias = grad.sum(0).view(E.shape[1], -1)  # (L, nh)
        return grad_E, grad_weight, grad_bias, None


def horizontal_max_pool(
    E: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, groups: tuple[tuple[int, int], ...] | None = None
) -> torch.Tensor:
    """(B, L*nh): for every height h and filter f, the maximum over window starts t of
    ``bias[h-1, f] + sum_k <E[:, t+k], weight[h(h-1)/2 + k, f]>`` (before ReLU).

    ``E`` (B, L, d); ``weight`` (L(L+1)/2, nh, d); ``bias`` (L, nh). ``groups`` defaults to
    :func:`plan_height_groups`; any cover of 1..L by contiguous groups gives the same result.
    """
    L, nh, d = E.shape[1], weight.shape[1], E.shape[2]
    if weight.shape[0] != packed_rows(L):
        raise ValueError(f"weight has {weight.shape[0]} rows, expected L(L+1)/2 = {packed_rows(L)} for L = {L}")
    if groups is None:
        groups = plan_height_groups(L, nh, d)
    return _HorizontalMaxPool.apply(E, weight, bias, groups)

