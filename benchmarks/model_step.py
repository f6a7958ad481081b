"""Seconds per training step (forward + backward of one batch) of the models, against the arithmetic.

    python benchmarks/model_step.py                 # batch 2048, 2 threads, Caser L=10/50, GRU4RecF L=10/50
    python benchmarks/model_step.py --quick         # L=10 only, fewer repetitions
    python benchmarks/model_step.py --compile       # also torch.compile'd models (startup time reported)

Prints the machine's matmul GFLOP/s, then per case: median and best wall seconds per step, the
best process CPU seconds, the arithmetic estimate (forward FLOP, backward counted as twice the
forward, as for dense layers) and the seconds that estimate would take at the measured matmul
speed. "loop" is Caser with RecBole's per-height Conv2d loop for the horizontal convolutions.
Cases are timed interleaved, so a noisy neighbour slows all of them alike; compare ratios within
one run. On a shared machine, ``--threads 1`` gives the steadiest figures (CPU seconds then count
only this process's work; with more threads they include OpenMP's spinning).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from tuner.models import Batch, Caser, build_model
from tuner.training.heap import keep_freed_memory

N_USERS, N_ITEMS, N_CLASSES, CLASS_SLOTS = 944, 1683, 20, 6  # ml-100k's sizes


class LoopCaser(Caser):
    """Caser whose horizontal convolutions run as RecBole's do: one Conv2d per height, in a loop."""

    def convolutions(self, E):
        L, d = E.shape[1], E.shape[2]
        x = E.unsqueeze(1)  # (B, 1, L, d)
        outs = []
        for h in range(1, L + 1):
            w = self.conv_h_weight[h * (h - 1) // 2 : h * (h + 1) // 2].permute(1, 0, 2).unsqueeze(1)  # (nh, 1, h, d)
            out = F.conv2d(x, w, self.conv_h_bias[h - 1]).squeeze(3)  # (B, nh, L-h+1)
            outs.append(F.max_pool1d(out, out.size(2)).squeeze(2))  # (B, nh)
        vertical = torch.bmm(self.conv_v_weight.expand(E.shape[0], -1, -1), E) + self.conv_v_bias[:, None]
        return torch.cat([vertical.view(-1, self.config.nv * d), F.relu(torch.cat(outs, 1))], 1)


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _timed_both(fn) -> tuple[float, float]:
    """(wall, process CPU) seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def caser_flops(L: int, d: int = 64, nh: int = 8, nv: int = 4, n_items: int = N_ITEMS) -> float:
    """Forward FLOP per example: horizontal convs (every window of every height), vertical conv,
    fc1, fc2, and the CE scores over all items."""
    windows = L * (L + 1) * (L + 2) // 6  # sum over heights h of (L-h+1) windows * h rows
    return 2 * (nh * d * windows + nv * L * d + (nv * d + nh * L) * d + 2 * d * d + d * n_items)


def gru4recf_flops(L: int, d: int = 64, H: int = 128, n_items: int = N_ITEMS) -> float:
    """Forward FLOP per example: two single-layer GRUs (3 gates, input and hidden products per
    step), the dense layer and the CE scores."""
    return 2 * (2 * 3 * H * (d + H) * L + 2 * H * d + d * n_items)


def make_batch(batch_size: int, L: int, generator: torch.Generator) -> Batch:
    lengths = torch.randint(1, L + 1, (batch_size,), generator=generator)
    items = torch.randint(1, N_ITEMS, (batch_size, L), generator=generator)
    items[torch.arange(L)[None, :] >= lengths[:, None]] = 0
    return Batch(torch.randint(1, N_USERS, (batch_size,), generator=generator), items, lengths,
                 torch.randint(1, N_ITEMS, (batch_size,), generator=generator))


def make_model(name: str, L: int):
    shape = dict(n_user_ids=N_USERS, n_item_ids=N_ITEMS, max_seq_length=L)
    if name == "GRU4RecF":
        classes = torch.randint(0, N_CLASSES, (N_ITEMS, CLASS_SLOTS), generator=torch.Generator().manual_seed(0))
        return build_model(name, {}, **shape, item_features={"class": classes}, feature_sizes={"class": N_CLASSES})
    model = build_model("Caser", {}, **shape)
    if name == "Caser-loop":
        loop = LoopCaser(model.config)
        loop.load_state_dict(model.state_dict())
        return loop
    return model


def step(model, batch) -> None:
    model.zero_grad(set_to_none=True)
    model.loss(batch).backward()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="L=10 only, 3 repetitions")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd models")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as the trainer does: else each step page-faults its large buffers in again
    torch.manual_seed(0)
    repeats = 3 if args.quick else args.repeats

    gflops = matmul_gflops()
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch_size}; "
          f"matmul 2048x2048: {gflops:.0f} GFLOP/s; 'ratio' = best wall / arithmetic time at that speed")
    lengths = (10,) if args.quick else (10, 50)
    cases = []  # (label, model, batch, forward FLOP per example)
    for L in lengths:
        batch = make_batch(args.batch_size, L, torch.Generator().manual_seed(L))
        for name in ("Caser", "Caser-loop", "GRU4RecF"):
            flops = gru4recf_flops(L) if name == "GRU4RecF" else caser_flops(L)
            cases.append((f"{name} L={L}", make_model(name, L).train(), batch, flops))
            if args.compile and name != "Caser-loop":
                model = make_model(name, L).train()
                model.loss = torch.compile(model.loss)
                startup = _timed(lambda: step(model, batch))
                cases.append((f"{name} L={L} compiled (first step {startup:.1f} s)", model, batch, flops))

    times = {label: [] for label, *_ in cases}
    for label, model, batch, _ in cases:  # warm-up
        step(model, batch)
    for _ in range(repeats):
        for label, model, batch, _ in cases:
            if label.startswith("Caser-loop L=50") and len(times[label]) >= 1:
                continue  # ~10 s a step: one timing is enough
            times[label].append(_timed_both(lambda: step(model, batch)))

    print(f"{'case':<48} {'median s':>9} {'best s':>8} {'best cpu':>9} {'MFLOP/ex':>9} {'at matmul s':>11} {'ratio':>6}")
    for label, _, _, flops in cases:
        walls, cpus = [w for w, _ in times[label]], [c for _, c in times[label]]
        median, best = statistics.median(walls), min(walls)
        total = 3 * flops  # forward + backward (backward ~ 2 x forward)
        ideal = total * args.batch_size / (gflops * 1e9)
        print(f"{label:<48} {median:>9.4f} {best:>8.4f} {min(cpus):>9.4f} {total / 1e6:>9.2f} {ideal:>11.4f} {best / ideal:>6.1f}")
    for L in lengths:
        fast = min(w for w, _ in times[f"Caser L={L}"])
        loop = min(w for w, _ in times[f"Caser-loop L={L}"])
        print(f"Caser L={L}: per-height loop / vectorised = {loop / fast:.1f}x (best wall times)")


if __name__ == "__main__":
    main()
