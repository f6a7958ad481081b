"""Seed every random source a run touches, as RecBole's ``init_seed`` does."""

from __future__ import annotations

import random

import numpy as np
import torch


def init_seed(seed: int, reproducibility: bool = True) -> None:
    """Seed random, numpy, torch and CUDA; with ``reproducibility`` make cuDNN deterministic."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too
    torch.cuda.manual_seed_all(seed)  # a no-op without CUDA; explicit for readers of RecBole
    torch.backends.cudnn.benchmark = not reproducibility
    torch.backends.cudnn.deterministic = reproducibility
