"""K members' horizontal convolutions, max-pooled over time, as batched products over K.

The grouped-products scheme of :mod:`tuner.models.horizontal` with a leading member dimension: in
each member's flattened embeddings (B, L*d) the window of height h starting at t is the column
range [t*d, (t+h)*d), so for each height group (:func:`plan_height_groups`) and start t one ``bmm``
over the K members multiplies that slice (a strided view, no copy) by the group's zero-padded
filters. Every window computed is a real one and the number of products per step does not grow
with K. The backward sends the gradient only to each (example, height, filter)'s winning window,
adding into slices of one input-gradient buffer. torch ops only: the same code on the CPU and CUDA
(``conv2d`` with ``groups=K`` was the first try; its CPU backward took 0.45 s a call).
"""

from __future__ import annotations

import torch

from tuner.models.horizontal import plan_height_groups


def fused_horizontal_max_pool(E: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """(K, B, L*nh): each member's :func:`tuner.models.horizontal_max_pool` (before ReLU).

    ``E`` (K, B, L, d); ``weight`` (K, L(L+1)/2, nh, d), the members' packed filters; ``bias`` (K, L, nh).
    """
    K, B, L, d = E.shape
    groups = plan_height_groups(L, weight.shape[2], d)
    values = _FusedHorizontal.apply(E.reshape(K, B, L * d), weight, groups, L)
    return values + bias.reshape(K, 1, -1)


def _group_rows(L: int, a: int, b: int, device: torch.device) -> torch.Tensor:
    """(b, w): the packed row of height a+j at offset k, or the zero row S where k >= a+j."""
    heights = torch.arange(a, b + 1, device=device)
    offsets = torch.arange(b, device=device)
    rows = (heights * (heights - 1) // 2)[None, :] + offsets[:, None]
    return torch.where(offsets[:, None] < heights[None, :], rows, L * (L + 1) // 2)


def _group_filters(weight: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """(K, b*d, w*nh): row k*d + j, column (h-a)*nh + f holds filter f of height h at offset k."""
    K, S, nh, d = weight.shape
    b, w = rows.shape
    padded = torch.cat([weight, weight.new_zeros(K, 1, nh, d)], 1)  # (K, S+1, nh, d)
    return padded[:, rows].permute(0, 1, 4, 2, 3).reshape(K, b * d, w * nh)  # (K, b, d, w, nh) flattened


class _FusedHorizontal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, flat, weight, groups, L):
        K, B, _ = flat.shape
        nh, d = weight.shape[2], weight.shape[3]
        flat, weight = flat.detach(), weight.detach()
        values, starts = [], []
        for a, b in groups:
            T, columns = L - a + 1, (b - a + 1) * nh
            filters = _group_filters(weight, _group_rows(L, a, b, flat.device))
            R = flat.new_full((T, K, B, columns), float("-inf"))  # windows past the end stay -inf
            for t in range(T):
                top = min(b, L - t)
                fit = (top - a + 1) * nh  # heights a..top fit at t: the leading columns
                R[t, :, :, :fit] = torch.bmm(flat[:, :, t * d : (t + top) * d], filters[:, : top * d, :fit])
            v, start = R.max(0)  # (K, B, columns)
            values.append(v)
            starts.append(start)
        ctx.save_for_backward(flat, weight, *starts)
        ctx.groups, ctx.L = groups, L
        return torch.cat(values, 2)  # (K, B, L*nh): column (h-1)*nh + f

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        flat, weight, *starts = ctx.saved_tensors
        groups, L = ctx.groups, ctx.L
        K, S, nh, d = weight.shape
        grad_flat = torch.zeros_like(flat)
        grad_padded = weight.new_zeros(K, S + 1, nh, d)
        column = 0
        for (a, b), start in zip(groups, starts):
            T, columns = L - a + 1, (b - a + 1) * nh
            rows = _group_rows(L, a, b, flat.device)
            filters = _group_filters(weight, rows)
            g = grad[:, :, column : column + columns]  # (K, B, columns)
            column += columns
            grad_filters = torch.zeros_like(filters)  # (K, b*d, columns)
            for t in range(T):
                top = min(b, L - t)
                fit = (top - a + 1) * nh
                won = torch.where(start[:, :, :fit] == t, g[:, :, :fit], 0.0)  # (K, B, fit): this start's winners
                window = flat[:, :, t * d : (t + top) * d]  # (K, B, top*d)
                grad_flat[:, :, t * d : (t + top) * d] += torch.bmm(won, filters[:, : top * d, :fit].transpose(1, 2))
                grad_filters[:, : top * d, :fit] += torch.bmm(window.transpose(1, 2), won)
            w = b - a + 1
            per_row = grad_filters.view(K, b, d, w, nh).permute(0, 1, 3, 4, 2).reshape(K, b * w, nh, d)
            grad_padded.index_add_(1, rows.reshape(-1), per_row)
        return grad_flat, grad_padded[:, :S], None, None
