"""How training uses the C heap (glibc): keep freed blocks mapped while training, hand them back after.

A training step allocates and frees the same large tensors every time (the (B, n_item_ids) scores
and their softmax: 14 MB each at ml-100k sizes). glibc serves such blocks with fresh ``mmap``s and
returns freed memory above its trim threshold to the kernel, so every step page-faults those
megabytes in again: on a 2-core machine that was 650,000 minor faults per Caser epoch, two thirds of
its time. :func:`keep_freed_memory` raises both thresholds for the process, so freed blocks are
reused; :func:`release_freed_memory` (the worker calls it after each trial) gives them back.
Other C libraries: both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc caps the mmap threshold at 32 MiB on 64-bit (half its heap size); blocks above it stay mmapped
_MMAP_THRESHOLD = 32 << 20
_TRIM_THRESHOLD = 1 << 30


@functools.lru_cache(maxsize=1)
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    if libc is None or not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None  # musl and others
    return libc


@functools.lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Make glibc keep freed blocks (up to 32 MiB each, 1 GiB at the heap top) for reuse; once per process.

    True when the settings took effect.
    """
    libc = _glibc()
    if libc is None:
        return False
    mmap_set = libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    trim_set = libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    return bool(mmap_set and trim_set)


def release_freed_memory() -> None:
    """Hand freed heap pages back to the OS (between trials: a long-lived worker then stays small)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
